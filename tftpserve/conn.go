package tftpserve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchWriter is implemented by ipv4.PacketConn and ipv6.PacketConn: one
// sendmmsg system call for a whole window on Linux.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// newBatchWriter returns a batch writer for c, or nil when c is not a
// kernel UDP socket.
func newBatchWriter(c net.PacketConn) batchWriter {
	u, ok := c.(*net.UDPConn)
	if !ok {
		return nil
	}
	if isIPv4Socket(u) {
		return ipv4.NewPacketConn(u)
	}
	return ipv6.NewPacketConn(u)
}

// link is how a transfer talks to its client.
type link interface {
	// send writes one packet.
	send(b []byte) error
	// sendBatch writes several packets, in order.
	sendBatch(pkts [][]byte) error
	// recv waits for a packet until deadline or until ctx is done. from is
	// the sender; packets from others than the client reach the transfer
	// only on a per-transfer socket (single-port mode filters them).
	recv(ctx context.Context, buf []byte, deadline time.Time) (int, netip.AddrPort, error)
	// sendTo answers a stranger (ERROR 5).
	sendTo(b []byte, to netip.AddrPort) error
	close()
}

// errDeadline is returned by recv on timeout.
var errDeadline = os.ErrDeadlineExceeded

// sockLink is a per-transfer socket: the server's new TID.
type sockLink struct {
	pc     net.PacketConn
	udp    *net.UDPConn // pc when it is one: allocation-free writes
	toAP   netip.AddrPort
	dl     time.Time // read deadline currently set
	to     *net.UDPAddr
	batch  batchWriter
	msgs   []ipv4.Message
	stop   func() bool
	noBatc bool
	// gso: send windows with UDP segmentation offload (segmenter); off
	// for good once the kernel refused it on this socket.
	gso bool
	seg segmenter
	// raw and spin: see spinRecv. The transfer turns spin on while its
	// measured RTT is short and few transfers run.
	raw        syscall.RawConn
	spin       bool
	spinFor    time.Duration // how long one spin lasts at most
	spinMissed int           // spins in a row that caught nothing
	spinRecvs  int
	// rs and ra: one-datagram sends by raw system call (rawSender.sendTo)
	// to the client; rs is nil where that is not available.
	rs *rawSender
	ra rawAddr
	// rr: the raw receives' state (pollRecv, spinRecv).
	rr rawRecv
}

// Busy-polling limits (see spinRecv): a transfer spins only while its
// smoothed RTT is below spinMaxRTT and fewer transfers run than there are
// processors, for at most twice that RTT per wait (spinFor; the reads are
// raw system calls of well under a microsecond, so the bound is one of
// time, not of tries), yielding the processor every spinYield reads, and
// stops after spinMisses fruitless spins in a row (trying again every
// spinRetry receives), so a boot storm, a slow link or a client that
// needs the processor itself does not pay for it.
const (
	spinMaxRTT = 100 * time.Microsecond
	spinMisses = 4
	spinRetry  = 64
	spinYield  = 4
)

func newSockLink(ctx context.Context, pc net.PacketConn, client netip.AddrPort) *sockLink {
	l := &sockLink{pc: pc, to: net.UDPAddrFromAddrPort(client), toAP: client, batch: newBatchWriter(pc)}
	l.udp, _ = pc.(*net.UDPConn)
	if l.udp != nil && client.Addr().Zone() == "" {
		l.raw, _ = l.udp.SyscallConn()
		if l.rs = newRawSender(pc); l.rs != nil {
			if l.ra = l.rs.addr(client); l.ra.n == 0 {
				l.rs = nil
			} else {
				l.batch = l.rs.batch(l.ra)
			}
		}
	}
	l.stop = context.AfterFunc(ctx, func() { _ = pc.SetReadDeadline(time.Now()) })
	return l
}

func (l *sockLink) send(b []byte) error {
	if l.rs != nil {
		return l.rs.sendTo(b, &l.ra)
	}
	if l.udp != nil {
		_, err := l.udp.WriteToUDPAddrPort(b, l.toAP)
		return err
	}
	_, err := l.pc.WriteTo(b, l.to)
	return err
}

