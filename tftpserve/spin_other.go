//go:build !linux

package tftpserve

import "net/netip"

// spinRecv is Linux-only; elsewhere the transfer always waits on Go's
// network poller.
func (l *sockLink) spinRecv([]byte) (int, netip.AddrPort, bool) {
	return 0, netip.AddrPort{}, false
}
