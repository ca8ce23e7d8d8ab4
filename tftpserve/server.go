package tftpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxekit/pxekit/internal/sockbuf"
)

// Defaults used when the corresponding Server field is zero.
const (
	DefaultAddr           = ":69"
	DefaultMaxWindowSize  = 64
	DefaultMaxWindowBytes = 160 << 10
	DefaultTimeout        = time.Second
	DefaultMinRetransmit  = 50 * time.Millisecond
	DefaultRetries        = 5
	DefaultMaxTransfers   = 1024
	DefaultQueueTimeout   = 2 * time.Second
	// DefaultTransferTimeout bounds one transfer's wall-clock time: a
	// 1 GiB image at 600 KB/s (lock-step 512-byte blocks at 1 ms RTT,
	// the slowest a legacy PXE ROM goes on a LAN) takes 30 minutes.
	DefaultTransferTimeout = 30 * time.Minute
	// DefaultMaxTimeout is the largest timeout option granted, in
	// seconds: twice U-Boot's 5, the only common client that sends one.
	DefaultMaxTimeout = 10
	// DefaultProgressInterval is the least time between two OnProgress
	// calls of one transfer.
	DefaultProgressInterval = 100 * time.Millisecond
)

// Server is a TFTP server for network boot. The zero value serves nothing
// (every request gets "file not found") on DefaultAddr; set Handler.
//
// A Server answers read requests with RFC 2347 option negotiation: blksize
// (RFC 2348, clamped to the path MTU so nothing is fragmented), tsize and
// timeout (RFC 2349) and windowsize (RFC 7440). Write requests are refused
// with an access violation unless WriteHandler is set.
type Server struct {
	// Addr is the address ListenAndServe listens on; DefaultAddr if empty.
	Addr string
	// Handler resolves read requests. nil answers "file not found".
	Handler Handler
	// WriteHandler receives write requests (WRQ); nil refuses them with
	// an access violation (code 2).
	WriteHandler WriteHandler
	// Logger receives one line per transfer and server errors; nil
	// discards them.
	Logger *slog.Logger

	// MaxBlockSize caps blksize (8…65464); 0 means 65464. blksize is also
	// clamped to the MTU of the interface the request came in on (MTU−32
	// for IPv4, MTU−52 for IPv6) unless AllowFragmentation is set.
	MaxBlockSize int
	// AllowFragmentation lets blksize exceed the interface MTU.
	AllowFragmentation bool
	// MaxWindowSize caps windowsize; 0 means DefaultMaxWindowSize.
	MaxWindowSize int
	// MaxWindowBytes caps the receive buffer one window needs on the
	// client: windowsize × the block's datagram size rounded up to a power
	// of two (kernels store datagrams in such buffers). 0 means
	// DefaultMaxWindowBytes, 160 KiB: windowsize 64 at blksize 1468, 10 at
	// 8192, so that a window fits Linux's default 208 KiB socket buffer
	// instead of overrunning it every time.
	MaxWindowBytes int

	// Timeout is the retransmission ceiling when the client does not send
	// the timeout option; 0 means DefaultTimeout. Below it the server
	// retransmits after an adaptive timeout measured from round trips
	// (RFC 6298), never less than MinRetransmit.
	Timeout time.Duration
	// MinRetransmit is the floor of the adaptive retransmission timeout;
	// 0 means DefaultMinRetransmit.
	MinRetransmit time.Duration
	// Retries is how many timeouts at the ceiling a transfer survives
	// without progress; 0 means DefaultRetries.
	Retries int
	// TransferTimeout bounds the wall-clock duration of a transfer, from
	// the moment it gets a slot, so that a client acknowledging just often
	// enough cannot hold a slot for ever. 0 means DefaultTransferTimeout;
	// a negative value means no bound (the retry limit still ends silent
	// transfers). A transfer that reaches it gets ERROR 0 "transfer time
	// limit reached" and is reported as OutcomeFailed with an error
	// wrapping ErrTransferTimeLimit.
	TransferTimeout time.Duration
	// MaxTimeout is the largest timeout option (RFC 2349, seconds) granted;
	// 0 means DefaultMaxTimeout, a negative value never grants it. The OACK
	// may only echo the client's value (U-Boot aborts otherwise), so a
	// client asking for more gets no timeout option and the server
	// retransmits on its own Timeout: a client asking for 255 s cannot make
	// an abandoned transfer hold its slot for Retries × 255 s.
	MaxTimeout int

	// MaxTransfers bounds concurrent transfers; 0 means
	// DefaultMaxTransfers. Requests beyond it wait up to QueueTimeout for a
	// slot, then get ERROR 0 "server busy".
	MaxTransfers int
	// MaxClientTransfers bounds concurrent transfers per client IP; 0 means
	// no bound beyond MaxTransfers (clients behind NAT share one address,
	// and a boot storm may come through one relay). Requests beyond it get
	// ERROR 0.
	MaxClientTransfers int
	// QueueTimeout is how long a request waits for a free slot; 0 means
	// DefaultQueueTimeout.
	QueueTimeout time.Duration

	// SinglePort answers from the listening socket instead of a new port
	// per transfer (for NAT and containers). Transfers are told apart by
	// the client's address and port; blksize and windowsize are unchanged.
	// DATA, ACK and OACK from a port with no transfer get ERROR 5. On
	// Linux the listening socket's receive buffer is raised to 4 MiB
	// (SO_RCVBUFFORCE when permitted, else up to net.core.rmem_max), since
	// every transfer's ACKs wait in it.
	SinglePort bool

	// BatchedLockstep, with SinglePort on Linux, runs the data phase of
	// lock-step reads (windowsize 1, mode octet, content served from an
	// io.ReaderAt: ServeContent, files) in the listening socket's reader
	// instead of on each transfer's goroutine: the ACKs of one recvmmsg
	// batch are handled in turn (the next block read with ReadAt) and
	// every DATA they call for leaves in one sendmmsg; a ticker resends
	// blocks whose timer expired. It saves a goroutine wake-up and a read
	// per block in a boot storm of many lock-step clients. Timeouts,
	// retries, outcomes and reports are those of the goroutine path, but
	// a retransmission may come up to half of MinRetransmit late, and
	// OnProgress is called from the socket's reader, not the transfer's
	// goroutine. Windows, writes, streams and netascii are unaffected,
	// and so is everything without SinglePort or off Linux.
	//
	// On 64-bit Linux the loop reads and sends through a second socket on
	// the listening socket's address that Go's network poller does not
	// watch, so that ACKs arriving while the loop works do not wake an
	// idle thread each (a third of the CPU in a storm): Serve sets
	// SO_REUSEADDR on the listening socket for the moment of the second
	// bind (then off on both), and connects the listening socket to its
	// own address, which leaves every other sender's datagrams to the
	// second socket; the listening socket still sends handshakes and
	// errors and stays connected until it is closed. Where that cannot be
	// done (not a *net.UDPConn, bound to a device, a process that may not
	// bind the port itself) the loop reads the listening socket as
	// before. In the storm benchmark (bench/README.md) the mode serves
	// 200 lock-step clients with about two thirds of dnsmasq's CPU per
	// byte.
	BatchedLockstep bool

	// DisableGSO turns off UDP generic segmentation offload. By default,
	// on Linux 4.18 and later, a window of blocks leaves in one system
	// call as one buffer that the kernel cuts into datagrams (UDP_SEGMENT);
	// where the kernel or the route refuses it the server falls back to
	// one sendmmsg per window by itself, so this is for comparison and
	// for debugging (packet captures on the sending host then show one
	// datagram per block).
	DisableGSO bool

	// Tune, if set, may lower the limits for one request, for example by
	// client address or by what archdetect learnt about the firmware. The
	// request has its addresses, names and options but no negotiated values
	// yet.
	Tune func(r *Request, l *Limits)
	// OnTransfer, if set, is called once per finished transfer.
	OnTransfer func(TransferInfo)
	// OnProgress, if set, is called on a read transfer's goroutine while
	// its data flows: once when the first window is about to go (the
	// options accepted), then as the client's acknowledgements move the
	// transfer on, at most once per ProgressInterval. Its TransferInfo is
	// the transfer so far: Bytes acknowledged, Duration since Start,
	// Packets and Retransmits, no Outcome. The end (the last
	// acknowledgement, or a failure) is OnTransfer's. It must not block:
	// the transfer waits for it.
	OnProgress func(TransferInfo)
	// ProgressInterval is the least time between two OnProgress calls of
	// one transfer; 0 means DefaultProgressInterval.
	ProgressInterval time.Duration
	// ListenPacket opens sockets (the listening socket of ListenAndServe
	// and one per transfer); nil means net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)

	initOnce sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
	mtus     mtuCache

	mu       sync.Mutex
	conns    map[*serveConn]bool // listening sockets; true = single-port
	sessions map[netip.AddrPort]*session
	perIP    map[netip.Addr]int
	queued   int
	closing  bool
	active   sync.WaitGroup
	sem      chan struct{}
}

