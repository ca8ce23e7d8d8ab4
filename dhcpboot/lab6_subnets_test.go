package dhcpboot

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// TestLabServer6SubnetsByLinkAddress: with several Subnets, a relayed
// Solicit gets an address from the subnet holding the link address of the
// relay next to the client, and that subnet's ServerIP in its boot URL; a
// link no subnet holds gets no answer; an unrelayed one the subnet holding
// the server's address.
func TestLabServer6SubnetsByLinkAddress(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	s := &LabServer6{Policy: p, ServerIP: a("fd00:1::1"), Subnets: []Subnet6{
		{Prefix: netip.MustParsePrefix("fd00:1::/64"), RangeStart: a("fd00:1::100"), RangeEnd: a("fd00:1::1ff")},
		{Prefix: netip.MustParsePrefix("fd00:98::/64"), ServerIP: a("fd00:98::2"), RangeStart: a("fd00:98::100"), RangeEnd: a("fd00:98::1ff")},
	}}
	sol := captureSolicit(t)
	inner := relayForw(t, sol, 0, "fd00:98::1", "fe80::5054:ff:fe77:b", []byte("eth1"), nil)
	outer := relayForw(t, inner, 1, "fd00:1::9", "fd00:98::1", []byte("up"), nil)
	for _, c := range []struct {
		name       string
		m          dhcpv6.DHCPv6
		addrPrefix string
		url        string
	}{
		{"relayed twice", outer, "fd00:98::1", "tftp://[fd00:98::2]/"},
		{"unrelayed", sol, "fd00:1::1", "tftp://[fd00:1::1]/"},
	} {
		x := s.Reply(c.m, Arrival{})
		if x.Reply == nil {
			t.Fatalf("%s: no reply: %s", c.name, x.NoReply)
		}
		in, err := x.Reply.GetInnerMessage()
		if err != nil {
			t.Fatal(err)
		}
		if got := iaAddr(t, in); !strings.HasPrefix(got, c.addrPrefix) {
			t.Errorf("%s: address %s, want one in %s...", c.name, got, c.addrPrefix)
		}
		if got := in.Options.BootFileURL(); !strings.HasPrefix(got, c.url) {
			t.Errorf("%s: option 59 %q, want %s...", c.name, got, c.url)
		}
	}
	stray := relayForw(t, sol, 0, "fd00:55::1", "fe80::1", []byte("x"), nil)
	if x := s.Reply(stray, Arrival{}); x.Reply != nil || !strings.Contains(x.NoReply, "fd00:55::1") {
		t.Errorf("link fd00:55::1 in no subnet: reply %v, no_reply %q", x.Reply, x.NoReply)
	}
	bad := &LabServer6{ServerIP: a("fd00:1::1"), Subnets: []Subnet6{{Prefix: netip.MustParsePrefix("fd00:1::/64"), RangeStart: a("fd00:2::1"), RangeEnd: a("fd00:2::9")}}}
	if err := bad.Init(); err == nil || !strings.Contains(err.Error(), "Subnets[0]") {
		t.Errorf("range outside its prefix: Init error %v, want one naming Subnets[0]", err)
	}
}
