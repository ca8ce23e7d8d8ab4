package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

// ErrServerClosed is returned by the Serve and ListenAndServe methods of
// [ProxyServer], [LabServer4] and [LabServer6] after Shutdown or Close.
var ErrServerClosed = errors.New("dhcpboot: server closed")

// Exchange4 is what a DHCPv4 server did with one request: the hook
// OnReply gets one per request it decoded. Its messages are the server's:
// read them, do not change them (a reply shares option values with its
// request, and a request's with the datagram it was decoded from).
type Exchange4 struct {
	// Peer is the sender; Interface the interface the server serves.
	Peer      netip.AddrPort
	Interface string
	// Request is the decoded message.
	Request *dhcpv4.DHCPv4
	// Boot is what the policy decided on (client, relay, server address,
	// mode); nil when the server did not get as far as deciding.
	Boot *Request
	// Decision is the policy's decision (the zero Decision when none was
	// made).
	Decision Decision
	// Reply is the reply sent, nil when none was; To is where it went.
	Reply *dhcpv4.DHCPv4
	To    netip.AddrPort
	// NoReply says why no reply was sent ("not a boot client", "rule \"x\"
	// ignores the client", "DHCPREQUEST on port 67", "no free address",
	// "send failed: …"); "" when one was.
	NoReply string
	// Lease is the lease a lab server gave, kept or ended (nil otherwise).
	Lease *Lease
	// Err is a send or lease-save error.
	Err error
}

// Exchange6 is what a DHCPv6 server did with one request (see [Exchange4]).
type Exchange6 struct {
	Peer      netip.AddrPort
	Interface string
	Request   dhcpv6.DHCPv6
	Boot      *Request
	Decision  Decision
	Reply     dhcpv6.DHCPv6
	To        netip.AddrPort
	NoReply   string
	// Lease is nil: LabServer6 keeps no lease file.
	Lease *Lease
	Err   error
}

// Invalid describes a datagram a server could not use: it does not decode,
// or is not a request (a BOOTREPLY). The hook OnInvalid gets one each.
type Invalid struct {
	Peer      netip.AddrPort
	Interface string
	Size      int
	Err       error
}

// lifecycle is the state every server shares: its sockets, whether it is
// closed and the work in flight. The zero value is ready.
type lifecycle struct {
	mu       sync.Mutex
	conns    map[net.PacketConn]struct{}
	closed   bool
	inFlight int
}

// track adds conn to the server's sockets; false once the server is closed.
func (l *lifecycle) track(conn net.PacketConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.conns == nil {
		l.conns = map[net.PacketConn]struct{}{}
	}
	l.conns[conn] = struct{}{}
	return true
}

// untrack closes conn and forgets it (its serve loop failed).
func (l *lifecycle) untrack(conn net.PacketConn) {
	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
	conn.Close()
}

// begin counts one unit of work in flight; false once the server is closed.
func (l *lifecycle) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.inFlight++
	return true
}

func (l *lifecycle) end() {
	l.mu.Lock()
	l.inFlight--
	l.mu.Unlock()
}

func (l *lifecycle) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close marks the server closed and closes its sockets, which stops the
// serve loops.
func (l *lifecycle) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var err error
	for c := range l.conns {
		err = errors.Join(err, c.Close())
		delete(l.conns, c) // closed once
	}
	return err
}

