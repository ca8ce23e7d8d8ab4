// Package netlab gives tests a private network: Linux network namespaces joined
// by veth pairs, bridges and tap devices, subprocesses running inside them, and
// Go sockets opened inside them.
//
// Everything a test creates is removed by t.Cleanup, even when the test fails.
// Namespaces are named "pxk<pid>x<n>" so that [Sweep] can remove what a killed
// test process left behind.
//
// Tests that need it call [Require] first: it skips the test with a clear
// message when the process is not root or `ip netns` does not work, and fails
// the test instead when the environment variable CI is set, because CI runs as
// root and must run every network test.
//
//	func TestEcho(t *testing.T) {
//		netlab.Require(t)
//		p := netlab.NewPair(t)
//		conn, err := p.Server.ListenPacket("udp4", p.ServerIP.String()+":7")
//		...
//	}
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/syncbuf"
	"golang.org/x/sys/unix"
)

// prefix starts the name of every namespace netlab creates.
const prefix = "pxk"

var (
	probeOnce sync.Once
	probeErr  error
	counter   atomic.Uint64
)

// Available reports whether this process can create network namespaces: it is
// root and `ip netns` works. The error says what is missing.
func Available() error {
	probeOnce.Do(func() {
		if os.Geteuid() != 0 {
			probeErr = errors.New("netlab: needs root to create network namespaces")
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			probeErr = errors.New("netlab: the ip command (iproute2) is not installed")
			return
		}
		name := fmt.Sprintf("%s%dprobe", prefix, os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("netlab: ip netns add failed: %v: %s", err, bytes.TrimSpace(out))
			return
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("netlab: ip netns del failed: %v: %s", err, bytes.TrimSpace(out))
		}
	})
	return probeErr
}

// Require skips the test when network namespaces cannot be created here, with
// a message that says why. When the environment variable CI is set it fails
// the test instead: CI runs as root and must run every network test.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set: network tests must run here)", err)
		}
		t.Skipf("skipping: %v", err)
	}
	// Namespaces left by earlier test processes that were killed.
	_ = Sweep()
}

// RequireTool returns the path of the program name: found in $PATH, or in
// /usr/sbin or /sbin (which a user's $PATH may lack). Without it the test is
// skipped, saying so; when the environment variable CI is set it fails
// instead, because make test installs every tool the tests use.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if fi, serr := os.Stat(filepath.Join(dir, name)); serr == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return filepath.Join(dir, name)
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (CI is set: make test installs it; see scripts/install-deps.sh)", name)
	}
	t.Skipf("skipping: %s is not installed (make test as root installs it; see scripts/install-deps.sh)", name)
	return ""
}

// NS is a network namespace created for one test.
type NS struct {
	// Name is the namespace name as `ip netns` knows it.
	Name string

	mu    sync.Mutex
	procs []*exec.Cmd
}

