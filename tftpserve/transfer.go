package tftpserve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"runtime"
	"sync"
	"time"
)

// Outcome says how a transfer ended.
type Outcome string

// Transfer outcomes reported in TransferInfo.
const (
	OutcomeOK        Outcome = "ok"         // every block acknowledged
	OutcomeSizeProbe Outcome = "size-probe" // client ended after the OACK (EDK2, iPXE size query): normal
	OutcomeAborted   Outcome = "aborted"    // client sent ERROR during the transfer
	OutcomeRefused   Outcome = "refused"    // server sent ERROR (not found, access, bad option…)
	OutcomeTimeout   Outcome = "timeout"    // client stopped answering; retries exhausted
	OutcomeFailed    Outcome = "failed"     // local error (read error, socket error, handler panic) or transfer time limit reached
	OutcomeCanceled  Outcome = "canceled"   // server shut down
)

// TransferInfo describes one finished transfer. Server.OnTransfer receives
// it and the server logs it.
type TransferInfo struct {
	Client     netip.AddrPort
	Write      bool   // a write request (WRQ)
	Filename   string // as requested
	Path       string // normalised ("" when refused before normalisation)
	Size       int64  // content size when known, else -1
	Bytes      int64  // payload bytes acknowledged by the client (received, for writes)
	BlockSize  int
	WindowSize int // negotiated
	// MinWindowSize is the smallest window the server fell back to, in a
	// read, after the client's ACKs kept covering only part of its windows
	// (a receive ring smaller than the windowsize it asked for; see the
	// package documentation); WindowSize when it never shrank, 0 when no
	// data was sent.
	MinWindowSize int
	Start         time.Time
	Duration      time.Duration
	// Packets counts DATA packets sent, Retransmits those sent again.
	Packets, Retransmits int64
	Outcome              Outcome
	// ErrorCode is the code of the ERROR sent (OutcomeRefused) or received
	// (OutcomeAborted, OutcomeSizeProbe).
	ErrorCode ErrorCode
	// Err describes failures; nil for OutcomeOK and OutcomeSizeProbe.
	Err error
}

// transfer is one read transfer: the engine that sends blocks and the
// ResponseWriter the handler uses.
type transfer struct {
	srv  *Server
	link link
	sock *sockLink // link's socket when the transfer has its own, else nil
	req  *Request
	neg  negotiation
	ctx  context.Context
	info TransferInfo

	blksize, window int
	minRTO, maxRTO  time.Duration
	rto             time.Duration
	srtt, rttvar    time.Duration
	haveRTT         bool
	retries         int
	maxRetries      int
	ifIndex         int       // interface the request came in on, 0 if unknown
	after           func()    // runs after the transfer was reported (write dally)
	progressAt      time.Time // when OnProgress was last called

	ring   []slot
	stage  []byte // read-ahead buffer of a file source (see atSource)
	pkts   [][]byte
	rbuf   []byte
	obuf   []byte // OACK/ERROR scratch
	base   int64  // highest block acknowledged
	sent   int64  // highest block sent in a window
	ahead  int64  // highest block sent as an ACK request (see ackRequest)
	ew     int64  // effective window: at most the negotiated one
	good   int    // windows acknowledged whole and in time since ew last changed (or a stall)
	stalls int    // windows in a row acknowledged only after a timeout
	last   int64  // number of the final (short) block, 0 while unknown
	state  int
	size   int64 // announced size, -1 unknown
	mu     sync.Mutex
	pw     *io.PipeWriter
	done   chan struct{}
}

// slot holds one block of the current window: header + payload.
type slot struct {
	block int64
	n     int
	buf   []byte
}

const (
	stateNew     = iota // nothing sent yet
	stateRunning        // transfer in progress or finished
	stateErrored        // ERROR sent
)

// source yields blocks by number (1-based).
type source interface {
	readBlock(p []byte, i int64, bs int) (int, error)
}

// atSource reads blocks by offset.
//
// With a stage buffer it reads ahead: one ReadAt fills the stage with the
// blocks that follow, and later blocks are copied from it. A file read is a
// system call, and a window of 16 blocks read one by one costs a quarter of
// the server's CPU on loopback; copying from the stage costs far less.
type atSource struct {
	ra       io.ReaderAt
	size     int64 // < 0 unknown
	stage    []byte
	stageOff int64 // file offset of stage[0]
	stageN   int   // valid bytes in stage
}

