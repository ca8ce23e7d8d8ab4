package tftpserve

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Batched lock-step data phase (Server.BatchedLockstep).
//
// In a boot storm most transfers are lock-step (windowsize 1): one DATA,
// one ACK. On its goroutine a transfer reads an ACK, sends the next block,
// finds no ACK yet and parks on the poller, and the runtime wakes it again
// for the next one: a wake-up and a failed read per block. In single-port
// mode every ACK arrives on the listening socket anyway, read many at a
// time with recvmmsg, so the socket's reader can run the lock-step data
// phase itself: for each ACK of a batch it reads the next block (ReadAt),
// and after the batch every queued DATA leaves in one sendmmsg. The
// transfer's goroutine negotiates, sends block 1, then sleeps until the
// loop reports the end; a ticker resends blocks whose timer expired.

// sendLoop runs the data phase of lock-step transfers on one single-port
// listening socket.
type sendLoop struct {
	sc     *serveConn
	period time.Duration // how often the ticker looks for expired timers

	// mu guards everything below and the state of every transfer in set:
	// the reader holds it for a whole batch of datagrams and the sendmmsg
	// after it, the ticker for one scan, so a queued packet's buffer
	// stays valid until it is sent.
	mu      sync.Mutex
	set     map[*loopTransfer]struct{}
	ticking bool
	closed  bool
	out     []*loopTransfer // transfers with a DATA queued, in order
	msgs    []ipv4.Message
	raw     *rawSender   // nil: send with WriteBatch
	quiet   *quietSocket // raw sends through it (useQuiet)
	pkts    [][]byte     // raw's arguments
	addrs   []*rawAddr
	oobs    [][]byte
	started int64 // data phases taken over, for tests
	rawSent int64 // packets sent by raw, for tests
}

// loopTransfer is a transfer whose data phase the loop runs.
type loopTransfer struct {
	t    *transfer
	link *portLink
	src  *atSource
	raw  rawAddr // the client as rawSender takes it
	buf  []byte  // the DATA packet last sent: header and block
	pkt  []byte  // buf[:4+n]
	// sentAt is when the block was sent first; fresh is false once it was
	// sent again (Karn's rule: no RTT sample from it).
	sentAt   time.Time
	fresh    bool
	deadline time.Time
	ended    bool
	done     chan struct{} // closed when the data phase ends
	err      error         // the engine's result: nil or errEnded
}

// loopReadAhead is how many blocks a transfer in the send loop reads
// from its file at a time (at blksize 1468 they fill an 8 KiB buffer):
// one pread per 5 ACKs instead of one per ACK.
const loopReadAhead = 5

// minLoopPeriod and maxLoopPeriod bound the ticker: half the smallest
// retransmission timeout, so a timer fires at most that late.
const (
	minLoopPeriod = 5 * time.Millisecond
	maxLoopPeriod = 50 * time.Millisecond
)

func newSendLoop(sc *serveConn, minRTO time.Duration) *sendLoop {
	return &sendLoop{
		sc:     sc,
		period: min(max(minRTO/2, minLoopPeriod), maxLoopPeriod),
		set:    map[*loopTransfer]struct{}{},
		raw:    newRawSender(sc.pc),
	}
}

// useQuiet makes the loop send through q, pc's quiet twin.
func (lp *sendLoop) useQuiet(q *quietSocket) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if rs := q.rawSender(lp.raw); rs != nil {
		lp.raw = rs
		lp.quiet = q
	}
}

// dropQuiet goes back to sending through the listening socket and gives
// it its address back; the reader has returned.
func (lp *sendLoop) dropQuiet(q *quietSocket) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.quiet == q {
		lp.raw = newRawSender(lp.sc.pc)
		lp.quiet = nil
	}
	q.restore()
}

// loopFor returns the send loop that may run t's data phase, or nil.
func (t *transfer) loopFor() (*sendLoop, *portLink) {
	pl, ok := t.link.(*portLink)
	if !ok || pl.srv.loop == nil || pl.sess == nil || t.window != 1 {
		return nil, nil
	}
	return pl.srv.loop, pl
}

