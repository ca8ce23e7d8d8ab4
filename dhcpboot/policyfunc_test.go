package dhcpboot

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

// fileRule is a policy that boots every client from file.
func fileRule(file string) *Policy {
	return MustNewPolicy(Rule{Name: file, Action: Action{BootFile: MustParseTemplate(file)}})
}

// Every server and responder asks PolicyFunc for the policy of each
// message, so that a program swaps its policy while serving; PolicyFunc
// wins over Policy.
func TestPolicyFuncSwapsWhileServing(t *testing.T) {
	var cur atomic.Pointer[Policy]
	cur.Store(fileRule("first.efi"))
	stale := fileRule("stale.efi") // Policy is ignored when PolicyFunc is set
	pxeRequest := func(mac string) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC(mac)), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithClientIP(net.IPv4(127, 0, 0, 1)),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	rec := newHookRecorder()
	proxy := &ProxyServer{PolicyFunc: cur.Load, Policy: stale, ServerIP: netip.MustParseAddr("127.0.0.1"), OnReply: rec.onReply}
	srv, client := loopback(t)
	serveInBackground(t, proxy, func() error { return proxy.ServeBootServer(srv) })
	lab := newLab(t, "", &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)})
	lab.Policy, lab.PolicyFunc = stale, cur.Load
	lab6 := newLab6(&fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)})
	lab6.Policy, lab6.PolicyFunc = stale, cur.Load
	resp := &Responder4{Policy: stale, PolicyFunc: cur.Load, ServerIP: netip.MustParseAddr("10.0.0.1")}

	for _, want := range []string{"first.efi", "second.efi"} {
		cur.Store(fileRule(want))
		sendTo(t, client, pxeRequest("02:00:00:00:00:01").ToBytes(), srv.LocalAddr())
		if x := rec.nextReply(t); x.Reply == nil || x.Reply.BootFileName != want {
			t.Errorf("ProxyServer with PolicyFunc: reply %v (NoReply %q), want boot file %q", x.Reply, x.NoReply, want)
		}
		d, _ := dhcpv4.NewDiscovery(mustMAC("52:54:00:77:00:0b"), dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
		if x := lab.Reply(d, Arrival{}); x.Reply == nil || x.Reply.BootFileName != want {
			t.Errorf("LabServer4 with PolicyFunc: reply %v (NoReply %q), want boot file %q", x.Reply, x.NoReply, want)
		}
		if _, dec := resp.Decide(d, Arrival{}); dec.RuleName() != want {
			t.Errorf("Responder4.Decide with PolicyFunc: rule %q, want %q", dec.RuleName(), want)
		}
		sol := captureSolicit(t)
		if x := lab6.Reply(sol, Arrival{}); x.Reply == nil || x.Reply.(*dhcpv6.Message).Options.BootFileURL() != "tftp://[fd00:99::1]/"+want {
			t.Errorf("LabServer6 with PolicyFunc: reply %v (NoReply %q), want boot URL %q", x.Reply, x.NoReply, want)
		}
	}
}
