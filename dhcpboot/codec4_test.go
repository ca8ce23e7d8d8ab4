package dhcpboot

import (
	"bytes"
	"net"
	"reflect"
	"slices"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxekit/pxekit/internal/pcaptest"
)

// captureDatagrams returns the payload of every DHCPv4 datagram (client
// and server) in the project's captures.
func captureDatagrams(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{"bios-ipxe-rom-http.pcapng", "bios-ipxe-rom-tftp-undionly-chain.pcapng",
		"ovmf-httpboot-ipxe-efi.pcapng", "ovmf-pxe-tftp-ipxe-efi.pcapng", "ovmf-pxe-tftp-windowsize4.pcapng"} {
		for _, p := range pcaptest.Read(t, name) {
			if p.UDP && (p.Src.Port() == 67 || p.Dst.Port() == 67 || p.Dst.Port() == PXEPort || p.Src.Port() == PXEPort) {
				out = append(out, p.Payload)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d DHCPv4 datagrams in the captures", len(out))
	}
	return out
}

// codecEdgeCases are datagrams at the edges of the format, built from a
// captured DISCOVER.
func codecEdgeCases(t testing.TB) [][]byte {
	base := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1).ToBytes()
	head := base[:offOptions]
	with := func(opts ...byte) []byte { return append(slices.Clone(head), opts...) }
	hlen20 := slices.Clone(base)
	hlen20[2] = 20
	badCookie := slices.Clone(base)
	badCookie[offCookie] = 0
	named := with(255)
	copy(named[44:], "server-name")
	copy(named[108:], "file\x00junk")
	full := with(255)
	for i := 44; i < 236; i++ {
		full[i] = 'x'
	}
	return [][]byte{
		nil, base[:10], base[:offOptions-1], head, badCookie, hlen20, named, full,
		with(255),                                        // no options
		with(0, 0, 255),                                  // pads
		with(53, 1, 1),                                   // no End
		with(53, 1, 1, 255, 0, 0, 9),                     // bytes after End
		with(53, 1, 1, 60, 0, 255),                       // empty option
		with(60, 0, 60, 2, 'a', 'b', 255),                // empty, then a value
		with(43, 2, 1, 2, 43, 1, 3, 43, 0, 255),          // repeated: concatenated (RFC 3396)
		with(53, 1, 1, 60, 9, 'a'),                       // value past the end
		with(53, 1, 1, 60),                               // length missing
		with(53, 1, 1, 82, 3, 1, 1, 7, 61, 2, 1, 2, 255), // relay info, client ID
	}
}

// decode4Bytes decodes every datagram as dhcpv4.FromBytes does: the same
// message, or an error for the same inputs.
func TestDecode4MatchesLibrary(t *testing.T) {
	for i, b := range append(captureDatagrams(t), codecEdgeCases(t)...) {
		checkDecode4(t, i, b)
	}
}

func checkDecode4(t *testing.T, i int, b []byte) {
	t.Helper()
	want, werr := dhcpv4.FromBytes(slices.Clone(b))
	got, gerr := decode4Bytes(slices.Clone(b))
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("datagram %d (% x): decode4Bytes error %v, dhcpv4.FromBytes error %v", i, b, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("datagram %d: decode4Bytes =\n%#v\nwant (dhcpv4.FromBytes)\n%#v", i, got, want)
	}
}

// append4 writes exactly what ToBytes writes: for the captured messages,
// for replies the servers build, and for messages with long and empty
// option values.
func TestAppend4MatchesToBytes(t *testing.T) {
	var msgs []*dhcpv4.DHCPv4
	for _, b := range append(captureDatagrams(t), codecEdgeCases(t)...) {
		if m, err := dhcpv4.FromBytes(b); err == nil {
			msgs = append(msgs, m)
		}
	}
	policy, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: policy, ServerIP: testServer}
	disc := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	if resp, _, _, err := h.Reply(disc, Arrival{Mode: ModeProxy}); err != nil {
		t.Fatal(err)
	} else {
		msgs = append(msgs, resp)
	}
	long, _ := dhcpv4.NewReplyFromRequest(disc)
	long.Options[77] = bytes.Repeat([]byte("u"), 600)
	long.Options[12] = []byte{}
	long.Options[82] = []byte{1, 2, 'a', 'b'}
	long.ServerHostName = string(bytes.Repeat([]byte("s"), 80))
	long.BootFileName = string(bytes.Repeat([]byte("f"), 200))
	long.ClientHWAddr = bytes.Repeat([]byte{0xaa}, 16)
	msgs = append(msgs, long)
	for i, m := range msgs {
		want := m.ToBytes()
		if got := append4([]byte("prefix"), m); !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
			t.Errorf("message %d: append4 =\n% x\nwant (ToBytes)\n% x", i, got[6:], want)
		}
	}
	// Where ToBytes panics, append4 writes 0.0.0.0.
	bad := *disc
	bad.YourIPAddr = net.IP{1, 2, 3}
	if got := append4(nil, &bad); !bytes.Equal(got[16:20], []byte{0, 0, 0, 0}) {
		t.Errorf("append4 with a 3-byte yiaddr wrote % x, want 0.0.0.0", got[16:20])
	}
}

// newReply4 builds the reply NewReplyFromRequest builds.
func TestNewReply4MatchesLibrary(t *testing.T) {
	var reqs []*dhcpv4.DHCPv4
	for _, b := range captureDatagrams(t) {
		if m, err := dhcpv4.FromBytes(b); err == nil {
			reqs = append(reqs, m)
		}
	}
	relayed := *reqs[0]
	relayed.GatewayIPAddr = net.IP{10, 1, 0, 1}
	relayed.Options = dhcpv4.Options{53: {1}, 82: {1, 3, 'a', 'b', 'c'}, 61: {1, 2, 3, 4, 5, 6, 7}}
	reqs = append(reqs, &relayed)
	for i, req := range reqs {
		want, err := dhcpv4.NewReplyFromRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := newReply4(req, 4); !reflect.DeepEqual(got, want) {
			t.Errorf("request %d: newReply4 =\n%#v\nwant (NewReplyFromRequest)\n%#v", i, got, want)
		}
	}
}

// FuzzCodec4 compares the codec with insomniacslk's on any input: decode
// gives the same message or fails alike, and encoding gives ToBytes's
// bytes.
func FuzzCodec4(f *testing.F) {
	for _, b := range append(captureDatagrams(f)[:8], codecEdgeCases(f)...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode4(t, 0, b)
		m, err := dhcpv4.FromBytes(slices.Clone(b))
		if err != nil {
			return
		}
		for _, ip := range []net.IP{m.ClientIPAddr, m.YourIPAddr, m.ServerIPAddr, m.GatewayIPAddr} {
			if ip != nil && ip.To4() == nil {
				return // ToBytes panics
			}
		}
		if got, want := append4(nil, m), m.ToBytes(); !bytes.Equal(got, want) {
			t.Fatalf("append4 =\n% x\nwant (ToBytes)\n% x", got, want)
		}
		if resp := newReply4(m, 2); resp.TransactionID != m.TransactionID || !bytes.Equal(resp.ClientHWAddr, m.ClientHWAddr) {
			t.Fatalf("newReply4: %v", resp)
		}
	})
}
