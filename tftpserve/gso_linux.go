//go:build linux

package tftpserve

import (
	"encoding/binary"
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// gsoKernel caches whether this kernel takes UDP_SEGMENT (Linux 4.18 and
// later): 0 not yet known, 1 yes, 2 no. The answer is the kernel's, so one
// probe serves every socket of the process.
var gsoKernel atomic.Int32

// gsoAvailable reports whether u can send UDP GSO messages. It asks the
// kernel once (getsockopt UDP_SEGMENT fails with ENOPROTOOPT before 4.18,
// where a UDP_SEGMENT control message would be ignored and the whole
// window sent as one oversized datagram) and remembers the answer.
func gsoAvailable(u *net.UDPConn) bool {
	switch gsoKernel.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	rc, err := u.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	if err := rc.Control(func(fd uintptr) {
		_, gerr := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		ok = gerr == nil
	}); err != nil {
		return false
	}
	if ok {
		gsoKernel.Store(1)
	} else {
		gsoKernel.Store(2)
	}
	return ok
}

// appendSegmentCmsg appends the UDP_SEGMENT control message that makes the
// kernel cut a message into datagrams of seg bytes (the last may be
// shorter).
func appendSegmentCmsg(b []byte, seg int) []byte {
	n := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(2))...)
	h := b[n:]
	// struct cmsghdr: a size_t length, then level and type (int each).
	lenSize := unix.SizeofCmsghdr - 8
	if lenSize == 8 {
		binary.NativeEndian.PutUint64(h, uint64(unix.CmsgLen(2)))
	} else {
		binary.NativeEndian.PutUint32(h, uint32(unix.CmsgLen(2)))
	}
	binary.NativeEndian.PutUint32(h[lenSize:], uint32(unix.IPPROTO_UDP))
	binary.NativeEndian.PutUint32(h[lenSize+4:], uint32(unix.UDP_SEGMENT))
	binary.NativeEndian.PutUint16(h[unix.CmsgLen(0):], uint16(seg))
	return b
}
