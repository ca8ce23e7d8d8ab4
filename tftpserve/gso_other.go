//go:build !linux

package tftpserve

import "net"

// gsoAvailable reports whether u can send UDP GSO messages: only on Linux.
func gsoAvailable(*net.UDPConn) bool { return false }

// appendSegmentCmsg is never called where gsoAvailable is false.
func appendSegmentCmsg(b []byte, _ int) []byte { return b }
