package archdetect_test

import (
	"fmt"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxekit/pxekit/internal/pcaptest"
)

// clientMessage is one DHCP client message read from a capture.
type clientMessage struct {
	frame int // 1-based frame number, as tshark counts
	v4    *dhcpv4.DHCPv4
	v6    dhcpv6.DHCPv6
	src   []byte // Ethernet source
}

// readClientMessages returns every DHCPv4 BOOTREQUEST (UDP to port 67) and
// every DHCPv6 client or relay message (UDP to port 547) of a capture in
// internal/pcaptest/testdata.
func readClientMessages(t testing.TB, name string) []clientMessage {
	t.Helper()
	var out []clientMessage
	for _, p := range pcaptest.Read(t, name) {
		if !p.UDP {
			continue
		}
		switch p.Dst.Port() {
		case 67:
			m, err := dhcpv4.FromBytes(p.Payload)
			if err != nil {
				t.Fatal(fmt.Errorf("%s frame %d: DHCPv4: %w", name, p.Frame, err))
			}
			if m.OpCode == dhcpv4.OpcodeBootRequest {
				out = append(out, clientMessage{frame: p.Frame, v4: m, src: p.SrcMAC})
			}
		case 547:
			m, err := dhcpv6.FromBytes(p.Payload)
			if err != nil {
				t.Fatal(fmt.Errorf("%s frame %d: DHCPv6: %w", name, p.Frame, err))
			}
			out = append(out, clientMessage{frame: p.Frame, v6: m, src: p.SrcMAC})
		}
	}
	return out
}