// errSuperseded ends a transfer whose client sent a new, different request
// from the same port: the client has moved on (EDK2 reuses its port after
// the size probe). The old transfer ends without sending anything.
var errSuperseded = errors.New("tftpserve: superseded by a new request from the same client port")

// session is a transfer the server tracks by client address and port.
type session struct {
	raw    string // the request bytes, to recognise a copy of the request
	cancel context.CancelCauseFunc
	in     chan []byte // single-port mode
	// loop is the transfer while the socket loop runs its data phase
	// (BatchedLockstep): its packets go there instead of to in.
	loop atomic.Pointer[loopTransfer]
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.conns = map[*serveConn]bool{}
		s.sessions = map[netip.AddrPort]*session{}
		s.perIP = map[netip.Addr]int{}
		s.sem = make(chan struct{}, orDefault(s.MaxTransfers, DefaultMaxTransfers))
	})
}

func orDefault[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) listen(network, address string) (net.PacketConn, error) {
	if s.ListenPacket != nil {
		return s.ListenPacket(network, address)
	}
	return net.ListenPacket(network, address)
}

// ListenAndServe listens on s.Addr (UDP, IPv4 and IPv6 when the address
// allows) and serves until Shutdown or Close. It always returns a non-nil
// error; ErrServerClosed after Shutdown or Close.
func (s *Server) ListenAndServe() error {
	s.init()
	if s.isClosing() {
		return ErrServerClosed
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	pc, err := s.listen("udp", addr)
	if err != nil {
		return fmt.Errorf("tftpserve: listen %s: %w", addr, err)
	}
	return s.Serve(pc)
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Serve answers requests arriving on pc until Shutdown or Close, which
// close pc. A daemon can pass a socket it was handed (systemd socket
// activation). It returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(pc net.PacketConn) error {
	s.init()
	sc := newServeConn(pc)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	s.conns[sc] = s.SinglePort
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
	}()

	var rd *batchReader
	if s.SinglePort {
		// Every transfer's ACKs arrive here: read them many per call.
		rd = sc.newBatchReader()
		sockbuf.GrowReceive(pc, singlePortRecvBuffer)
		if rd != nil && s.BatchedLockstep {
			sc.loop = newSendLoop(sc, orDefault(s.MinRetransmit, DefaultMinRetransmit))
			defer sc.loop.close()
			// The loop reads and sends through a twin of pc that Go's
			// poller does not watch (quietSocket), where the system has it.
			if q := takeOverQuiet(pc, singlePortRecvBuffer); q != nil {
				rd.useQuiet(q)
				sc.loop.useQuiet(q)
				defer sc.loop.dropQuiet(q)
				q.drain(rd, func(n int) { // what reached pc before
					rd.parse(n)
					s.dispatchBatch(sc, rd, n)
				})
			}
		}
	}
	buf := make([]byte, 65536)
	var tempDelay time.Duration
	for {
		var err error
		if rd != nil {
			var n int
			if n, err = rd.read(); err == nil {
				s.dispatchBatch(sc, rd, n)
			}
		} else {
			var n, ifi int
			var from netip.AddrPort
			var dst netip.Addr
			if n, from, dst, ifi, err = sc.read(buf); err == nil {
				s.dispatch(sc, buf[:n], from, dst, ifi)
			}
		}
		if err == nil {
			tempDelay = 0
			continue
		}
		if s.isClosing() {
			return ErrServerClosed
		}
		var ne net.Error
		if errors.Is(err, errQuietIdle) || (errors.As(err, &ne) && ne.Timeout()) {
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		// Transient errors (ICMP-induced ECONNREFUSED, ENOBUFS): back off.
		tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
		s.logger().Debug("tftpserve: read error", "err", err)
		time.Sleep(tempDelay)
	}
}

// dispatchBatch handles the n datagrams rd read, under the send loop's
// lock when there is one: its unlock sends the DATA they called for.
func (s *Server) dispatchBatch(sc *serveConn, rd *batchReader, n int) {
	if sc.loop != nil {
		sc.loop.lock()
		defer sc.loop.unlock()
	}
	for i := range n {
		in := &rd.in[i]
		s.dispatch(sc, in.b, in.from, in.dst, in.ifi)
	}
}

// readQueue and writeQueue are how many datagrams a single-port read or
// write session holds for its transfer before the reader drops more.
const (
	readQueue  = 16
	writeQueue = 128
)

// singlePortRecvBuffer is the receive buffer of a single-port listening
// socket: every transfer's ACKs wait in it while the reader works, and a
// boot storm's come in bursts. 4 MiB holds the ACKs of a thousand clients
// sent twice each, at the kernel's 1–2 KiB of accounting per small
// datagram; with the default 208 KiB, 200 lock-step atftp clients on veth
// lost ACKs, and atftp, which re-ACKs a repeated block only once, gave up
// on a few transfers per storm (bench/README.md).
const singlePortRecvBuffer = 4 << 20

// dispatch handles one datagram that arrived on a listening socket.
func (s *Server) dispatch(sc *serveConn, b []byte, from netip.AddrPort, dst netip.Addr, ifi int) {
	if len(b) < 2 || !from.IsValid() || from.Port() == 0 {
		return
	}
	op := Opcode(uint16(b[0])<<8 | uint16(b[1]))
	if op != OpRRQ && op != OpWRQ {
		if s.SinglePort {
			s.mu.Lock()
			sess := s.sessions[from]
			s.mu.Unlock()
			if sess != nil && sc.loop != nil {
				if lt := sess.loop.Load(); lt != nil {
					sc.loop.handle(lt, b) // the reader holds sc.loop's lock
					return
				}
			}
			if sess != nil && sess.in != nil {
				select {
				case sess.in <- append(getBuf(len(b))[:0], b...):
				default: // the transfer is not keeping up: drop, it will retransmit
				}
				return
			}
		}
		switch {
		case op < OpRRQ || op > OpOACK:
			s.reply(sc, from, CodeIllegalOp, "unknown opcode")
		case s.SinglePort && op != OpERROR:
			// The listening port is every transfer's TID, and this port has
			// no transfer (RFC 1350). An ERROR is never answered.
			s.reply(sc, from, CodeUnknownTID, "unknown transfer ID")
		}
		return // else a stray DATA/ACK/ERROR/OACK on the request port: ignore
	}
	p, err := parsePacket(b)
	if err != nil {
		s.reply(sc, from, CodeIllegalOp, err.Error())
		return
	}
	if op == OpWRQ && s.WriteHandler == nil {
		s.reply(sc, from, CodeAccess, "writes are not allowed")
		s.logger().Info("tftpserve: write refused", "client", from.String(), "file", p.filename)
		return
	}
	s.startRead(sc, p, string(b), from, dst, ifi)
}

// reply sends an ERROR from the listening socket.
func (s *Server) reply(sc *serveConn, to netip.AddrPort, code ErrorCode, msg string) {
	_, _ = sc.pc.WriteTo(appendError(nil, code, msg), net.UDPAddrFromAddrPort(to))
}

// startRead registers a read session and starts its goroutine.
func (s *Server) startRead(sc *serveConn, p packet, raw string, from netip.AddrPort, dst netip.Addr, ifi int) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if old, ok := s.sessions[from]; ok {
		if old.raw == raw {
			// A copy of the request (retransmitted by the client or
			// duplicated by the network) from the same TID: the running
			// transfer answers it (RFC 1350). Starting again would kill it.
			s.mu.Unlock()
			return
		}
		// The client moved on (same port, new request): end the old transfer.
		old.cancel(errSuperseded)
	}
	if s.MaxClientTransfers > 0 && s.perIP[from.Addr()] >= s.MaxClientTransfers {
		s.mu.Unlock()
		s.reply(sc, from, CodeUndefined, "too many transfers from this address")
		s.logger().Warn("tftpserve: per-client limit reached", "client", from.String(), "file", p.filename)
		return
	}
	if s.queued >= cap(s.sem) {
		s.mu.Unlock()
		s.reply(sc, from, CodeUndefined, "server busy")
		s.logger().Warn("tftpserve: server busy", "client", from.String(), "file", p.filename)
		return
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	sess := &session{raw: raw, cancel: cancel}
	if s.SinglePort {
		// A write's client sends a window of DATA at once; a read's, one
		// ACK per window (and the odd duplicate).
		queue := readQueue
		if p.op == OpWRQ {
			queue = writeQueue
		}
		sess.in = make(chan []byte, queue)
	}
	s.sessions[from] = sess
	s.perIP[from.Addr()]++
	s.queued++
	s.active.Add(1)
	s.mu.Unlock()
	go s.serveRead(ctx, sc, sess, p, from, dst, ifi)
}

func (s *Server) endSession(from netip.AddrPort, sess *session) {
	s.mu.Lock()
	if s.sessions[from] == sess {
		delete(s.sessions, from)
	}
	if s.perIP[from.Addr()]--; s.perIP[from.Addr()] <= 0 {
		delete(s.perIP, from.Addr())
	}
	s.mu.Unlock()
	sess.cancel(nil)
	s.active.Done()
}

// serveRead runs one read transfer.
func (s *Server) serveRead(ctx context.Context, sc *serveConn, sess *session, p packet, from netip.AddrPort, dst netip.Addr, ifi int) {
	defer s.endSession(from, sess)
	// Wait for a slot.
	select {
	case s.sem <- struct{}{}:
	default:
		t := time.NewTimer(orDefault(s.QueueTimeout, DefaultQueueTimeout))
		select {
		case s.sem <- struct{}{}:
			t.Stop()
		case <-t.C:
			s.mu.Lock()
			s.queued--
			s.mu.Unlock()
			s.reply(sc, from, CodeUndefined, "server busy")
			s.logger().Warn("tftpserve: server busy", "client", from.String(), "file", p.filename)
			return
		case <-ctx.Done():
			s.mu.Lock()
			s.queued--
			s.mu.Unlock()
			if s.ctx.Err() != nil {
				s.reply(sc, from, CodeUndefined, "server shutting down")
				s.logger().Warn("tftpserve: request dropped at shutdown", "client", from.String(), "file", p.filename)
			}
			return
		}
	}
	s.mu.Lock()
	s.queued--
	s.mu.Unlock()
	defer func() { <-s.sem }()

	if limit := orDefault(s.TransferTimeout, DefaultTransferTimeout); s.TransferTimeout >= 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, limit, fmt.Errorf("%w (%v)", ErrTransferTimeLimit, limit))
		defer c()
	}
	req := &Request{
		RemoteAddr: from,
		LocalAddr:  dst,
		Filename:   p.filename,
		Mode:       lower(p.mode),
		Options:    p.options,
		Write:      p.op == OpWRQ,
		Size:       -1,
		BlockSize:  512,
		WindowSize: 1,
		ctx:        ctx,
	}
	t := &transfer{
		srv:     s,
		req:     req,
		ctx:     ctx,
		size:    -1,
		rbuf:    getBuf(1024),
		ifIndex: ifi,
		info:    TransferInfo{Client: from, Write: p.op == OpWRQ, Filename: p.filename, Size: -1, BlockSize: 512, WindowSize: 1, Start: time.Now()},
	}

	// The transfer's own socket: its TID.
	if s.SinglePort {
		t.link = &portLink{srv: sc, sess: sess, to: net.UDPAddrFromAddrPort(from), in: sess.in, oob: sc.sourceOOB(dst, ifi), gso: sc.gso && !s.DisableGSO}
	} else {
		pc, err := s.openTransferSocket(from, dst)
		if err != nil {
			s.reply(sc, from, CodeUndefined, "server error")
			t.info.Outcome, t.info.Err = OutcomeFailed, fmt.Errorf("tftpserve: open transfer socket: %w", err)
			s.report(&t.info)
			return
		}
		t.sock = newSockLink(ctx, pc, from)
		t.sock.gso = !s.DisableGSO && t.sock.udp != nil && gsoAvailable(t.sock.udp)
		t.link = t.sock
	}
	defer t.link.close()

	t.serveRequest()
	if !t.info.Write && t.info.Outcome != OutcomeOK && t.base > 0 {
		t.info.Bytes = t.base * int64(t.blksize) // what the client acknowledged
	}
	t.info.Duration = time.Since(t.info.Start)
	s.report(&t.info)
	if t.after != nil {
		t.after()
	}
	t.release()
}

