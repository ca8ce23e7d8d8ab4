package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/syncbuf"
)

// pipeConn is a DHCP socket for tests: datagrams put in arrive through
// ReadFrom, what the server sends is recorded. It honours read deadlines,
// which the servers' Shutdown uses to stop reading.
type pipeConn struct {
	in     chan datagram
	port   int
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	deadline time.Time
	kick     chan struct{} // closed when the deadline changes
	sent     []*dhcpv4.DHCPv4
	to       []net.Addr
}

type datagram struct {
	b    []byte
	from net.Addr
}

func newPipeConn(port int) *pipeConn {
	return &pipeConn{in: make(chan datagram, 16), port: port, closed: make(chan struct{}), kick: make(chan struct{})}
}

func (p *pipeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		p.mu.Lock()
		dl, kick := p.deadline, p.kick
		p.mu.Unlock()
		if !dl.IsZero() && time.Now().After(dl) {
			return 0, nil, os.ErrDeadlineExceeded
		}
		select {
		case d := <-p.in:
			return copy(b, d.b), d.from, nil
		case <-p.closed:
			return 0, nil, net.ErrClosed
		case <-kick:
		}
	}
}

func (p *pipeConn) WriteTo(b []byte, to net.Addr) (int, error) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	p.to = append(p.to, to)
	return len(b), nil
}

// replies returns what was sent so far and to where.
func (p *pipeConn) replies() ([]*dhcpv4.DHCPv4, []net.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*dhcpv4.DHCPv4(nil), p.sent...), append([]net.Addr(nil), p.to...)
}

func (p *pipeConn) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}
func (p *pipeConn) LocalAddr() net.Addr { return &net.UDPAddr{Port: p.port} }
func (p *pipeConn) SetDeadline(t time.Time) error {
	return p.SetReadDeadline(t)
}
func (p *pipeConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	close(p.kick)
	p.kick = make(chan struct{})
	p.mu.Unlock()
	return nil
}
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// testServer is pxeserver's pxekit.Server serving DHCP on pipeConns,
// logging its events as JSON into log.
type testServer struct {
	out       *eventLog
	conn      *pipeConn // port 67
	conn4011  *pipeConn // proxy mode only
	log       *syncbuf.Buffer
	handled   chan struct{} // one per request or invalid datagram handled
	serveErrs chan error
}

// startDHCP builds pxeserver's server for args and serves DHCP on pipes.
func startDHCP(t *testing.T, args ...string) *testServer {
	t.Helper()
	cfg, err := parseConfig(args, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig(%q): %v", args, err)
	}
	return startDHCPConfig(t, cfg)
}

func startDHCPConfig(t *testing.T, cfg *Config) *testServer {
	t.Helper()
	ts := &testServer{log: &syncbuf.Buffer{}, handled: make(chan struct{}, 64), serveErrs: make(chan error, 2), conn: newPipeConn(67)}
	ts.out = &eventLog{w: ts.log, json: true}
	log := slog.New(slog.NewJSONHandler(ts.out, nil))
	ts.out.log = log
	f, err := newFrontEnd(cfg, log, ts.out, nil)
	if err != nil {
		t.Fatalf("newFrontEnd: %v", err)
	}
	f.srv.OnEvent = func(e pxekit.Event) {
		ts.out.event(e)
		if _, ok := e.(pxekit.DHCPEvent); ok {
			ts.handled <- struct{}{}
		}
	}
	l := pxekit.Listeners{DHCP: ts.conn}
	switch cfg.DHCP {
	case "lab":
	case "proxy":
		ts.conn4011 = newPipeConn(dhcpboot.PXEPort)
		l.DHCP4011 = ts.conn4011
	default:
		t.Fatalf("no DHCPv4 server for -dhcp %s", cfg.DHCP)
	}
	go func() { ts.serveErrs <- f.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ts
}

// send delivers b from peer to conn and waits until the server has handled it.
func (ts *testServer) send(t *testing.T, conn *pipeConn, b []byte, peer net.Addr) {
	t.Helper()
	conn.in <- datagram{b, peer}
	select {
	case <-ts.handled:
	case err := <-ts.serveErrs:
		t.Fatalf("serving stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("the server handled nothing in 10 s")
	}
}

var client68 = &net.UDPAddr{IP: net.IPv4zero, Port: 68}

func discover(t *testing.T, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatalf("net.ParseMAC(mac): %v", err)
	}
	m, err := dhcpv4.NewDiscovery(hw, mods...)
	if err != nil {
		t.Fatalf("dhcpv4.NewDiscovery(hw, mods...): %v", err)
	}
	return m
}

// lastDHCPLog returns the last event line of kind in buf (the stage
// events of the machine may follow it).
func lastDHCPLog(t *testing.T, buf fmt.Stringer, kind string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("log line %q: %v", lines[i], err)
		}
		if m["kind"] == kind {
			return m
		}
	}
	t.Fatalf("no %s event in the log:\n%s", kind, buf)
	return nil
}

