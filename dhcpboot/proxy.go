package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/pxekit/pxekit/archdetect"
)

// ListenUDP4 opens a UDP socket on port for DHCP serving: bound to the
// interface iface (SO_BINDTODEVICE; "" for none), allowed to broadcast,
// sharing the port with another DHCP server on the same host
// (SO_REUSEADDR, SO_REUSEPORT), as proxyDHCP beside dnsmasq needs, and with
// a receive buffer of ReadBufferSize where the system allows it.
func ListenUDP4(iface string, port int) (net.PacketConn, error) {
	c, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: port})
	if err != nil {
		return nil, fmt.Errorf("dhcpboot: listen %s udp/%d: %w", iface, port, err)
	}
	growReadBuffer(c, ReadBufferSize)
	return c, nil
}

// ReadBufferSize is the receive buffer ListenUDP4 asks for. The kernel's
// default (about 208 KiB, a few hundred DISCOVERs) overflows when a rack
// powers on at once and the server pauses for a moment: perfdhcp at 16 000
// DISCOVERs/s lost 0.2 % of them to it.
const ReadBufferSize = 4 << 20

// InterfaceIPv4 returns the first IPv4 address of the named interface (in
// the network namespace of the calling thread).
func InterfaceIPv4(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dhcpboot: %w", err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dhcpboot: %s: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return netip.AddrFrom4([4]byte(v4)), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("dhcpboot: interface %s has no IPv4 address", name)
}

// ProxyServer is a proxyDHCP server (PXE 2.1 §2.2.3) to run beside the
// site's DHCP server: that one gives addresses, this one boot data. On port
// 67 it answers DISCOVERs of PXE and HTTP-boot clients only (never a plain
// DHCP client, never a REQUEST); on port 4011 it answers the REQUEST that
// EDK2 and iPXE send there, from port 4011 to the sender's address and port.
//
// Set Policy (and Interface or the connections); the other fields have safe
// zero values.
//
// Beside a DHCP server on the same host, both bind UDP 67 (ListenUDP4 sets
// SO_REUSEPORT; dnsmasq does so with --bind-interfaces): broadcasts reach
// both, but the kernel spreads unicast datagrams (a client's renewal) over
// the two sockets, and the proxy drops the ones it gets, so such clients
// renew only when they rebind by broadcast. Prefer another host or address
// for the proxy, or Only4011 when the DHCP server itself sends PXE clients
// to port 4011.
type ProxyServer struct {
	// Policy decides who boots what. Required.
	Policy *Policy
	// Interface is the interface to serve (sockets are bound to it).
	// ListenAndServe requires it; Serve uses it only for rules.
	Interface string
	// ServerIP is the proxy's IPv4 address clients reach; zero = the first
	// IPv4 address of Interface, looked up in the network namespace of the
	// thread calling Serve (set it explicitly when serving sockets made in
	// another namespace).
	ServerIP netip.Addr
	// Only4011 serves port 4011 only: for a host whose DHCP server already
	// sends PXE clients to port 4011 (option 60 "PXEClient" without boot
	// options), or that must not see a second offer on port 67.
	Only4011 bool
	// Reply tunes replies (Mode is set per port).
	Reply ReplyOptions
	// Classify overrides the DHCPv4 classifier.
	Classify func(*dhcpv4.DHCPv4) archdetect.Client
	// Logger gets one debug record per message and warnings on send
	// errors; nil logs nothing.
	Logger *slog.Logger
}

// ListenAndServe opens ports 67 (unless Only4011) and 4011 on Interface and
// serves until ctx is done; it then closes the sockets and returns nil.
func (s *ProxyServer) ListenAndServe(ctx context.Context) error {
	if s.Interface == "" {
		return errors.New("dhcpboot: ProxyServer.Interface is required (a proxy never serves every interface)")
	}
	var c67 net.PacketConn
	if !s.Only4011 {
		var err error
		if c67, err = ListenUDP4(s.Interface, dhcpv4.ServerPort); err != nil {
			return err
		}
	}
	c4011, err := ListenUDP4(s.Interface, PXEPort)
	if err != nil {
		if c67 != nil {
			c67.Close()
		}
		return err
	}
	return s.Serve(ctx, c67, c4011)
}

// Serve answers on the given sockets until ctx is done, then closes them and
// returns nil. conn67 (port 67) may be nil to serve port 4011 only; conn4011
// may be nil to serve port 67 only. Serve owns the sockets.
func (s *ProxyServer) Serve(ctx context.Context, conn67, conn4011 net.PacketConn) (err error) {
	defer func() {
		if err != nil { // also on a configuration error: Serve owns the sockets
			for _, c := range []net.PacketConn{conn67, conn4011} {
				if c != nil {
					c.Close()
				}
			}
		}
	}()
	if s.Policy == nil {
		return errors.New("dhcpboot: ProxyServer.Policy is nil")
	}
	if conn67 == nil && conn4011 == nil {
		return errors.New("dhcpboot: ProxyServer.Serve: no socket")
	}
	server := s.ServerIP
	if !server.IsValid() && s.Interface != "" {
		if server, err = InterfaceIPv4(s.Interface); err != nil {
			return err
		}
	}
	if !server.Is4() {
		return errors.New("dhcpboot: ProxyServer needs ServerIP (an IPv4 address)")
	}
	h := &Handler{Policy: s.Policy, ServerIP: server, Reply: s.Reply, Interface: s.Interface, Classify: s.Classify, Logger: s.Logger}
	h.Reply.ServerIP = server
	// One socket failing stops the other too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, c := range []struct {
		conn     net.PacketConn
		port4011 bool
	}{{conn67, false}, {conn4011, true}} {
		if c.conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := serveUDP(ctx, c.conn, s.logger(), func(b []byte, peer net.Addr) {
				s.handle(ctx, h, c.conn, b, peer, c.port4011)
			})
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (s *ProxyServer) handle(ctx context.Context, h *Handler, conn net.PacketConn, b []byte, peer net.Addr, port4011 bool) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		h.logger().DebugContext(ctx, "dhcpboot: malformed DHCPv4", "peer", peer.String(), "err", err)
		return
	}
	resp, d, err := h.ProxyReply(m, port4011)
	if err != nil {
		h.logger().DebugContext(ctx, "dhcpboot: no proxy answer", "peer", peer.String(), "mac", m.ClientHWAddr.String(), "err", err)
		return
	}
	dst := peer
	if !port4011 {
		dst = ReplyAddr(m, resp)
	}
	if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
		h.logger().WarnContext(ctx, "dhcpboot: send failed", "to", dst.String(), "err", err)
		return
	}
	h.logger().DebugContext(ctx, "dhcpboot: proxy answer", "to", dst.String(), "mac", m.ClientHWAddr.String(),
		"type", resp.MessageType().String(), "file", resp.BootFileNameOption(), "why", d.Why)
}

// serveUDP reads datagrams until ctx is done (then it closes conn and
// returns nil) or reading fails for another reason.
func serveUDP(ctx context.Context, conn net.PacketConn, log *slog.Logger, handle func([]byte, net.Addr)) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			conn.Close()
			return fmt.Errorf("dhcpboot: read: %w", err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					log.Error("dhcpboot: handler panic (message dropped)", "peer", peer.String(), "panic", fmt.Sprint(r))
				}
			}()
			handle(buf[:n], peer)
		}()
	}
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *ProxyServer) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