// runLooped is run's data phase handed to the socket loop: t has finished
// its handshake, windowsize is 1 and src reads by offset.
func (t *transfer) runLooped(lp *sendLoop, pl *portLink, src *atSource) error {
	t.info.MinWindowSize = 1
	t.progress(true)
	// The loop reads the client's packets from here on: the transfer's
	// receive buffer goes back to the pool while it waits.
	putBuf(t.rbuf)
	t.rbuf = nil
	lt := &loopTransfer{t: t, link: pl, src: src, buf: getBuf(4 + t.blksize), done: make(chan struct{})}
	if lp.raw != nil {
		lt.raw = lp.raw.addr(pl.to.AddrPort())
	}
	defer putBuf(lt.buf) // after done or after removal: the loop holds no reference
	if err := lt.read(1); err != nil {
		if t.ctx.Err() != nil {
			return t.interrupted()
		}
		t.sendError(CodeUndefined, "read error")
		return t.fail(OutcomeFailed, fmt.Errorf("tftpserve: read block 1: %w", err))
	}
	if !lp.start(lt) {
		// The listening socket's reader is gone (Close).
		return t.interrupted()
	}
	select {
	case <-lt.done:
		return lt.err
	case <-t.ctx.Done():
		if lp.remove(lt) {
			return t.interrupted()
		}
		<-lt.done // ended in the meantime
		return lt.err
	}
}

// read reads block i into lt.buf and makes it the packet to send.
func (lt *loopTransfer) read(i int64) error {
	t := lt.t
	n, err := lt.src.readBlock(lt.buf[4:], i, t.blksize)
	if err != nil {
		return err
	}
	appendDataHeader(lt.buf[:0], uint16(i))
	lt.pkt = lt.buf[:4+n]
	if n < t.blksize {
		t.last = i
	}
	return nil
}

// start registers lt, sends its first block and starts the ticker; false
// when the loop has stopped.
func (lp *sendLoop) start(lt *loopTransfer) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.closed {
		return false
	}
	lp.set[lt] = struct{}{}
	lp.started++
	lt.link.sess.loop.Store(lt)
	lt.queue(lp, false)
	if !lp.ticking {
		lp.ticking = true
		go lp.tick()
	}
	lp.flushLocked()
	return true
}

// remove takes lt out of the loop; false if it had ended already.
func (lp *sendLoop) remove(lt *loopTransfer) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lt.ended {
		return false
	}
	lt.ended = true
	delete(lp.set, lt)
	return true
}

// end finishes lt's data phase with err (t.info filled in) and wakes its
// goroutine. lp.mu is held.
func (lp *sendLoop) end(lt *loopTransfer, err error) {
	if lt.ended {
		return
	}
	lt.ended = true
	lt.err = err
	delete(lp.set, lt)
	close(lt.done)
}

// queue marks lt's packet for the next sendmmsg; again counts it as a
// retransmission. lp.mu is held.
func (lt *loopTransfer) queue(lp *sendLoop, again bool) {
	t := lt.t
	now := time.Now()
	if again {
		t.info.Retransmits++
		lt.fresh = false
	} else {
		lt.sentAt, lt.fresh = now, true
		t.sent = t.base + 1
	}
	t.info.Packets++
	lt.deadline = now.Add(t.rto)
	lp.out = append(lp.out, lt)
}

// lock and unlock bracket the reader's handling of one batch of
// datagrams: unlock sends what the batch queued.
func (lp *sendLoop) lock() { lp.mu.Lock() }

func (lp *sendLoop) unlock() {
	lp.flushLocked()
	lp.mu.Unlock()
}

// handle processes one datagram from lt's client; lp.mu is held. As on
// the goroutine path, duplicate and stale ACKs are ignored (only the timer
// retransmits: no Sorcerer's Apprentice), malformed packets and other
// opcodes too, and an ERROR aborts the transfer.
func (lp *sendLoop) handle(lt *loopTransfer, b []byte) {
	if lt.ended || len(b) < 4 { // an ACK or ERROR has 4 bytes at least
		return
	}
	t := lt.t
	switch Opcode(binary.BigEndian.Uint16(b)) {
	case OpACK:
		k := t.base + int64(binary.BigEndian.Uint16(b[2:])-uint16(t.base))
		if k != t.base+1 || k != t.sent {
			return // duplicate or stale
		}
		if lt.fresh {
			t.sample(time.Since(lt.sentAt))
		}
		t.base = k
		t.retries = 0
		if t.haveRTT {
			t.rto = min(max(t.srtt+4*t.rttvar, t.minRTO), t.maxRTO)
		}
		if t.last > 0 && t.base >= t.last {
			t.info.Bytes = (t.last-1)*int64(t.blksize) + int64(len(lt.pkt)-4)
			t.info.Outcome = OutcomeOK
			lp.end(lt, nil)
			return
		}
		t.progress(false)
		if err := lt.read(k + 1); err != nil {
			t.sendError(CodeUndefined, "read error")
			lp.end(lt, t.fail(OutcomeFailed, fmt.Errorf("tftpserve: read block %d: %w", k+1, err)))
			return
		}
		lt.queue(lp, false)
	case OpERROR:
		p, err := parsePacket(b)
		if err != nil {
			return
		}
		t.info.ErrorCode = p.code
		lp.end(lt, t.fail(OutcomeAborted, fmt.Errorf("%w at block %d: code %d %q", ErrClientAborted, t.base+1, p.code, p.msg)))
	}
}