var (
	ipxeUC   = dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))
	pxeVC    = func(a string) dhcpv4.Modifier { return dhcpv4.WithOption(dhcpv4.OptClassIdentifier(a)) }
	archOpt  = func(a iana.Arch) dhcpv4.Modifier { return dhcpv4.WithOption(dhcpv4.OptClientArch(a)) }
	scriptTo = "http://10.77.0.1:8080/boot.ipxe?mac="
)

func TestDHCPLabDecisions(t *testing.T) {
	tests := []struct {
		name, mac string
		mods      []dhcpv4.Modifier
		rule      string
		bootfile  string
		vendor    string // option 60 in the reply
	}{
		{"iPXE ROM gets the script", "52:54:00:77:00:0a", []dhcpv4.Modifier{archOpt(iana.INTEL_X86PC), pxeVC("PXEClient:Arch:00000:UNDI:002001"), ipxeUC},
			"ipxe", scriptTo + "52-54-00-77-00-0a&arch=0", ""},
		{"BIOS PXE gets undionly", "52:54:00:77:00:01", []dhcpv4.Modifier{archOpt(iana.INTEL_X86PC), pxeVC("PXEClient:Arch:00000:UNDI:002001")},
			"bios", "undionly.kpxe", ""},
		{"UEFI PXE gets ipxe.efi", "52:54:00:77:00:0b", []dhcpv4.Modifier{archOpt(iana.EFI_X86_64), pxeVC("PXEClient:Arch:00007:UNDI:003000")},
			"uefi-x64", "ipxe.efi", ""},
		{"UEFI HTTP boot gets the URL and HTTPClient", "52:54:00:77:00:0d", []dhcpv4.Modifier{archOpt(iana.EFI_X86_64_HTTP), pxeVC("HTTPClient:Arch:00016:UNDI:003000")},
			"http-x64", "http://10.77.0.1:8080/ipxe.efi", "HTTPClient"},
		{"32-bit UEFI gets the ia32 build", "52:54:00:77:00:0e", []dhcpv4.Modifier{archOpt(iana.EFI_IA32), pxeVC("PXEClient:Arch:00006:UNDI:003000")},
			"uefi-ia32", "ipxe-i386.efi", ""},
	}
	ts := startDHCP(t, "-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := ts.conn.replies()
			ts.send(t, ts.conn, discover(t, tt.mac, tt.mods...).ToBytes(), client68)
			sent, _ := ts.conn.replies()
			if len(sent) != len(before)+1 {
				t.Fatalf("replies sent: %d, want 1", len(sent)-len(before))
			}
			r := sent[len(sent)-1]
			if got := r.MessageType(); got != dhcpv4.MessageTypeOffer {
				t.Errorf("r.MessageType() = %v, want %v", got, dhcpv4.MessageTypeOffer)
			}
			if got := r.BootFileNameOption(); got != tt.bootfile {
				t.Errorf("r.BootFileNameOption() = %v, want %v", got, tt.bootfile)
			}
			if !netip.MustParsePrefix("10.77.0.0/24").Contains(netip.AddrFrom4([4]byte(r.YourIPAddr.To4()))) {
				t.Errorf("%v", r.YourIPAddr)
			}
			if got := r.ClassIdentifier(); got != tt.vendor {
				t.Errorf("r.ClassIdentifier() = %v, want %v", got, tt.vendor)
			}
			l := lastDHCPLog(t, ts.log, "dhcp")
			if l["rule"] != tt.rule {
				t.Errorf("l[\"rule\"] = %v, want %v", l["rule"], tt.rule)
			}
			if l["reply"] != "OFFER" {
				t.Errorf("l[\"reply\"] = %q, want \"OFFER\"", l["reply"])
			}
			if l["mac"] != tt.mac {
				t.Errorf("l[\"mac\"] = %v, want %v", l["mac"], tt.mac)
			}
			if l["boot_file"] != tt.bootfile {
				t.Errorf("l[\"boot_file\"] = %v, want %v", l["boot_file"], tt.bootfile)
			}
			if l["mode"] != "full" {
				t.Errorf("l[\"mode\"] = %q, want \"full\" (lab: a full DHCP reply)", l["mode"])
			}
		})
	}
}

