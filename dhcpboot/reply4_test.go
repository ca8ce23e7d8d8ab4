package dhcpboot

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

var testServer = netip.MustParseAddr("10.77.0.1")

// replyTo builds, applies and re-parses a reply to req (as a client would
// see it on the wire).
func replyTo(t *testing.T, p *Policy, req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, mode Mode, o ReplyOptions) (*dhcpv4.DHCPv4, Decision, error) {
	t.Helper()
	r := &Request{Client: classify4(req), ServerIP: testServer, Mode: mode}
	d := p.Decide(r)
	resp, err := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(mt))
	if err != nil {
		t.Fatal(err)
	}
	if mode == ModeFull {
		resp.YourIPAddr = net.IPv4(10, 77, 0, 50)
		resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(time.Hour))
	}
	if err := Apply4(d, r, req, resp, o); err != nil {
		return nil, d, err
	}
	wire, err := dhcpv4.FromBytes(resp.ToBytes())
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return wire, d, nil
}

// checkBootBasics checks what every boot reply needs: siaddr, the boot file
// in the file field and option 67, option 54.
func checkBootBasics(t *testing.T, m *dhcpv4.DHCPv4, wantFile string, wantSiaddr netip.Addr) {
	t.Helper()
	if got := m.BootFileNameOption(); got != wantFile {
		t.Errorf("option 67 = %q, want %q", got, wantFile)
	}
	if len(wantFile) <= 127 && m.BootFileName != wantFile {
		t.Errorf("BOOTP file %q differs from option 67 %q", m.BootFileName, wantFile)
	}
	if len(wantFile) > 127 && m.BootFileName != "" {
		t.Errorf("long name also in file field: %q", m.BootFileName)
	}
	if got, _ := netip.AddrFromSlice(m.ServerIPAddr.To4()); got != wantSiaddr {
		t.Errorf("siaddr = %v, want %v", m.ServerIPAddr, wantSiaddr)
	}
	if m.Options.Has(dhcpv4.OptionOptionOverload) {
		t.Error("option 52 present")
	}
	if sid := m.ServerIdentifier(); !sid.Equal(net.IP(testServer.AsSlice())) {
		t.Errorf("option 54 = %v", sid)
	}
}

