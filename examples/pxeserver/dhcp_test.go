package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/dhcpboot"
)

// fakeConn records what the DHCP side sends.
type fakeConn struct {
	mu   sync.Mutex
	sent []*dhcpv4.DHCPv4
	to   []net.Addr
}

func (f *fakeConn) WriteTo(b []byte, to net.Addr) (int, error) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	f.to = append(f.to, to)
	return len(b), nil
}
func (f *fakeConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, net.ErrClosed }
func (f *fakeConn) Close() error                           { return nil }
func (f *fakeConn) LocalAddr() net.Addr                    { return &net.UDPAddr{Port: 67} }
func (f *fakeConn) SetDeadline(time.Time) error            { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error        { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error       { return nil }

// testDHCP builds the DHCP side for mode without sockets.
func testDHCP(t *testing.T, mode string) (*dhcpServer, *bytes.Buffer) {
	t.Helper()
	cfg, err := parseConfig([]string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", mode}, nil)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	var buf bytes.Buffer
	s, err := buildDHCP(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatalf("buildDHCP(cfg, slog.New(slog.NewJSONHandler(&buf, nil))): %v", err)
	}
	return s, &buf
}

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

func lastDHCPLog(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var l map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &l); err != nil {
		t.Fatalf("json.Unmarshal([]byte(lines[len(lines)-1]), &l): %v", err)
	}
	if l["msg"] != "dhcp" {
		t.Fatalf("l[\"msg\"] = %q, want \"dhcp\"", l["msg"])
	}
	return l
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
	s, buf := testDHCP(t, "lab")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := &fakeConn{}
			s.handle(conn, discover(t, tt.mac, tt.mods...).ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, dhcpboot.ModeProxy)
			if len(conn.sent) != 1 {
				t.Fatalf("len(conn.sent) = %d, want 1", len(conn.sent))
			}
			r := conn.sent[0]
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
			l := lastDHCPLog(t, buf)
			if l["rule"] != tt.rule {
				t.Errorf("l[\"rule\"] = %v, want %v", l["rule"], tt.rule)
			}
			if l["reply"] != "OFFER" {
				t.Errorf("l[\"reply\"] = %q, want \"OFFER\"", l["reply"])
			}
			if l["mac"] != tt.mac {
				t.Errorf("l[\"mac\"] = %v, want %v", l["mac"], tt.mac)
			}
			if l["bootfile"] != tt.bootfile {
				t.Errorf("l[\"bootfile\"] = %v, want %v", l["bootfile"], tt.bootfile)
			}
			if l["mode"] != "lab" {
				t.Errorf("l[\"mode\"] = %q, want \"lab\"", l["mode"])
			}
		})
	}
}

