//go:build !linux || !(amd64 || arm64)

package tftpserve

import (
	"errors"
	"net"
	"net/netip"
)

// rawSender is Linux's on 64-bit processors (rawsend_linux.go); elsewhere
// the send loop uses WriteBatch.
type rawSender struct{}

type rawAddr struct{ n uint32 }

func newRawSender(net.PacketConn) *rawSender { return nil }

func (*rawSender) addr(netip.AddrPort) rawAddr { return rawAddr{} }

func (*rawSender) send([][]byte, []*rawAddr, [][]byte) (int, error) {
	return 0, errors.New("tftpserve: no raw sendmmsg on this system")
}

func (*rawSender) sendTo([]byte, *rawAddr) error {
	return errors.New("tftpserve: no raw sendto on this system")
}

func (*rawSender) batch(rawAddr) batchWriter { return nil }