func TestApplyToCaptures(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{HTTPBase: "http://{{server}}:8080/", ScriptURL: "http://{{server}}:8080/boot.ipxe"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		capture     string
		frame       int
		mode        Mode
		opts        ReplyOptions
		rule        string
		file        string
		siaddr      netip.Addr
		class       string // option 60 in the reply ("" = absent)
		opt43       []byte
		noPXEWait   bool
		wantNoAddr  bool
		wantUUIDOpt bool
	}{
		{name: "BIOS iPXE ROM, full", capture: "bios-ipxe-rom-http.pcapng", frame: 1, mode: ModeFull,
			rule: "ipxe", file: "http://10.77.0.1:8080/boot.ipxe", siaddr: testServer, noPXEWait: true, wantUUIDOpt: true},
		{name: "BIOS iPXE ROM, proxy", capture: "bios-ipxe-rom-http.pcapng", frame: 1, mode: ModeProxy,
			rule: "ipxe", file: "http://10.77.0.1:8080/boot.ipxe", siaddr: testServer, class: "PXEClient", opt43: minimalPXE43, wantNoAddr: true, wantUUIDOpt: true},
		{name: "undionly iPXE second DHCP", capture: "bios-ipxe-rom-tftp-undionly-chain.pcapng", frame: 117, mode: ModeFull,
			rule: "ipxe", file: "http://10.77.0.1:8080/boot.ipxe", siaddr: testServer, noPXEWait: true, wantUUIDOpt: true},
		{name: "OVMF PXE, full (conventional, no 60)", capture: "ovmf-pxe-tftp-ipxe-efi.pcapng", frame: 1, mode: ModeFull,
			rule: "uefi-x64", file: "ipxe.efi", siaddr: testServer, wantUUIDOpt: true},
		{name: "OVMF PXE, full with PXEClient", capture: "ovmf-pxe-tftp-ipxe-efi.pcapng", frame: 1, mode: ModeFull, opts: ReplyOptions{PXEClientInFull: true},
			rule: "uefi-x64", file: "ipxe.efi", siaddr: testServer, class: "PXEClient", opt43: minimalPXE43, wantUUIDOpt: true},
		{name: "OVMF PXE, proxy: sent to 4011 (no 43)", capture: "ovmf-pxe-tftp-ipxe-efi.pcapng", frame: 1, mode: ModeProxy,
			rule: "uefi-x64", file: "ipxe.efi", siaddr: testServer, class: "PXEClient", wantNoAddr: true, wantUUIDOpt: true},
		{name: "OVMF PXE, proxy, direct", capture: "ovmf-pxe-tftp-ipxe-efi.pcapng", frame: 1, mode: ModeProxy, opts: ReplyOptions{DirectUEFI: true},
			rule: "uefi-x64", file: "ipxe.efi", siaddr: testServer, class: "PXEClient", opt43: minimalPXE43, wantNoAddr: true, wantUUIDOpt: true},
		{name: "OVMF PXE REQUEST, 4011 ACK", capture: "ovmf-pxe-tftp-ipxe-efi.pcapng", frame: 3, mode: ModeProxyAck,
			rule: "uefi-x64", file: "ipxe.efi", siaddr: testServer, class: "PXEClient", opt43: minimalPXE43, wantNoAddr: true, wantUUIDOpt: true},
		{name: "iPXE EFI second stage", capture: "ovmf-pxe-tftp-ipxe-efi.pcapng", frame: 1175, mode: ModeFull,
			rule: "ipxe", file: "http://10.77.0.1:8080/boot.ipxe", siaddr: testServer, noPXEWait: true, wantUUIDOpt: true},
		{name: "OVMF HTTP boot, full", capture: "ovmf-httpboot-ipxe-efi.pcapng", frame: 1, mode: ModeFull,
			rule: "http-x64", file: "http://10.77.0.1:8080/ipxe.efi", siaddr: testServer, class: "HTTPClient", wantUUIDOpt: true},
		{name: "OVMF HTTP boot, proxy", capture: "ovmf-httpboot-ipxe-efi.pcapng", frame: 1, mode: ModeProxy,
			rule: "http-x64", file: "http://10.77.0.1:8080/ipxe.efi", siaddr: testServer, class: "HTTPClient", wantNoAddr: true, wantUUIDOpt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := captureRequest(t, tt.capture, tt.frame)
			mt := dhcpv4.MessageTypeOffer
			if tt.mode == ModeProxyAck {
				mt = dhcpv4.MessageTypeAck
			}
			m, d, err := replyTo(t, p, req, mt, tt.mode, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Matched() || d.RuleName() != tt.rule {
				t.Fatalf("decision %v, want rule %q", d, tt.rule)
			}
			checkBootBasics(t, m, tt.file, tt.siaddr)
			if got := m.ClassIdentifier(); got != tt.class {
				t.Errorf("option 60 = %q, want %q", got, tt.class)
			}
			if got := m.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, tt.opt43) {
				t.Errorf("option 43 = % x, want % x", got, tt.opt43)
			}
			ethb := m.Options.Get(dhcpv4.OptionEtherboot)
			if tt.noPXEWait != bytes.Equal(ethb, []byte{176, 1, 1}) {
				t.Errorf("option 175 = % x, want no-pxedhcp %v", ethb, tt.noPXEWait)
			}
			if tt.wantNoAddr {
				if !m.YourIPAddr.IsUnspecified() || m.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || m.Options.Has(dhcpv4.OptionSubnetMask) {
					t.Errorf("proxy reply configures an address: yiaddr %v, %v", m.YourIPAddr, m.Options)
				}
			} else if m.YourIPAddr.IsUnspecified() {
				t.Error("full reply lost yiaddr")
			}
			uuid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier)
			if tt.wantUUIDOpt && (len(uuid) != 17 || !bytes.Equal(m.Options.Get(dhcpv4.OptionClientMachineIdentifier), uuid)) {
				t.Errorf("option 97 not echoed: req % x, reply % x", uuid, m.Options.Get(dhcpv4.OptionClientMachineIdentifier))
			}
			if m.TransactionID != req.TransactionID || !bytes.Equal(m.ClientHWAddr, req.ClientHWAddr) {
				t.Error("xid/chaddr not copied")
			}
		})
	}
}

