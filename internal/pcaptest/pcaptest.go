// Package pcaptest reads the project's packet captures for tests.
//
// The captures live in this package's testdata directory: real firmware
// (iPXE, OVMF) booting under QEMU against stand-in servers, recorded by
// `make captures` (scripts/captures.sh); testdata/README.md says how each
// was made and what it holds. Tests in any package reach them with [Path]
// or [Read], found from the module root, so a fresh clone needs nothing
// beside it.
package pcaptest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/pxekit/pxekit/internal/shared"
)

// Dir returns the directory holding the captures: internal/pcaptest/testdata
// under the repository root (see shared.Root).
func Dir() (string, error) {
	root, err := shared.Root()
	if err != nil {
		return "", fmt.Errorf("pcaptest: %w", err)
	}
	return filepath.Join(root, "internal", "pcaptest", "testdata"), nil
}

// Path returns the path of the capture called name (for example
// "bios-ipxe-rom-http.pcapng"). The captures are part of the repository, so
// a missing one fails the test: it never skips.
func Path(t testing.TB, name string) string {
	t.Helper()
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("pcaptest: capture %s: %v (make captures records it)", name, err)
	}
	return p
}

// Packet is one packet of a capture. The UDP fields are set when it is a
// UDP datagram over IPv4 or IPv6.
type Packet struct {
	// Frame is the 1-based frame number, as tshark and Wireshark count.
	Frame int
	// Info is the capture's record: timestamp, captured and original length.
	Info gopacket.CaptureInfo
	// LinkType is the link type of the interface the packet was captured on.
	LinkType layers.LinkType
	// Data is the frame as captured (possibly truncated: see Info).
	Data []byte
	// SrcMAC is the Ethernet source address, nil on other link types.
	SrcMAC net.HardwareAddr

	// UDP reports whether the packet is a UDP datagram; Src, Dst and
	// Payload are set only then.
	UDP      bool
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Load reads every packet of a pcapng file.
func Load(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(bufio.NewReader(f), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, fmt.Errorf("pcaptest: %s: %w", path, err)
	}
	var out []Packet
	for frame := 1; ; frame++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pcaptest: %s frame %d: %w", path, frame, err)
		}
		out = append(out, decode(frame, ci, r.LinkType(), data))
	}
}

// decode fills in a Packet's addresses from the frame.
func decode(frame int, ci gopacket.CaptureInfo, lt layers.LinkType, data []byte) Packet {
	p := Packet{Frame: frame, Info: ci, LinkType: lt, Data: data}
	pkt := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	if eth, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		p.SrcMAC = eth.SrcMAC
	}
	udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok || pkt.NetworkLayer() == nil {
		return p
	}
	var src, dst netip.Addr
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return p
	}
	p.UDP = true
	p.Src = netip.AddrPortFrom(src, uint16(udp.SrcPort))
	p.Dst = netip.AddrPortFrom(dst, uint16(udp.DstPort))
	p.Payload = udp.Payload
	return p
}

// Read returns every packet of the capture called name (see [Path]); it
// fails the test when the capture is missing or broken.
func Read(t testing.TB, name string) []Packet {
	t.Helper()
	pkts, err := Load(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}
