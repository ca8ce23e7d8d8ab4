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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	var buf bytes.Buffer
	s, err := buildDHCP(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, err)
	return s, &buf
}

func discover(t *testing.T, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	require.NoError(t, err)
	m, err := dhcpv4.NewDiscovery(hw, mods...)
	require.NoError(t, err)
	return m
}

func lastDHCPLog(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var l map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &l))
	require.Equal(t, "dhcp", l["msg"])
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
			s.handle(conn, discover(t, tt.mac, tt.mods...).ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, false)
			require.Len(t, conn.sent, 1)
			r := conn.sent[0]
			assert.Equal(t, dhcpv4.MessageTypeOffer, r.MessageType())
			assert.Equal(t, tt.bootfile, r.BootFileNameOption())
			assert.True(t, netip.MustParsePrefix("10.77.0.0/24").Contains(netip.AddrFrom4([4]byte(r.YourIPAddr.To4()))), r.YourIPAddr)
			assert.Equal(t, tt.vendor, r.ClassIdentifier())
			l := lastDHCPLog(t, buf)
			assert.Equal(t, tt.rule, l["rule"])
			assert.Equal(t, "OFFER", l["reply"])
			assert.Equal(t, tt.mac, l["mac"])
			assert.Equal(t, tt.bootfile, l["bootfile"])
			assert.Equal(t, "lab", l["mode"])
		})
	}
}

func TestDHCPProxy(t *testing.T) {
	s, buf := testDHCP(t, "proxy")
	// A plain DHCP client gets nothing from a proxy, and the log says so.
	conn := &fakeConn{}
	s.handle(conn, discover(t, "52:54:00:00:00:99").ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, false)
	assert.Empty(t, conn.sent)
	l := lastDHCPLog(t, buf)
	assert.Equal(t, "none", l["reply"])
	assert.NotEmpty(t, l["reason"])

	// UEFI PXE: a proxy offer without an address on 67, ipxe.efi on 4011.
	m := discover(t, "52:54:00:77:00:0b", archOpt(iana.EFI_X86_64), pxeVC("PXEClient:Arch:00007:UNDI:003000"))
	s.handle(conn, m.ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, false)
	require.Len(t, conn.sent, 1)
	assert.True(t, conn.sent[0].YourIPAddr.IsUnspecified(), "a proxy gives no address")
	assert.Equal(t, "PXEClient", conn.sent[0].ClassIdentifier())
	req, err := dhcpv4.NewRequestFromOffer(conn.sent[0])
	require.NoError(t, err)
	req.UpdateOption(dhcpv4.OptClientArch(iana.EFI_X86_64))
	req.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000"))
	req.ClientIPAddr = net.IPv4(10, 77, 0, 150)
	peer := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 150), Port: 4011}
	s.handle(conn, req.ToBytes(), peer, true)
	require.Len(t, conn.sent, 2)
	assert.Equal(t, dhcpv4.MessageTypeAck, conn.sent[1].MessageType())
	assert.Equal(t, "ipxe.efi", conn.sent[1].BootFileNameOption())
	assert.Equal(t, peer.String(), conn.to[1].String(), "port 4011 answers go back to the sender")
	l = lastDHCPLog(t, buf)
	assert.Equal(t, float64(4011), l["port"])
	assert.Equal(t, "uefi-x64", l["rule"])
}

func TestDHCPIgnoresGarbage(t *testing.T) {
	s, buf := testDHCP(t, "lab")
	conn := &fakeConn{}
	for _, b := range [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 300)} {
		s.handle(conn, b, &net.UDPAddr{}, false)
	}
	reply := discover(t, "52:54:00:00:00:01")
	reply.OpCode = dhcpv4.OpcodeBootReply
	s.handle(conn, reply.ToBytes(), &net.UDPAddr{}, false)
	assert.Empty(t, conn.sent)
	assert.NotContains(t, buf.String(), `"msg":"dhcp"`, "malformed input and replies are not decisions")
}

// TestDHCPLabLogsLeaseFileProblems: the lab server logs through pxeserver's
// logger, so a bad lease line (and a failed save) is in the log, not lost.
func TestDHCPLabLogsLeaseFileProblems(t *testing.T) {
	cfg, err := parseConfig([]string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab"}, nil)
	require.NoError(t, err)
	cfg.LeaseFile = filepath.Join(t.TempDir(), "leases")
	require.NoError(t, os.WriteFile(cfg.LeaseFile, []byte("52:54:00:00:00:01 10.77.0.150 2999-01-01T00:00:00Z\nnot a lease\n"), 0o644))
	var buf bytes.Buffer
	s, err := buildDHCP(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, err)
	conn := &fakeConn{}
	s.handle(conn, discover(t, "52:54:00:00:00:01").ToBytes(), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, false)
	require.Len(t, conn.sent, 1)
	assert.Equal(t, "10.77.0.150", conn.sent[0].YourIPAddr.String(), "the good lease is kept")
	assert.Contains(t, buf.String(), cfg.LeaseFile+":2", "the bad line is logged with file and line")
}

// TestDHCPLabRefusesUnusableLeaseFile: a lease path that is a directory
// stops pxeserver at start with the path in the error, before "ready".
func TestDHCPLabRefusesUnusableLeaseFile(t *testing.T) {
	cfg, err := parseConfig([]string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab"}, nil)
	require.NoError(t, err)
	cfg.LeaseFile = t.TempDir()
	_, err = buildDHCP(cfg, slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), cfg.LeaseFile)
}