// maxStage bounds the read-ahead of one transfer. It holds a whole window
// of 64 blocks of 1468 bytes (or 16 of 8192), so that the read the
// transfer makes while it waits for an ACK (prefetch) covers all of the
// next window.
const maxStage = 128 << 10

// stageLen returns the read-ahead buffer length for a transfer reading ra
// in windows of window blocks of bs bytes, or 0 for none: only for files
// (a ReadAt that is a system call) of known size; a window's worth for
// windows of 2 blocks or more, and maxStage whatever the window (lock-step
// included) while few transfers run (few, Server.fewTransfers): one read
// per 89 blocks of 1468 bytes instead of one per block or per window. A
// file read is a system call, which on the way out of the scheduler wakes
// its monitor thread (sysmon) when the processors were idle, as they are
// between a transfer's ACKs. A storm's transfers keep the smaller stage,
// so that their memory does not grow by 128 KiB each.
func stageLen(ra io.ReaderAt, size int64, window, bs int, few bool) int {
	if _, isFile := ra.(interface{ Fd() uintptr }); !isFile || size < 0 {
		return 0
	}
	blocks := min(window, maxStage/bs)
	if few {
		blocks = maxStage / bs
	}
	if blocks < 2 {
		return 0
	}
	return blocks * bs
}

func (s *atSource) readBlock(p []byte, i int64, bs int) (int, error) {
	off := (i - 1) * int64(bs)
	want := bs
	if s.size >= 0 {
		if off >= s.size {
			return 0, nil
		}
		want = int(min(int64(bs), s.size-off))
	}
	if len(s.stage) > 0 { // only with a known size (stageLen)
		if off < s.stageOff || off+int64(want) > s.stageOff+int64(s.stageN) {
			if err := s.fillStage(off); err != nil {
				return 0, err
			}
		}
		return copy(p[:want], s.stage[off-s.stageOff:s.stageN]), nil
	}
	n, err := s.ra.ReadAt(p[:want], off)
	if err == io.EOF || (err == nil && n == want) {
		if s.size >= 0 && n < want {
			return n, fmt.Errorf("content shorter than its size %d", s.size)
		}
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return n, err
}

// fillStage reads the stage from offset off (below the size) on.
func (s *atSource) fillStage(off int64) error {
	n := int(min(int64(len(s.stage)), s.size-off))
	m, err := s.ra.ReadAt(s.stage[:n], off)
	if m < n {
		s.stageN = 0
		if err == nil || err == io.EOF {
			err = fmt.Errorf("content shorter than its size %d", s.size)
		}
		return err
	}
	s.stageOff, s.stageN = off, n
	return nil
}

// prefetch reads the stage from block i on, unless it holds blocks i to
// i+n-1 (or to the end of the content) already or there is no stage. The
// transfer calls it after sending a window, while it waits for the ACK,
// with the block after the window and the window's size: the file read for
// the next window is then done before the ACK comes, not between the ACK
// and the next window. An error is left for readBlock to meet again and
// report.
func (s *atSource) prefetch(i, n int64, bs int) {
	off := (i - 1) * int64(bs)
	if len(s.stage) == 0 || off >= s.size {
		return
	}
	end := min(off+n*int64(bs), s.size)
	if off >= s.stageOff && end <= s.stageOff+int64(s.stageN) {
		return
	}
	_ = s.fillStage(off)
}

// streamSource reads blocks in order from a stream.
type streamSource struct {
	r    io.Reader
	ctx  context.Context // the request's: a stream that ends after it did was cut short
	next int64
	eof  bool
}

func (s *streamSource) readBlock(p []byte, i int64, bs int) (int, error) {
	if s.next == 0 {
		s.next = 1
	}
	if i != s.next {
		return 0, fmt.Errorf("internal: stream block %d read out of order (want %d)", i, s.next)
	}
	s.next++
	if s.eof {
		return 0, nil
	}
	n, err := io.ReadFull(s.r, p[:bs])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if s.ctx != nil && s.ctx.Err() != nil {
			// The handler stopped because the transfer is ending (Shutdown,
			// time limit): what it wrote is not the whole file.
			return 0, fmt.Errorf("stream ended early: %w", context.Cause(s.ctx))
		}
		s.eof = true
		return n, nil
	}
	return n, err
}

