package dhcpboot

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func defaultHandler(t *testing.T) *Handler {
	t.Helper()
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{Policy: p, ServerIP: testServer, Interface: "br0"}
}

func TestProxyReplyFilters(t *testing.T) {
	h := defaultHandler(t)
	ovmfDiscover := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	ovmfRequest := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 3)
	plain, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	uboot, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"), dhcpv4.WithOption(dhcpv4.OptClientArch(22)))
	reply := func() *dhcpv4.DHCPv4 { m, _ := dhcpv4.NewReplyFromRequest(ovmfDiscover); return m }()
	ignoreAll := &Handler{Policy: MustNewPolicy(Rule{Name: "no", Action: Action{Ignore: true}}), ServerIP: testServer}
	tests := []struct {
		name    string
		h       *Handler
		m       *dhcpv4.DHCPv4
		on4011  bool
		wantErr error
		want    dhcpv4.MessageType
	}{
		{"PXE DISCOVER on 67", h, ovmfDiscover, false, nil, dhcpv4.MessageTypeOffer},
		{"PXE REQUEST on 67 belongs to the DHCP server", h, ovmfRequest, false, ErrMessageType, 0},
		{"PXE REQUEST on 4011", h, ovmfRequest, true, nil, dhcpv4.MessageTypeAck},
		{"DISCOVER on 4011", h, ovmfDiscover, true, ErrMessageType, 0},
		{"plain client", h, plain, false, ErrNotPXEClient, 0},
		{"arch 22 without vendor class: PXE, but no rule", h, uboot, false, ErrNoBoot, 0},
		{"a reply", h, reply, false, ErrNotBootRequest, 0},
		{"ignored by policy", ignoreAll, ovmfDiscover, false, ErrNoBoot, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, d, err := tt.h.ProxyReply(tt.m, tt.on4011)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || resp != nil {
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
			if tt.on4011 && !resp.ClientIPAddr.Equal(tt.m.ClientIPAddr) {
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
	ig := &Handler{Policy: MustNewPolicy(Rule{Name: "no", Action: Action{Ignore: true}})}
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

func TestProxyServeStopsOnSocketError(t *testing.T) {
	good, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := DefaultPolicy(DefaultConfig{})
	s := &ProxyServer{Policy: p, ServerIP: netip.MustParseAddr("127.0.0.1")}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), errConn{}, good) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running after a socket failed")
	}
	for _, bad := range []*ProxyServer{{}, {Policy: p}} {
		if err := bad.Serve(context.Background(), good, nil); err == nil {
			t.Error("misconfigured proxy served")
		}
	}
	if err := (&ProxyServer{Policy: p}).ListenAndServe(context.Background()); err == nil {
		t.Error("proxy without interface listened")
	}
	if err := (&LabServer{}).ListenAndServe(context.Background()); err == nil {
		t.Error("lab without interface listened")
	}
}
