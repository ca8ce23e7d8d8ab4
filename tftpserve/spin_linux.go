//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// spinRecv tries a few non-blocking reads of the transfer socket before the
// caller parks on Go's network poller. On a fast path (loopback, a quiet
// LAN) the client's ACK arrives within microseconds of the DATA, and
// catching it here skips the poller's wake-up, which costs more than the
// round trip itself: lockstep on loopback goes from about 1.3 s to 0.9 s
// for 32 MiB. It reports ok=false when nothing came (or on any error; the
// blocking read then sees it again).
//
// The reads are raw system calls into buffers the socket keeps (recvNow):
// no scheduler hand-off and no allocation per try, and no read deadline
// (Control, not Read), so that the caller sets one only when it parks.
//
// Every spinYield reads the spin yields the processor (sched_yield). On
// two processors the kernel often wakes the client on the server's own
// processor (a synchronous wake-up from the DATA's sendto): a spin that
// kept it would delay the very ACK it waits for, miss, and the transfer
// would stop spinning and pay the poller again. Yielding lets such a
// client run at once, and costs a fraction of a microsecond when nothing
// else waits. Lock-step, 32 MiB to atftp on loopback, interleaved with the
// spin without it: 0.77–0.88 s against 0.94–1.8 s, with a third less
// server CPU (bench/README.md).
func (l *sockLink) spinRecv(buf []byte) (n int, from netip.AddrPort, ok bool) {
	if l.raw == nil {
		return 0, netip.AddrPort{}, false
	}
	r := &l.rr
	if r.spinFn == nil {
		r.spinFn = l.spinStep
	}
	r.buf, r.n, r.from, r.ok, r.start = buf, 0, netip.AddrPort{}, false, time.Now()
	_ = l.raw.Control(r.spinFn)
	n, from, ok = r.n, r.from, r.ok
	r.buf = nil
	return n, from, ok
}

// spinStep is spinRecv's RawConn callback.
func (l *sockLink) spinStep(fd uintptr) {
	r := &l.rr
	for i := 1; ; i++ {
		m, ap, err := l.recvNow(fd, r.buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			if i%4 == 0 && time.Since(r.start) >= l.spinFor {
				return
			}
			if i%spinYield == 0 {
				// A client on this processor (the kernel tends to wake
				// it where the DATA was sent) runs now, not after the
				// spin.
				_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
			continue
		}
		if err == 0 {
			r.n, r.from, r.ok = m, ap, true
		}
		return // an error: the blocking read reports it
	}
}
