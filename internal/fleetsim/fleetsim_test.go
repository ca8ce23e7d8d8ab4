package fleetsim_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/internal/fleetsim"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/tftpserve"
)

// clientPrefix holds the simulated machines' addresses: local to the
// client namespace (AnyIP route), routed to it from the server's.
const clientPrefix = "10.100.0.0/16"

var clientBase = netip.MustParseAddr("10.100.0.10")

// lab is a netlab pair with the machines' prefix routed, and a boot
// server in proxy mode in the server namespace.
type lab struct {
	pair   *netlab.Pair
	srv    *pxekit.Server
	events eventCounts
}

// eventCounts counts the server's events by kind and outcome, and keeps
// each machine's DHCP and stage events to show when a test fails.
type eventCounts struct {
	mu        sync.Mutex
	dhcp      int
	tftpOK    int
	tftpOther []string
	http      int
	httpBad   []string
	trace     map[string][]string
}

// traceOf returns mac's DHCP and stage events, one string each.
func (c *eventCounts) traceOf(mac net.HardwareAddr) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trace[mac.String()]
}

func (c *eventCounts) observe(e pxekit.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trace == nil {
		c.trace = map[string][]string{}
	}
	switch e := e.(type) {
	case pxekit.StageEvent:
		c.trace[e.MAC.String()] = append(c.trace[e.MAC.String()], fmt.Sprintf("%s %v->%v new=%v via %s", e.Time.Format("05.000000"), e.From, e.To, e.NewBoot, e.Via))
	case pxekit.DHCPEvent:
		c.trace[e.MAC.String()] = append(c.trace[e.MAC.String()], fmt.Sprintf("%s dhcp ipxe=%v", e.Time.Format("05.000000"), e.Client.IPXE))
		c.dhcp++
	case pxekit.TFTPEvent:
		if e.Outcome == tftpserve.OutcomeOK {
			c.tftpOK++
		} else {
			c.tftpOther = append(c.tftpOther, string(e.Outcome)+" "+e.Path)
		}
	case pxekit.HTTPEvent:
		c.http++
		if e.Status != 200 {
			c.httpBad = append(c.httpBad, e.Path)
		}
	}
}

