package dhcpboot

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// hookRecorder collects what a server's hooks get.
type hookRecorder struct {
	replies  chan Exchange4
	invalids chan Invalid
}

func newHookRecorder() *hookRecorder {
	return &hookRecorder{replies: make(chan Exchange4, 16), invalids: make(chan Invalid, 16)}
}

func (h *hookRecorder) onReply(x Exchange4) { h.replies <- x }
func (h *hookRecorder) onInvalid(x Invalid) { h.invalids <- x }

func (h *hookRecorder) nextReply(t *testing.T) Exchange4 {
	t.Helper()
	select {
	case x := <-h.replies:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("OnReply not called within 10s")
	}
	return Exchange4{}
}

// loopback returns a server socket and a client socket on 127.0.0.1.
func loopback(t *testing.T) (server, client net.PacketConn) {
	t.Helper()
	var err error
	if server, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if client, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return server, client
}

func sendTo(t *testing.T, c net.PacketConn, b []byte, to net.Addr) {
	t.Helper()
	if _, err := c.WriteTo(b, to); err != nil {
		t.Fatal(err)
	}
}

// The proxy's hooks: one OnReply per decoded request, saying what was
// decided and sent or why nothing was, and one OnInvalid per datagram that
// is no request. The port-4011 role answers the sender, so loopback sees
// the reply.
func TestProxyServerHooks(t *testing.T) {
	def, _ := DefaultRules(DefaultConfig{})
	p := MustNewPolicy(append([]Rule{{Name: "quarantine", Match: Match{MAC: []MACPattern{MustParseMACPattern("02:00:00:00:00:66")}},
		Action: Action{Ignore: true}}}, def...)...)
	rec := newHookRecorder()
	proxy := &ProxyServer{Policy: p, ServerIP: netip.MustParseAddr("127.0.0.1"), Interface: "lo",
		OnReply: rec.onReply, OnInvalid: rec.onInvalid}
	srv, client := loopback(t)
	serveInBackground(t, proxy, func() error { return proxy.ServeBootServer(srv) })

	request := func(mac string, pxe bool) *dhcpv4.DHCPv4 {
		mods := []dhcpv4.Modifier{dhcpv4.WithHwAddr(mustMAC(mac)), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithClientIP(net.IPv4(127, 0, 0, 1))}
		if pxe {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
				dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
		}
		m, err := dhcpv4.New(mods...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("PXE client answered", func(t *testing.T) {
		m := request("02:00:00:00:00:01", true)
		sendTo(t, client, m.ToBytes(), srv.LocalAddr())
		x := rec.nextReply(t)
		if x.Reply == nil || x.NoReply != "" || x.Err != nil || x.Reply.MessageType() != dhcpv4.MessageTypeAck {
			t.Fatalf("OnReply: reply %v, NoReply %q, Err %v; want an ACK", x.Reply, x.NoReply, x.Err)
		}
		if x.Request == nil || x.Request.TransactionID != m.TransactionID || x.Decision.RuleName() != "uefi-x64" || x.Boot == nil ||
			x.Boot.Mode != ModeProxyAck || x.Boot.ServerIP != netip.MustParseAddr("127.0.0.1") || x.Boot.Interface != "lo" {
			t.Errorf("OnReply: request %v, decision %q, boot %+v", x.Request, x.Decision.Why, x.Boot)
		}
		if x.Peer.String() != client.LocalAddr().String() || x.To != x.Peer || x.Interface != "lo" || x.Lease != nil {
			t.Errorf("OnReply: peer %v, to %v, interface %q, lease %v", x.Peer, x.To, x.Interface, x.Lease)
		}
	})
	t.Run("plain DHCP client not answered", func(t *testing.T) {
		sendTo(t, client, request("02:00:00:00:00:02", false).ToBytes(), srv.LocalAddr())
		x := rec.nextReply(t)
		if x.Reply != nil || x.NoReply != "not a boot client" {
			t.Errorf("OnReply: reply %v, NoReply %q; want none, \"not a boot client\"", x.Reply, x.NoReply)
		}
	})
	t.Run("rule ignores", func(t *testing.T) {
		sendTo(t, client, request("02:00:00:00:00:66", true).ToBytes(), srv.LocalAddr())
		x := rec.nextReply(t)
		if x.Reply != nil || !strings.Contains(x.NoReply, `rule "quarantine" ignores`) || x.Decision.RuleName() != "quarantine" {
			t.Errorf("OnReply: reply %v, NoReply %q, decision %q", x.Reply, x.NoReply, x.Decision.Why)
		}
	})
	t.Run("DISCOVER on port 4011", func(t *testing.T) {
		d, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:03"), dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
		sendTo(t, client, d.ToBytes(), srv.LocalAddr())
		if x := rec.nextReply(t); x.Reply != nil || !strings.Contains(x.NoReply, "DISCOVER") {
			t.Errorf("OnReply: reply %v, NoReply %q", x.Reply, x.NoReply)
		}
	})
	t.Run("malformed datagram", func(t *testing.T) {
		sendTo(t, client, []byte{1, 2, 3}, srv.LocalAddr())
		select {
		case x := <-rec.invalids:
			if x.Size != 3 || x.Err == nil || x.Peer.String() != client.LocalAddr().String() || x.Interface != "lo" {
				t.Errorf("OnInvalid: %+v", x)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("OnInvalid not called within 10s")
		}
		// A BOOTREPLY is no request either.
		ack, _ := dhcpv4.NewReplyFromRequest(request("02:00:00:00:00:04", true))
		sendTo(t, client, ack.ToBytes(), srv.LocalAddr())
		if x := <-rec.invalids; !errors.Is(x.Err, ErrNotBootRequest) {
			t.Errorf("OnInvalid for a BOOTREPLY: %v", x.Err)
		}
		select {
		case x := <-rec.replies:
			t.Errorf("OnReply called for an invalid datagram: %+v", x)
		default:
		}
	})
}

// The lab server's OnReply has the lease it gave.
func TestLabServer4HookHasLease(t *testing.T) {
	rec := newHookRecorder()
	s := &LabServer4{ServerIP: netip.MustParseAddr("127.0.0.1"), Interface: "lo",
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("127.0.0.0/16"),
			RangeStart: netip.MustParseAddr("127.0.1.1"), RangeEnd: netip.MustParseAddr("127.0.1.9")}},
		OnReply: rec.onReply, OnInvalid: rec.onInvalid}
	srv, client := loopback(t)
	serveInBackground(t, s, func() error { return s.Serve(srv) })
	// A renewing client (ciaddr set) gets its ACK by unicast to ciaddr:68.
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC("02:00:00:00:00:05")), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.IPv4(127, 0, 1, 5)))
	sendTo(t, client, req.ToBytes(), srv.LocalAddr())
	x := rec.nextReply(t)
	if x.Reply == nil || x.Reply.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("OnReply: reply %v, NoReply %q, err %v; want an ACK", x.Reply, x.NoReply, x.Err)
	}
	if x.Lease == nil || x.Lease.IP != netip.MustParseAddr("127.0.1.5") || x.Lease.MAC.String() != "02:00:00:00:00:05" {
		t.Errorf("OnReply: lease %+v, want 127.0.1.5 for 02:00:00:00:00:05", x.Lease)
	}
	if x.To.String() != "127.0.1.5:68" || x.Boot == nil || x.Boot.Mode != ModeFull {
		t.Errorf("OnReply: to %v, boot %+v", x.To, x.Boot)
	}
}