// The captures' dnsmasq replies are what the firmware booted from: ours
// must agree on the fields the firmware read.
func TestApplyAgreesWithCapturedReplies(t *testing.T) {
	p := MustNewPolicy(
		Rule{Name: "ipxe", Match: Match{IPXE: Yes}, Action: Action{BootFile: lit("http://{{server}}:8080/boot.ipxe")}},
		Rule{Name: "http", Match: Match{Transport: []archdetect.Transport{archdetect.TransportHTTP}}, Action: Action{BootFile: lit("http://{{server}}:8080/ipxe.efi")}},
		Rule{Name: "efi", Match: Match{Archs: []archdetect.Arch{7}}, Action: Action{BootFile: lit("ipxe.efi")}},
	)
	compared := 0
	for _, name := range []string{"bios-ipxe-rom-http.pcapng", "ovmf-pxe-tftp-ipxe-efi.pcapng", "ovmf-httpboot-ipxe-efi.pcapng", "bios-ipxe-rom-tftp-undionly-chain.pcapng"} {
		pkts := readCapture(t, name)
		for i, pk := range pkts {
			if pk.V4 == nil || pk.V4.MessageType() != dhcpv4.MessageTypeDiscover {
				continue
			}
			var offer *dhcpv4.DHCPv4
			for _, q := range pkts[i+1:] {
				if q.V4 != nil && q.V4.MessageType() == dhcpv4.MessageTypeOffer && q.V4.TransactionID == pk.V4.TransactionID {
					offer = q.V4
					break
				}
			}
			if offer == nil {
				continue
			}
			want := offer.BootFileNameOption()
			if want == "" {
				want = offer.BootFileName
			}
			if want == "undionly.kpxe" {
				// The chain's first stage: the iPXE ROM and the iPXE in
				// undionly.kpxe send the same options, so no policy (ours
				// included) tells them apart; make captures restarted
				// dnsmasq with the script for the second stage.
				continue
			}
			m, _, err := replyTo(t, p, pk.V4, dhcpv4.MessageTypeOffer, ModeFull, ReplyOptions{})
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, pk.Frame, err)
			}
			compared++
			if m.BootFileNameOption() != want || !m.ServerIPAddr.Equal(offer.ServerIPAddr) || m.ClassIdentifier() != offer.ClassIdentifier() {
				t.Errorf("%s frame %d: ours file %q siaddr %v class %q; captured %q %v %q", name, pk.Frame,
					m.BootFileNameOption(), m.ServerIPAddr, m.ClassIdentifier(), want, offer.ServerIPAddr, offer.ClassIdentifier())
			}
		}
	}
	if compared < 6 {
		t.Errorf("only %d DISCOVER/OFFER pairs compared", compared)
	}
}

func TestApplyDetails(t *testing.T) {
	req := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	long := "http://{{server}}/" + strings.Repeat("a", 130)
	tftp := netip.MustParseAddr("10.77.0.9")
	p := MustNewPolicy(
		Rule{Name: "long", Match: Match{UUID: []string{"00000000-0000-0000-0000-000000000001"}}, Action: Action{BootFile: lit(long)}},
		Rule{Name: "x", Match: Match{Archs: []archdetect.Arch{7}}, Action: Action{
			BootFile: lit("pxelinux.0"), NextServer: tftp, ServerName: "tftp.lab",
			PXE: &PXEOptions{DiscoveryControl: 0x0b, BootServers: []BootServer{{Type: 0x8000, Addrs: []netip.Addr{tftp}}},
				Menu: []MenuItem{{Type: 0x8000, Text: "Lab"}}, Prompt: &Prompt{Timeout: 5, Text: "F8"},
				Raw: []Option{{Code: 71, Value: []byte{0x80, 0, 0, 0}}}},
			PXELinux: &PXELinux{Magic: true, ConfigFile: "cfg/x", PathPrefix: "/srv/", RebootSeconds: 90},
			Options:  []Option{{Code: 252, Value: []byte("wpad")}, {Code: 54, Value: []byte{10, 77, 0, 1}}},
		}},
	)
	m, d, err := replyTo(t, p, req, dhcpv4.MessageTypeOffer, ModeProxy, ReplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.RuleName() != "x" {
		t.Fatalf("%v", d)
	}
	// The UEFI "go to 4011" form only applies without explicit PXE options? No:
	// siaddr is the proxy itself for UEFI firmware in proxy mode.
	checkBootBasics(t, m, "pxelinux.0", testServer)
	if m.ServerHostName != "tftp.lab" || m.TFTPServerName() != "tftp.lab" {
		t.Errorf("sname %q / 66 %q", m.ServerHostName, m.TFTPServerName())
	}
	want43 := []byte{6, 1, 0x0b, 8, 7, 0x80, 0, 1, 10, 77, 0, 9, 9, 6, 0x80, 0, 3, 'L', 'a', 'b', 10, 3, 5, 'F', '8', 71, 4, 0x80, 0, 0, 0, 255}
	if got := m.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want43) {
		t.Errorf("43 = % x\nwant % x", got, want43)
	}
	for code, want := range map[uint8][]byte{208: {0xf1, 0, 0x74, 0x7e}, 209: []byte("cfg/x"), 210: []byte("/srv/"), 211: {0, 0, 0, 90}, 252: []byte("wpad")} {
		if got := m.Options.Get(dhcpv4.GenericOptionCode(code)); !bytes.Equal(got, want) {
			t.Errorf("option %d = % x, want % x", code, got, want)
		}
	}
	// 4011 ACK: the real TFTP server is named.
	m, _, err = replyTo(t, p, req, dhcpv4.MessageTypeAck, ModeProxyAck, ReplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkBootBasics(t, m, "pxelinux.0", tftp)

	// Long names: option 67 only.
	req2 := req.ToBytes()
	lreq, _ := dhcpv4.FromBytes(req2)
	lreq.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, make([]byte, 15)...)))
	lreq.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}))
	m, d, err = replyTo(t, p, lreq, dhcpv4.MessageTypeOffer, ModeFull, ReplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.RuleName() != "long" {
		t.Fatalf("%v", d)
	}
	checkBootBasics(t, m, "http://10.77.0.1/"+strings.Repeat("a", 130), testServer)
}