func (l *sockLink) sendBatch(pkts [][]byte) error {
	if l.gso && l.batch != nil && len(pkts) > 1 {
		n, err := l.seg.write(l.batch, pkts, l.to, nil)
		if err == nil {
			return nil
		}
		// Refused (no checksum offload on the route, a segment larger
		// than its MTU, ENOBUFS…): the rest, and every later window, go by
		// sendmmsg, which reports the error again if it persists.
		l.gso = false
		pkts = pkts[n:]
	}
	if l.batch == nil || l.noBatc || len(pkts) == 1 {
		for _, p := range pkts {
			if err := l.send(p); err != nil {
				return err
			}
		}
		return nil
	}
	return writeBatch(l.batch, &l.msgs, pkts, l.to, nil, func() { l.noBatc = true }, l.send)
}

// UDP generic segmentation offload (Linux 4.18 and later): one message
// with a UDP_SEGMENT control message carries several datagrams of one size
// (the last may be shorter), and the kernel cuts it, as late as the
// driver allows. A window then costs one trip through the socket layer and
// the routing instead of one per block; on loopback and veth the big
// packet even crosses to the receiving socket whole.
const (
	// gsoMaxSegments is UDP_MAX_SEGMENTS (64 before Linux 6.9 raised it).
	gsoMaxSegments = 64
	// gsoMaxBytes is the largest UDP payload of one message: an IPv4
	// datagram's 65535 bytes less 20 of IP and 8 of UDP header (IPv6
	// allows 20 more; one bound serves both).
	gsoMaxBytes = 65507
)

// segmentRun returns the end (exclusive) of the longest run of packets
// from pkts[i] that one segmented message can carry: packets of the size
// of pkts[i], then possibly one shorter that ends the run, at most
// gsoMaxSegments of them and gsoMaxBytes in all.
func segmentRun(pkts [][]byte, i int) int {
	seg := len(pkts[i])
	total := seg
	j := i + 1
	for j < len(pkts) && j-i < gsoMaxSegments {
		n := len(pkts[j])
		if n > seg || n == 0 || total+n > gsoMaxBytes {
			break
		}
		total += n
		j++
		if n < seg {
			break
		}
	}
	return j
}

// segmenter sends a window as UDP GSO messages: each run of packets that
// segmentRun allows is one message whose buffers are the packets (the
// kernel gathers them), and every message of the window goes in one
// sendmmsg.
//
// The window's first packet goes alone, ahead of the runs. Where the
// kernel hands a GSO message to the receiving socket whole (loopback,
// veth, a receiver without UDP_GRO), it cuts the message into datagrams
// there, all of them before it queues the first: a receiver waiting for
// the window would wake only after the whole message was cut and copied.
// A first datagram of its own wakes it at once, and it reads while the
// kernel cuts the rest. With atftp on loopback, client and server on
// different processors, that took the median wait from the client's ACK
// to its first read of the next window from 224 to 129 µs at windowsize
// 64 (bench/README.md); it costs one more message in the sendmmsg.
type segmenter struct {
	msgs []ipv4.Message
	oob  []byte // control messages of msgs
}

// write sends pkts to to; oob goes first in every message's control data
// (the source address in single-port mode). It returns how many packets
// went out before an error: the caller sends the rest another way.
func (g *segmenter) write(bw batchWriter, pkts [][]byte, to net.Addr, oob []byte) (int, error) {
	ms, arena := g.msgs[:0], g.oob[:0]
	for i := 0; i < len(pkts); {
		j := i + 1 // the lead packet goes alone
		if i > 0 {
			j = segmentRun(pkts, i)
		}
		m := ipv4.Message{Buffers: pkts[i:j], OOB: oob, Addr: to}
		if j-i > 1 {
			// If arena grows, earlier messages keep the old array,
			// which nothing writes to again.
			at := len(arena)
			arena = appendSegmentCmsg(append(arena, oob...), len(pkts[i]))
			m.OOB = arena[at:len(arena):len(arena)]
		}
		ms = append(ms, m)
		i = j
	}
	g.msgs, g.oob = ms, arena
	sent := 0
	for len(ms) > 0 {
		n, err := bw.WriteBatch(ms, 0)
		if err == nil && n <= 0 {
			err = errors.New("tftpserve: batch write made no progress")
		}
		if err != nil {
			return sent, err
		}
		for _, m := range ms[:n] {
			sent += len(m.Buffers)
		}
		ms = ms[n:]
	}
	return sent, nil
}

