package udpgro

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

func enable(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, serr)
	}
	return nil
}

func segmentSize(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_UDP || m.Header.Type != unix.UDP_GRO {
			continue
		}
		switch {
		case len(m.Data) >= 4: // an int
			return int(binary.NativeEndian.Uint32(m.Data))
		case len(m.Data) >= 2:
			return int(binary.NativeEndian.Uint16(m.Data))
		}
	}
	return 0
}
