//go:build !linux || !(amd64 || arm64)

package tftpserve

import "net/netip"

// spinRecv is 64-bit Linux's (raw system calls); elsewhere the transfer
// always waits on Go's network poller.
func (l *sockLink) spinRecv([]byte) (int, netip.AddrPort, bool) {
	return 0, netip.AddrPort{}, false
}
