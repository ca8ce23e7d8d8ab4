//go:build !linux

package udpgro

import "net"

func enable(*net.UDPConn) error { return ErrUnsupported }

func segmentSize([]byte) int { return 0 }
