package dhcpboot

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/internal/syncbuf"
)

func defaultHandler(t *testing.T) *Responder4 {
	t.Helper()
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &Responder4{Policy: p, ServerIP: testServer}
}

func TestProxyReplyFilters(t *testing.T) {
	h := defaultHandler(t)
	ovmfDiscover := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	ovmfRequest := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 3)
	plain, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	ppc, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"), dhcpv4.WithOption(dhcpv4.OptClientArch(12)))
	reply := func() *dhcpv4.DHCPv4 { m, _ := dhcpv4.NewReplyFromRequest(ovmfDiscover); return m }()
	ignoreAll := &Responder4{Policy: MustNewPolicy(Rule{Name: "no", Action: Action{Ignore: true}}), ServerIP: testServer}
	tests := []struct {
		name    string
		h       *Responder4
		m       *dhcpv4.DHCPv4
		mode    Mode
		wantErr error
		want    dhcpv4.MessageType
	}{
		{"PXE DISCOVER on 67", h, ovmfDiscover, ModeProxy, nil, dhcpv4.MessageTypeOffer},
		{"PXE REQUEST on 67 belongs to the DHCP server", h, ovmfRequest, ModeProxy, ErrMessageType, 0},
		{"PXE REQUEST on 4011", h, ovmfRequest, ModeProxyAck, nil, dhcpv4.MessageTypeAck},
		{"DISCOVER on 4011", h, ovmfDiscover, ModeProxyAck, ErrMessageType, 0},
		{"plain client", h, plain, ModeProxy, ErrNotPXEClient, 0},
		{"arch 12 (PowerPC) without vendor class: PXE, but no rule", h, ppc, ModeProxy, ErrNoBoot, 0},
		{"a reply", h, reply, ModeProxy, ErrNotBootRequest, 0},
		{"ignored by policy", ignoreAll, ovmfDiscover, ModeProxy, ErrNoBoot, 0},
		{"no server address", &Responder4{Policy: h.Policy}, ovmfDiscover, ModeProxy, errAny, 0},
		{"full mode is CoreDHCP's", h, ovmfDiscover, ModeFull, errAny, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, d, err := tt.h.Reply(tt.m, Arrival{Mode: tt.mode})
			if tt.wantErr != nil {
				if (tt.wantErr == errAny && err == nil) || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) || resp != nil {
					t.Fatalf("err = %v, resp = %v; want %v", err, resp, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.MessageType() != tt.want || !d.Boot() {
				t.Fatalf("type %v decision %v", resp.MessageType(), d)
			}
			if resp.ClassIdentifier() != "PXEClient" || !resp.YourIPAddr.IsUnspecified() {
				t.Errorf("not a proxy reply: %v", resp.Summary())
			}
			if tt.mode == ModeProxyAck && !resp.ClientIPAddr.Equal(tt.m.ClientIPAddr) {
				t.Errorf("ciaddr not copied")
			}
		})
	}
}

func TestCoreDHCP(t *testing.T) {
	h := defaultHandler(t)
	h.ServerIP = netipZero
	req := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	resp, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IPv4(10, 77, 0, 50)), dhcpv4.WithServerIP(net.IPv4(10, 77, 0, 1)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 0, 1))))
	out, stop := h.CoreDHCP(req, resp)
	if stop || out != resp {
		t.Fatalf("chain stopped or reply replaced")
	}
	checkBootBasics(t, out, "ipxe.efi", testServer)
	if out.ClassIdentifier() != "" || !out.YourIPAddr.Equal(net.IPv4(10, 77, 0, 50)) {
		t.Errorf("full-mode reply: %s", out.Summary())
	}
	// No rule: passes unchanged.
	plain, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	presp, _ := dhcpv4.NewReplyFromRequest(plain)
	before := presp.ToBytes()
	if out, stop := h.CoreDHCP(plain, presp); stop || out != presp || !bytes.Equal(before, presp.ToBytes()) {
		t.Error("plain client reply changed")
	}
	// Ignore: dropped.
	ig := &Responder4{Policy: MustNewPolicy(Rule{Name: "no", Action: Action{Ignore: true}})}
	if out, stop := ig.CoreDHCP(req, resp); out != nil || !stop {
		t.Error("ignored client not dropped")
	}
	// Release passes.
	rel, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease))
	if out, stop := h.CoreDHCP(rel, resp); out != resp || stop {
		t.Error("release not passed through")
	}
	if out, stop := h.CoreDHCP(nil, nil); out != nil || stop {
		t.Error("nil")
	}
}

