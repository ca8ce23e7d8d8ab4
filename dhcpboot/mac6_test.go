package dhcpboot

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// TestResponder6MACFromLinkLocal: UEFI firmware and iPXE identify
// themselves over DHCPv6 with a DUID-UUID, which carries no MAC; the MAC
// then comes from the modified EUI-64 of the client's link-local source
// address (or of the innermost relay's peer address), so that
// {{mac_hyphen}} in boot URLs is filled, as dnsmasq does.
func TestResponder6MACFromLinkLocal(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}/boot.ipxe?mac={{mac_hyphen}}"})
	if err != nil {
		t.Fatal(err)
	}
	s := &LabServer6{Policy: p, ServerIP: netip.MustParseAddr("fd77::1"),
		RangeStart: netip.MustParseAddr("fd77::100"), RangeEnd: netip.MustParseAddr("fd77::1ff")}
	sol, err := dhcpv6.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	sol.MessageType = dhcpv6.MessageTypeSolicit
	var uuid [16]byte
	copy(uuid[:], "0123456789abcdef")
	sol.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: uuid}))
	sol.AddOption(&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}})
	sol.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{1, 2, 3, 4}})
	ll := netip.MustParseAddr("fe80::5054:ff:fe77:d")
	const want = "mac=52-54-00-77-00-0d"

	x := s.Reply(sol, Arrival{Peer: netip.AddrPortFrom(ll, 546)})
	if x.Reply == nil {
		t.Fatalf("no reply: %s", x.NoReply)
	}
	adv, err := x.Reply.GetInnerMessage()
	if err != nil {
		t.Fatal(err)
	}
	if u := adv.Options.BootFileURL(); !strings.HasSuffix(u, want) {
		t.Errorf("Advertise to %v: option 59 %q, want it to end in %q", ll, u, want)
	}
	if got := x.Boot.Client.MAC.String(); got != "52:54:00:77:00:0d" {
		t.Errorf("Exchange6.Boot.Client.MAC = %q, want 52:54:00:77:00:0d", got)
	}

	// Relayed: the relay next to the client names it by its peer address.
	relayed, err := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd78::1"), net.IP(ll.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	x = s.Reply(relayed, Arrival{Peer: netip.MustParseAddrPort("[fd78::1]:547")})
	if x.Reply == nil {
		t.Fatalf("no reply to the relayed Solicit: %s", x.NoReply)
	}
	adv, err = x.Reply.GetInnerMessage()
	if err != nil {
		t.Fatal(err)
	}
	if u := adv.Options.BootFileURL(); !strings.HasSuffix(u, want) {
		t.Errorf("relayed Advertise: option 59 %q, want it to end in %q", u, want)
	}

	// A DUID with a MAC wins; a peer address without EUI-64 gives none.
	for _, tt := range []struct {
		duid dhcpv6.DUID
		peer string
		want string
	}{
		{&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 9}}, "fe80::5054:ff:fe77:d", "02:00:00:00:00:09"},
		{&dhcpv6.DUIDUUID{UUID: uuid}, "fe80::1234", ""},
	} {
		m, _ := dhcpv6.NewMessage()
		m.MessageType = dhcpv6.MessageTypeSolicit
		m.AddOption(dhcpv6.OptClientID(tt.duid))
		m.AddOption(dhcpv6.OptClientArchType(iana.EFI_X86_64))
		r, _ := (&Responder6{Policy: p, ServerIP: netip.MustParseAddr("fd77::1")}).Decide(m, Arrival{Peer: netip.AddrPortFrom(netip.MustParseAddr(tt.peer), 546)})
		if got := r.Client.MAC.String(); got != tt.want {
			t.Errorf("Decide(DUID %s from %s): Client.MAC %q, want %q", tt.duid, tt.peer, got, tt.want)
		}
	}
}