// writeBatch sends pkts with as few system calls as possible; if the batch
// call is refused outright it falls back to single writes for good.
func writeBatch(bw batchWriter, msgs *[]ipv4.Message, pkts [][]byte, to net.Addr, oob []byte, disable func(), single func([]byte) error) error {
	ms := (*msgs)[:0]
	for _, p := range pkts {
		ms = append(ms, ipv4.Message{Buffers: [][]byte{p}, OOB: oob, Addr: to})
	}
	*msgs = ms
	for len(ms) > 0 {
		n, err := bw.WriteBatch(ms, 0)
		if err != nil {
			if n <= 0 && len(ms) == len(pkts) {
				disable()
				for _, p := range pkts {
					if err := single(p); err != nil {
						return err
					}
				}
				return nil
			}
			return err
		}
		if n <= 0 {
			return errors.New("tftpserve: batch write made no progress")
		}
		ms = ms[n:]
	}
	return nil
}

func (l *sockLink) recv(ctx context.Context, buf []byte, deadline time.Time) (int, netip.AddrPort, error) {
	if err := ctx.Err(); err != nil {
		return 0, netip.AddrPort{}, err // a spin that keeps catching ACKs would not see it
	}
	if l.spin {
		// Spin only while it pays: after spinMisses waits in a row that
		// the spin did not catch, wait on the poller, and try a spin again
		// only every spinRetry receives. A datagram the spin catches needs
		// no read deadline: it is set only for the poller's wait.
		l.spinRecvs++
		if l.spinMissed < spinMisses || l.spinRecvs%spinRetry == 0 {
			if n, from, ok := l.spinRecv(buf); ok {
				l.spinMissed = 0
				return n, from, nil
			}
			l.spinMissed++
		}
	}
	if !deadline.Equal(l.dl) {
		if err := l.pc.SetReadDeadline(deadline); err != nil {
			return 0, netip.AddrPort{}, err
		}
		l.dl = deadline
	}
	// After the deadline is set: a cancellation from now on moves it
	// (newSockLink's AfterFunc) and wakes the read.
	if err := ctx.Err(); err != nil {
		return 0, netip.AddrPort{}, err
	}
	var n int
	var from netip.AddrPort
	var err error
	if l.raw != nil && canRawRecv {
		n, from, err = l.pollRecv(buf)
	} else if l.udp != nil {
		n, from, err = l.udp.ReadFromUDPAddrPort(buf)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	} else {
		var a net.Addr
		n, a, err = l.pc.ReadFrom(buf)
		if err == nil {
			from = addrPortOf(a)
		}
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, netip.AddrPort{}, cerr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, netip.AddrPort{}, errDeadline
		}
		return 0, netip.AddrPort{}, err
	}
	return n, from, nil
}

