package tftpserve

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// setGRO turns UDP_GRO on for pc: GSO messages arrive whole.
func setGRO(pc *net.UDPConn) bool {
	rc, err := pc.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) }); err != nil {
		return false
	}
	return serr == nil
}

// setNoCheck sets SO_NO_CHECK (no UDP checksum on send).
func setNoCheck(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
}

// groSegment returns the segment size of a UDP_GRO control message in oob,
// or 0 when there is none (the datagram is one packet).
func groSegment(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_UDP && m.Header.Type == unix.UDP_GRO && len(m.Data) >= 2 {
			if len(m.Data) >= 4 {
				return int(binary.NativeEndian.Uint32(m.Data))
			}
			return int(binary.NativeEndian.Uint16(m.Data))
		}
	}
	return 0
}
