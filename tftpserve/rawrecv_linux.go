//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"net/netip"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canRawRecv: this system has pollRecv.
const canRawRecv = true

// rawRecv is the state of the raw receives (recvNow), kept with the
// socket so that the system calls take no allocation.
type rawRecv struct {
	pfd    [1]unix.PollFd
	rsa    unix.RawSockaddrAny
	rsaLen uint32
}

// pollRecv reads one datagram, parking on Go's network poller until one
// comes or the read deadline passes (os.ErrDeadlineExceeded). The read
// itself is recvNow's raw system call: a goroutine that runs only between
// a socket's datagrams makes no system call through the scheduler, which
// would wake sysmon from its sleep on every return from the poller
// (runtime.entersyscall), a futex and a thread switch per ACK.
func (l *sockLink) pollRecv(buf []byte) (int, netip.AddrPort, error) {
	var (
		n    int
		from netip.AddrPort
		rerr error
	)
	err := l.raw.Read(func(fd uintptr) bool {
		for {
			m, ap, e := l.recvNow(fd, buf)
			switch e {
			case nil:
				n, from = m, ap
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			default:
				rerr = os.NewSyscallError("recvfrom", e)
				return true
			}
		}
	})
	if err == nil {
		err = rerr
	}
	return n, from, err
}

// recvNow reads one datagram without blocking (EAGAIN when none is
// queued), with its sender. It neither allocates nor enters the
// scheduler's system-call path: the socket is non-blocking.
func (l *sockLink) recvNow(fd uintptr, buf []byte) (int, netip.AddrPort, error) {
	if len(buf) == 0 {
		return 0, netip.AddrPort{}, unix.EINVAL
	}
	l.rr.rsaLen = unix.SizeofSockaddrAny
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&l.rr.rsa)), uintptr(unsafe.Pointer(&l.rr.rsaLen)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	return int(r), rawAddrPort(&l.rr.rsa), nil
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
