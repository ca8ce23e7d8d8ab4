//go:build linux

package tftpserve

import (
	"net/netip"
	"strconv"
	"syscall"
)

// spinRecv tries a few non-blocking reads of the transfer socket before the
// caller parks on Go's network poller. On a fast path (loopback, a quiet
// LAN) the client's ACK arrives within microseconds of the DATA, and
// catching it here skips the poller's wake-up, which costs more than the
// round trip itself: lockstep on loopback goes from about 1.3 s to 0.9 s
// for 32 MiB. It reports ok=false when nothing came (or on any error; the
// blocking read then sees it again).
func (l *sockLink) spinRecv(buf []byte) (n int, from netip.AddrPort, ok bool) {
	if l.raw == nil {
		return 0, netip.AddrPort{}, false
	}
	_ = l.raw.Read(func(fd uintptr) bool {
		for range spinTries {
			m, sa, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			if err == syscall.EAGAIN || err == syscall.EINTR {
				continue
			}
			if err != nil {
				return true // the blocking read reports it
			}
			switch a := sa.(type) {
			case *syscall.SockaddrInet4:
				n, from, ok = m, netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
			case *syscall.SockaddrInet6:
				ip := netip.AddrFrom16(a.Addr).Unmap()
				if a.ZoneId != 0 && ip.Is6() {
					ip = ip.WithZone(strconv.Itoa(int(a.ZoneId)))
				}
				n, from, ok = m, netip.AddrPortFrom(ip, uint16(a.Port)), true
			}
			return true
		}
		return true
	})
	return n, from, ok
}
