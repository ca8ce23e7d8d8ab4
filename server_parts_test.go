package pxekit_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/pcaptest"
	"github.com/pxekit/pxekit/tftpserve"
)

// A machine the inventory does not know raises one UnknownMachineEvent
// per session, from DHCP or from its script request; a known one none.
// The events reach the metrics registered on the caller's registry.
func TestServerUnknownMachineEvents(t *testing.T) {
	known, _ := net.ParseMAC("52:54:00:00:00:31")
	inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "known", MAC: known, Kernel: "vmlinuz"})
	if err != nil {
		t.Fatal(err)
	}
	var events eventLog
	reg := prometheus.NewRegistry()
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Inventory: inv,
		OnEvent: events.add, Metrics: reg}
	defer srv.Close()
	h := srv.HTTPHandler()
	for _, path := range []string{"/machine/52-54-00-00-00-31", "/machine/52-54-00-00-00-32", "/machine/52-54-00-00-00-32"} {
		if _, err := fetchHTTP(h, path); err != nil {
			t.Fatal(err)
		}
	}
	// From DHCP: an unknown machine that has not asked for its script yet.
	for range 2 {
		d := bootDiscover(t, "52:54:00:00:00:33", iana.EFI_X86_64, "PXEClient", false)
		reply, err := dhcpv4.NewReplyFromRequest(d, dhcpv4.WithYourIP(net.IPv4(127, 0, 0, 33)))
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := srv.CoreDHCP4(d, reply); resp == nil {
			t.Fatal("CoreDHCP4 dropped the reply")
		}
	}
	var unknown []string
	for _, e := range events.events {
		if u, ok := e.(pxekit.UnknownMachineEvent); ok {
			unknown = append(unknown, u.MAC.String())
		}
	}
	if got, want := strings.Join(unknown, " "), "52:54:00:00:00:32 52:54:00:00:00:33"; got != want {
		t.Errorf("UnknownMachineEvents for %s, want %s (one per unknown machine)", got, want)
	}
	if s, _ := srv.Sessions().ByMAC(known); !s.Known {
		t.Errorf("session of the known machine: Known = false")
	}
	if got := counterValue(t, reg, pxekit.MetricUnknownMachines); got != 2 {
		t.Errorf("%s = %v, want 2", pxekit.MetricUnknownMachines, got)
	}
}

// counterValue reads the one series of a counter without labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s in the registry", name)
	return 0
}

// DHCPHandler4 makes a program's own server4 a proxyDHCP with the
// Server's policy and sessions; TFTPTune sees the session DHCP made.
func TestServerDHCPHandler4AndTune(t *testing.T) {
	type tuned struct {
		firmware string
		ok       bool
	}
	tunes := make(chan tuned, 4)
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Files: "testdata/boot",
		TFTPTune: func(r *tftpserve.Request, l *tftpserve.Limits, s pxekit.Session, ok bool) {
			tunes <- tuned{string(s.Client.Firmware), ok}
			l.BlockSize = min(l.BlockSize, 512) // what a Tune does with what DHCP learnt
		}}
	defer srv.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s4, err := server4.NewServer("", nil, srv.DHCPHandler4(dhcpboot.ModeProxyAck), server4.WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	go s4.Serve()
	defer s4.Close()
	r := exchange(t, conn.LocalAddr(), proxyRequest(t, "52:54:00:00:00:40", iana.EFI_X86_64, false))
	if r.BootFileName != "ipxe.efi" {
		t.Fatalf("proxy ACK boot file %q, want ipxe.efi", r.BootFileName)
	}
	mac, _ := net.ParseMAC("52:54:00:00:00:40")
	waitFor(func() bool { _, ok := srv.Sessions().ByMAC(mac); return ok }) // the hook runs once the reply is sent
	if s, ok := srv.Sessions().ByMAC(mac); !ok || s.IP != netip.MustParseAddr("127.0.0.1") || s.Stage != pxekit.StageDHCP || s.BootFile != "ipxe.efi" {
		t.Fatalf("session after the proxy ACK = %+v (found %v), want IP 127.0.0.1 (ciaddr), stage dhcp, boot file ipxe.efi", s, ok)
	}

	tc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := srv.TFTPServer()
	go ts.Serve(tc)
	defer ts.Close()
	if _, err := tftpGet(tc.LocalAddr().String(), "ipxe.efi"); err != nil {
		t.Fatal(err)
	}
	if got := <-tunes; !got.ok || got.firmware != "uefi" {
		t.Errorf("TFTPTune saw session firmware %q (ok %v), want uefi from DHCP", got.firmware, got.ok)
	}
	waitFor(func() bool { s, _ := srv.Sessions().ByMAC(mac); return s.Stage == pxekit.StageBootFile })
	if s, _ := srv.Sessions().ByMAC(mac); s.Stage != pxekit.StageBootFile {
		t.Errorf("stage after the TFTP fetch of the boot file: %v, want bootfile", s.Stage)
	}
}