func (l *sockLink) sendTo(b []byte, to netip.AddrPort) error {
	_, err := l.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

func (l *sockLink) close() {
	l.stop()
	_ = l.pc.Close()
}

// portLink is a transfer in single-port mode: packets arrive through the
// server's demultiplexer and leave from the listening socket.
type portLink struct {
	srv   *serveConn
	sess  *session
	to    *net.UDPAddr
	oob   []byte // source address control message (wildcard listener)
	in    chan []byte
	msgs  []ipv4.Message
	timer *time.Timer
	// gso: as sockLink's, but remembered per transfer, since one
	// listening socket reaches clients over different paths.
	gso bool
	seg segmenter
}

func (l *portLink) send(b []byte) error {
	if l.oob != nil && l.srv.batch != nil && !l.srv.noBatch() {
		return l.sendBatch([][]byte{b})
	}
	_, err := l.srv.pc.WriteTo(b, l.to)
	return err
}

func (l *portLink) plainSend(b []byte) error {
	_, err := l.srv.pc.WriteTo(b, l.to)
	return err
}

func (l *portLink) sendBatch(pkts [][]byte) error {
	if l.gso && l.srv.batch != nil && len(pkts) > 1 && !l.srv.noBatch() {
		n, err := l.seg.write(l.srv.batch, pkts, l.to, l.oob)
		if err == nil {
			return nil
		}
		l.gso = false // see sockLink.sendBatch
		pkts = pkts[n:]
	}
	if l.srv.batch == nil || l.srv.noBatch() || (len(pkts) == 1 && l.oob == nil) {
		for _, p := range pkts {
			if err := l.send(p); err != nil {
				return err
			}
		}
		return nil
	}
	return writeBatch(l.srv.batch, &l.msgs, pkts, l.to, l.oob, l.srv.disableBatch, l.plainSend)
}

func (l *portLink) recv(ctx context.Context, buf []byte, deadline time.Time) (int, netip.AddrPort, error) {
	d := time.Until(deadline)
	if d <= 0 {
		select {
		case p := <-l.in:
			return l.deliver(buf, p)
		default:
			return 0, netip.AddrPort{}, errDeadline
		}
	}
	if l.timer == nil {
		l.timer = time.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
	select {
	case p := <-l.in:
		l.timer.Stop()
		return l.deliver(buf, p)
	case <-l.timer.C:
		return 0, netip.AddrPort{}, errDeadline
	case <-ctx.Done():
		l.timer.Stop()
		return 0, netip.AddrPort{}, ctx.Err()
	}
}

func (l *portLink) deliver(buf, p []byte) (int, netip.AddrPort, error) {
	n := copy(buf, p)
	putBuf(p)
	return n, l.to.AddrPort(), nil
}

func (l *portLink) sendTo(b []byte, to netip.AddrPort) error {
	_, err := l.srv.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

func (l *portLink) close() {}

func addrPortOf(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// serveConn is the listening socket with destination-address reporting.
type serveConn struct {
	pc    net.PacketConn
	p4    *ipv4.PacketConn
	p6    *ipv6.PacketConn
	local netip.Addr // the bound address when specific
	batch batchWriter
	gso   bool // the kernel takes UDP_SEGMENT on this socket
	// loop runs lock-step data phases (Server.BatchedLockstep); nil
	// when off. Set before the socket's reader starts.
	loop *sendLoop

	mu       sync.Mutex
	batchOff bool
}

func newServeConn(pc net.PacketConn) *serveConn {
	s := &serveConn{pc: pc}
	if la, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		if a, ok := netip.AddrFromSlice(la.IP); ok && !a.IsUnspecified() {
			s.local = a.Unmap().WithZone(la.Zone)
		}
	}
	if u, ok := pc.(*net.UDPConn); ok {
		s.gso = gsoAvailable(u)
		if isIPv4Socket(u) {
			p := ipv4.NewPacketConn(u)
			if p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true) == nil {
				s.p4 = p
			}
			s.batch = p
		} else {
			p := ipv6.NewPacketConn(u)
			if p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true) == nil {
				s.p6 = p
			}
			s.batch = p
		}
	}
	return s
}

// sourceOOB returns the control message that makes a reply leave from
// local (the address a request was sent to) when the listening socket is a
// wildcard; nil when not needed or not possible.
func (s *serveConn) sourceOOB(local netip.Addr, ifIndex int) []byte {
	if s.local.IsValid() || !local.IsValid() || local.IsUnspecified() || s.batch == nil {
		return nil
	}
	if local.Is4() {
		return (&ipv4.ControlMessage{Src: local.AsSlice()}).Marshal()
	}
	return (&ipv6.ControlMessage{Src: local.WithZone("").AsSlice(), IfIndex: ifIndex}).Marshal()
}

func (s *serveConn) noBatch() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batchOff
}