// openTransferSocket opens the socket of a new transfer on the address the
// request arrived on, so the reply comes from where the client sent to.
func (s *Server) openTransferSocket(client netip.AddrPort, local netip.Addr) (net.PacketConn, error) {
	network := "udp4"
	if client.Addr().Is6() {
		network = "udp6"
	}
	laddr := ":0"
	if local.IsValid() && !local.IsUnspecified() && local.Is4() == client.Addr().Is4() {
		laddr = netip.AddrPortFrom(local, 0).String()
	}
	return s.listen(network, laddr)
}

// serveRequest validates and negotiates the request, then runs the handler.
func (t *transfer) serveRequest() {
	s, req := t.srv, t.req
	if req.Mode != "octet" && req.Mode != "netascii" {
		t.refuse(&Error{Code: CodeIllegalOp, Message: "unsupported mode " + quoteShort(req.Mode)})
		return
	}
	path, err := CleanPath(req.Filename)
	if err != nil {
		t.refuse(&Error{Code: CodeAccess, Message: "access violation: invalid file name"})
		t.info.Err = err
		return
	}
	req.Path = path
	t.info.Path = path

	if req.Write && req.Mode != "octet" {
		t.refuse(&Error{Code: CodeIllegalOp, Message: "writes need mode octet"})
		return
	}
	lim := s.limits(req, t.ifIndex)
	neg, err := negotiate(req.Options, lim, req.Mode)
	if err != nil {
		t.refuse(err)
		return
	}
	maxBytes := orDefault(s.MaxWindowBytes, DefaultMaxWindowBytes)
	neg.window = max(1, min(neg.window, maxBytes/blockCost(neg.blksize)))
	t.neg = neg
	req.BlockSize, req.WindowSize, req.Timeout, req.WantSize = neg.blksize, neg.window, neg.timeoutDuration(), neg.wantSize
	t.blksize, t.window = neg.blksize, neg.window
	t.info.BlockSize, t.info.WindowSize = neg.blksize, neg.window
	t.maxRetries = lim.Retries
	t.maxRTO = orDefault(s.Timeout, DefaultTimeout)
	if neg.timeout > 0 {
		t.maxRTO = neg.timeoutDuration()
	}
	t.minRTO = min(orDefault(s.MinRetransmit, DefaultMinRetransmit), t.maxRTO)
	// Before a round trip has been measured, wait the full ceiling (1 s by
	// default, as tftp-hpa): some clients (atftp) abort on a repeated OACK,
	// and a loaded client may take that long to answer the first packet.
	t.rto = t.maxRTO
	if req.Write {
		if neg.tsizeIdx >= 0 {
			req.Size, _ = parseSize(req.Options[neg.tsizeIdx].Value)
			t.info.Size = req.Size
		}
		t.serveWrite()
		return
	}

	h := s.Handler
	if h == nil {
		t.WriteError(ErrNotFound)
		return
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				s.logger().Error("tftpserve: handler panic", "file", req.Filename, "panic", v, "stack", string(debug.Stack()))
				t.WriteError(errors.New("tftpserve: handler panic"))
				t.fail(OutcomeFailed, fmt.Errorf("tftpserve: handler panic: %v", v))
			}
		}()
		h.ServeTFTP(t, req)
	}()
	t.finish()
}

