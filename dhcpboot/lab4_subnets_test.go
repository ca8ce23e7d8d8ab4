package dhcpboot

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// twoSubnetLab serves 10.77.6.0/24 on br0 (its own network) and
// 10.78.6.0/24 behind a relay at 10.78.6.1.
func twoSubnetLab(t *testing.T) *LabServer4 {
	t.Helper()
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &LabServer4{
		Policy:   p,
		ServerIP: netip.MustParseAddr("10.77.6.1"),
		Subnets: []Subnet{
			{Prefix: netip.MustParsePrefix("10.77.6.0/24"), Interface: "br0",
				RangeStart: netip.MustParseAddr("10.77.6.100"), RangeEnd: netip.MustParseAddr("10.77.6.200")},
			{Prefix: netip.MustParsePrefix("10.78.6.0/24"), Router: netip.MustParseAddr("10.78.6.1"),
				RangeStart: netip.MustParseAddr("10.78.6.100"), RangeEnd: netip.MustParseAddr("10.78.6.200")},
		},
		Now: (&fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}).Now,
	}
}

// relayAgentInfo is an option 82 as ISC dhcrelay -a sends it: circuit ID
// (sub-option 1) and remote ID (2).
var relayAgentInfo = []byte{1, 4, 'r', 'l', 'y', '0', 2, 6, 0x02, 0, 0, 0, 0, 0x42}

// A relayed request is served from the subnet holding giaddr: before issue
// 15 the lab served one subnet and dropped it ("relayed from 10.78.6.1,
// outside 10.77.6.0/24").
func TestLabServer4RelayedSecondSubnet(t *testing.T) {
	s := twoSubnetLab(t)
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	d, err := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:06:01"), withOptionsOf(ovmf, pxeOptions...)...)
	if err != nil {
		t.Fatal(err)
	}
	d.SetUnicast()
	d.GatewayIPAddr = net.IPv4(10, 78, 6, 1)
	d.HopCount = 1
	d.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, relayAgentInfo))
	x := s.Reply(d, Arrival{Interface: "br0", Mode: ModeFull})
	o := x.Reply
	if o == nil {
		t.Fatalf("relayed DISCOVER from 10.78.6.1: no reply: %s", x.NoReply)
	}
	if o.MessageType() != dhcpv4.MessageTypeOffer || !netip.MustParsePrefix("10.78.6.0/24").Contains(addrOf(o.YourIPAddr)) {
		t.Errorf("relayed DISCOVER: %s, want an OFFER from 10.78.6.0/24", o.Summary())
	}
	if got := o.Options.Get(dhcpv4.OptionRelayAgentInformation); !bytes.Equal(got, relayAgentInfo) {
		t.Errorf("option 82 = % x, want it echoed verbatim: % x", got, relayAgentInfo)
	}
	if sid := o.ServerIdentifier(); !sid.Equal(net.IPv4(10, 77, 6, 1)) || !o.ServerIPAddr.Equal(net.IPv4(10, 77, 6, 1)) {
		t.Errorf("option 54 %v siaddr %v, want the server 10.77.6.1", sid, o.ServerIPAddr)
	}
	if r := o.Router(); len(r) != 1 || !r[0].Equal(net.IPv4(10, 78, 6, 1)) || o.BootFileNameOption() != "ipxe.efi" {
		t.Errorf("router %v boot file %q, want 10.78.6.1 and ipxe.efi", r, o.BootFileNameOption())
	}
	if dst := ReplyAddr(d, o); dst.String() != "10.78.6.1:67" {
		t.Errorf("reply goes to %v, want the relay 10.78.6.1:67", dst)
	}
	if x.Boot == nil || x.Boot.Relay != netip.MustParseAddr("10.78.6.1") || x.Lease == nil || x.Lease.IP != addrOf(o.YourIPAddr) {
		t.Errorf("exchange: boot %+v lease %+v", x.Boot, x.Lease)
	}

	// A relayed NAK (yiaddr 0) has the broadcast flag.
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC("02:00:00:00:06:02")), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 78, 6, 250))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 6, 1))))
	req.SetUnicast()
	req.GatewayIPAddr = net.IPv4(10, 78, 6, 1)
	if nak := s.Reply(req, Arrival{Interface: "br0"}).Reply; nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !nak.IsBroadcast() {
		t.Errorf("relayed REQUEST outside the range: %v, want a broadcast NAK", nak)
	}

	// Unrelayed, on the interface of the first subnet.
	d2, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:06:03"))
	if o := s.Reply(d2, Arrival{Interface: "br0"}).Reply; o == nil || !netip.MustParsePrefix("10.77.6.0/24").Contains(addrOf(o.YourIPAddr)) {
		t.Errorf("unrelayed DISCOVER on br0: %v, want an address from 10.77.6.0/24", o)
	}
	// Relayed from a network no subnet holds.
	d2.GatewayIPAddr = net.IPv4(10, 79, 6, 1)
	if x := s.Reply(d2, Arrival{Interface: "br0"}); x.Reply != nil || !strings.Contains(x.NoReply, "10.79.6.1") {
		t.Errorf("relayed from an unknown network: reply %v, NoReply %q", x.Reply, x.NoReply)
	}
}

