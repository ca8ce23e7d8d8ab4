package dhcpboot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxekit/pxekit/internal/shared"
)

type capPacket struct {
	Frame            int // 1-based frame number, as tshark shows it
	SrcPort, DstPort uint16
	V4               *dhcpv4.DHCPv4
	V6               dhcpv6.DHCPv6
}

// readCapture returns the DHCP packets of a capture in the shared
// reference captures (see internal/shared).
func readCapture(t testing.TB, name string) []capPacket {
	t.Helper()
	f, err := os.Open(filepath.Join(shared.Path(t), "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []capPacket
	for frame := 1; ; frame++ {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", name, frame, err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			continue
		}
		cp := capPacket{Frame: frame, SrcPort: uint16(udp.SrcPort), DstPort: uint16(udp.DstPort)}
		switch {
		case udp.DstPort == 67 || udp.SrcPort == 67 || udp.DstPort == 4011:
			m, err := dhcpv4.FromBytes(udp.Payload)
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, frame, err)
			}
			cp.V4 = m
		case udp.DstPort == 547 || udp.SrcPort == 547:
			m, err := dhcpv6.FromBytes(udp.Payload)
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, frame, err)
			}
			cp.V6 = m
		default:
			continue
		}
		out = append(out, cp)
	}
	return out
}

// captureRequest returns the DHCPv4 client message of the given frame.
func captureRequest(t testing.TB, name string, frame int) *dhcpv4.DHCPv4 {
	t.Helper()
	for _, p := range readCapture(t, name) {
		if p.Frame == frame && p.V4 != nil {
			return p.V4
		}
	}
	t.Fatalf("%s: no DHCPv4 message at frame %d", name, frame)
	return nil
}
