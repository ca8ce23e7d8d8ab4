package faultnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// maxSessions bounds the number of clients a relay tracks.
const maxSessions = 4096

// RelayConfig configures a [Relay].
type RelayConfig struct {
	// Listen is the client-facing address, e.g. "127.0.0.1:0".
	Listen string
	// Upstream is the real server.
	Upstream netip.AddrPort
	// Seed makes the fault pattern reproducible.
	Seed int64
	// Up applies to client→server datagrams, Down to server→client ones.
	Up, Down Rates
	// ListenPacket opens the relay's sockets; nil means net.ListenPacket.
	// Pass a netlab namespace's ListenPacket to run the relay inside it.
	ListenPacket func(network, address string) (net.PacketConn, error)
}

// Relay forwards UDP datagrams between clients and one server and injects
// faults on the way.
//
// It understands transfer IDs as TFTP uses them: when the server answers a
// client from a port other than Upstream's (a new TID), the relay answers the
// client from a new client-facing port of its own, and datagrams the client
// sends to that port go to the server's new port.
type Relay struct {
	cfg      RelayConfig
	listen   func(network, address string) (net.PacketConn, error)
	main     net.PacketConn
	network  string
	up, down *pipe

	mu       sync.Mutex
	sessions map[netip.AddrPort]*session
	conns    []net.PacketConn
	closed   bool
	wg       sync.WaitGroup
}

// session is one client's state: the socket that talks to the server for it
// and the client-facing sockets for each server port seen.
type session struct {
	client netip.AddrPort
	upConn net.PacketConn
	// facing maps a server source port to the socket the client sees.
	facing map[uint16]net.PacketConn
}

// StartRelay starts a relay. Close stops it.
func StartRelay(cfg RelayConfig) (*Relay, error) {
	if !cfg.Upstream.IsValid() {
		return nil, errors.New("faultnet: relay needs an Upstream address")
	}
	r := &Relay{cfg: cfg, listen: cfg.ListenPacket, sessions: map[netip.AddrPort]*session{}}
	if r.listen == nil {
		r.listen = net.ListenPacket
	}
	r.network = "udp4"
	if cfg.Upstream.Addr().Is6() && !cfg.Upstream.Addr().Is4In6() {
		r.network = "udp6"
	}
	main, err := r.listen(r.network, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen %s: %w", cfg.Listen, err)
	}
	r.main = main
	r.conns = append(r.conns, main)
	r.up = newPipe(cfg.Seed, cfg.Up)
	r.down = newPipe(cfg.Seed^0x5eed5eed, cfg.Down)
	r.wg.Add(1)
	go r.readClients(main, cfg.Upstream.Port())
	return r, nil
}

// Addr is the client-facing address clients send to.
func (r *Relay) Addr() netip.AddrPort {
	return addrPort(r.main.LocalAddr())
}

// Stats returns the counters of both directions.
func (r *Relay) Stats() (up, down Stats) {
	return r.up.snapshot(), r.down.snapshot()
}

// Close stops the relay and closes its sockets.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	conns := r.conns
	r.mu.Unlock()
	r.up.close()
	r.down.close()
	for _, c := range conns {
		c.Close()
	}
	r.wg.Wait()
	return nil
}

func addrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// readClients reads client datagrams from a client-facing socket and sends
// them to the server's port serverPort. For the main socket that is
// Upstream's port.
func (r *Relay) readClients(c net.PacketConn, serverPort uint16) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		client := addrPort(from)
		s, err := r.session(client)
		if err != nil {
			continue
		}
		if c != r.main && !r.owns(s, serverPort, c) {
			continue // a stranger writing to another client's port
		}
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.cfg.Upstream.Addr(), serverPort))
		up := s.upConn
		r.up.submit(append([]byte(nil), buf[:n]...), to, func(b []byte, to any) {
			_, _ = up.WriteTo(b, to.(net.Addr))
		})
	}
}

// session returns the client's session, creating it on first contact.
func (r *Relay) session(client netip.AddrPort) (*session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, net.ErrClosed
	}
	if s, ok := r.sessions[client]; ok {
		return s, nil
	}
	if len(r.sessions) >= maxSessions {
		return nil, errors.New("faultnet: too many clients")
	}
	upConn, err := r.listen(r.network, ":0")
	if err != nil {
		return nil, err
	}
	s := &session{client: client, upConn: upConn, facing: map[uint16]net.PacketConn{r.cfg.Upstream.Port(): r.main}}
	r.sessions[client] = s
	r.conns = append(r.conns, upConn)
	r.wg.Add(1)
	go r.readServer(s)
	return s, nil
}

// readServer reads the server's datagrams for one client and sends them to
// the client from the client-facing socket that matches the server's port.
func (r *Relay) readServer(s *session) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	to := net.UDPAddrFromAddrPort(s.client)
	for {
		n, from, err := s.upConn.ReadFrom(buf)
		if err != nil {
			return
		}
		src := addrPort(from)
		if src.Addr().Unmap() != r.cfg.Upstream.Addr().Unmap() {
			continue
		}
		facing, err := r.facing(s, src.Port())
		if err != nil {
			continue
		}
		r.down.submit(append([]byte(nil), buf[:n]...), to, func(b []byte, to any) {
			_, _ = facing.WriteTo(b, to.(net.Addr))
		})
	}
}

// facing returns the client-facing socket for a server source port, opening
// a new one the first time that port is seen.
func (r *Relay) facing(s *session, port uint16) (net.PacketConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, net.ErrClosed
	}
	if c, ok := s.facing[port]; ok {
		return c, nil
	}
	host := r.Addr().Addr().String()
	c, err := r.listen(r.network, net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	s.facing[port] = c
	r.conns = append(r.conns, c)
	r.wg.Add(1)
	go r.readClients(c, port)
	return c, nil
}

// owns reports whether c is the client-facing socket of s for port.
func (r *Relay) owns(s *session, port uint16, c net.PacketConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.facing[port] == c
}