// blockCost is the receive-buffer space a DATA datagram of blksize takes:
// payload plus headers, rounded up to a power of two.
func blockCost(blksize int) int {
	c := 1
	for c < blksize+32 {
		c <<= 1
	}
	return c
}

// refuse sends an ERROR for a request that never reached the handler.
func (t *transfer) refuse(err error) {
	t.WriteError(err)
}

func quoteShort(s string) string {
	if len(s) > 20 {
		s = s[:20]
	}
	return fmt.Sprintf("%q", s)
}

// limits computes the limits for one request: server settings, MTU, Tune.
func (s *Server) limits(req *Request, ifIndex int) Limits {
	mtuCap := MaxBlockSize
	if !s.AllowFragmentation {
		if mtu := s.mtus.mtu(ifIndex, req.LocalAddr, req.RemoteAddr.Addr()); mtu > 0 {
			overhead := 32
			if req.RemoteAddr.Addr().Is6() {
				overhead = 52
			}
			mtuCap = max(MinBlockSize, mtu-overhead)
		}
	}
	lim := Limits{
		BlockSize:  min(orDefault(s.MaxBlockSize, MaxBlockSize), mtuCap, MaxBlockSize),
		WindowSize: min(orDefault(s.MaxWindowSize, DefaultMaxWindowSize), MaxWindowSize),
		MaxTimeout: s.maxTimeout(),
		Retries:    orDefault(s.Retries, DefaultRetries),
	}
	if s.Tune != nil {
		s.Tune(req, &lim)
	}
	lim.BlockSize = max(MinBlockSize, min(lim.BlockSize, MaxBlockSize, mtuCap))
	// Half the sequence space at most, so ACK numbers stay unambiguous
	// across rollover.
	lim.WindowSize = max(1, min(lim.WindowSize, 32768))
	lim.MaxTimeout = max(0, min(lim.MaxTimeout, MaxTimeout))
	lim.Retries = max(1, lim.Retries)
	return lim
}