// exported returns the exported fields of the struct *p (funcs as
// whether they are set, since funcs do not compare).
func exported(p any) map[string]any {
	v := reflect.ValueOf(p).Elem()
	out := map[string]any{}
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Func {
			out[f.Name] = !v.Field(i).IsNil()
			continue
		}
		out[f.Name] = v.Field(i).Interface()
	}
	return out
}

// deepCopy returns a copy of m that shares no slices with it.
func deepCopy(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range m {
		if v == nil {
			out[k] = nil
			continue
		}
		rv := reflect.ValueOf(v)
		c := reflect.New(rv.Type()).Elem()
		deepCopyValue(c, rv)
		out[k] = c.Interface()
	}
	return out
}

func deepCopyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := 0; i < src.Len(); i++ {
			deepCopyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Struct:
		dst.Set(src) // copies unexported fields too
		for i := 0; i < src.NumField(); i++ {
			if dst.Field(i).CanSet() {
				deepCopyValue(dst.Field(i), src.Field(i))
			}
		}
	default:
		dst.Set(src)
	}
}

// Servers never write their exported configuration: what the user set is
// what is there after serving (before issue 15 LabServer filled in
// ServerIP, masked Subnet and set LeaseTime).
func TestServersNeverWriteConfig(t *testing.T) {
	p, _ := DefaultPolicy(DefaultConfig{})
	handled := make(chan struct{}, 16)
	on4 := func(Exchange4) { handled <- struct{}{} }
	on6 := func(Exchange6) { handled <- struct{}{} }
	onInvalid := func(Invalid) { handled <- struct{}{} }
	lab := &LabServer4{Policy: p, Interface: "lo", OnReply: on4, OnInvalid: onInvalid, // ServerIP from the interface
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("127.0.0.9/16"), // not masked
			RangeStart: netip.MustParseAddr("127.0.1.1"), RangeEnd: netip.MustParseAddr("127.0.1.9"),
			Reservations: []Reservation{{MAC: mustMAC("02:00:00:00:00:07"), IP: netip.MustParseAddr("127.0.2.7")}}}}}
	proxy := &ProxyServer{Policy: p, Interface: "lo", OnReply: on4, OnInvalid: onInvalid}
	lab6 := &LabServer6{Policy: p, ServerIP: netip.MustParseAddr("fd00::1"), OnReply: on6, OnInvalid: onInvalid,
		RangeStart: netip.MustParseAddr("fd00::100"), RangeEnd: netip.MustParseAddr("fd00::1ff")}
	for _, tt := range []struct {
		name  string
		cfg   any
		srv   server
		serve func(net.PacketConn) error
	}{
		{"LabServer4", lab, lab, lab.Serve},
		{"ProxyServer", proxy, proxy, proxy.Serve},
		{"LabServer6", lab6, lab6, lab6.Serve},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := deepCopy(t, exported(tt.cfg))
			srv, client := loopback(t)
			serveInBackground(t, tt.srv, func() error { return tt.serve(srv) })
			// A renewing client: any reply goes by unicast to 127.0.1.7:68.
			req, _ := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC("02:00:00:00:00:07")), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
				dhcpv4.WithClientIP(net.IPv4(127, 0, 1, 7)), dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
			sendTo(t, client, req.ToBytes(), srv.LocalAddr())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			select { // the server has started and handled the request
			case <-handled:
			case <-ctx.Done():
				t.Fatal("no hook called within 10s")
			}
			if err := tt.srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if after := exported(tt.cfg); !reflect.DeepEqual(before, after) {
				t.Errorf("%s config changed by serving:\nbefore %+v\nafter  %+v", tt.name, before, after)
			}
		})
	}
}

