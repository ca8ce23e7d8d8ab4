package archdetect_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxekit/pxekit/internal/shared"
)

// captureFile returns the path of a capture in the shared directory.
func captureFile(t testing.TB, name string) string {
	t.Helper()
	return shared.Path(t, "captures", name)
}

// clientMessage is one DHCP client message read from a capture.
type clientMessage struct {
	frame int // 1-based frame number, as tshark counts
	v4    *dhcpv4.DHCPv4
	v6    dhcpv6.DHCPv6
	src   []byte // Ethernet source
}

// readClientMessages returns every DHCPv4 BOOTREQUEST (UDP to port 67) and
// every DHCPv6 client or relay message (UDP to port 547) of a pcapng file.
func readClientMessages(t testing.TB, path string) []clientMessage {
	t.Helper()
	out, err := loadClientMessages(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadClientMessages(path string) ([]clientMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(bufio.NewReader(f), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []clientMessage
	for frame := 1; ; frame++ {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s frame %d: %w", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		var src []byte
		if eth, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
			src = bytes.Clone(eth.SrcMAC)
		}
		switch udp.DstPort {
		case 67:
			m, err := dhcpv4.FromBytes(udp.Payload)
			if err != nil {
				return nil, fmt.Errorf("%s frame %d: DHCPv4: %w", path, frame, err)
			}
			if m.OpCode == dhcpv4.OpcodeBootRequest {
				out = append(out, clientMessage{frame: frame, v4: m, src: src})
			}
		case 547:
			m, err := dhcpv6.FromBytes(udp.Payload)
			if err != nil {
				return nil, fmt.Errorf("%s frame %d: DHCPv6: %w", path, frame, err)
			}
			out = append(out, clientMessage{frame: frame, v6: m, src: src})
		}
	}
	return out, nil
}