// maxTimeout is the largest timeout option granted (seconds, 0 = none).
func (s *Server) maxTimeout() int {
	switch {
	case s.MaxTimeout < 0:
		return 0
	case s.MaxTimeout == 0:
		return DefaultMaxTimeout
	}
	return min(s.MaxTimeout, MaxTimeout)
}

// report logs a finished transfer and calls OnTransfer.
func (s *Server) report(info *TransferInfo) {
	if info.Duration == 0 {
		info.Duration = time.Since(info.Start)
	}
	if info.Outcome == "" {
		info.Outcome = OutcomeFailed
	}
	log := s.logger()
	level := slog.LevelInfo
	switch info.Outcome {
	case OutcomeSizeProbe:
		level = slog.LevelDebug
	case OutcomeTimeout, OutcomeFailed, OutcomeCanceled:
		level = slog.LevelWarn // the client did not get its file
	}
	if log.Enabled(context.Background(), level) {
		attrs := []slog.Attr{
			slog.String("client", info.Client.String()),
			slog.String("file", info.Filename),
			slog.String("outcome", string(info.Outcome)),
			slog.Int64("size", info.Size),
			slog.Int64("bytes", info.Bytes),
			slog.Int("blksize", info.BlockSize),
			slog.Int("windowsize", info.WindowSize),
			slog.Duration("duration", info.Duration),
			slog.Int64("packets", info.Packets),
			slog.Int64("retransmits", info.Retransmits),
		}
		if info.MinWindowSize > 0 && info.MinWindowSize < info.WindowSize {
			attrs = append(attrs, slog.Int("windowsize_min", info.MinWindowSize))
		}
		if info.Outcome == OutcomeRefused || info.Outcome == OutcomeAborted || info.Outcome == OutcomeSizeProbe {
			attrs = append(attrs, slog.Int("code", int(info.ErrorCode)))
		}
		if info.Err != nil {
			attrs = append(attrs, slog.String("err", info.Err.Error()))
		}
		log.LogAttrs(context.Background(), level, "tftp transfer", attrs...)
	}
	if s.OnTransfer != nil {
		s.OnTransfer(*info)
	}
}

// abortWait bounds how long Shutdown waits, once its context has ended,
// for the aborted transfers to tell their clients and report: a transfer
// does that at once, unless its handler ignores the request's context.
const abortWait = time.Second

// Shutdown stops accepting requests and waits for running transfers to
// finish. When ctx ends first, the remaining transfers are aborted: each
// client gets ERROR 0 "server shutting down" and each transfer is reported
// (OutcomeCanceled) before Shutdown returns ctx's error, so a daemon that
// exits next loses neither. Shutdown waits at most one second more for
// that; a handler that ignores its request's context can hold its
// transfer longer.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	var single []*serveConn
	for sc, sp := range s.conns {
		if sp {
			// Keep reading: running transfers still need their ACKs. New
			// requests are ignored from now on.
			single = append(single, sc)
		} else {
			sc.pc.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		// Single-port transfers send their ERROR from the listening
		// socket: keep it open until they have.
		t := time.NewTimer(abortWait)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	for _, sc := range single {
		sc.pc.Close()
	}
	if err == nil {
		s.cancel()
	}
	return err
}

// Close stops the server at once: listening sockets are closed and running
// transfers aborted. It does not wait for their goroutines.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for sc := range s.conns {
		sc.pc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	return nil
}
