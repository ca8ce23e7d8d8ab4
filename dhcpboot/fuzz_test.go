package dhcpboot

import (
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

// FuzzRequestPath feeds arbitrary bytes through everything a server does
// with a datagram: decode, classify, decide, build proxy, full and DHCPv6
// replies, encode. Nothing may panic, and every reply must encode and
// decode again.
func FuzzRequestPath(f *testing.F) {
	for _, name := range []string{"bios-ipxe-rom-http.pcapng", "ovmf-pxe-tftp-ipxe-efi.pcapng",
		"ovmf-httpboot-ipxe-efi.pcapng", "ovmf-no-dhcpv4-answer-dhcpv6.pcapng"} {
		for i, p := range readCapture(f, name) {
			if i > 12 {
				break
			}
			if p.V4 != nil {
				f.Add(p.V4.ToBytes(), false)
			} else {
				f.Add(p.V6.ToBytes(), true)
			}
		}
	}
	f.Add([]byte{1, 1, 6, 0}, false)
	policy, err := DefaultPolicy(DefaultConfig{UserClass: "pxekit"})
	if err != nil {
		f.Fatal(err)
	}
	h := &Responder4{Policy: policy, ServerIP: netip.MustParseAddr("10.99.0.1")}
	h6 := &Responder6{Policy: policy, ServerIP: netip.MustParseAddr("fd00::1")}
	clock := &fakeClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lab := &LabServer4{Policy: policy, ServerIP: netip.MustParseAddr("10.99.0.1"), Now: clock.Now,
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), RangeStart: netip.MustParseAddr("10.99.0.100"), RangeEnd: netip.MustParseAddr("10.99.0.200")}}}
	lab6 := &LabServer6{Policy: policy, ServerIP: netip.MustParseAddr("fd00::1"), RangeStart: netip.MustParseAddr("fd00::100"),
		RangeEnd: netip.MustParseAddr("fd00::1ff"), Now: clock.Now}
	check4 := func(t *testing.T, m *dhcpv4.DHCPv4) {
		if m == nil {
			return
		}
		if _, err := dhcpv4.FromBytes(m.ToBytes()); err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, v6 bool) {
		if v6 {
			m, err := dhcpv6.FromBytes(data)
			if err != nil {
				return
			}
			resp, _, _, err := h6.Reply(m, Arrival{})
			if err == nil {
				if _, err := dhcpv6.FromBytes(resp.ToBytes()); err != nil {
					t.Fatalf("DHCPv6 reply does not decode: %v", err)
				}
			}
			if resp, err := respond6(lab6, m); err == nil {
				if _, err := dhcpv6.FromBytes(resp.ToBytes()); err != nil {
					t.Fatalf("lab DHCPv6 reply does not decode: %v", err)
				}
			}
			if in, err := m.GetInnerMessage(); err == nil {
				adv := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeAdvertise, TransactionID: in.TransactionID}
				h6.CoreDHCP(m, adv)
			}
			return
		}
		m, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		for _, mode := range []Mode{ModeProxy, ModeProxyAck} {
			resp, _, _, _ := h.Reply(m, Arrival{Mode: mode})
			check4(t, resp)
		}
		resp, err := dhcpv4.NewReplyFromRequest(m)
		if err == nil {
			out, _ := h.CoreDHCP(m, resp)
			check4(t, out)
		}
		clock.t = clock.t.Add(time.Second)
		out, _ := respond4(lab, m)
		check4(t, out)
	})
}
