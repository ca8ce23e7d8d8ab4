package dhcpboot

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxekit/pxekit/internal/pcaptest"
)

type capPacket struct {
	Frame            int // 1-based frame number, as tshark shows it
	SrcPort, DstPort uint16
	V4               *dhcpv4.DHCPv4
	V6               dhcpv6.DHCPv6
}

// readCapture returns the DHCP packets (client and server) of a capture in
// internal/pcaptest/testdata: real firmware booting against dnsmasq,
// recorded by make captures.
func readCapture(t testing.TB, name string) []capPacket {
	t.Helper()
	var out []capPacket
	for _, p := range pcaptest.Read(t, name) {
		if !p.UDP {
			continue
		}
		cp := capPacket{Frame: p.Frame, SrcPort: p.Src.Port(), DstPort: p.Dst.Port()}
		switch {
		case cp.DstPort == 67 || cp.SrcPort == 67 || cp.DstPort == 4011:
			m, err := dhcpv4.FromBytes(p.Payload)
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, p.Frame, err)
			}
			cp.V4 = m
		case cp.DstPort == 547 || cp.SrcPort == 547:
			m, err := dhcpv6.FromBytes(p.Payload)
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, p.Frame, err)
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
