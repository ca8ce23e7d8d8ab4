//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSender sends a send loop's batch with one sendmmsg made as a raw
// system call, inside the socket's RawConn.Write. Through the runtime's
// syscall path (x/net's WriteBatch) a long sendmmsg — hundreds of µs on
// veth, where each datagram runs the receiver's path in the sender's call
// — lets sysmon take the loop's P and hand it to another thread, which
// finds nothing to do and sleeps in epoll; the loop then waits for a P
// when the call returns. The socket is non-blocking, so the call is
// bounded and the P may stay. (bench/README.md: a quarter of the loop's
// CPU in a 200-client storm was that dance.)
type rawSender struct {
	rc   syscall.RawConn
	v6   bool // an AF_INET6 socket: IPv4 clients are v4-mapped
	hdrs []mmsghdr
	iovs []unix.Iovec
}

// mmsghdr is struct mmsghdr of 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// rawAddr is a destination as the kernel takes it (sockaddr_in or
// sockaddr_in6); n is 0 when the address cannot be made (a zone).
type rawAddr struct {
	b [unix.SizeofSockaddrInet6]byte
	n uint32
}

func newRawSender(pc net.PacketConn) *rawSender {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := u.SyscallConn()
	if err != nil {
		return nil
	}
	return &rawSender{rc: rc, v6: !isIPv4Socket(u)}
}

// addr returns ap as a sockaddr for this socket's family.
func (s *rawSender) addr(ap netip.AddrPort) rawAddr {
	var r rawAddr
	a := ap.Addr()
	if a.Zone() != "" || (!s.v6 && !a.Is4()) {
		return r
	}
	if !s.v6 {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.b[0]))
		sa.Family = unix.AF_INET
		sa.Addr = a.As4()
		putPort(&sa.Port, ap.Port())
		r.n = unix.SizeofSockaddrInet4
		return r
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.b[0]))
	sa.Family = unix.AF_INET6
	sa.Addr = a.As16() // As16 maps IPv4 into ::ffff:0:0/96
	putPort(&sa.Port, ap.Port())
	r.n = unix.SizeofSockaddrInet6
	return r
}

// putPort stores p in network byte order.
func putPort(dst *uint16, p uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(p>>8), byte(p)
}

var errNoProgress = errors.New("tftpserve: sendmmsg made no progress")

// send writes pkts[i] to addrs[i] with control data oobs[i] (nil for
// none) and returns how many went out; the error is that of pkts[n].
func (s *rawSender) send(pkts [][]byte, addrs []*rawAddr, oobs [][]byte) (int, error) {
	cnt := len(pkts)
	if cap(s.hdrs) < cnt {
		s.hdrs = make([]mmsghdr, cnt)
		s.iovs = make([]unix.Iovec, cnt)
	}
	hdrs, iovs := s.hdrs[:cnt], s.iovs[:cnt]
	for i, p := range pkts {
		iovs[i] = unix.Iovec{}
		if len(p) > 0 {
			iovs[i].Base = &p[0]
		}
		iovs[i].SetLen(len(p))
		h := &hdrs[i]
		*h = mmsghdr{}
		h.hdr.Name = &addrs[i].b[0]
		h.hdr.Namelen = addrs[i].n
		h.hdr.Iov = &iovs[i]
		h.hdr.Iovlen = 1
		if len(oobs[i]) > 0 {
			h.hdr.Control = &oobs[i][0]
			h.hdr.SetControllen(len(oobs[i]))
		}
	}
	sent := 0
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		for sent < cnt {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(cnt-sent), 0, 0, 0)
			switch {
			case e == unix.EAGAIN:
				return false // wait until the socket takes more
			case e == unix.EINTR:
				continue
			case e != 0:
				serr = e
				return true
			case r == 0:
				serr = errNoProgress
				return true
			}
			sent += int(r)
		}
		return true
	})
	for i := range hdrs {
		hdrs[i] = mmsghdr{} // no references to packet buffers
		iovs[i] = unix.Iovec{}
	}
	if serr == nil {
		serr = err
	}
	return sent, serr
}