func (s *serveConn) disableBatch() {
	s.mu.Lock()
	s.batchOff = true
	s.mu.Unlock()
}

// read returns one datagram with its sender, the local address it was sent
// to (when known) and the interface index (0 when unknown).
func (s *serveConn) read(b []byte) (int, netip.AddrPort, netip.Addr, int, error) {
	switch {
	case s.p4 != nil:
		n, cm, from, err := s.p4.ReadFrom(b)
		if err != nil {
			return 0, netip.AddrPort{}, netip.Addr{}, 0, err
		}
		dst, ifi := s.dst4(cm)
		return n, addrPortOf(from), dst, ifi, nil
	case s.p6 != nil:
		n, cm, from, err := s.p6.ReadFrom(b)
		if err != nil {
			return 0, netip.AddrPort{}, netip.Addr{}, 0, err
		}
		dst, ifi := s.dst6(cm)
		return n, addrPortOf(from), dst, ifi, nil
	}
	n, from, err := s.pc.ReadFrom(b)
	if err != nil {
		return 0, netip.AddrPort{}, netip.Addr{}, 0, err
	}
	return n, addrPortOf(from), s.local, 0, nil
}

// dst4 returns the local address and interface a datagram came in on,
// from its control message (nil: unknown).
func (s *serveConn) dst4(cm *ipv4.ControlMessage) (netip.Addr, int) {
	dst, ifi := s.local, 0
	if cm != nil {
		if a, ok := netip.AddrFromSlice(cm.Dst); ok && !a.IsUnspecified() {
			dst = a.Unmap()
		}
		ifi = cm.IfIndex
	}
	return dst, ifi
}

// dst6 is dst4 for IPv6: a link-local destination gets its zone.
func (s *serveConn) dst6(cm *ipv6.ControlMessage) (netip.Addr, int) {
	dst, ifi := s.local, 0
	if cm != nil {
		if a, ok := netip.AddrFromSlice(cm.Dst); ok && !a.IsUnspecified() {
			dst = a.Unmap()
			if dst.Is6() && (dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast()) && cm.IfIndex > 0 {
				if ifc, err := net.InterfaceByIndex(cm.IfIndex); err == nil {
					dst = dst.WithZone(ifc.Name)
				}
			}
		}
		ifi = cm.IfIndex
	}
	return dst, ifi
}

// readBatchSize is how many datagrams one recvmmsg takes at most from a
// single-port listening socket. Each needs a buffer for the largest
// datagram (a write's DATA), so the reader holds readBatchSize × 64 KiB of
// address space, of which only what datagrams fill becomes resident.
const readBatchSize = 16

// batchReader reads many datagrams per system call (recvmmsg) from a
// listening socket, with their destination addresses.
type batchReader struct {
	sc  *serveConn
	ms  []ipv4.Message
	in  []inbound
	cm4 ipv4.ControlMessage
	cm6 ipv6.ControlMessage
	// quiet, when set, reads the listening socket's quiet twin instead
	// (quietSocket); from holds the senders it decodes.
	quiet *quietReader
	from  []netip.AddrPort
}

// inbound is one datagram of a batch: valid until the next read.
type inbound struct {
	b    []byte
	from netip.AddrPort
	dst  netip.Addr
	ifi  int
}

// newBatchReader returns a batch reader for s, or nil where batches are
// not one system call (recvmmsg is Linux's) or s cannot report destination
// addresses (not a kernel UDP socket).
func (s *serveConn) newBatchReader() *batchReader {
	if runtime.GOOS != "linux" || (s.p4 == nil && s.p6 == nil) {
		return nil
	}
	r := &batchReader{sc: s, ms: make([]ipv4.Message, readBatchSize), in: make([]inbound, readBatchSize)}
	for i := range r.ms {
		r.ms[i].Buffers = [][]byte{make([]byte, 65536)}
		if s.p4 != nil {
			r.ms[i].OOB = ipv4.NewControlMessage(ipv4.FlagDst | ipv4.FlagInterface)
		} else {
			r.ms[i].OOB = ipv6.NewControlMessage(ipv6.FlagDst | ipv6.FlagInterface)
		}
	}
	return r
}

