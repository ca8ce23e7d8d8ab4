//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canRawRecv: this system has pollRecv.
const canRawRecv = true

// rawRecv is the state of the raw receives (recvNow, pollRecv,
// spinRecv), kept with the socket so that they take no allocation: the
// callbacks that RawConn runs are method values made once, and they take
// their arguments and leave their results here.
type rawRecv struct {
	rsa    unix.RawSockaddrAny
	rsaLen uint32

	readFn func(fd uintptr) bool // l.pollStep
	spinFn func(fd uintptr)      // l.spinStep
	buf    []byte
	n      int
	from   netip.AddrPort
	err    error
	ok     bool
	start  time.Time // of the spin
}

// pollRecv reads one datagram, parking on Go's network poller until one
// comes or the read deadline passes (os.ErrDeadlineExceeded). The read
// itself is recvNow's raw system call: a goroutine that runs only between
// a socket's datagrams makes no system call through the scheduler, which
// would wake sysmon from its sleep on every return from the poller
// (runtime.entersyscall), a futex and a thread switch per ACK.
func (l *sockLink) pollRecv(buf []byte) (int, netip.AddrPort, error) {
	r := &l.rr
	if r.readFn == nil {
		r.readFn = l.pollStep
	}
	r.buf, r.n, r.from, r.err = buf, 0, netip.AddrPort{}, nil
	err := l.raw.Read(r.readFn)
	if err == nil {
		err = r.err
	}
	n, from := r.n, r.from
	r.buf = nil
	return n, from, err
}

// pollStep is pollRecv's RawConn callback.
func (l *sockLink) pollStep(fd uintptr) bool {
	r := &l.rr
	var done bool
	done, r.err = rawCall("recvfrom", func() unix.Errno {
		var e unix.Errno
		r.n, r.from, e = l.recvNow(fd, r.buf)
		return e
	})
	return done
}

// recvNow reads one datagram without blocking (EAGAIN when none is
// queued), with its sender; the error is 0 when it read one. It neither allocates nor enters the
// scheduler's system-call path: the socket is non-blocking.
func (l *sockLink) recvNow(fd uintptr, buf []byte) (int, netip.AddrPort, unix.Errno) {
	if len(buf) == 0 {
		return 0, netip.AddrPort{}, unix.EINVAL
	}
	l.rr.rsaLen = unix.SizeofSockaddrAny
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&l.rr.rsa)), uintptr(unsafe.Pointer(&l.rr.rsaLen)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	return int(r), rawAddrPort(&l.rr.rsa), 0
}

// rawAddrPort returns the address of a sockaddr the kernel filled in,
// IPv4-mapped addresses unmapped, as the transfer compares it with its
// client; the zero AddrPort for other families.
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), netPort(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		ip := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && ip.Is6() {
			ip = ip.WithZone(strconv.Itoa(int(sa.Scope_id)))
		}
		return netip.AddrPortFrom(ip, netPort(sa.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port stored in network byte order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