// newLab starts a pxekit.Server in DHCPProxy mode (ports 67 and 4011,
// TFTP 69, HTTP 8080) serving files in the server namespace of a new pair.
func newLab(t *testing.T, files map[string]int) *lab {
	t.Helper()
	netlab.Require(t)
	l := &lab{pair: netlab.NewPair(t)}
	l.pair.Client.Run(t, "ip", "route", "add", "local", clientPrefix, "dev", "lo")
	l.pair.Server.Run(t, "ip", "route", "add", clientPrefix, "via", l.pair.ClientIP.String())
	dir := t.TempDir()
	for name, size := range files {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l.srv = &pxekit.Server{DHCP: pxekit.DHCPProxy, Interface: l.pair.ServerIf, Addr: l.pair.ServerIP,
		BaseURL: "http://" + l.pair.ServerIP.String() + ":8080", Files: dir, OnEvent: l.events.observe}
	var ls pxekit.Listeners
	var err error
	open := func(port string) net.PacketConn {
		c, err := l.pair.Server.ListenPacket("udp4", ":"+port)
		if err != nil {
			t.Fatalf("listen on %s in the server namespace: %v", port, err)
		}
		return c
	}
	ls.DHCP, ls.DHCP4011 = open("67"), open("4011")
	if ls.HTTP, err = l.pair.Server.Listen("tcp4", ":8080"); err != nil {
		t.Fatal(err)
	}
	// TFTP on the Server's own tftpserve.Server, which opens each
	// transfer's socket in the server namespace too (pxeserver's default:
	// a port per transfer).
	tftp := l.srv.TFTPServer()
	tftp.ListenPacket = l.pair.Server.ListenPacket
	tftpConn := open("69")
	done := make(chan error, 2)
	go func() { done <- l.srv.Serve(ls) }()
	go func() { done <- tftp.Serve(tftpConn) }()
	t.Cleanup(func() {
		l.srv.Close()
		tftp.Close()
		for range 2 {
			if err := <-done; err != pxekit.ErrServerClosed && err != tftpserve.ErrServerClosed {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
	})
	return l
}

// config is the simulation's configuration for lab l.
func (l *lab) config(machines int) fleetsim.Config {
	return fleetsim.Config{Server: l.pair.ServerIP, Relay: l.pair.ClientIP, ClientBase: clientBase,
		Machines: machines, Retransmit: 2 * time.Second, Tries: 5, MachineTimeout: time.Minute, Do: l.pair.Client.Do}
}

// A small fleet boots whole against pxekit.Server in proxy mode: every
// machine gets the boot file over TFTP (windowsize 16) and its scripts over
// HTTP, and the server's session table has each machine, at its address,
// at the script stage after one boot.
func TestFleetBoots(t *testing.T) {
	const machines, size = 50, 256 << 10
	l := newLab(t, map[string]int{"ipxe.efi": size})
	cfg := l.config(machines)
	cfg.InFlight, cfg.Ramp = 20, 500*time.Millisecond
	res, err := fleetsim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Failed != 0 || len(res.Boot) != machines {
		t.Fatalf("Run: %d of %d machines failed, %d booted; errors: %v", res.Failed, machines, len(res.Boot), res.Errors)
	}
	if want := int64(machines * size); res.TFTPBytes != want {
		t.Errorf("Run: %d TFTP bytes received, want %d", res.TFTPBytes, want)
	}
	if want := int64(2 * machines); res.HTTPRequests != want {
		t.Errorf("Run: %d HTTP responses, want %d (boot script and machine script each)", res.HTTPRequests, want)
	}
	if want := int64(4 * machines); res.DHCPReplies != want {
		t.Errorf("Run: %d DHCP replies, want %d (offer and ACK, firmware and iPXE)", res.DHCPReplies, want)
	}
	if sum := res.Summary(); sum.TFTPMachines != machines || sum.Failed != 0 || sum.StepP50["tftp"] <= 0 || sum.StepP99["http"] < sum.StepP50["http"] {
		t.Errorf("Summary() = %+v, want %d TFTP machines, no failure, a TFTP step time and p99 ≥ p50", sum, machines)
	}
	if res.Elapsed() <= 0 || fleetsim.Percentile(res.Boot, 99) > res.Elapsed() {
		t.Errorf("Run: fleet time %v, p99 boot %v: want a positive fleet time no shorter than any boot", res.Elapsed(), fleetsim.Percentile(res.Boot, 99))
	}

	sessions := l.srv.Sessions()
	if n := sessions.Len(); n != machines {
		t.Errorf("Sessions().Len() = %d, want %d", n, machines)
	}
	for i := range machines {
		mac := fleetsim.MAC([3]byte{0x02, 0xfe, 0xe7}, i)
		s, ok := sessions.ByMAC(mac)
		if !ok {
			t.Errorf("machine %d (%s): no session", i, mac)
			continue
		}
		if s.Stage != pxekit.StageScript || s.Boots != 1 || s.IP != fleetsim.Addr(clientBase, i) || s.BootFile == "" {
			t.Errorf("machine %d (%s): stage %v, boots %d, IP %v, boot file %q; want stage script, 1 boot, IP %v; its events: %q",
				i, mac, s.Stage, s.Boots, s.IP, s.BootFile, fleetsim.Addr(clientBase, i), l.events.traceOf(mac))
		}
	}
	// The server reports a transfer once it has the last ACK and a DHCP
	// exchange once its reply is sent, which can be after the machine has
	// gone on: wait (bounded) for the counts to settle before checking them.
	ev := &l.events
	settled := func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.dhcp >= 4*machines && ev.tftpOK+len(ev.tftpOther) >= machines && ev.http >= 2*machines
	}
	for deadline := time.Now().Add(10 * time.Second); !settled() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.dhcp != 4*machines || ev.tftpOK != machines || len(ev.tftpOther) != 0 || ev.http != 2*machines || len(ev.httpBad) != 0 {
		t.Errorf("server events: %d DHCP, %d TFTP ok, TFTP otherwise %v, %d HTTP, HTTP not 200 %v; want %d, %d, none, %d, none",
			ev.dhcp, ev.tftpOK, ev.tftpOther, ev.http, ev.httpBad, 4*machines, machines, 2*machines)
	}
}

// Scaled down, only the first TFTPMachines fetch the boot file; the others
// still reach the script stage. A boot file the server lacks fails the
// machines that fetch it, at the TFTP step, with the server's error.
func TestFleetScaledAndFailing(t *testing.T) {
	l := newLab(t, map[string]int{"other.efi": 1000})
	cfg := l.config(4)
	cfg.TFTPMachines = 1
	res, err := fleetsim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Failed != 1 || len(res.Boot) != 3 {
		t.Fatalf("Run: %d failed, %d booted; want 1 (the TFTP machine, no ipxe.efi) and 3; errors %v", res.Failed, len(res.Boot), res.Errors)
	}
	for msg := range res.Errors {
		if !strings.HasPrefix(msg, "tftp: ipxe.efi: server ERROR 1") {
			t.Errorf("Run: error %q, want the TFTP step failing with ERROR 1 (file not found)", msg)
		}
	}

	// Canceled: every machine fails at once, none hangs.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := fleetsim.Run(ctx, cfg); err != nil || res.Failed != 4 {
		t.Errorf("Run(canceled) = %+v, %v; want 4 machines failed", res, err)
	}
	for i := 1; i < 4; i++ {
		s, ok := l.srv.Sessions().ByMAC(fleetsim.MAC([3]byte{0x02, 0xfe, 0xe7}, i))
		if !ok || s.Stage != pxekit.StageScript {
			t.Errorf("machine %d without TFTP: session found %v, stage %v; want stage script", i, ok, s.Stage)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := fleetsim.Config{Server: netip.MustParseAddr("10.0.0.1"), Relay: netip.MustParseAddr("10.0.0.2"), ClientBase: clientBase}
	for _, tc := range []struct {
		name string
		edit func(*fleetsim.Config)
		want string
	}{
		{"no server", func(c *fleetsim.Config) { c.Server = netip.Addr{} }, "must be IPv4"},
		{"IPv6 relay", func(c *fleetsim.Config) { c.Relay = netip.MustParseAddr("::1") }, "must be IPv4"},
		{"too many machines", func(c *fleetsim.Config) { c.Machines = 1<<24 + 1 }, "three MAC bytes"},
		{"blksize", func(c *fleetsim.Config) { c.BlockSize = 70000 }, "BlockSize"},
		{"windowsize", func(c *fleetsim.Config) { c.WindowSize = 70000 }, "WindowSize"},
	} {
		c := good
		tc.edit(&c)
		_, err := fleetsim.Run(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fleetsim: ") {
			t.Errorf("%s: Run = %v, want an error starting fleetsim: and mentioning %q", tc.name, err, tc.want)
		}
	}
}