func TestDHCPProxy(t *testing.T) {
	ts := startDHCP(t, "-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "proxy")
	// A plain DHCP client gets nothing from a proxy, and the log says so.
	ts.send(t, ts.conn, discover(t, "52:54:00:00:00:99").ToBytes(), client68)
	if sent, _ := ts.conn.replies(); len(sent) != 0 {
		t.Errorf("sent = %v, want nothing", sent)
	}
	l := lastDHCPLog(t, ts.log, "dhcp")
	if l["reply"] != nil || l["outcome"] == "answered" {
		t.Errorf("reply %v outcome %v, want no reply", l["reply"], l["outcome"])
	}
	if s, _ := l["no_reply"].(string); s != "not a boot client" {
		t.Errorf("l[\"no_reply\"] = %q, want \"not a boot client\"", s)
	}

	// UEFI PXE: a proxy offer without an address on 67, ipxe.efi on 4011.
	m := discover(t, "52:54:00:77:00:0b", archOpt(iana.EFI_X86_64), pxeVC("PXEClient:Arch:00007:UNDI:003000"))
	ts.send(t, ts.conn, m.ToBytes(), client68)
	sent, _ := ts.conn.replies()
	if len(sent) != 1 {
		t.Fatalf("len(sent) = %d, want 1", len(sent))
	}
	if !sent[0].YourIPAddr.IsUnspecified() {
		t.Errorf("a proxy gives no address")
	}
	if got := sent[0].ClassIdentifier(); got != "PXEClient" {
		t.Errorf("sent[0].ClassIdentifier() = %q, want \"PXEClient\"", got)
	}
	req, err := dhcpv4.NewRequestFromOffer(sent[0])
	if err != nil {
		t.Fatalf("dhcpv4.NewRequestFromOffer(sent[0]): %v", err)
	}
	req.UpdateOption(dhcpv4.OptClientArch(iana.EFI_X86_64))
	req.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000"))
	req.ClientIPAddr = net.IPv4(10, 77, 0, 150)
	peer := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 150), Port: 4011}
	// The same REQUEST on port 67 gets nothing: a proxy answers it on 4011.
	ts.send(t, ts.conn, req.ToBytes(), peer)
	if l := lastDHCPLog(t, ts.log, "dhcp"); l["reply"] != nil || l["message"] != "REQUEST" || l["mode"] == "proxy-ack" {
		t.Errorf("REQUEST on port 67: message %v reply %v mode %v, want a REQUEST without reply, not in the port-4011 role", l["message"], l["reply"], l["mode"])
	}
	ts.send(t, ts.conn4011, req.ToBytes(), peer)
	acks, to := ts.conn4011.replies()
	if len(acks) != 1 {
		t.Fatalf("len(acks) = %d, want 1", len(acks))
	}
	if got := acks[0].MessageType(); got != dhcpv4.MessageTypeAck {
		t.Errorf("acks[0].MessageType() = %v, want %v", got, dhcpv4.MessageTypeAck)
	}
	if got := acks[0].BootFileNameOption(); got != "ipxe.efi" {
		t.Errorf("acks[0].BootFileNameOption() = %q, want \"ipxe.efi\"", got)
	}
	if got := to[0].String(); got != peer.String() {
		t.Errorf("port 4011 answers go back to the sender: to[0].String() = %v, want %v", got, peer.String())
	}
	l = lastDHCPLog(t, ts.log, "dhcp")
	if l["mode"] != "proxy-ack" {
		t.Errorf("l[\"mode\"] = %v, want proxy-ack (port 4011)", l["mode"])
	}
	if l["rule"] != "uefi-x64" {
		t.Errorf("l[\"rule\"] = %q, want \"uefi-x64\"", l["rule"])
	}
	if l["peer"] != peer.String() || l["reply"] != "ACK" {
		t.Errorf("log: peer %v reply %v, want %v ACK", l["peer"], l["reply"], peer)
	}
}

