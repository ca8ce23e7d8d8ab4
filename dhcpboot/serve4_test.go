package dhcpboot

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/syncbuf"
)

// serveServer4 serves conn with insomniacslk's server4 and handler h until
// the test ends.
func serveServer4(t *testing.T, conn net.PacketConn, h server4.Handler) {
	t.Helper()
	srv, err := server4.NewServer("", nil, h, server4.WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { srv.Close() })
}

// A server4 socket in the port-4011 role need not be bound to port 4011:
// the handler ServeDHCPFor returns knows its role, so a REQUEST sent to a
// socket on a port the test picked gets the proxy ACK (ServeDHCP guesses
// the role from the port and takes such a socket for port 67).
func TestServeDHCPForRoleWithoutPort(t *testing.T) {
	policy, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: policy, ServerIP: netip.MustParseAddr("127.0.0.1"), Logger: testLogger(t)}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveServer4(t, conn, h.ServeDHCPFor(ModeProxyAck))

	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hw := net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x21}
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.IPv4(127, 0, 0, 1)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
	if _, err := client.WriteTo(req.ToBytes(), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := client.ReadFrom(buf)
	if err != nil {
		t.Fatalf("REQUEST to the 4011-role socket %v: %v, want an ACK", conn.LocalAddr(), err)
	}
	ack, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileNameOption() != "ipxe.efi" || !ack.ServerIPAddr.Equal(net.IPv4(127, 0, 0, 1)) ||
		from.String() != conn.LocalAddr().String() {
		t.Errorf("REQUEST to the 4011-role socket: got %s from %v, want an ACK with ipxe.efi and siaddr 127.0.0.1 from %v", ack.Summary(), from, conn.LocalAddr())
	}
}

// server4Socket is a port served by server4 with a handler.
type server4Socket struct {
	port    int
	handler server4.Handler
}

// proxyOverServer4 serves the two roles of a proxyDHCP with server4 in the
// server namespace of p (at67 takes DISCOVERs, at4011 REQUESTs), then does
// a PXE client's exchange from the client namespace: a broadcast DISCOVER
// to at67's port gets a proxy offer with the iPXE script URL (BIOS iPXE
// ROM capture), a REQUEST to at4011's port an ACK from that port.
func proxyOverServer4(t *testing.T, p *netlab.Pair, at67, at4011 server4Socket) {
	t.Helper()
	for _, s := range []server4Socket{at67, at4011} {
		conn := listenIn(t, p.Server, p.ServerIf, s.port)
		serveServer4(t, conn, s.handler)
	}
	client := newPXEClient(t, p, dhcpv4.ClientPort)
	bios := captureRequest(t, "bios-ipxe-rom-tftp-undionly-chain.pcapng", 1)
	d, _ := dhcpv4.NewDiscovery(client.hw, withOptionsOf(bios, pxeOptions...)...)
	client.send(d, fmt.Sprintf("255.255.255.255:%d", at67.port))
	got := client.collect(d.TransactionID, 10*time.Second, 1) // returns at the first reply; 2 s was once too short under a loaded CI
	if len(got) != 1 || got[0].m.MessageType() != dhcpv4.MessageTypeOffer || got[0].m.ClassIdentifier() != "PXEClient" ||
		!strings.HasPrefix(got[0].m.BootFileNameOption(), "http://10.99.0.1/boot.ipxe") || !got[0].m.ServerIPAddr.Equal(net.IP(p.ServerIP.AsSlice())) {
		t.Fatalf("DISCOVER to port %d: got %v, want a proxy offer with the script URL and next server %v", at67.port, got, p.ServerIP)
	}
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(client.hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.IP(p.ClientIP.AsSlice())))
	for _, m := range withOptionsOf(bios, pxeOptions...) {
		m(req)
	}
	client.send(req, net.JoinHostPort(p.ServerIP.String(), strconv.Itoa(at4011.port)))
	got = client.collect(req.TransactionID, 10*time.Second, 1)
	if len(got) != 1 || got[0].from.Port != at4011.port || got[0].m.MessageType() != dhcpv4.MessageTypeAck ||
		!strings.HasPrefix(got[0].m.BootFileNameOption(), "http://10.99.0.1/boot.ipxe") {
		t.Fatalf("REQUEST to port %d: got %v, want an ACK from that port with the script URL", at4011.port, got)
	}
}

// ServeDHCPFor inside server4 on two sockets whose ports say nothing of
// their roles: each handler knows its own.
func TestInteropServer4HandlerFor(t *testing.T) {
	netlab.Require(t)
	p := netlab.NewPair(t)
	policy, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: policy, ServerIP: p.ServerIP, Logger: testLogger(t)}
	proxyOverServer4(t, p, server4Socket{1067, h.ServeDHCPFor(ModeProxy)}, server4Socket{5011, h.ServeDHCPFor(ModeProxyAck)})
}

// ServeDHCPFor(ModeFull) answers nobody and says so once.
func TestServeDHCPForModeFull(t *testing.T) {
	policy, _ := DefaultPolicy(DefaultConfig{})
	var logs syncbuf.Buffer
	h := &Responder4{Policy: policy, ServerIP: netip.MustParseAddr("127.0.0.1"), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	conn := &recordConn{}
	d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x22},
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
	serve := h.ServeDHCPFor(ModeFull)
	for range 2 {
		serve(conn, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 68}, d)
	}
	if conn.writes != 0 || strings.Count(logs.String(), "ModeProxy or ModeProxyAck") != 1 {
		t.Errorf("ServeDHCPFor(ModeFull): %d writes, log %q; want none and one warning", conn.writes, logs.String())
	}
}

// recordConn is a PacketConn that counts writes and reads nothing.
type recordConn struct {
	net.PacketConn
	writes int
}

func (c *recordConn) WriteTo(b []byte, to net.Addr) (int, error) { c.writes++; return len(b), nil }
func (c *recordConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1067}
}