// ListenAndServe serves until its context is done, then returns
// ErrServerClosed; bad configurations are refused with the field to set.
func TestServerListenAndServe(t *testing.T) {
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), HTTPAddr: "127.0.0.1:0", TFTPAddr: "127.0.0.1:0", Files: "testdata/boot"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	waitFor(func() bool { return srv.URL() != "" })
	base := srv.URL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("URL() = %q, want http://127.0.0.1:PORT with the port the listener got", base)
	}
	if got := httpGetFrom(t, netip.MustParseAddr("127.0.0.1"), base+"/ipxe.efi"); !strings.HasPrefix(got, "not a real ipxe.efi") {
		t.Errorf("GET /ipxe.efi = %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != pxekit.ErrServerClosed {
			t.Errorf("ListenAndServe after cancel = %v, want ErrServerClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ListenAndServe did not return after its context was cancelled")
	}

	for _, tc := range []struct {
		name string
		srv  *pxekit.Server
		want string
	}{
		{"DHCP without interface", &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr("127.0.0.1")}, "Interface is required"},
		{"no address", &pxekit.Server{HTTPAddr: "127.0.0.1:0"}, "needs an address"},
		{"IPv6 Addr", &pxekit.Server{Addr: netip.MustParseAddr("::1"), HTTPAddr: "127.0.0.1:0"}, "not an IPv4 address"},
		{"bad DHCP mode", &pxekit.Server{DHCP: 9, Addr: netip.MustParseAddr("127.0.0.1"), Interface: "lo"}, "want DHCPOff"},
	} {
		err := tc.srv.ListenAndServe(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pxekit: ") {
			t.Errorf("ListenAndServe(%s) = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// Serve refuses DHCP sockets when DHCP is off, and returns ErrServerClosed
// after Shutdown.
func TestServerServeSockets(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	off := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1")}
	if err := off.Serve(pxekit.Listeners{DHCP: pc}); err == nil || !strings.Contains(err.Error(), "DHCPOff") {
		t.Errorf("Serve with a DHCP socket and DHCP off = %v, want a refusal", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1")}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pxekit.Listeners{HTTP: ln}) }()
	waitFor(func() bool { return srv.URL() != "" })
	httpGetFrom(t, netip.MustParseAddr("127.0.0.1"), srv.URL()+"/boot.ipxe")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, pxekit.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	// Closed: the handler answers 503 rather than serving a closed root.
	if _, err := fetchHTTP(srv.HTTPHandler(), "/boot.ipxe"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("HTTPHandler after Shutdown: %v, want status 503", err)
	}
}

// ObserveDHCP6 feeds the session table from a DHCPv6 server's exchange
// (a captured OVMF SOLICIT answered by dhcpboot.LabServer6 with the
// Server's policy): the machine, known by the MAC in its link-local
// address, gets a session with the address the reply gives and its boot
// URL.
func TestServerObserveDHCP6(t *testing.T) {
	sol, from, srcMAC := captureSolicit6(t)
	var events eventLog
	srv := &pxekit.Server{BaseURL: "http://[fd00:99::1]:8080", OnEvent: events.add}
	defer srv.Close()
	lab := &dhcpboot.LabServer6{PolicyFunc: srv.DHCPPolicy, ServerIP: netip.MustParseAddr("fd00:99::1"),
		RangeStart: netip.MustParseAddr("fd00:99::100"), RangeEnd: netip.MustParseAddr("fd00:99::101")}
	x := lab.Reply(sol, dhcpboot.Arrival{Peer: from}) // what LabServer6 hands its OnReply
	x.Peer = from
	if x.Reply == nil {
		t.Fatalf("LabServer6 did not answer: %s", x.NoReply)
	}
	srv.ObserveDHCP6(x)
	all := srv.Sessions().All()
	if len(all) != 1 || all[0].MAC.String() != srcMAC.String() || all[0].IP != netip.MustParseAddr("fd00:99::100") || all[0].Stage != pxekit.StageDHCP ||
		all[0].BootFile != "tftp://[fd00:99::1]/ipxe.efi" {
		t.Fatalf("sessions after a DHCPv6 exchange: %+v, want one for %s (the MAC in its link-local address; OVMF's DUID is a UUID) at fd00:99::100, stage dhcp, boot URL tftp://[fd00:99::1]/ipxe.efi", all, srcMAC)
	}
	if got := strings.Join(events.stages(all[0].MAC), " "); got != "dhcp:unknown→dhcp" {
		t.Errorf("stage events: %s", got)
	}
}

// A lab-mode Server with Lab.V6 serves DHCPv6 on the socket it is given:
// a captured OVMF SOLICIT gets an address from the range and the boot URL
// of the Server's policy, and a DHCPEvent.
func TestServerLabDHCPv6(t *testing.T) {
	sol, _, _ := captureSolicit6(t)
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	var events eventLog
	srv := &pxekit.Server{DHCP: pxekit.DHCPLab, Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://[fd00:99::1]:8080",
		Lab: pxekit.LabDHCP{V6: pxekit.LabDHCP6{ServerIP: netip.MustParseAddr("fd00:99::1"),
			RangeStart: netip.MustParseAddr("fd00:99::100"), RangeEnd: netip.MustParseAddr("fd00:99::1ff")}},
		OnEvent: events.add}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pxekit.Listeners{DHCP6: conn}) }()
	defer func() {
		srv.Close()
		if err := <-done; err != pxekit.ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	}()
	m := exchange6(t, conn.LocalAddr(), sol)
	adv := m.(*dhcpv6.Message)
	ia := adv.Options.OneIANA()
	if adv.Type() != dhcpv6.MessageTypeAdvertise || ia == nil || ia.Options.OneAddress() == nil ||
		ia.Options.OneAddress().IPv6Addr.String() != "fd00:99::100" || adv.Options.BootFileURL() != "tftp://[fd00:99::1]/ipxe.efi" {
		t.Fatalf("reply %s, want an ADVERTISE of fd00:99::100 with boot URL tftp://[fd00:99::1]/ipxe.efi", adv.Summary())
	}
	waitFor(func() bool { events.mu.Lock(); defer events.mu.Unlock(); return len(events.events) > 0 })
	events.mu.Lock()
	defer events.mu.Unlock()
	if e, ok := events.events[0].(pxekit.DHCPEvent); !ok || e.Version != 6 || e.Outcome != pxekit.DHCPAnswered {
		t.Errorf("first event %v, want an answered DHCPv6 DHCPEvent", events.events[0])
	}
}

// captureSolicit6 is the SOLICIT of the OVMF DHCPv6 capture, with the
// address and MAC it came from.
func captureSolicit6(t *testing.T) (*dhcpv6.Message, netip.AddrPort, net.HardwareAddr) {
	t.Helper()
	for _, p := range pcaptest.Read(t, "ovmf-no-dhcpv4-answer-dhcpv6.pcapng") {
		if m, err := dhcpv6.FromBytes(p.Payload); p.UDP && p.Dst.Port() == 547 && err == nil && m.Type() == dhcpv6.MessageTypeSolicit {
			return m.(*dhcpv6.Message), p.Src, p.SrcMAC
		}
	}
	t.Fatal("no SOLICIT in the capture")
	return nil, netip.AddrPort{}, nil
}

// MaxSessions bounds the Server's session table, and a program's own
// dhcpboot server feeds it through ObserveDHCP4 before anything else
// started the Server.
func TestServerMaxSessions(t *testing.T) {
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), MaxSessions: 2}
	defer srv.Close()
	h := &dhcpboot.Responder4{Policy: mustDefaultPolicy(t), ServerIP: netip.MustParseAddr("127.0.0.1")}
	for _, mac := range []string{"52:54:00:00:00:51", "52:54:00:00:00:52", "52:54:00:00:00:53"} {
		d := bootDiscover(t, mac, iana.EFI_X86_64, "PXEClient", false)
		resp, r, dec, err := h.Reply(d, dhcpboot.Arrival{Mode: dhcpboot.ModeProxy})
		if err != nil {
			t.Fatal(err)
		}
		srv.ObserveDHCP4(dhcpboot.Exchange4{Request: d, Boot: r, Decision: dec, Reply: resp})
	}
	all := srv.Sessions().All()
	if len(all) != 2 || all[0].MAC.String() != "52:54:00:00:00:53" || all[1].MAC.String() != "52:54:00:00:00:52" {
		t.Errorf("sessions %v, want the two machines seen last, newest first", all)
	}
}

func mustDefaultPolicy(t *testing.T) *dhcpboot.Policy {
	t.Helper()
	p, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