func TestDHCPIgnoresGarbage(t *testing.T) {
	ts := startDHCP(t, "-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab")
	reply := discover(t, "52:54:00:00:00:01")
	reply.OpCode = dhcpv4.OpcodeBootReply
	for _, b := range [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 300), reply.ToBytes()} {
		ts.send(t, ts.conn, b, &net.UDPAddr{})
	}
	if sent, _ := ts.conn.replies(); len(sent) != 0 {
		t.Errorf("sent = %v, want nothing", sent)
	}
	if s := ts.log.String(); strings.Contains(s, `"kind":"dhcp"`) {
		t.Errorf("malformed input and replies are not decisions: log = %q, want it not to contain %q", s, `"kind":"dhcp"`)
	}
	if got := ts.out.invalid.Load(); got != 4 {
		t.Errorf("invalid datagrams counted: %d, want 4", got)
	}
}

// TestDHCPLabLogsLeaseFileProblems: the lab server logs through pxeserver's
// logger, so a bad lease line (and a failed save) is in the log, not lost.
func TestDHCPLabLogsLeaseFileProblems(t *testing.T) {
	cfg, err := parseConfig([]string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab"}, nil)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	cfg.LeaseFile = filepath.Join(t.TempDir(), "leases")
	if err := os.WriteFile(cfg.LeaseFile, []byte("52:54:00:00:00:01 10.77.0.150 2999-01-01T00:00:00Z\nnot a lease\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(cfg.LeaseFile, []byte(\"52:54:00:00:00:01 10.77.0.150 2999-01-01T00:00:00Z\\nnot a lease\\n\"), 0o644): %v", err)
	}
	ts := startDHCPConfig(t, cfg)
	ts.send(t, ts.conn, discover(t, "52:54:00:00:00:01").ToBytes(), client68)
	sent, _ := ts.conn.replies()
	if len(sent) != 1 {
		t.Fatalf("len(sent) = %d, want 1", len(sent))
	}
	if got := sent[0].YourIPAddr.String(); got != "10.77.0.150" {
		t.Errorf("the good lease is kept: sent[0].YourIPAddr.String() = %q, want \"10.77.0.150\"", got)
	}
	if s := ts.log.String(); !strings.Contains(s, cfg.LeaseFile+":2") {
		t.Errorf("the bad line is logged with file and line: log = %q, want it to contain %q", s, cfg.LeaseFile+":2")
	}
}

// TestDHCPLabRefusesUnusableLeaseFile: a lease path that is a directory
// stops pxeserver at start with the path in the error, before "ready".
func TestDHCPLabRefusesUnusableLeaseFile(t *testing.T) {
	cfg, err := parseConfig([]string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab"}, nil)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	cfg.LeaseFile = t.TempDir()
	_, err = newFrontEnd(cfg, slog.New(slog.DiscardHandler), &eventLog{w: io.Discard}, nil)
	if err == nil {
		t.Fatalf("newFrontEnd with a directory as lease file succeeded, want an error")
	}
	if s := err.Error(); !strings.Contains(s, cfg.LeaseFile) {
		t.Errorf("err.Error() = %q, want it to contain %q", s, cfg.LeaseFile)
	}
}

// TestDHCPLabRelayed: a DISCOVER relayed from a subnet of the config
// file's subnets: list gets an address there, the OFFER goes back to the
// relay (giaddr:67) with option 82 echoed, and the log line shows the
// relay, option 82 in and out, and the address.
func TestDHCPLabRelayed(t *testing.T) {
	conf := writeConfig(t, subnetsConfig)
	ts := startDHCP(t, "-config", conf)
	o82 := []byte{1, 4, 'r', 'l', 'y', '0', 2, 2, 0xab, 0xcd} // circuit-id "rly0", remote-id abcd
	m := discover(t, "52:54:00:77:00:0b", archOpt(iana.EFI_X86_64), pxeVC("PXEClient:Arch:00007:UNDI:003000"),
		dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionRelayAgentInformation, Value: dhcpv4.OptionGeneric{Data: o82}}))
	m.GatewayIPAddr = net.IPv4(10, 78, 6, 1)
	m.HopCount = 1
	ts.send(t, ts.conn, m.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 78, 7, 2), Port: 67})
	sent, to := ts.conn.replies()
	if len(sent) != 1 {
		t.Fatalf("replies sent: %d, want 1; log:\n%s", len(sent), ts.log.String())
	}
	offer := sent[0]
	if !netip.MustParsePrefix("10.78.6.0/24").Contains(netip.AddrFrom4([4]byte(offer.YourIPAddr.To4()))) {
		t.Errorf("OFFER yiaddr %v, want an address of the far subnet 10.78.6.0/24", offer.YourIPAddr)
	}
	if to[0].String() != "10.78.6.1:67" {
		t.Errorf("OFFER sent to %v, want the relay 10.78.6.1:67", to[0])
	}
	if got := offer.Options.Get(dhcpv4.OptionRelayAgentInformation); !bytes.Equal(got, o82) {
		t.Errorf("OFFER option 82 = % x, want % x echoed", got, o82)
	}
	l := lastDHCPLog(t, ts.log, "dhcp")
	want := map[string]any{
		"relay": "10.78.6.1", "peer": "10.78.7.2:67", "reply": "OFFER", "rule": "uefi-x64", "boot_file": "ipxe.efi",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("log %s = %v, want %v", k, l[k], v)
		}
	}
	if y, _ := l["ip"].(string); !strings.HasPrefix(y, "10.78.6.") {
		t.Errorf("log ip = %q, want 10.78.6.x", y)
	}

	// A relay for no subnet served gets nothing, and the log says why.
	m.GatewayIPAddr = net.IPv4(10, 99, 0, 1)
	ts.send(t, ts.conn, m.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 78, 7, 2), Port: 67})
	if l := lastDHCPLog(t, ts.log, "dhcp"); l["reply"] != nil || !strings.Contains(fmt.Sprint(l["no_reply"]), "relayed from 10.99.0.1") {
		t.Errorf("relay outside every subnet: reply %v no_reply %v, want none, relayed from 10.99.0.1", l["reply"], l["no_reply"])
	}
	if got, want := ts.out.replied.Load(), int64(1); got != want {
		t.Errorf("replied = %d, want %d", got, want)
	}
	if got, want := ts.out.unanswered.Load(), int64(1); got != want {
		t.Errorf("unanswered = %d, want %d", got, want)
	}
}

