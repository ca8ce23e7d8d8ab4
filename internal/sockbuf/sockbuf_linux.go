//go:build linux

// Package sockbuf sizes the receive buffers of UDP server sockets (the DHCP
// servers' and tftpserve's single-port listening socket), where a burst of
// datagrams would otherwise overflow the kernel's default.
package sockbuf

import (
	"net"
	"syscall"
)

// GrowReceive raises pc's receive buffer to at least n bytes: with
// SO_RCVBUFFORCE where the process may (CAP_NET_ADMIN), else with
// SO_RCVBUF, which the kernel caps at net.core.rmem_max. A buffer already
// larger is left alone, and so is a socket that is no *net.UDPConn.
// Failures are ignored: the default buffer still works, it only drops more
// under a burst.
func GrowReceive(pc net.PacketConn, n int) {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	raw, err := u.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) { GrowReceiveFD(int(fd), n) })
}

// GrowReceiveFD is GrowReceive for a socket the caller holds as a file
// descriptor.
func GrowReceiveFD(fd, n int) {
	// The kernel reports twice the size set (its bookkeeping share).
	if cur, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF); err == nil && cur/2 >= n {
		return
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n) != nil {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
	}
}