// NewNS creates a fresh network namespace with its loopback interface up.
// t.Cleanup kills the processes started in it and deletes it.
func NewNS(t testing.TB) *NS {
	t.Helper()
	Require(t)
	ns := &NS{Name: fmt.Sprintf("%s%dx%d", prefix, os.Getpid(), counter.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("netlab: ip netns add %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("netlab: %v", err)
		}
	})
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Close kills every process still running in the namespace (those started by
// Start and any other) and deletes it. NewNS registers it with t.Cleanup; it is
// safe to call more than once.
func (ns *NS) Close() error {
	ns.mu.Lock()
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()
	for _, c := range procs {
		killGroup(c)
	}
	killNamespacePids(ns.Name)
	if _, err := os.Stat(filepath.Join("/var/run/netns", ns.Name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var last error
	for i := 0; i < 20; i++ {
		out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("netlab: ip netns del %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// killGroup kills the process group of a command started by Command and waits
// briefly for it.
func killGroup(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	_ = c.Process.Kill()
}

// killNamespacePids kills every process that lives in the named namespace.
func killNamespacePids(name string) {
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Command returns a command that runs name inside the namespace, in its own
// process group so that it and its children can be killed together.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 2 * time.Second
	return c
}

// Run runs name inside the namespace to completion (at most one minute) and
// returns its combined output; it fails the test if the command fails.
func (ns *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netlab: in %s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// Start starts name in the background inside the namespace. Its output goes to
// the command's Stdout/Stderr, which the caller may set before calling
// cmd.Start itself; Start sets neither. The process is killed when the test
// ends. Use Command and Start on the result for control over the output.
func (ns *NS) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	c := ns.Command(context.Background(), name, args...)
	ns.Track(c)
	if err := c.Start(); err != nil {
		t.Fatalf("netlab: in %s: start %s: %v", ns.Name, name, err)
	}
	go func() { _ = c.Wait() }()
	return c
}

// Track makes Close (and so the test's cleanup) kill c's process group. Use it
// for commands made with Command and started by the caller.
func (ns *NS) Track(c *exec.Cmd) {
	ns.mu.Lock()
	ns.procs = append(ns.procs, c)
	ns.mu.Unlock()
}

// Do runs fn on an OS thread that has entered the namespace. Sockets created
// by fn belong to the namespace and stay there after Do returns. The thread
// goes back to the original namespace afterwards, or is discarded if it cannot.
func (ns *NS) Do(fn func() error) error {
	target, err := os.Open(filepath.Join("/var/run/netns", ns.Name))
	if err != nil {
		return fmt.Errorf("netlab: open namespace %s: %w", ns.Name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- fmt.Errorf("netlab: open current namespace: %w", err)
			return // thread stays locked and is discarded
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netlab: enter namespace %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime kills it when this goroutine ends.
			errc <- errors.Join(ferr, fmt.Errorf("netlab: leave namespace %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// ListenPacket is net.ListenPacket inside the namespace.
func (ns *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// EchoUDP listens on the UDP address addr ("ip:port") inside the namespace
// and sends every datagram back to its sender until the test ends.
func (ns *NS) EchoUDP(t testing.TB, addr string) {
	t.Helper()
	srv, err := ns.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("netlab: in %s: UDP echo on %s: %v", ns.Name, addr, err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], from)
		}
	}()
}

// Listen is net.Listen inside the namespace.
func (ns *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// DialContext dials from inside the namespace. The connection is set up inside
// the namespace and stays there.
func (ns *NS) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Veth creates a veth pair with one end (aIf) in namespace a and the other
// (bIf) in namespace b, gives each end its address in CIDR form ("" for
// none) and brings both up. Deleting either namespace removes the pair.
func Veth(t testing.TB, a *NS, aIf, aCIDR string, b *NS, bIf, bCIDR string) {
	t.Helper()
	ipOrFatal(t, "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	for _, end := range []struct {
		ns        *NS
		ifc, cidr string
	}{{a, aIf, aCIDR}, {b, bIf, bCIDR}} {
		if end.cidr != "" {
			end.ns.Run(t, "ip", "addr", "add", end.cidr, "dev", end.ifc)
		}
		end.ns.Run(t, "ip", "link", "set", end.ifc, "up")
	}
}

// StartDhcrelay runs ISC dhcrelay (Debian package isc-dhcp-relay) in the
// namespace as a DHCPv4 relay agent: it relays the requests of clients on
// interface down to server through interface up, and the replies back, with
// the extra flags given ("-a" adds the relay agent option 82). It is killed
// when the test ends. Its output collects in the buffer returned. A test
// calls RequireTool(t, "dhcrelay") first, or is failed here.
func (ns *NS) StartDhcrelay(t testing.TB, down, up, server string, flags ...string) *syncbuf.Buffer {
	t.Helper()
	log := &syncbuf.Buffer{}
	args := append([]string{"-4", "-d", "-pf", filepath.Join(t.TempDir(), "dhcrelay.pid")}, flags...)
	relay := ns.Command(context.Background(), RequireTool(t, "dhcrelay"), append(args, "-id", down, "-iu", up, server)...)
	relay.Stdout, relay.Stderr = log, log
	ns.Track(relay)
	if err := relay.Start(); err != nil {
		t.Fatalf("netlab: start dhcrelay in %s: %v", ns.Name, err)
	}
	go func() { _ = relay.Wait() }()
	return log
}

// StartDhcrelay6 runs ISC dhcrelay (Debian package isc-dhcp-relay) in the
// namespace as a DHCPv6 relay agent (RFC 8415 §19): it relays the requests
// of clients on interface lower (which needs a global address: it becomes
// the relay's link address) to server through interface upper
// (dhcrelay -6 -l lower -u server%upper), and the replies back, with the
// extra flags given ("-I" adds the interface-id option). It is killed when
// the test ends; its output collects in the buffer returned. A test calls
// RequireTool(t, "dhcrelay") first, or is failed here.
func (ns *NS) StartDhcrelay6(t testing.TB, lower, upper string, server netip.Addr, flags ...string) *syncbuf.Buffer {
	t.Helper()
	log := &syncbuf.Buffer{}
	args := append([]string{"-6", "-d", "-pf", filepath.Join(t.TempDir(), "dhcrelay6.pid")}, flags...)
	args = append(args, "-l", lower, "-u", server.WithZone("").String()+"%"+upper)
	relay := ns.Command(context.Background(), RequireTool(t, "dhcrelay"), args...)
	relay.Stdout, relay.Stderr = log, log
	ns.Track(relay)
	if err := relay.Start(); err != nil {
		t.Fatalf("netlab: start dhcrelay -6 in %s: %v", ns.Name, err)
	}
	go func() { _ = relay.Wait() }()
	return log
}

// WaitLinkLocal waits (at most 5 s) until iface in the namespace has a
// usable IPv6 link-local address (duplicate address detection done), which
// DHCPv6 clients and servers send from.
func (ns *NS) WaitLinkLocal(t testing.TB, iface string) {
	t.Helper()
	for i := 0; i < 50; i++ {
		out := ns.Run(t, "ip", "-6", "addr", "show", "dev", iface, "scope", "link")
		if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("netlab: %s in %s: no link-local IPv6 address after 5 s", iface, ns.Name)
}

// Bridge creates a bridge named name in the namespace, gives it cidr ("" for
// none) and brings it up.
func (ns *NS) Bridge(t testing.TB, name, cidr string) {
	t.Helper()
	ns.Run(t, "ip", "link", "add", name, "type", "bridge")
	if cidr != "" {
		ns.Run(t, "ip", "addr", "add", cidr, "dev", name)
	}
	ns.Run(t, "ip", "link", "set", name, "up")
}

// Tap creates a persistent tap device named name in the namespace, attaches it
// to bridge ("" for none) and brings it up. QEMU opens it with
// `-netdev tap,ifname=NAME,script=no,downscript=no` run inside the namespace.
func (ns *NS) Tap(t testing.TB, name, bridge string) {
	t.Helper()
	ns.Run(t, "ip", "tuntap", "add", "dev", name, "mode", "tap")
	if bridge != "" {
		ns.Run(t, "ip", "link", "set", name, "master", bridge)
	}
	ns.Run(t, "ip", "link", "set", name, "up")
}

// Attach moves interface ifc of the namespace under bridge.
func (ns *NS) Attach(t testing.TB, ifc, bridge string) {
	t.Helper()
	ns.Run(t, "ip", "link", "set", ifc, "master", bridge)
}

func ipOrFatal(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Pair is two namespaces joined by a veth pair, the most common lab.
type Pair struct {
	Server, Client     *NS
	ServerIP, ClientIP netip.Addr
	ServerIf, ClientIf string
}

// NewPair creates two namespaces joined by a veth pair: the server end srv0
// has 10.99.0.1/24, the client end cli0 has 10.99.0.2/24.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	p := &Pair{
		Server:   NewNS(t),
		Client:   NewNS(t),
		ServerIP: netip.MustParseAddr("10.99.0.1"),
		ClientIP: netip.MustParseAddr("10.99.0.2"),
		ServerIf: "srv0",
		ClientIf: "cli0",
	}
	Veth(t, p.Server, p.ServerIf, "10.99.0.1/24", p.Client, p.ClientIf, "10.99.0.2/24")
	return p
}

// NewPair6 is NewPair with IPv6 for DHCPv6: the server end also gets
// serverCIDR (duplicate address detection off), and it returns once both
// ends have their link-local addresses, which DHCPv6 sends from.
func NewPair6(t testing.TB, serverCIDR string) *Pair {
	t.Helper()
	p := NewPair(t)
	p.Server.Run(t, "ip", "-6", "addr", "add", serverCIDR, "dev", p.ServerIf, "nodad")
	p.Server.WaitLinkLocal(t, p.ServerIf)
	p.Client.WaitLinkLocal(t, p.ClientIf)
	return p
}

// Sweep removes the namespaces (and kills the processes inside them) that
// netlab created in test processes that no longer run. It never touches
// namespaces of live processes or namespaces netlab did not create.
func Sweep() error {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		pid, ok := ownerPid(e.Name())
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		killNamespacePids(e.Name())
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			// Test processes of other packages sweep too: a namespace
			// that another sweep removed meanwhile is not an error.
			if _, serr := os.Stat(filepath.Join("/var/run/netns", e.Name())); errors.Is(serr, os.ErrNotExist) {
				continue
			}
			errs = append(errs, fmt.Errorf("netlab: ip netns del %s: %v: %s", e.Name(), err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

// ownerPid parses "pxk<pid>x<n>" or "pxk<pid>probe" and returns pid.
func ownerPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0, false
	}
	suffix := rest[end:]
	if !strings.HasPrefix(suffix, "x") && suffix != "probe" {
		return 0, false
	}
	pid, err := strconv.Atoi(rest[:end])
	return pid, err == nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
