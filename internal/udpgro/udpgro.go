// Package udpgro is a test helper for UDP generic receive offload: a socket
// with UDP_GRO gets a UDP GSO message from loopback whole, with its segment
// size in a control message, so a test can see how a sender cut its data.
package udpgro

import (
	"errors"
	"net"
)

// ErrUnsupported is returned by Enable where the kernel has no UDP_GRO.
var ErrUnsupported = errors.New("udpgro: UDP_GRO not supported here")

// Enable turns UDP_GRO on for c.
func Enable(c *net.UDPConn) error { return enable(c) }

// SegmentSize returns the segment size carried by a UDP_GRO control message
// in oob (what ReadMsgUDP returned), or 0 when there is none: the datagram
// is one packet.
func SegmentSize(oob []byte) int { return segmentSize(oob) }
