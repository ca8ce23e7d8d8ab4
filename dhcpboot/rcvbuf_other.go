//go:build !linux

package dhcpboot

import "net"

// growReadBuffer asks for an n-byte receive buffer (SO_RCVBUF), best effort.
func growReadBuffer(c net.PacketConn, n int) {
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(n)
	}
}