// read waits for datagrams and returns how many it read into r.in.
func (r *batchReader) read() (int, error) {
	ms := r.ms
	for i := range ms {
		ms[i].OOB = ms[i].OOB[:cap(ms[i].OOB)]
	}
	var n int
	var err error
	switch {
	case r.quiet != nil:
		n, err = r.quiet.read(r, r.from)
	case r.sc.p4 != nil:
		n, err = r.sc.p4.ReadBatch(ms, 0)
	default:
		n, err = r.sc.p6.ReadBatch(ms, 0)
	}
	if err != nil {
		return 0, err
	}
	r.parse(n)
	return n, nil
}

// parse fills r.in[:n] from the first n messages read; dst and ifi only
// for read and write requests.
func (r *batchReader) parse(n int) {
	ms := r.ms
	for i := range n {
		m := &ms[i]
		in := &r.in[i]
		in.b = m.Buffers[0][:m.N]
		if r.quiet != nil {
			in.from = r.from[i]
		} else {
			in.from = addrPortOf(m.Addr)
		}
		in.dst, in.ifi = netip.Addr{}, 0
		if !isRequest(in.b) {
			// Only a request's destination is used (the address its
			// transfer answers from): the control message of every ACK
			// would cost a parse and its allocations for nothing.
			continue
		}
		if r.sc.p4 != nil {
			cm := &r.cm4
			*cm = ipv4.ControlMessage{}
			if m.NN == 0 || cm.Parse(m.OOB[:m.NN]) != nil {
				cm = nil
			}
			in.dst, in.ifi = r.sc.dst4(cm)
		} else {
			cm := &r.cm6
			*cm = ipv6.ControlMessage{}
			if m.NN == 0 || cm.Parse(m.OOB[:m.NN]) != nil {
				cm = nil
			}
			in.dst, in.ifi = r.sc.dst6(cm)
		}
	}
}

// mtuCache remembers interface MTUs for a short while.
type mtuCache struct {
	mu     sync.Mutex
	at     time.Time
	byIdx  map[int]int
	byAddr map[netip.Addr]int
}

const mtuCacheTTL = time.Second

func (m *mtuCache) refresh() {
	if time.Since(m.at) < mtuCacheTTL && m.byIdx != nil {
		return
	}
	m.byIdx, m.byAddr = map[int]int{}, map[netip.Addr]int{}
	m.at = time.Now()
	ifs, err := net.Interfaces()
	if err != nil {
		return
	}
	for _, ifc := range ifs {
		m.byIdx[ifc.Index] = ifc.MTU
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				m.byAddr[p.Addr().Unmap()] = ifc.MTU
			}
		}
	}
}

// mtu returns the MTU of the interface that carries traffic between local
// and remote, or 0 when unknown.
func (m *mtuCache) mtu(ifIndex int, local, remote netip.Addr) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refresh()
	if v, ok := m.byIdx[ifIndex]; ok && ifIndex > 0 {
		return v
	}
	if local.IsValid() {
		if v, ok := m.byAddr[local.WithZone("")]; ok {
			return v
		}
	}
	// Ask the routing table which source address reaches remote: a
	// connected UDP socket sends nothing.
	if remote.IsValid() {
		network := "udp4"
		if remote.Is6() {
			network = "udp6"
		}
		c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9)))
		if err == nil {
			src := addrPortOf(c.LocalAddr()).Addr()
			c.Close()
			if v, ok := m.byAddr[src]; ok {
				return v
			}
		}
	}
	return 0
}

// isIPv4Socket reports whether u is an AF_INET socket (a dual-stack socket
// reports "::" as its address).
func isIPv4Socket(u *net.UDPConn) bool {
	la, _ := u.LocalAddr().(*net.UDPAddr)
	return la != nil && la.IP.To4() != nil
}

// isRequest reports whether b is a read or write request.
func isRequest(b []byte) bool {
	return len(b) >= 2 && b[0] == 0 && (Opcode(b[1]) == OpRRQ || Opcode(b[1]) == OpWRQ)
}