// exactReader passes a stream through and fails unless it yields exactly
// size bytes: a size announced in tsize must be the size sent.
type exactReader struct {
	r       io.Reader
	size, n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	switch {
	case e.n > e.size:
		return n, fmt.Errorf("content longer than its announced size %d", e.size)
	case err == io.EOF && e.n < e.size:
		return n, fmt.Errorf("content ended after %d bytes, short of its announced size %d", e.n, e.size)
	}
	return n, err
}

// Engine ----------------------------------------------------------------

// handshake sends the OACK (if any) and waits for ACK 0. It returns the
// transfer's error (already reported in t.info) when the transfer ended
// during the handshake: the client refused the options, went silent, or
// only probed the size.
func (t *transfer) handshake(size int64) error {
	opts := t.neg.oack(t.req.Options, size)
	if len(opts) == 0 {
		return nil
	}
	t.obuf = appendOACK(t.obuf[:0], opts)
	retransmitted := false
	for {
		if err := t.link.send(t.obuf); err != nil {
			return t.fail(OutcomeFailed, fmt.Errorf("tftpserve: send OACK: %w", err))
		}
		sentAt := time.Now()
		deadline := sentAt.Add(t.rto)
		for {
			p, err := t.receive(deadline)
			if err != nil {
				if errors.Is(err, errDeadline) {
					break
				}
				if errors.Is(context.Cause(t.ctx), errSuperseded) && t.req.WantSize {
					// A size probe whose ERROR 8 was lost or overtaken by the
					// client's next request.
					t.info.Outcome, t.info.Err = OutcomeSizeProbe, nil
				}
				return err
			}
			switch p.op {
			case OpACK:
				if p.block == 0 {
					if !retransmitted {
						t.sample(time.Since(sentAt))
					}
					t.retries = 0
					return nil
				}
			case OpERROR:
				t.info.ErrorCode = p.code
				if p.code == CodeOptionRefused || p.code == CodeUndefined {
					t.info.Outcome = OutcomeSizeProbe
					if !t.req.WantSize {
						t.info.Outcome = OutcomeAborted
						t.info.Err = fmt.Errorf("%w after OACK: code %d %q", ErrClientAborted, p.code, p.msg)
					}
					return errEnded
				}
				return t.fail(OutcomeAborted, fmt.Errorf("%w: code %d %q", ErrClientAborted, p.code, p.msg))
			}
		}
		if err := t.timedOut(); err != nil {
			return err
		}
		retransmitted = true
	}
}

// errEnded stops the engine after t.info has been filled in.
var errEnded = errors.New("tftpserve: transfer ended")

func (t *transfer) fail(o Outcome, err error) error {
	if t.info.Outcome == "" {
		t.info.Outcome = o
		t.info.Err = err
	}
	return errEnded
}

// timedOut backs off and counts a retry; it ends the transfer when the
// retries are exhausted or the time limit is reached.
func (t *transfer) timedOut() error {
	// Backing off from a small RTO costs little and is not counted: only
	// timeouts at the ceiling count, so a client gets Retries full
	// timeouts before the server gives up.
	if t.rto >= t.maxRTO {
		t.retries++
	}
	if t.retries > t.maxRetries {
		t.sendError(CodeUndefined, "timeout: no acknowledgement")
		return t.fail(OutcomeTimeout, fmt.Errorf("%w after %d retries", ErrTimeout, t.retries-1))
	}
	t.rto = min(t.rto*2, t.maxRTO)
	return nil
}

// sample feeds one round-trip measurement into the RFC 6298 estimator.
func (t *transfer) sample(rtt time.Duration) {
	if !t.haveRTT {
		t.srtt, t.rttvar, t.haveRTT = rtt, rtt/2, true
	} else {
		d := t.srtt - rtt
		if d < 0 {
			d = -d
		}
		t.rttvar = (3*t.rttvar + d) / 4
		t.srtt = (7*t.srtt + rtt) / 8
	}
	t.rto = min(max(t.srtt+4*t.rttvar, t.minRTO), t.maxRTO)
	if t.sock != nil {
		t.sock.spin = t.srtt < spinMaxRTT && t.srv.fewTransfers()
		t.sock.spinFor = 2 * t.srtt
	}
}