// flushLocked sends every queued packet, as few sendmmsg calls as the
// kernel allows. A packet the kernel refuses is sent alone through its
// transfer's link; if that fails too the transfer fails, as on the
// goroutine path. lp.mu is held.
func (lp *sendLoop) flushLocked() {
	out := lp.out
	if len(out) == 0 {
		return
	}
	lp.out = lp.out[:0]
	if lp.flushRaw(out) {
		return
	}
	bw := lp.sc.batch
	if bw == nil || lp.sc.noBatch() {
		for _, lt := range out {
			lp.sendOne(lt)
		}
		return
	}
	ms := lp.msgs[:0]
	for _, lt := range out {
		ms = append(ms, ipv4.Message{Buffers: [][]byte{lt.pkt}, OOB: lt.link.oob, Addr: lt.link.to})
	}
	lp.msgs = ms
	for i := 0; i < len(ms); {
		n, err := bw.WriteBatch(ms[i:], 0)
		if err != nil || n <= 0 {
			lp.sendOne(out[i])
			i++
			continue
		}
		i += n
	}
	for i := range ms {
		ms[i] = ipv4.Message{} // drop references to packet buffers
	}
}

// flushRaw sends out with rawSender; false (nothing sent) when it cannot.
func (lp *sendLoop) flushRaw(out []*loopTransfer) bool {
	if lp.raw == nil || lp.sc.noBatch() {
		return false
	}
	pkts, addrs, oobs := lp.pkts[:0], lp.addrs[:0], lp.oobs[:0]
	for _, lt := range out {
		if lt.raw.n == 0 {
			return false
		}
		pkts, addrs, oobs = append(pkts, lt.pkt), append(addrs, &lt.raw), append(oobs, lt.link.oob)
	}
	for i := 0; i < len(out); {
		n, err := lp.raw.send(pkts[i:], addrs[i:], oobs[i:])
		i += n
		lp.rawSent += int64(n)
		if err != nil && i < len(out) {
			lp.sendOne(out[i]) // reports the error if it persists
			i++
		}
	}
	clear(pkts)
	clear(addrs)
	clear(oobs)
	lp.pkts, lp.addrs, lp.oobs = pkts, addrs, oobs
	return true
}

func (lp *sendLoop) sendOne(lt *loopTransfer) {
	if lt.ended {
		return
	}
	if err := lt.link.sendBatch([][]byte{lt.pkt}); err != nil {
		lp.end(lt, lt.t.fail(OutcomeFailed, fmt.Errorf("tftpserve: send: %w", err)))
	}
}

// tick resends the block of every transfer whose timer expired, with the
// goroutine path's backoff and retry limit, until no transfer is left.
func (lp *sendLoop) tick() {
	tk := time.NewTicker(lp.period)
	defer tk.Stop()
	for range tk.C {
		lp.mu.Lock()
		if len(lp.set) == 0 {
			lp.ticking = false
			lp.mu.Unlock()
			return
		}
		now := time.Now()
		for lt := range lp.set {
			if now.Before(lt.deadline) {
				continue
			}
			if err := lt.t.timedOut(); err != nil {
				lp.end(lt, err)
				continue
			}
			lt.queue(lp, true)
		}
		lp.flushLocked()
		lp.mu.Unlock()
	}
}

// close stops the loop taking transfers when its socket's reader
// returns. Running ones see no more ACKs: the ticker retries them until
// their sends fail on the closed socket or the retries run out, unless the
// server's context (Close, Shutdown) ends them first.
func (lp *sendLoop) close() {
	lp.mu.Lock()
	lp.closed = true
	lp.mu.Unlock()
}