func TestDHCPProxy(t *testing.T) {
	s, buf := testDHCP(t, "proxy")
	// A plain DHCP client gets nothing from a proxy, and the log says so.
	conn := &fakeConn{}
	s.handle(conn, discover(t, "52:54:00:00:00:99").ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, dhcpboot.ModeProxy)
	if len(conn.sent) != 0 {
		t.Errorf("conn.sent = %v, want it empty", conn.sent)
	}
	l := lastDHCPLog(t, buf)
	if l["reply"] != "none" {
		t.Errorf("l[\"reply\"] = %q, want \"none\"", l["reply"])
	}
	if s, _ := l["reason"].(string); s == "" {
		t.Errorf("l[\"reason\"] is empty")
	}

	// UEFI PXE: a proxy offer without an address on 67, ipxe.efi on 4011.
	m := discover(t, "52:54:00:77:00:0b", archOpt(iana.EFI_X86_64), pxeVC("PXEClient:Arch:00007:UNDI:003000"))
	s.handle(conn, m.ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, dhcpboot.ModeProxy)
	if len(conn.sent) != 1 {
		t.Fatalf("len(conn.sent) = %d, want 1", len(conn.sent))
	}
	if !conn.sent[0].YourIPAddr.IsUnspecified() {
		t.Errorf("a proxy gives no address")
	}
	if got := conn.sent[0].ClassIdentifier(); got != "PXEClient" {
		t.Errorf("conn.sent[0].ClassIdentifier() = %q, want \"PXEClient\"", got)
	}
	req, err := dhcpv4.NewRequestFromOffer(conn.sent[0])
	if err != nil {
		t.Fatalf("dhcpv4.NewRequestFromOffer(conn.sent[0]): %v", err)
	}
	req.UpdateOption(dhcpv4.OptClientArch(iana.EFI_X86_64))
	req.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000"))
	req.ClientIPAddr = net.IPv4(10, 77, 0, 150)
	peer := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 150), Port: 4011}
	s.handle(conn, req.ToBytes(), peer, dhcpboot.ModeProxyAck)
	if len(conn.sent) != 2 {
		t.Fatalf("len(conn.sent) = %d, want 2", len(conn.sent))
	}
	if got := conn.sent[1].MessageType(); got != dhcpv4.MessageTypeAck {
		t.Errorf("conn.sent[1].MessageType() = %v, want %v", got, dhcpv4.MessageTypeAck)
	}
	if got := conn.sent[1].BootFileNameOption(); got != "ipxe.efi" {
		t.Errorf("conn.sent[1].BootFileNameOption() = %q, want \"ipxe.efi\"", got)
	}
	if got := conn.to[1].String(); got != peer.String() {
		t.Errorf("port 4011 answers go back to the sender: conn.to[1].String() = %v, want %v", got, peer.String())
	}
	l = lastDHCPLog(t, buf)
	if l["port"] != float64(4011) {
		t.Errorf("l[\"port\"] = %v, want %v", l["port"], float64(4011))
	}
	if l["rule"] != "uefi-x64" {
		t.Errorf("l[\"rule\"] = %q, want \"uefi-x64\"", l["rule"])
	}
}

func TestDHCPIgnoresGarbage(t *testing.T) {
	s, buf := testDHCP(t, "lab")
	conn := &fakeConn{}
	for _, b := range [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 300)} {
		s.handle(conn, b, &net.UDPAddr{}, dhcpboot.ModeProxy)
	}
	reply := discover(t, "52:54:00:00:00:01")
	reply.OpCode = dhcpv4.OpcodeBootReply
	s.handle(conn, reply.ToBytes(), &net.UDPAddr{}, dhcpboot.ModeProxy)
	if len(conn.sent) != 0 {
		t.Errorf("conn.sent = %v, want it empty", conn.sent)
	}
	if s := buf.String(); strings.Contains(s, `"msg":"dhcp"`) {
		t.Errorf("malformed input and replies are not decisions: buf.String() = %q, want it not to contain %q", s, `"msg":"dhcp"`)
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
	var buf bytes.Buffer
	s, err := buildDHCP(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatalf("buildDHCP(cfg, slog.New(slog.NewJSONHandler(&buf, nil))): %v", err)
	}
	conn := &fakeConn{}
	s.handle(conn, discover(t, "52:54:00:00:00:01").ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, dhcpboot.ModeProxy)
	if len(conn.sent) != 1 {
		t.Fatalf("len(conn.sent) = %d, want 1", len(conn.sent))
	}
	if got := conn.sent[0].YourIPAddr.String(); got != "10.77.0.150" {
		t.Errorf("the good lease is kept: conn.sent[0].YourIPAddr.String() = %q, want \"10.77.0.150\"", got)
	}
	if s := buf.String(); !strings.Contains(s, cfg.LeaseFile+":2") {
		t.Errorf("the bad line is logged with file and line: buf.String() = %q, want it to contain %q", s, cfg.LeaseFile+":2")
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
	_, err = buildDHCP(cfg, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	if err == nil {
		t.Fatalf("buildDHCP with a directory as lease file succeeded, want an error")
	}
	if s := err.Error(); !strings.Contains(s, cfg.LeaseFile) {
		t.Errorf("err.Error() = %q, want it to contain %q", s, cfg.LeaseFile)
	}
}
