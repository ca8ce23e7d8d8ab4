package dhcpboot

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

var testServer6 = netip.MustParseAddr("fd00:77::1")

func captureSolicit(t *testing.T) *dhcpv6.Message {
	t.Helper()
	for _, p := range readCapture(t, "ovmf-no-dhcpv4-answer-dhcpv6.pcapng") {
		if p.V6 != nil && p.V6.Type() == dhcpv6.MessageTypeSolicit {
			return p.V6.(*dhcpv6.Message)
		}
	}
	t.Fatal("no Solicit in capture")
	return nil
}

func TestHandler6Reply(t *testing.T) {
	sol := captureSolicit(t)
	p, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder6{Policy: p, ServerIP: testServer6}
	resp, _, d, err := h.Reply(sol, Arrival{})
	if err != nil {
		t.Fatal(err)
	}
	if d.RuleName() != "uefi-x64" {
		t.Fatalf("decision %v", d)
	}
	adv := resp.(*dhcpv6.Message)
	if adv.Type() != dhcpv6.MessageTypeAdvertise || adv.TransactionID != sol.TransactionID {
		t.Fatalf("reply %s", adv.Summary())
	}
	if got := adv.Options.BootFileURL(); got != "tftp://[fd00:77::1]/ipxe.efi" {
		t.Errorf("option 59 = %q", got)
	}
	if vc := adv.Options.VendorClass(enterprisePXE); vc != nil {
		t.Errorf("option 16 = %q, want none (see TestApply6VendorClass)", vc)
	}
	if adv.Options.ServerID() == nil || !adv.Options.ClientID().Equal(sol.Options.ClientID()) {
		t.Error("server/client ID missing")
	}
	// Wire round trip.
	if _, err := dhcpv6.FromBytes(adv.ToBytes()); err != nil {
		t.Fatal(err)
	}

	// Relayed: the answer is a Relay-reply around the Advertise, and the
	// relay link address is what rules see.
	relayed, err := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd00:99::1"), net.ParseIP("fe80::5054:ff:fe77:b"))
	if err != nil {
		t.Fatal(err)
	}
	h.Policy = MustNewPolicy(Rule{Name: "site-99", Match: Match{RelayNet: []netip.Prefix{netip.MustParsePrefix("fd00:99::/64")}},
		Action: Action{BootFile: lit("http://{{server}}/x.efi"), BootParams: []string{"a=1", "b"}}})
	resp, _, d, err = h.Reply(relayed, Arrival{})
	if err != nil {
		t.Fatal(err)
	}
	rr, ok := resp.(*dhcpv6.RelayMessage)
	if !ok || rr.Type() != dhcpv6.MessageTypeRelayReply || !rr.PeerAddr.Equal(net.ParseIP("fe80::5054:ff:fe77:b")) {
		t.Fatalf("not a relay reply: %v", resp)
	}
	inner, err := rr.GetInnerMessage()
	if err != nil {
		t.Fatal(err)
	}
	if got := inner.Options.BootFileURL(); got != "http://[fd00:77::1]/x.efi" {
		t.Errorf("relayed option 59 = %q (%v)", got, d)
	}
	if got := inner.Options.BootFileParam(); len(got) != 2 || got[0] != "a=1" {
		t.Errorf("option 60 = %q", got)
	}
}

func TestHandler6Errors(t *testing.T) {
	p, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder6{Policy: p, ServerIP: testServer6}
	plain, _ := dhcpv6.NewSolicit(mustMAC("02:00:00:00:00:01"))
	if _, _, _, err := h.Reply(plain, Arrival{}); !errors.Is(err, ErrNotPXEClient) {
		t.Errorf("plain: %v", err)
	}
	arm, _ := dhcpv6.NewSolicit(mustMAC("02:00:00:00:00:02"), dhcpv6.WithArchType(iana.Arch(99)))
	if _, _, _, err := h.Reply(arm, Arrival{}); !errors.Is(err, ErrNoBoot) {
		t.Errorf("unknown arch: %v", err)
	}
	noID := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeSolicit}
	if _, _, _, err := h.Reply(noID, Arrival{}); err == nil {
		t.Error("no client ID accepted")
	}
	v4only := &Responder6{Policy: p, ServerIP: netip.MustParseAddr("10.0.0.1")}
	if _, _, _, err := v4only.Reply(captureSolicit(t), Arrival{}); err == nil {
		t.Error("tftp file with an IPv4 server accepted")
	}
}

func TestCoreDHCP6(t *testing.T) {
	sol := captureSolicit(t)
	p := MustNewPolicy(
		Rule{Name: "http", Match: Match{Transport: []archdetect.Transport{archdetect.TransportHTTP}}, Action: Action{BootFile: lit("http://boot/x.efi")}},
		Rule{Name: "pxe", Match: Match{Archs: []archdetect.Arch{7}}, Action: Action{BootFile: lit("ipxe.efi")}},
	)
	h := &Responder6{Policy: p, ServerIP: testServer6}
	adv, _ := dhcpv6.NewAdvertiseFromSolicit(sol)
	out, stop := h.CoreDHCP(sol, adv)
	if stop || out != dhcpv6.DHCPv6(adv) {
		t.Fatal("chain stopped")
	}
	if got := adv.Options.BootFileURL(); got != "tftp://[fd00:77::1]/ipxe.efi" {
		t.Errorf("59 = %q", got)
	}
	ig := &Responder6{Policy: MustNewPolicy(Rule{Name: "x", Action: Action{Ignore: true}})}
	if out, stop := ig.CoreDHCP(sol, adv); out != nil || !stop {
		t.Error("ignore not dropped")
	}
}
