//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pxekit/pxekit/internal/sockbuf"
)

// quietSocket is a second socket on a single-port listening socket's
// address that Go's network poller never sees: the batched lock-step loop
// (Server.BatchedLockstep) reads and sends through it.
//
// Why: Go registers every socket it opens with its epoll instance
// (edge-triggered, for reading and writing). While the loop's goroutine
// runs — handling a batch of ACKs, in a long sendmmsg — the process's other
// P has nothing to do, and its thread waits in epoll_pwait whenever a timer
// is pending (every transfer has one: Server.TransferTimeout). Each ACK
// that arrives, and each sent datagram the kernel frees, then wakes that
// thread for nothing: in a 200-client storm half an epoll_pwait and one
// context switch per block, a third of the server's CPU (bench/README.md,
// session 7). A socket outside the poller wakes no one; the loop waits for
// it in poll(2) itself.
//
// Two sockets cannot share an address by default, and for unicast the
// kernel hands a datagram to one of them. So the listening socket lends
// its address for as long as Serve runs: it is given SO_REUSEADDR, the
// quiet socket binds the same address with it, both drop SO_REUSEADDR at
// once (no third socket can join), and the listening socket is connected
// to itself, which takes it out of the kernel's choice for every other
// sender. The listening socket still sends (handshakes, errors, windowed
// transfers): a connected UDP socket may send to any address on Linux.
type quietSocket struct {
	fd     int
	pc     *net.UDPConn
	closed atomic.Bool
}

// quietPoll bounds one wait in poll(2), so that the reader notices a
// closed listening socket (Close, Shutdown, or its owner) within that time.
const quietPoll = 100 // ms

// takeOverQuiet opens the quiet socket for pc, or returns nil (pc then
// serves as before) where that cannot be done: pc is not a kernel UDP
// socket, is bound to a device, or a step fails (each undone).
func takeOverQuiet(pc net.PacketConn, rcvbuf int) *quietSocket {
	u, rc := udpRawConn(pc)
	if rc == nil {
		return nil
	}
	var q *quietSocket
	_ = rc.Control(func(pfd uintptr) { q = takeOverFD(u, int(pfd), rcvbuf) })
	return q
}

func takeOverFD(u *net.UDPConn, pfd, rcvbuf int) *quietSocket {
	if dev, err := unix.GetsockoptString(pfd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil || dev != "" {
		return nil // the twin would have to be bound to the device too
	}
	if _, err := unix.Getpeername(pfd); err == nil {
		return nil // already connected: not a listening socket
	}
	sa, err := unix.Getsockname(pfd)
	if err != nil {
		return nil
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	reuse, err := unix.GetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_REUSEADDR)
	if err != nil {
		return nil
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil
	}
	fail := func() *quietSocket {
		unix.Close(fd)
		_ = unix.SetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, reuse)
		return nil
	}
	if family == unix.AF_INET6 {
		v6only, err := unix.GetsockoptInt(pfd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		if err != nil || unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only) != nil ||
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) != nil {
			return fail()
		}
	} else if unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1) != nil {
		return fail()
	}
	sockbuf.GrowReceiveFD(fd, rcvbuf)
	if unix.SetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) != nil ||
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) != nil ||
		unix.Bind(fd, sa) != nil {
		return fail()
	}
	// Neither keeps SO_REUSEADDR: nobody else binds the address now.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 0)
	_ = unix.SetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 0)
	if unix.Connect(pfd, selfAddr(sa)) != nil {
		return fail()
	}
	return &quietSocket{fd: fd, pc: u}
}

// selfAddr is the address a listening socket bound to sa is connected to:
// itself, or the loopback address on its port when it is bound to a
// wildcard address. Only that address's port-sa datagrams still reach it.
func selfAddr(sa unix.Sockaddr) unix.Sockaddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		c := &unix.SockaddrInet4{Port: a.Port, Addr: a.Addr}
		if c.Addr == [4]byte{} {
			c.Addr = [4]byte{127, 0, 0, 1}
		}
		return c
	case *unix.SockaddrInet6:
		c := &unix.SockaddrInet6{Port: a.Port, Addr: a.Addr, ZoneId: a.ZoneId}
		if c.Addr == [16]byte{} {
			c.Addr = netip.IPv6Loopback().As16()
		}
		return c
	}
	return sa
}

// restore closes the quiet socket. The listening socket stays connected
// to itself: Serve returns only once it is closed (Close, Shutdown, or its
// owner), and on Linux 6.18 a UDP socket that was connected and then
// dissolved with connect(AF_UNSPEC) received nothing more (found while
// writing this), so giving the address back would not work anyway.
// Datagrams still queued on the quiet socket are lost; their senders
// retransmit. The caller makes sure nothing sends through q any more (the
// loop's lock).
func (q *quietSocket) restore() {
	if q.closed.Swap(true) {
		return
	}
	unix.Close(q.fd)
}

// pcClosed reports whether the listening socket was closed (Close,
// Shutdown, or its owner), which ends Serve.
func (q *quietSocket) pcClosed() bool {
	rc, err := q.pc.SyscallConn()
	return err != nil || rc.Control(func(uintptr) {}) != nil
}

