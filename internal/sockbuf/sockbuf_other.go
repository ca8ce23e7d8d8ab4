//go:build !linux

// Package sockbuf sizes the receive buffers of UDP server sockets (the DHCP
// servers' and tftpserve's single-port listening socket), where a burst of
// datagrams would otherwise overflow the kernel's default.
package sockbuf

import "net"

// GrowReceive asks for an n-byte receive buffer with SetReadBuffer where
// pc is a *net.UDPConn; failures leave the system's default.
func GrowReceive(pc net.PacketConn, n int) {
	if u, ok := pc.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(n)
	}
}
