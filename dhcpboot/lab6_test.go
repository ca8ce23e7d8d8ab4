package dhcpboot

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/internal/netlab"
)

func newLab6(clock *fakeClock) *LabServer6 {
	p, _ := DefaultPolicy(DefaultConfig{})
	return &LabServer6{Policy: p, ServerIP: netip.MustParseAddr("fd00:99::1"),
		RangeStart: netip.MustParseAddr("fd00:99::100"), RangeEnd: netip.MustParseAddr("fd00:99::101"),
		LeaseTime: 10 * time.Minute, Now: clock.Now}
}

func iaAddr(t *testing.T, m *dhcpv6.Message) string {
	t.Helper()
	ia := m.Options.OneIANA()
	if ia == nil {
		t.Fatalf("no IA_NA in %s", m.Summary())
	}
	if a := ia.Options.OneAddress(); a != nil {
		return a.IPv6Addr.String()
	}
	if st := ia.Options.Status(); st != nil {
		return st.StatusCode.String()
	}
	return ""
}

// respond6 is [LabServer6.Reply] in the shape tests read best: the reply,
// or an error saying why there is none.
func respond6(s *LabServer6, m dhcpv6.DHCPv6) (dhcpv6.DHCPv6, error) {
	x := s.Reply(m, Arrival{})
	if x.Reply == nil {
		return nil, errors.New(x.NoReply)
	}
	return x.Reply, nil
}

func TestLabServer6(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	s := newLab6(clock)
	sol := captureSolicit(t)
	if sol.Options.OneIANA() == nil {
		t.Fatal("captured Solicit has no IA_NA")
	}
	resp, err := respond6(s, sol)
	if err != nil {
		t.Fatal(err)
	}
	adv := resp.(*dhcpv6.Message)
	if adv.Type() != dhcpv6.MessageTypeAdvertise || iaAddr(t, adv) != "fd00:99::100" || adv.Options.BootFileURL() != "tftp://[fd00:99::1]/ipxe.efi" {
		t.Fatalf("advertise: %s", adv.Summary())
	}
	req, err := dhcpv6.NewRequestFromAdvertise(adv)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []dhcpv6.OptionCode{dhcpv6.OptionClientArchType, dhcpv6.OptionVendorClass} {
		req.AddOption(sol.GetOneOption(code))
	}
	resp, err = respond6(s, req)
	if err != nil {
		t.Fatal(err)
	}
	rep := resp.(*dhcpv6.Message)
	if rep.Type() != dhcpv6.MessageTypeReply || iaAddr(t, rep) != "fd00:99::100" || rep.Options.BootFileURL() == "" {
		t.Fatalf("reply: %s", rep.Summary())
	}
	// Other clients: one more address, then none.
	for i, want := range []string{"fd00:99::101", iana.StatusNoAddrsAvail.String()} {
		o, _ := dhcpv6.NewSolicit(net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}, dhcpv6.WithArchType(iana.EFI_X86_64))
		r, err := respond6(s, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := iaAddr(t, r.(*dhcpv6.Message)); got != want {
			t.Errorf("client %d: %s, want %s", i, got, want)
		}
	}
	// Held offers expire; the committed lease does not (yet).
	clock.t = clock.t.Add(2 * time.Minute)
	o, _ := dhcpv6.NewSolicit(net.HardwareAddr{2, 0, 0, 0, 0, 9})
	if r, _ := respond6(s, o); iaAddr(t, r.(*dhcpv6.Message)) != "fd00:99::101" {
		t.Errorf("expired offer not reused")
	}
	// Message for another server, relayed message, release.
	req2, _ := dhcpv6.NewRequestFromAdvertise(adv)
	req2.UpdateOption(dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 9, 9, 9, 9, 9}}))
	if r, err := respond6(s, req2); r != nil || err == nil {
		t.Error("answered a request for another server")
	}
	relayed, _ := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd00:98::1"), net.ParseIP("fe80::1"))
	if r, err := respond6(s, relayed); err != nil || r.Type() != dhcpv6.MessageTypeRelayReply {
		t.Errorf("relayed: %v %v", r, err)
	}
	rel, _ := dhcpv6.NewRequestFromAdvertise(adv)
	rel.MessageType = dhcpv6.MessageTypeRelease
	if r, err := respond6(s, rel); err != nil || r.(*dhcpv6.Message).Options.OneIANA().Options.Status().StatusCode != iana.StatusSuccess {
		t.Errorf("release: %v %v", r, err)
	}
	if _, ok := s.leases[string(sol.Options.ClientID().ToBytes())+string(sol.Options.OneIANA().IaId[:])]; ok {
		t.Error("released lease kept")
	}
	bad := &LabServer6{ServerIP: netip.MustParseAddr("10.0.0.1")}
	if _, err := respond6(bad, sol); err == nil {
		t.Error("IPv4 server accepted")
	}
}

func TestInteropLabServer6Nclient6(t *testing.T) {
	p := netlab.NewPair6(t, "fd00:99::1/64")
	s := newLab6(&fakeClock{time.Now()})
	s.Now, s.Interface, s.Logger = nil, p.ServerIf, testLogger(t)
	var conn net.PacketConn
	if err := p.Server.Do(func() (err error) { conn, err = ListenUDP6(p.ServerIf); return err }); err != nil {
		t.Fatal(err)
	}
	serveInBackground(t, s, func() error { return s.Serve(conn) })

	c, mods := firmwareClient6(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adv, err := c.Solicit(ctx, mods...)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Request(ctx, adv, mods...)
	if err != nil {
		t.Fatal(err)
	}
	if iaAddr(t, rep) != "fd00:99::100" || rep.Options.BootFileURL() != "tftp://[fd00:99::1]/ipxe.efi" {
		t.Errorf("reply: %s", rep.Summary())
	}
}