// fewTransfers reports whether fewer transfers run than there are
// processors: each may then spend a processor's time on its own speed
// (busy-polling, a read-ahead stage of 128 KiB) without taking it
// from the others.
func (s *Server) fewTransfers() bool {
	return len(s.sem) < runtime.GOMAXPROCS(0)
}

// receive waits for the next packet from the client until deadline. Packets
// from other ports get ERROR 5 (RFC 1350) and are otherwise ignored;
// malformed packets are ignored.
func (t *transfer) receive(deadline time.Time) (packet, error) {
	for {
		n, from, err := t.link.recv(t.ctx, t.rbuf, deadline)
		if err != nil {
			if errors.Is(err, errDeadline) {
				return packet{}, err
			}
			if t.ctx.Err() != nil {
				return packet{}, t.interrupted()
			}
			return packet{}, t.fail(OutcomeFailed, err)
		}
		if from != t.req.RemoteAddr {
			if n >= 2 && binary.BigEndian.Uint16(t.rbuf) != uint16(OpERROR) {
				b := appendError(nil, CodeUnknownTID, "unknown transfer ID")
				_ = t.link.sendTo(b, from)
			}
			continue
		}
		p, err := parsePacket(t.rbuf[:n])
		if err != nil {
			continue
		}
		return p, nil
	}
}

// interrupted ends a transfer whose context ended and tells the client
// why, unless the client itself moved on to a new request.
func (t *transfer) interrupted() error {
	cause := context.Cause(t.ctx)
	if errors.Is(cause, errSuperseded) {
		// Quietly: an ERROR now would reach the client's new transfer.
		return t.fail(OutcomeAborted, cause)
	}
	if errors.Is(cause, ErrTransferTimeLimit) {
		t.sendError(CodeUndefined, "transfer time limit reached")
		return t.fail(OutcomeFailed, cause)
	}
	t.sendError(CodeUndefined, "server shutting down")
	return t.fail(OutcomeCanceled, cause)
}

func (t *transfer) sendError(code ErrorCode, msg string) {
	t.obuf = appendError(t.obuf[:0], code, msg)
	_ = t.link.send(t.obuf)
}

// fill returns the packet for block i, reading it into its ring slot if
// the slot holds another block.
func (t *transfer) fill(src source, i int64) (*slot, error) {
	s := &t.ring[i%int64(len(t.ring))]
	if s.block == i {
		return s, nil
	}
	if s.buf == nil {
		s.buf = getBuf(4 + t.blksize)
	}
	n, err := src.readBlock(s.buf[4:], i, t.blksize)
	if err != nil {
		s.block = 0
		return nil, err
	}
	appendDataHeader(s.buf[:0], uint16(i)) // wraps 65535 → 0
	s.block, s.n = i, n
	return s, nil
}

