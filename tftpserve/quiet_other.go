//go:build !linux || !(amd64 || arm64)

package tftpserve

import (
	"errors"
	"net"
	"net/netip"
)

// quietSocket is Linux's (quiet_linux.go); elsewhere the batched loop
// reads the listening socket through Go's poller.
type quietSocket struct{}

type quietReader struct{}

var errQuietIdle = errors.New("tftpserve: no datagram yet")

func takeOverQuiet(net.PacketConn, int) *quietSocket { return nil }

func (*quietSocket) restore() {}

func (*quietSocket) rawSender(*rawSender) *rawSender { return nil }

func (*batchReader) useQuiet(*quietSocket) {}

func (*quietReader) read(*batchReader, []netip.AddrPort) (int, error) {
	return 0, errors.New("tftpserve: no quiet socket on this system")
}

func (*quietSocket) drain(*batchReader, func(int)) {}
