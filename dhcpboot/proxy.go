package dhcpboot

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// ProxyServer is a proxyDHCP server (PXE 2.1 §2.2.3; a DHCPv4 notion) to
// run beside the site's DHCP server: that one gives addresses, this one
// boot data. On port 67 it answers DISCOVERs of PXE and HTTP-boot clients
// only (never a plain DHCP client, never a REQUEST); on port 4011 it
// answers the REQUEST that EDK2 and iPXE send there, from port 4011 to the
// sender's address and port.
//
// It has the shape of net/http's Server: set the fields, then call
// ListenAndServe (or Serve and ServeBootServer with sockets of your own),
// and Shutdown or Close to stop. The server never writes its fields; they
// must not change once serving has started. Set Policy and Interface or
// ServerIP; the other fields have safe zero values.
//
// Beside a DHCP server on the same host, both bind UDP 67 (ListenUDP4 sets
// SO_REUSEPORT; dnsmasq does so with --bind-interfaces): broadcasts reach
// both, but the kernel spreads unicast datagrams (a client's renewal) over
// the two sockets, and the proxy drops the ones it gets, so such clients
// renew only when they rebind by broadcast. Prefer another host or address
// for the proxy, or Only4011 when the DHCP server itself sends PXE clients
// to port 4011.
type ProxyServer struct {
	// Policy decides who boots what. Required, unless PolicyFunc is set.
	Policy *Policy
	// PolicyFunc, when set, gives the policy for each request in place of
	// Policy (see Responder4.PolicyFunc): a program reloads its policy
	// while serving by returning the new one.
	PolicyFunc func() *Policy
	// Interface is the interface to serve (ListenAndServe binds its sockets
	// to it, and requires it); it is also the [Arrival] interface rules
	// can match.
	Interface string
	// ServerIP is the proxy's IPv4 address clients reach; zero = the first
	// IPv4 address of Interface, looked up at start in the network
	// namespace of the thread starting the server (set it explicitly when
	// serving sockets made in another namespace).
	ServerIP netip.Addr
	// Only4011 makes ListenAndServe serve port 4011 only: for a host whose
	// DHCP server already sends PXE clients to port 4011 (option 60
	// "PXEClient" without boot options), or that must not see a second
	// offer on port 67.
	Only4011 bool
	// Options tune replies.
	Options ReplyOptions
	// Classify overrides the DHCPv4 classifier.
	Classify func(*dhcpv4.DHCPv4) archdetect.Client
	// OnReply, when set, is called once per request decoded, with what
	// was decided and sent (or why nothing was). OnInvalid, when set, is
	// called once per datagram that is no DHCPv4 request. Both run on the
	// serving goroutine and must not block.
	OnReply   func(Exchange4)
	OnInvalid func(Invalid)
	// Logger gets one debug record per message and warnings on send
	// errors; nil logs nothing.
	Logger *slog.Logger

	once    sync.Once
	initErr error
	h       *Responder4 // built at start from the fields
	life    lifecycle
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *ProxyServer) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// start checks the configuration and builds the responder, once.
func (s *ProxyServer) start() error {
	s.once.Do(func() {
		if s.Policy == nil && s.PolicyFunc == nil {
			s.initErr = errors.New("dhcpboot: ProxyServer.Policy is nil")
			return
		}
		server, err := serverAddr4("ProxyServer", s.ServerIP, s.Interface)
		if err != nil {
			s.initErr = err
			return
		}
		s.h = &Responder4{Policy: s.Policy, PolicyFunc: s.PolicyFunc, ServerIP: server, Options: s.Options, Classify: s.Classify, Logger: s.Logger}
	})
	return s.initErr
}

// ListenAndServe opens ports 67 (unless Only4011) and 4011 on Interface and
// serves them until Shutdown or Close (then it returns [ErrServerClosed])
// or one socket fails (then it stops the other and returns the error).
func (s *ProxyServer) ListenAndServe() error {
	if s.Interface == "" {
		return errors.New("dhcpboot: ProxyServer.Interface is required by ListenAndServe (a proxy never serves every interface)")
	}
	if err := s.start(); err != nil {
		return err
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
	errs := make(chan error, 2)
	n := 1
	go func() { errs <- s.ServeBootServer(c4011) }()
	if c67 != nil {
		n++
		go func() { errs <- s.Serve(c67) }()
	}
	first := <-errs
	s.life.close() // one socket failing stops the other
	for ; n > 1; n-- {
		<-errs
	}
	return first
}

// Serve answers on conn in the port-67 role (proxy offers to DISCOVERs)
// until Shutdown or Close, then returns [ErrServerClosed]; it returns
// another error when the configuration is invalid or reading fails. Serve
// owns conn and closes it on return.
func (s *ProxyServer) Serve(conn net.PacketConn) error { return s.serve(conn, ModeProxy) }

// ServeBootServer answers on conn in the port-4011 role (ACKs to the
// REQUESTs of boot server discovery), like [ProxyServer.Serve].
func (s *ProxyServer) ServeBootServer(conn net.PacketConn) error {
	return s.serve(conn, ModeProxyAck)
}

func (s *ProxyServer) serve(conn net.PacketConn, mode Mode) error {
	log := s.logger()
	return s.life.serve(conn, s.start, log, func(b []byte, peer net.Addr) {
		m := decode4(b, peer, s.Interface, s.OnInvalid, log)
		if m == nil {
			return
		}
		a := Arrival{Interface: s.Interface, Mode: mode, Peer: addrPortOf(peer)}
		resp, r, d, err := s.h.Reply(m, a)
		x := Exchange4{Peer: a.Peer, Interface: s.Interface, Request: m, Boot: r, Decision: d, Reply: resp}
		if err != nil {
			x.NoReply = noReply(err, d)
		}
		s.life.finish4(conn, x, peer, mode, nil, s.OnReply, log)
	})
}

// Shutdown stops the server reading and waits for the requests being
// handled, or until ctx ends (then it returns ctx.Err()). Serve and
// ListenAndServe then return [ErrServerClosed].
func (s *ProxyServer) Shutdown(ctx context.Context) error { return s.life.shutdown(ctx) }

// Close stops the server at once: it closes its sockets.
func (s *ProxyServer) Close() error { return s.life.close() }