// wait blocks in poll(2) until fd is ready for events or quietPoll
// passes. The call goes through the runtime's system-call path, so the
// goroutine's P is handed on while it sleeps.
func (q *quietSocket) wait(events int16) error {
	if q.closed.Load() {
		return net.ErrClosed
	}
	fds := []unix.PollFd{{Fd: int32(q.fd), Events: events}}
	_, err := unix.Poll(fds, quietPoll)
	if err == unix.EINTR {
		err = nil
	}
	return err
}

// rawConn is a syscall.RawConn over the quiet socket for rawSender:
// Write retries f after poll(2) reports room.
func (q *quietSocket) rawConn() syscall.RawConn { return quietRawConn{q} }

type quietRawConn struct{ q *quietSocket }

func (c quietRawConn) Control(f func(fd uintptr)) error {
	if c.q.closed.Load() {
		return net.ErrClosed
	}
	f(uintptr(c.q.fd))
	return nil
}

func (c quietRawConn) Read(f func(fd uintptr) bool) error {
	return c.do(f, unix.POLLIN)
}

func (c quietRawConn) Write(f func(fd uintptr) bool) error {
	return c.do(f, unix.POLLOUT)
}

func (c quietRawConn) do(f func(fd uintptr) bool, events int16) error {
	for {
		if c.q.closed.Load() {
			return net.ErrClosed
		}
		if f(uintptr(c.q.fd)) {
			return nil
		}
		if err := c.q.wait(events); err != nil {
			return err
		}
	}
}

// quietReader reads batches of datagrams from the quiet socket with
// recvmmsg, with their destination addresses (IP_PKTINFO).
type quietReader struct {
	q     *quietSocket
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
}

func (q *quietSocket) newReader(r *batchReader) *quietReader {
	n := len(r.ms)
	return &quietReader{q: q, hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrAny, n)}
}

// errQuietIdle is read's answer when quietPoll passed without a datagram.
var errQuietIdle = errors.New("tftpserve: no datagram yet")

// read fills r.ms[:n] (Buffers[0], N, OOB, NN) and from[:n] with the next
// datagrams, waiting at most quietPoll for the first. The control
// messages land in the messages' OOB buffers, as ReadBatch's do.
func (qr *quietReader) read(r *batchReader, from []netip.AddrPort) (int, error) {
	return qr.readFD(qr.q.fd, r, from)
}

// readFD is read from the socket fd; on another socket than the quiet
// one (drain) it does not wait.
func (qr *quietReader) readFD(fd int, r *batchReader, from []netip.AddrPort) (int, error) {
	cnt := len(r.ms)
	for i := range cnt {
		b := r.ms[i].Buffers[0]
		qr.iovs[i] = unix.Iovec{Base: &b[0]}
		qr.iovs[i].SetLen(len(b))
		h := &qr.hdrs[i]
		*h = mmsghdr{}
		h.hdr.Name = (*byte)(unsafe.Pointer(&qr.names[i]))
		h.hdr.Namelen = unix.SizeofSockaddrAny
		h.hdr.Iov = &qr.iovs[i]
		h.hdr.Iovlen = 1
		if oob := r.ms[i].OOB[:cap(r.ms[i].OOB)]; len(oob) > 0 {
			h.hdr.Control = &oob[0]
			h.hdr.SetControllen(len(oob))
		}
	}
	for {
		// Every batch, not only when the socket runs dry: a storm may never
		// let it, and Serve must end once the listening socket is closed.
		if qr.q.closed.Load() || (fd == qr.q.fd && qr.q.pcClosed()) {
			return 0, net.ErrClosed
		}
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&qr.hdrs[0])), uintptr(cnt), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			if fd != qr.q.fd {
				return 0, errQuietIdle // draining pc: no waiting
			}
			if err := qr.q.wait(unix.POLLIN); err != nil {
				return 0, err
			}
			if qr.q.pcClosed() {
				return 0, net.ErrClosed
			}
			// Ready or idle: try again; report idle so the caller can
			// look at its own state between polls.
			n, _, e = unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&qr.hdrs[0])), uintptr(cnt), unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN {
				return 0, errQuietIdle
			}
			if e != 0 {
				return 0, e
			}
		case unix.EINTR:
			continue
		default:
			return 0, e
		}
		for i := range int(n) {
			h := &qr.hdrs[i]
			m := &r.ms[i]
			m.N = int(h.n)
			m.NN = int(h.hdr.Controllen)
			from[i] = rawAddrPort(&qr.names[i])
		}
		return int(n), nil
	}
}

// useQuiet makes r read q instead of the listening socket.
func (r *batchReader) useQuiet(q *quietSocket) {
	r.quiet = q.newReader(r)
	r.from = make([]netip.AddrPort, len(r.ms))
}

// rawSender returns a sender like like (the listening socket's) that
// writes through q; nil when like is nil.
func (q *quietSocket) rawSender(like *rawSender) *rawSender {
	if like == nil {
		return nil
	}
	return &rawSender{rc: q.rawConn(), v6: like.v6}
}

// drain hands each datagram still queued on the listening socket to
// handle, without waiting: those that arrived before its address went to
// the quiet socket. r must be in use by q (useQuiet).
func (q *quietSocket) drain(r *batchReader, handle func(n int)) {
	rc, err := q.pc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(pfd uintptr) {
		for range maxDrainBatches {
			n, err := r.quiet.readFD(int(pfd), r, r.from)
			if err != nil || n == 0 {
				return
			}
			handle(n)
		}
	})
}

// maxDrainBatches bounds drain: the socket's buffer holds at most a few
// thousand datagrams.
const maxDrainBatches = 1024