// run transfers the content of src (RFC 7440 windows; lock-step when the
// window is 1). size is the content size when known, else -1.
func (t *transfer) run(src source, size int64) error {
	if err := t.handshake(size); err != nil {
		return err
	}
	if lp, pl := t.loopFor(); lp != nil {
		if as, ok := src.(*atSource); ok {
			return t.runLooped(lp, pl, as)
		}
	}
	W := int64(t.window)
	t.ring = make([]slot, W)
	t.ew = W
	t.info.MinWindowSize = t.window
	t.progress(true)
	fresh := true    // the window in flight was sent once (Karn's rule)
	stalled := false // a timeout since the last ACK that moved the window
	resend := false  // the window timed out
	for {
		// Send blocks base+1 … base+ew, stopping after the final block.
		start := t.base
		win := t.ew
		if resend && win < W {
			// The client ACKs a gap once per position: if the answer to
			// the ACK request was lost, the same window would go
			// unanswered. Two blocks more take the client to a new one.
			win = min(win+2, W-2)
		}
		resend = false
		end := t.base + win
		if t.last > 0 && end > t.last {
			end = t.last
		}
		t.pkts = t.pkts[:0]
		for i := t.base + 1; i <= end; i++ {
			s, err := t.fill(src, i)
			if err != nil {
				if t.ctx.Err() != nil {
					return t.interrupted()
				}
				t.sendError(CodeUndefined, "read error")
				return t.fail(OutcomeFailed, fmt.Errorf("tftpserve: read block %d: %w", i, err))
			}
			t.pkts = append(t.pkts, s.buf[:4+s.n])
			if i <= t.sent {
				t.info.Retransmits++
				fresh = false
			} else if i <= t.ahead {
				t.info.Retransmits++ // sent before as an ACK request
			}
			if s.n < t.blksize {
				t.last = i
				end = i
			}
		}
		whole := end == t.base+win // not cut short by the end of the file
		if whole && win < W {
			req, err := t.ackRequest(src, end)
			if err != nil {
				t.sendError(CodeUndefined, "read error")
				return t.fail(OutcomeFailed, err)
			}
			if req != nil {
				t.pkts = append(t.pkts, req.buf[:4+req.n])
				if req.block <= t.ahead {
					t.info.Retransmits++
				}
				t.ahead = max(t.ahead, req.block)
			}
		}
		if err := t.link.sendBatch(t.pkts); err != nil {
			return t.fail(OutcomeFailed, fmt.Errorf("tftpserve: send: %w", err))
		}
		t.info.Packets += int64(len(t.pkts))
		t.sent = max(t.sent, end)
		sentAt := time.Now()
		deadline := sentAt.Add(t.rto)
		if as, ok := src.(*atSource); ok {
			as.prefetch(t.sent+1, W, t.blksize)
		}

		// Wait for an ACK that moves the window. Duplicate and stale ACKs are
		// ignored: only the timer retransmits (no Sorcerer's Apprentice).
		advanced, probed := false, false
	wait:
		for !advanced {
			p, err := t.receive(deadline)
			if err != nil {
				if !errors.Is(err, errDeadline) {
					return err
				}
				if err := t.timedOut(); err != nil {
					return err
				}
				fresh = false
				stalled = true
				if s := &t.ring[t.sent%W]; !probed && t.sent-t.base > 1 && s.block == t.sent {
					// Tail probe: resend only the newest block. A client that
					// lost the end of the window (a receive buffer overrun)
					// sees a gap and ACKs where it stands; one that lost only
					// this block completes its window and ACKs it.
					if err := t.link.send(s.buf[:4+s.n]); err != nil {
						return t.fail(OutcomeFailed, fmt.Errorf("tftpserve: send: %w", err))
					}
					t.info.Packets++
					t.info.Retransmits++
					probed = true
					deadline = time.Now().Add(t.rto)
					continue
				}
				resend = true
				break // resend the window
			}
			switch p.op {
			case OpACK:
				k := t.base + int64(p.block-uint16(t.base))
				if k == t.base && probed {
					// The client answered the probe and still waits for
					// base+1: resend the window now. At most once per probe,
					// and probes come from the timer, so duplicates cannot
					// multiply traffic.
					break wait
				}
				if k <= t.base || k > max(t.sent, t.ahead) {
					continue // duplicate or stale
				}
				if fresh && k == end {
					t.sample(time.Since(sentAt))
				}
				if whole {
					t.adapt(k-start, k >= end, stalled)
				}
				t.base = k
				t.retries = 0
				advanced = true
				fresh = true
				stalled = false
				// Progress ends the backoff: go back to the estimate. Loss
				// on a LAN is mostly a receive-buffer overrun, not
				// congestion, and a backed-off timer would stall every later
				// loss.
				if t.haveRTT {
					t.rto = min(max(t.srtt+4*t.rttvar, t.minRTO), t.maxRTO)
				}
			case OpERROR:
				t.info.ErrorCode = p.code
				return t.fail(OutcomeAborted, fmt.Errorf("%w at block %d: code %d %q", ErrClientAborted, t.base+1, p.code, p.msg))
			}
		}
		if t.last > 0 && t.base >= t.last {
			t.info.Bytes = (t.last-1)*int64(t.blksize) + int64(t.ring[t.last%W].n)
			t.info.Outcome = OutcomeOK
			return nil
		}
		t.progress(false)
	}
}

