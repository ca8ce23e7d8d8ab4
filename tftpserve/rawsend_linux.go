//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
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
	// sendTo's callback (a method value made once: no allocation per
	// datagram), its arguments and its error.
	sendFn func(fd uintptr) bool
	pkt    []byte
	to     *rawAddr
	err    error
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
	u, rc := udpRawConn(pc)
	if rc == nil {
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

// sendTo writes one datagram to a with a raw sendto system call (as send,
// no scheduler hand-off: the socket is non-blocking), waiting on the
// poller only when the socket's buffer is full.
func (s *rawSender) sendTo(p []byte, a *rawAddr) error {
	if s.sendFn == nil {
		s.sendFn = s.sendStep
	}
	s.pkt, s.to, s.err = p, a, nil
	err := s.rc.Write(s.sendFn)
	if err == nil {
		err = s.err
	}
	s.pkt, s.to = nil, nil
	return err
}

// sendStep is sendTo's RawConn callback.
func (s *rawSender) sendStep(fd uintptr) bool {
	var done bool
	done, s.err = rawCall("sendto", func() unix.Errno {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.pkt))), uintptr(len(s.pkt)),
			0, uintptr(unsafe.Pointer(&s.to.b[0])), uintptr(s.to.n))
		return e
	})
	return done
}

// rawCall runs call, a raw system call on a non-blocking socket inside a
// RawConn's Read or Write, again while it is interrupted (EINTR). It
// returns false when the socket is not ready (EAGAIN: the callback returns
// false and the poller waits), else true, with op's error if it failed.
func rawCall(op string, call func() unix.Errno) (bool, error) {
	for {
		switch e := call(); e {
		case 0:
			return true, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false, nil
		default:
			return true, os.NewSyscallError(op, e)
		}
	}
}

// rawBatch is a batchWriter for a transfer's own socket: the messages'
// buffers and control data as given, every message to one client (addr,
// whatever the message's Addr says), in one sendmmsg made as a raw system
// call (see rawSender).
type rawBatch struct {
	rc   syscall.RawConn
	addr rawAddr
	hdrs []mmsghdr
	iovs []unix.Iovec
}

// batch returns a rawBatch to a on s's socket.
func (s *rawSender) batch(a rawAddr) batchWriter {
	return &rawBatch{rc: s.rc, addr: a}
}

// WriteBatch sends ms and returns how many went out. As x/net's, it
// reports an error only when it sent nothing: after a partial send the
// caller calls again for the rest and meets the error then.
func (b *rawBatch) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	nb := 0
	for i := range ms {
		nb += len(ms[i].Buffers)
	}
	if cap(b.hdrs) < len(ms) {
		b.hdrs = make([]mmsghdr, len(ms))
	}
	if cap(b.iovs) < nb {
		b.iovs = make([]unix.Iovec, nb)
	}
	hdrs, iovs := b.hdrs[:len(ms)], b.iovs[:nb]
	k := 0
	for i := range ms {
		m := &ms[i]
		h := &hdrs[i]
		*h = mmsghdr{}
		h.hdr.Name = &b.addr.b[0]
		h.hdr.Namelen = b.addr.n
		if len(m.Buffers) > 0 {
			h.hdr.Iov = &iovs[k]
			h.hdr.SetIovlen(len(m.Buffers))
		}
		for _, p := range m.Buffers {
			iovs[k] = unix.Iovec{}
			if len(p) > 0 {
				iovs[k].Base = &p[0]
			}
			iovs[k].SetLen(len(p))
			k++
		}
		if len(m.OOB) > 0 {
			h.hdr.Control = &m.OOB[0]
			h.hdr.SetControllen(len(m.OOB))
		}
	}
	sent := 0
	var serr error
	err := b.rc.Write(func(fd uintptr) bool {
		for sent < len(hdrs) {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(len(hdrs)-sent), 0, 0, 0)
			switch {
			case e == unix.EAGAIN:
				return false
			case e == unix.EINTR:
				continue
			case e != 0:
				if sent == 0 {
					serr = os.NewSyscallError("sendmmsg", e)
				}
				return true
			case r == 0:
				if sent == 0 {
					serr = errNoProgress
				}
				return true
			}
			sent += int(r)
		}
		return true
	})
	for i := range hdrs {
		hdrs[i] = mmsghdr{}
	}
	for i := range iovs {
		iovs[i] = unix.Iovec{}
	}
	if serr == nil {
		serr = err
	}
	return sent, serr
}

// udpRawConn returns pc as a kernel UDP socket and its RawConn; nil, nil
// when it is not one.
func udpRawConn(pc net.PacketConn) (*net.UDPConn, syscall.RawConn) {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, nil
	}
	rc, err := u.SyscallConn()
	if err != nil {
		return nil, nil
	}
	return u, rc
}
