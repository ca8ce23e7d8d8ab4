//go:build linux

package dhcpboot

import (
	"net"
	"syscall"
)

// growReadBuffer asks for an n-byte receive buffer: SO_RCVBUFFORCE when the
// process may (root, CAP_NET_ADMIN), which passes net.core.rmem_max, else
// SO_RCVBUF up to that maximum. Failure leaves the default: best effort.
func growReadBuffer(c net.PacketConn, n int) {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	forced := false
	_ = rc.Control(func(fd uintptr) {
		forced = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n) == nil
	})
	if !forced {
		_ = uc.SetReadBuffer(n)
	}
}