// progress calls the server's OnProgress with the transfer so far: at
// the start, else when ProgressInterval has passed since the last call.
func (t *transfer) progress(start bool) {
	f := t.srv.OnProgress
	if f == nil {
		return
	}
	now := time.Now()
	if !start && now.Sub(t.progressAt) < orDefault(t.srv.ProgressInterval, DefaultProgressInterval) {
		return
	}
	t.progressAt = now
	info := t.info
	info.Bytes = t.base * int64(t.blksize)
	if info.Size >= 0 {
		info.Bytes = min(info.Bytes, info.Size)
	}
	info.Duration = now.Sub(info.Start)
	info.Outcome, info.Err = "", nil
	f(info)
}

// Window adaptation -------------------------------------------------------
//
// A client may ask for a larger window than its receive ring holds: U-Boot
// asking windowsize 64 behind a NIC ring of about 31 packets loses the end
// of every window, ACKs the part it got once the timer probes it, and the
// next full window overruns it again. RFC 7440 fixes the window at the
// negotiation, so the server cannot tell the client; it can only send less.
// The sign of a ring overrun is a stall: the client took the start of the
// window, the rest never arrived, so nothing made it answer until the
// server's timer probed it. When two windows in a row stall, the effective
// window shrinks to one less than the client took (room for the ACK
// request below), by at most half at a time. Random loss mostly cuts a
// window in the middle, which the client answers at once by acknowledging
// the gap: that changes nothing, as retransmitting serves it better than
// smaller windows. After growAfter windows acknowledged whole and in time,
// the window grows by one block (additive increase), back to the
// negotiated window.
//
// A client ACKs on its own only at the negotiated window's boundary, so a
// smaller window ends with an ACK request: the block after next (end+2),
// which the client sees as a gap and answers, as RFC 7440 receivers do, by
// acknowledging the last block it holds in order (end). The transfer then
// goes on from there; the request block is sent again in its turn. It
// costs one packet per window, and the transfer's ring of negotiated-window
// slots must hold ew+2 blocks, so the effective window is either the
// negotiated one or at most two less. Some clients (U-Boot) answer a gap
// only once per position, so when the answer is lost, the
// window sent after the timeout is two blocks longer: new blocks move the
// client to a new position, and the ACK request there is answered.

// growAfter is how many windows acknowledged whole and in time, since the
// window last changed, let it grow by one.
const growAfter = 8

// minAdaptWindow is the smallest negotiated window that adapts: in smaller
// ones a stall is as likely the loss of the last block or of the ACK as an
// overrun, and an ACK request would be a large share of the packets.
// (EDK2 asks for 4; U-Boot asks for what its tftpwindowsize says.)
const minAdaptWindow = 8

// adapt updates the effective window after an ACK that moved it: took is
// how many blocks of the window it acknowledged, whole whether that was all
// of them, stalled whether a timeout came first.
func (t *transfer) adapt(took int64, whole, stalled bool) {
	W := int64(t.window)
	if W < minAdaptWindow {
		return
	}
	if !stalled {
		t.stalls = 0
		if whole && t.ew < W {
			if t.good++; t.good >= growAfter {
				t.good = 0
				if t.ew++; t.ew > W-2 {
					t.ew = W
				}
			}
		}
		return
	}
	t.good = 0
	if t.stalls++; t.stalls < 2 {
		return
	}
	t.stalls = 0
	n := max(1, min(max(took-1, t.ew/2), t.ew-1, W-2))
	t.ew = n
	t.info.MinWindowSize = min(t.info.MinWindowSize, int(n))
}

// ackRequest returns the packet that asks the client to acknowledge a
// window that ends at block end before the negotiated window is complete:
// block end+2 (end+1 is read too: a stream is read in order). It returns
// nil when the file ends first; the timer then recovers as usual.
func (t *transfer) ackRequest(src source, end int64) (*slot, error) {
	if t.last > 0 && end+2 > t.last {
		return nil, nil
	}
	var s *slot
	for i := end + 1; i <= end+2; i++ {
		var err error
		if s, err = t.fill(src, i); err != nil {
			return nil, fmt.Errorf("tftpserve: read block %d: %w", i, err)
		}
		if s.n < t.blksize {
			t.last = i
			return nil, nil // the final block goes out in order, in a window
		}
	}
	return s, nil
}