// TestRunRefusesBadSubnets: a subnets: entry pxeserver's own checks refuse
// stops it with status 2, one that dhcpboot.LabServer4 refuses at start
// with status 1 (run in a namespace of its own, on a bridge); both
// say why on stderr, naming the config file's entry.
func TestRunRefusesBadSubnets(t *testing.T) {
	var stderr strings.Builder
	overlap := writeConfig(t, "iface: srv0\naddr: 10.78.7.1\ndhcp: lab\nsubnets:\n  - {prefix: 10.78.7.0/25, pool: 10.78.7.10-10.78.7.20}\n")
	if got := run(t.Context(), []string{"-config", overlap}, io.Discard, &stderr); got != 2 {
		t.Errorf("run with an overlapping subnet = %d, want 2", got)
	}
	if s := stderr.String(); !strings.Contains(s, "pxeserver: -config") || !strings.Contains(s, "subnets[0]: prefix 10.78.7.0/25 overlaps") {
		t.Errorf("stderr = %q, want the config file's subnets[0] and the overlap", s)
	}

	netlab.Require(t)
	ns := netlab.NewNS(t)
	ns.Bridge(t, "srv0", "10.78.7.1/24")
	huge := writeConfig(t, "iface: srv0\naddr: 10.78.7.1\ndhcp: lab\nhttp_addr: 10.78.7.1:0\nsubnets:\n  - {prefix: 10.60.0.0/14, pool: 10.60.0.1-10.63.255.254}\n")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, exe, "-config", huge)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("pxeserver with a subnet LabServer4 refuses: %v, want exit status 1; output:\n%s", err, out)
	}
	if s := string(out); !strings.Contains(s, "pxeserver: lab DHCP: dhcpboot: config file subnets[0]: range larger than 65536 addresses") {
		t.Errorf("output = %q, want LabServer4's refusal naming config file subnets[0]", s)
	}
}