// shutdown stops the serve loops reading (a read deadline in the past:
// the sockets stay open for replies still to be sent), waits until the
// work in flight is done, then closes the sockets. When ctx ends first it
// returns ctx.Err() and leaves the sockets open (Close closes them), as
// net/http does.
func (l *lifecycle) shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	l.mu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		l.mu.Lock()
		n := l.inFlight
		l.mu.Unlock()
		if n == 0 {
			return l.close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// async runs f on its own goroutine as work in flight (a reply waiting for
// its lease to be durable): Shutdown waits for it.
func (l *lifecycle) async(f func()) {
	l.mu.Lock()
	l.inFlight++
	l.mu.Unlock()
	go func() {
		defer l.end()
		f()
	}()
}

// serve is the one serve loop of every server: after init (the server's
// check of its configuration) it reads datagrams from conn, several per
// system call on Linux (recvmmsg), and calls handle for each in the order
// they came (b is reused after handle returns) until the server is
// closed (ErrServerClosed) or reading fails. It owns conn: it closes it
// when init or reading fails, and Shutdown or Close closes it otherwise.
func (l *lifecycle) serve(conn net.PacketConn, init func() error, log *slog.Logger, handle func(b []byte, peer net.Addr)) error {
	if err := init(); err != nil {
		conn.Close()
		return err
	}
	if !l.track(conn) {
		conn.Close()
		return ErrServerClosed
	}
	one := func(b []byte, peer net.Addr) {
		defer l.end()
		defer func() {
			if r := recover(); r != nil {
				log.Error("dhcpboot: handler panic (message dropped)", "peer", peer.String(), "panic", fmt.Sprint(r))
			}
		}()
		handle(b, peer)
	}
	r := newDatagramReader(conn)
	for {
		n, err := r.read()
		if err != nil {
			if l.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.untrack(conn)
			return fmt.Errorf("dhcpboot: read: %w", err)
		}
		for i := range n {
			if !l.begin() {
				return ErrServerClosed
			}
			one(r.datagram(i))
		}
	}
}

// listenAndServe is ListenAndServe of a server of type typ with one
// socket: it checks the configuration (init), opens the socket on iface
// and serves it.
func listenAndServe(typ, iface string, init func() error, listen func(iface string) (net.PacketConn, error), serve func(net.PacketConn) error) error {
	if iface == "" {
		return fmt.Errorf("dhcpboot: %s.Interface is required by ListenAndServe (a DHCP server never serves every interface)", typ)
	}
	if err := init(); err != nil {
		return err
	}
	c, err := listen(iface)
	if err != nil {
		return err
	}
	return serve(c)
}

// decode4 decodes a DHCPv4 request; a datagram that is no request goes to
// onInvalid (and the log) and gives nil.
func decode4(b []byte, peer net.Addr, iface string, onInvalid func(Invalid), log *slog.Logger) *dhcpv4.DHCPv4 {
	m, err := decode4Bytes(slices.Clone(b)) // m may outlive the read buffer
	if err != nil {
		err = fmt.Errorf("dhcpboot: %w", err)
	} else if m.OpCode != dhcpv4.OpcodeBootRequest {
		err = ErrNotBootRequest
	}
	if err != nil {
		invalid(Invalid{Peer: addrPortOf(peer), Interface: iface, Size: len(b), Err: err}, onInvalid, log)
		return nil
	}
	return m
}

// decode6 decodes a DHCPv6 message; one that does not decode goes to
// onInvalid (and the log) and gives nil.
func decode6(b []byte, peer net.Addr, iface string, onInvalid func(Invalid), log *slog.Logger) dhcpv6.DHCPv6 {
	m, err := dhcpv6.FromBytes(slices.Clone(b))
	if err != nil {
		invalid(Invalid{Peer: addrPortOf(peer), Interface: iface, Size: len(b), Err: fmt.Errorf("dhcpboot: %w", err)}, onInvalid, log)
		return nil
	}
	return m
}

func invalid(x Invalid, onInvalid func(Invalid), log *slog.Logger) {
	log.Debug("dhcpboot: invalid message", "peer", x.Peer.String(), "size", x.Size, "err", x.Err)
	if onInvalid != nil {
		onInvalid(x)
	}
}

// send writes payload to dst and returns the error text for NoReply.
func send(conn net.PacketConn, payload []byte, dst net.Addr) (string, error) {
	if _, err := conn.WriteTo(payload, dst); err != nil {
		return sendFailed(dst, err)
	}
	return "", nil
}

func sendFailed(dst net.Addr, err error) (string, error) {
	err = fmt.Errorf("dhcpboot: send to %s: %w", dst, err)
	return "send failed: " + err.Error(), err
}

// send4 encodes m into a pooled buffer and writes it to dst (without
// allocating for the address on a UDP socket); it returns the error text
// for NoReply.
func send4(conn net.PacketConn, m *dhcpv4.DHCPv4, dst net.Addr) (string, error) {
	err := encode4(m, func(b []byte) error {
		if uc, ok := conn.(*net.UDPConn); ok {
			if ua, ok := dst.(*net.UDPAddr); ok {
				ap := ua.AddrPort()
				if ap.Addr().Is4In6() {
					ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
				}
				_, err := uc.WriteToUDPAddrPort(b, ap)
				return err
			}
		}
		_, err := conn.WriteTo(b, dst)
		return err
	})
	if err != nil {
		return sendFailed(dst, err)
	}
	return "", nil
}

// finish4 sends x.Reply (to giaddr:67, the client or broadcast, or back to
// the sender on port 4011) and reports x to the log and onReply. saved,
// when not nil, must report success before the reply may go (the lease is
// being written to the lease file): then the send happens, as work in
// flight, on the goroutine that writes the lease file (started with
// l.async), which sends the replies of a whole group of leases, so the
// serve loop goes on.
func (l *lifecycle) finish4(conn net.PacketConn, x Exchange4, peer net.Addr, mode Mode, saved func(then func(error), start func(func())), onReply func(Exchange4), log *slog.Logger) {
	done := func(err error) {
		if err != nil {
			x.Reply, x.Err = nil, err
			x.NoReply = "lease not saved: " + err.Error()
		}
		if x.Reply != nil {
			dst := replyDest(x.Request, x.Reply, Arrival{Mode: mode}, peer)
			x.To = addrPortOf(dst)
			if x.NoReply, x.Err = send4(conn, x.Reply, dst); x.Err != nil {
				x.Reply = nil
			}
		}
		if x.Err != nil {
			log.Warn("dhcpboot: no reply", "peer", x.Peer.String(), "mac", x.Request.ClientHWAddr.String(), "why", x.NoReply, "err", x.Err)
		} else if log.Enabled(context.Background(), slog.LevelDebug) { // the arguments cost allocations
			log.Debug("dhcpboot: handled", "peer", x.Peer.String(), "mac", x.Request.ClientHWAddr.String(),
				"type", x.Request.MessageType().String(), "sent", x.Reply != nil, "no_reply", x.NoReply, "why", x.Decision.Why)
		}
		if onReply != nil {
			onReply(x)
		}
	}
	if saved == nil {
		done(nil)
		return
	}
	l.mu.Lock()
	l.inFlight++ // until the reply is sent: Shutdown waits for it
	l.mu.Unlock()
	saved(func(err error) {
		defer l.end()
		done(err)
	}, l.async)
}

// finish6 sends x.Reply back to the sender and reports x to the log and
// onReply.
func finish6(conn net.PacketConn, x Exchange6, peer net.Addr, onReply func(Exchange6), log *slog.Logger) {
	if x.Reply != nil {
		x.To = addrPortOf(peer)
		if x.NoReply, x.Err = send(conn, x.Reply.ToBytes(), peer); x.Err != nil {
			x.Reply = nil
		}
	}
	log.Debug("dhcpboot: handled DHCPv6", "peer", x.Peer.String(), "sent", x.Reply != nil, "no_reply", x.NoReply, "why", x.Decision.Why)
	if onReply != nil {
		onReply(x)
	}
}

// noReply says in a few words why err (from a responder or lab server,
// after decision d) means no reply.
func noReply(err error, d Decision) string {
	switch {
	case d.Ignores():
		return fmt.Sprintf("rule %q ignores the client", d.RuleName())
	case errors.Is(err, ErrNotPXEClient):
		return "not a boot client"
	case errors.Is(err, ErrNoBoot):
		return d.Why
	case errors.Is(err, ErrMessageType):
		return err.Error()[len("dhcpboot: "):]
	case err != nil:
		return err.Error()
	}
	return "no reply"
}

// serverAddr4 is the server address a server uses: configured, else the
// first IPv4 address of its interface; the error names the field to set.
func serverAddr4(typ string, configured netip.Addr, iface string) (netip.Addr, error) {
	if configured.IsValid() {
		if !configured.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("dhcpboot: %s.ServerIP %v is not an IPv4 address", typ, configured)
		}
		return configured.Unmap(), nil
	}
	if iface == "" {
		return netip.Addr{}, fmt.Errorf("dhcpboot: %s.ServerIP is not set and Interface is empty", typ)
	}
	a, err := InterfaceIPv4(iface)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dhcpboot: %s.ServerIP is not set and Interface %s has no IPv4 address: %w", typ, iface, err)
	}
	return a, nil
}