// ResponseWriter ----------------------------------------------------------

func (t *transfer) SetSize(size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == stateNew {
		t.size = size
	}
}

// begin claims the transfer for one way of sending; false if it was
// already claimed.
func (t *transfer) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != stateNew {
		return false
	}
	t.state = stateRunning
	return true
}

func (t *transfer) ServeContent(content io.ReaderAt, size int64) error {
	if !t.begin() {
		return errWriterDone
	}
	return t.serve(content, nil, size)
}

// serve runs the engine on a ReaderAt or a stream.
func (t *transfer) serve(ra io.ReaderAt, r io.Reader, size int64) error {
	if t.req.Mode == "netascii" && r == nil {
		n := size
		if n < 0 {
			n = 1 << 62
		}
		r = io.NewSectionReader(ra, 0, n)
	}
	if r != nil && size >= 0 {
		r = &exactReader{r: r, size: size}
	}
	var src source
	switch {
	case t.req.Mode == "netascii":
		src, size = &streamSource{r: newNetasciiReader(r), ctx: t.ctx}, -1
	case ra != nil:
		as := &atSource{ra: ra, size: size}
		window := t.window
		if lp, _ := t.loopFor(); lp != nil {
			window = loopReadAhead
		}
		if n := stageLen(ra, size, window, t.blksize, t.srv.fewTransfers()); n > 0 {
			t.stage = getBuf(n)
			as.stage = t.stage
		}
		src = as
	default:
		src = &streamSource{r: r, ctx: t.ctx}
	}
	t.info.Size = size
	if !t.req.WantSize {
		size = -1
	}
	if err := t.run(src, size); err != nil {
		return t.info.Err
	}
	return nil
}

func (t *transfer) ReadFrom(r io.Reader) (int64, error) {
	if !t.begin() {
		return 0, errWriterDone
	}
	size := t.size
	ra, isAt := r.(io.ReaderAt)
	if isAt && t.req.Mode == "octet" {
		if sz, ok := readerSize(r); ok {
			size = sz
			err := t.serve(ra, nil, size)
			return t.info.Bytes, err
		}
	}
	err := t.serve(nil, r, size)
	return t.info.Bytes, err
}

// readerSize finds the size of readers that know it: *bytes.Reader,
// *strings.Reader, *io.SectionReader (Size) and files (Stat).
func readerSize(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size(), true
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size(), true
		}
	}
	return 0, false
}

func (t *transfer) Write(p []byte) (int, error) {
	t.mu.Lock()
	switch t.state {
	case stateNew:
		t.state = stateRunning
		pr, pw := io.Pipe()
		t.pw = pw
		t.done = make(chan struct{})
		size := t.size
		t.mu.Unlock()
		// When the transfer is cancelled, the engine stops waiting for the
		// handler's next Write and tells the client at once.
		stop := context.AfterFunc(t.ctx, func() { pr.CloseWithError(context.Cause(t.ctx)) })
		go func() {
			defer close(t.done)
			defer stop()
			err := t.serve(nil, pr, size)
			if err == nil {
				err = errWriterDone
			}
			pr.CloseWithError(err)
		}()
	case stateRunning:
		t.mu.Unlock()
		if t.pw == nil {
			return 0, errWriterDone
		}
	default:
		t.mu.Unlock()
		return 0, errWriterDone
	}
	return t.pw.Write(p)
}

func (t *transfer) WriteError(err error) {
	t.mu.Lock()
	if t.state != stateNew {
		t.mu.Unlock()
		return
	}
	t.state = stateErrored
	t.mu.Unlock()
	code, msg := errorPacket(err)
	t.sendError(code, msg)
	t.info.Outcome = OutcomeRefused
	t.info.ErrorCode = code
	t.info.Err = err
}

// finish completes what the handler left: an open stream is closed and
// drained, nothing at all becomes an empty file.
func (t *transfer) finish() {
	t.mu.Lock()
	st := t.state
	if st == stateNew {
		t.state = stateRunning
	}
	t.mu.Unlock()
	switch {
	case st == stateNew:
		_ = t.serve(nil, eofReader{}, 0)
	case t.pw != nil:
		t.pw.Close()
		<-t.done
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