var netipZero netip.Addr

// errConn fails every read with a non-timeout error.
type errConn struct{ net.PacketConn }

func (errConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errors.New("boom") }
func (errConn) Close() error                           { return nil }

// errAny in a table wants some error, of no particular kind.
var errAny = errors.New("any error")

func TestProxyServeStopsOnSocketError(t *testing.T) {
	good, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := DefaultPolicy(DefaultConfig{})
	s := &ProxyServer{Policy: p, ServerIP: netip.MustParseAddr("127.0.0.1")}
	done := make(chan error, 2)
	go func() { done <- s.Serve(errConn{}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running after its socket failed")
	}
	go func() { done <- s.ServeBootServer(good) }()
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("ServeBootServer after Close = %v, want ErrServerClosed", err)
	}
	if err := s.Serve(good); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
}

// Servers check their configuration when they start and name the field to
// set.
func TestServersRefuseBadConfig(t *testing.T) {
	p, _ := DefaultPolicy(DefaultConfig{})
	sub := []Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), RangeStart: netip.MustParseAddr("10.99.0.10"), RangeEnd: netip.MustParseAddr("10.99.0.20")}}
	tests := []struct {
		name  string
		serve func(net.PacketConn) error
		want  string
	}{
		{"proxy without policy", (&ProxyServer{ServerIP: testServer}).Serve, "ProxyServer.Policy is nil"},
		{"proxy without address", (&ProxyServer{Policy: p}).Serve, "ProxyServer.ServerIP is not set and Interface is empty"},
		{"proxy on an interface without IPv4", (&ProxyServer{Policy: p, Interface: "no-such-if0"}).ServeBootServer, "ProxyServer.ServerIP is not set and Interface no-such-if0 has no IPv4 address"},
		{"proxy with an IPv6 address", (&ProxyServer{Policy: p, ServerIP: netip.MustParseAddr("fd00::1")}).Serve, "ProxyServer.ServerIP fd00::1 is not an IPv4 address"},
		{"lab without address", (&LabServer4{Subnets: sub}).Serve, "LabServer4.ServerIP is not set"},
		{"lab without subnets", (&LabServer4{ServerIP: testServer}).Serve, "LabServer4.Subnets is empty"},
		{"lab6 without address", (&LabServer6{}).Serve, "LabServer6.ServerIP is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.serve(conn); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Serve = %v, want an error containing %q", err, tt.want)
			}
			if _, err := conn.WriteTo([]byte{0}, conn.LocalAddr()); err == nil {
				t.Error("Serve returned without closing the socket it owns")
			}
		})
	}
	if err := (&ProxyServer{Policy: p}).ListenAndServe(); err == nil || !strings.Contains(err.Error(), "ProxyServer.Interface") {
		t.Errorf("proxy without interface: ListenAndServe = %v", err)
	}
	if err := (&LabServer4{}).ListenAndServe(); err == nil || !strings.Contains(err.Error(), "LabServer4.Interface") {
		t.Errorf("lab without interface: ListenAndServe = %v", err)
	}
}

// CoreDHCP without ServerIP takes the server address from the reply's
// option 54 (coredhcp's server_id plugin runs first); with neither it
// passes the reply without boot data, never with 0.0.0.0, and warns once
// naming the field to set (before issue 15: a warning per packet naming
// ReplyOptions.ServerIP, a field the user never set).
func TestCoreDHCPWithoutServerAddress(t *testing.T) {
	var log syncbuf.Buffer
	p, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: p, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	req := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	for range 3 {
		resp, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithYourIP(net.IPv4(10, 77, 0, 50)))
		out, stop := h.CoreDHCP(req, resp)
		if stop || out != resp || out.BootFileNameOption() != "" || out.ServerIdentifier() != nil {
			t.Fatalf("CoreDHCP without a server address: stop %v, reply %s", stop, out.Summary())
		}
	}
	if got := strings.Count(log.String(), "Responder4.ServerIP is not set"); got != 1 {
		t.Errorf("warnings naming Responder4.ServerIP: %d, want 1; log:\n%s", got, log.String())
	}
}