// A Decision gives a copy of the rule: changing it, even inside its lists,
// never changes the policy nor the Decision (before issue 15 Decision.Rule
// pointed into the policy; since issue 19 Decision refers to the policy's
// frozen rule and Rule() copies it).
func TestDecisionIsACopy(t *testing.T) {
	p := MustNewPolicy(Rule{Name: "all",
		Match: Match{Archs: []archdetect.Arch{7}},
		Action: Action{BootFile: lit("ipxe.efi"), Options: []Option{{Code: 252, Value: []byte("x")}},
			PXE: &PXEOptions{DiscoveryControl: DiscoveryBootFile}, PXELinux: &PXELinux{ConfigFile: "a"}}})
	r := &Request{Client: ovmfPXE()}
	d := p.Decide(r)
	rule := d.Rule()
	rule.Name = "changed"
	rule.Match.Archs[0] = 9
	rule.Action.Options[0].Value[0] = 'y'
	rule.Action.PXE.DiscoveryControl = 0
	rule.Action.PXELinux.ConfigFile = "b"
	want := MustNewPolicy(p.Rules()...).Rules()[0]
	want.Name, want.Match.Archs, want.Action.Options = "all", []archdetect.Arch{7}, []Option{{Code: 252, Value: []byte("x")}}
	for _, got := range []Decision{p.Decide(r), d} {
		if g := got.Rule(); !reflect.DeepEqual(g, want) || g.Action.PXE.DiscoveryControl != DiscoveryBootFile || g.Action.PXELinux.ConfigFile != "a" {
			t.Errorf("after changing a Decision's Rule() the policy decides %+v", g)
		}
		if got.RuleName() != "all" {
			t.Errorf("after changing a Decision's Rule(), RuleName() = %q, want all", got.RuleName())
		}
	}
	if got := p.Rules()[0]; got.Name != "all" || got.Match.Archs[0] != 7 {
		t.Errorf("Policy.Rules()[0] = %+v", got)
	}
}

// Shutdown waits for replies whose lease is still being made durable: it
// returns ctx's error while one is in flight, and once the lease is in the
// file the ACK has gone and OnReply has seen it.
func TestLabServer4ShutdownWaitsForLeaseFile(t *testing.T) {
	rec := newHookRecorder()
	s := &LabServer4{ServerIP: netip.MustParseAddr("127.0.0.1"), LeaseFile: t.TempDir() + "/leases",
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("127.0.0.0/16"),
			RangeStart: netip.MustParseAddr("127.0.1.1"), RangeEnd: netip.MustParseAddr("127.0.1.9")}},
		OnReply: rec.onReply}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	syncing, release := make(chan struct{}), make(chan struct{})
	s.alloc.journal.beforeSync = func() { close(syncing); <-release }
	srv, client := loopback(t)
	done := make(chan error, 1)
	go func() { done <- s.Serve(srv) }()
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC("02:00:00:00:00:08")), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.IPv4(127, 0, 1, 8)))
	sendTo(t, client, req.ToBytes(), srv.LocalAddr())
	select {
	case <-syncing:
	case <-time.After(10 * time.Second):
		t.Fatal("the lease was not written within 10s")
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a lease in flight = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	select {
	case x := <-rec.replies:
		if x.Reply == nil || x.Reply.MessageType() != dhcpv4.MessageTypeAck || x.Lease == nil {
			t.Errorf("OnReply: reply %v, lease %v, NoReply %q", x.Reply, x.Lease, x.NoReply)
		}
	default:
		t.Error("Shutdown returned before the ACK waiting for its lease was handled")
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}