func TestApplyErrors(t *testing.T) {
	req := captureRequest(t, "ovmf-httpboot-ipxe-efi.pcapng", 1)
	r := &Request{Client: classify4(req), ServerIP: testServer}
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	p := MustNewPolicy(Rule{Name: "tftp-name", Action: Action{BootFile: lit("ipxe.efi")}}, Rule{Name: "ign", Action: Action{Ignore: true}})
	if err := Apply4(p.Decide(r), r, req, resp, ReplyOptions{}); err == nil || !strings.Contains(err.Error(), "needs a URL") {
		t.Errorf("HTTP client with a file name: %v", err)
	}
	if err := Apply4(Decision{}, r, req, resp, ReplyOptions{}); err != ErrNoBoot {
		t.Errorf("no decision: %v", err)
	}
	ign := MustNewPolicy(p.Rules()[1]).Decide(r)
	if !ign.Ignores() {
		t.Fatalf("policy of rule ign decides %q, want the rule", ign.Why)
	}
	if err := Apply4(ign, r, req, resp, ReplyOptions{}); err != ErrNoBoot {
		t.Errorf("ignore: %v", err)
	}
	if err := Apply4(p.Decide(r), &Request{Client: r.Client}, req, resp, ReplyOptions{}); err == nil || !strings.Contains(err.Error(), "Request.ServerIP") {
		t.Errorf("no server IP: %v", err)
	}
	big := MustNewPolicy(Rule{Name: "big", Action: Action{BootFile: lit("http://x/" + strings.Repeat("{{vendor_class}}", 9))}})
	if err := Apply4(big.Decide(r), r, req, resp, ReplyOptions{}); err == nil || !strings.Contains(err.Error(), "option 67") {
		t.Errorf("oversize boot file: %v", err)
	}
}

func TestApplyEchoesBootItem(t *testing.T) {
	req := captureRequest(t, "bios-ipxe-rom-http.pcapng", 1)
	req.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{71, 4, 0x80, 0x01, 0, 0, 255}))
	p := MustNewPolicy(Rule{Name: "a", Action: Action{BootFile: lit("x.kpxe")}})
	m, _, err := replyTo(t, p, req, dhcpv4.MessageTypeAck, ModeProxyAck, ReplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{6, 1, 8, 71, 4, 0x80, 1, 0, 0, 255}
	if got := m.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want) {
		t.Errorf("43 = % x, want % x", got, want)
	}
}

func TestReplyAddr(t *testing.T) {
	mk := func(gi, ci net.IP) *dhcpv4.DHCPv4 {
		m, _ := dhcpv4.New()
		m.GatewayIPAddr, m.ClientIPAddr = gi, ci
		return m
	}
	offer, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	nak, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeNak))
	tests := []struct {
		req, resp *dhcpv4.DHCPv4
		want      string
	}{
		{mk(net.IPv4(10, 1, 0, 1), nil), offer, "10.1.0.1:67"},
		{mk(net.IPv4(10, 1, 0, 1), net.IPv4(10, 1, 0, 9)), offer, "10.1.0.1:67"},
		{mk(nil, net.IPv4(10, 1, 0, 9)), offer, "10.1.0.9:68"},
		{mk(nil, net.IPv4(10, 1, 0, 9)), nak, "255.255.255.255:68"},
		{mk(nil, nil), offer, "255.255.255.255:68"},
	}
	for _, tt := range tests {
		if got := ReplyAddr(tt.req, tt.resp).String(); got != tt.want {
			t.Errorf("ReplyAddr = %s, want %s", got, tt.want)
		}
	}
}