// Subnets that overlap, or a second subnet that leaves the server without
// an address, are refused at start with the field named.
func TestLabServer4SubnetErrors(t *testing.T) {
	s := twoSubnetLab(t)
	s.Subnets[1].Prefix = netip.MustParsePrefix("10.77.0.0/16")
	s.Subnets[1].RangeStart, s.Subnets[1].RangeEnd = netip.MustParseAddr("10.77.7.1"), netip.MustParseAddr("10.77.7.9")
	if err := s.Init(); err == nil || !strings.Contains(err.Error(), "Subnets[1] 10.77.0.0/16 overlaps Subnets[0]") {
		t.Errorf("overlapping subnets: Init = %v", err)
	}
	s = twoSubnetLab(t)
	s.Subnets[1].RangeEnd = netip.MustParseAddr("10.99.0.1")
	if err := s.Init(); err == nil || !strings.Contains(err.Error(), "Subnets[1]: range") {
		t.Errorf("range outside its subnet: Init = %v", err)
	}
}

// The allocator alone has coredhcp's handler shape: it fills the reply the
// server built and lets the chain go on; the responder adds boot data.
func TestAllocator4Chain(t *testing.T) {
	a := &Allocator4{ServerIP: netip.MustParseAddr("10.77.6.1"), Subnets: twoSubnetLab(t).Subnets}
	p, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: p}
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	resp, err := dhcpv4.NewReplyFromRequest(ovmf)
	if err != nil {
		t.Fatal(err)
	}
	out, stop := a.Handle(ovmf, resp)
	if stop || out == nil || out.MessageType() != dhcpv4.MessageTypeOffer || !out.YourIPAddr.Equal(net.IPv4(10, 77, 6, 100)) {
		t.Fatalf("Allocator4.Handle = %v, %v; want an OFFER of 10.77.6.100", out, stop)
	}
	out, stop = h.CoreDHCP(ovmf, out)
	if stop || out.BootFileNameOption() != "ipxe.efi" || !out.ServerIPAddr.Equal(net.IPv4(10, 77, 6, 1)) {
		t.Errorf("CoreDHCP after the allocator: %v (stop %v)", out.Summary(), stop)
	}
	rel, _ := dhcpv4.New(dhcpv4.WithHwAddr(ovmf.ClientHWAddr), dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease))
	resp, _ = dhcpv4.NewReplyFromRequest(rel)
	if out, stop := a.Handle(rel, resp); out != nil || !stop {
		t.Errorf("RELEASE: Handle = %v, %v; want no reply, chain stopped", out, stop)
	}
}
