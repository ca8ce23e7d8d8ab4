//go:build !linux || !(amd64 || arm64)

package tftpserve

import (
	"errors"
	"net/netip"
)

// canRawRecv: pollRecv is 64-bit Linux's; elsewhere the transfer reads with
// the net package.
const canRawRecv = false

// rawRecv is empty where there are no raw receives.
type rawRecv struct{}

// pollRecv is never called where canRawRecv is false.
func (l *sockLink) pollRecv([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, errors.New("tftpserve: raw receive not available")
}
