package dhcpboot

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The DHCPv4 codec of the servers' hot path. It reads and writes
// insomniacslk's *dhcpv4.DHCPv4, the type of every API here, with the
// library's exact results (tests compare them on the captures and by
// fuzzing), in fewer allocations: the decoder points into one copy of the
// datagram instead of copying every field and option, the encoder appends
// to a caller's (pooled) buffer instead of building a new one through an
// io buffer and a sorted key list, and a reply starts from the request
// without drawing a random transaction ID that the request's replaces.

// BOOTP header layout (RFC 2131 §2).
const (
	bootpHeaderLen = 236 // up to the options, without the magic cookie
	bootpMinLen    = 300 // RFC 951: relays drop shorter messages
	offCookie      = bootpHeaderLen
	offOptions     = bootpHeaderLen + 4
)

var magicCookie = [4]byte{99, 130, 83, 99}

// errBadCookie is decode4Bytes's error for a datagram without the DHCP magic
// cookie.
var errBadCookie = errors.New("malformed DHCP packet: bad magic cookie")

// decode4Bytes decodes a DHCPv4 message as dhcpv4.FromBytes does (the same
// message, and an error for the same inputs), but the message's addresses,
// hardware address and options point into b, which the caller gives up.
func decode4Bytes(b []byte) (*dhcpv4.DHCPv4, error) {
	if len(b) < offOptions {
		return nil, fmt.Errorf("DHCPv4 message of %d bytes, shorter than the %d-byte header: %w", len(b), offOptions, io.ErrUnexpectedEOF)
	}
	if [4]byte(b[offCookie:offOptions]) != magicCookie {
		return nil, fmt.Errorf("%w %v", errBadCookie, b[offCookie:offOptions])
	}
	hlen := int(b[2])
	if hlen > 16 {
		hlen = 16
	}
	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeType(b[0]),
		HWType:        iana.HWType(b[1]),
		HopCount:      b[3],
		TransactionID: dhcpv4.TransactionID(b[4:8]),
		NumSeconds:    uint16(b[8])<<8 | uint16(b[9]),
		Flags:         uint16(b[10])<<8 | uint16(b[11]),
		ClientIPAddr:  net.IP(b[12:16:16]),
		YourIPAddr:    net.IP(b[16:20:20]),
		ServerIPAddr:  net.IP(b[20:24:24]),
		GatewayIPAddr: net.IP(b[24:28:28]),
		ClientHWAddr:  net.HardwareAddr(b[28 : 28+hlen : 28+hlen]),
	}
	p.ServerHostName = cString(b[44:108])
	p.BootFileName = cString(b[108:236])
	opts := b[offOptions:]
	p.Options = make(dhcpv4.Options, countOptions(opts))
	if len(opts) == 0 {
		return p, nil
	}
	end := false
	for len(opts) > 0 {
		code := opts[0]
		if code == 0 { // pad
			opts = opts[1:]
			continue
		}
		if code == 255 {
			end = true
			break
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return nil, fmt.Errorf("error collecting options: option %d runs past the end: %w", code, io.ErrUnexpectedEOF)
		}
		n := int(opts[1])
		v := opts[2 : 2+n : 2+n]
		opts = opts[2+n:]
		// RFC 3396: the values of an option that appears more than once
		// are concatenated (a copy; the first value keeps its cap, so the
		// datagram is never written). An empty value alone is nil, as
		// the library stores it.
		if prev, ok := p.Options[code]; ok {
			p.Options[code] = append(prev, v...)
		} else if n == 0 {
			p.Options[code] = nil
		} else {
			p.Options[code] = v
		}
	}
	if !end {
		return nil, io.ErrUnexpectedEOF
	}
	return p, nil
}

// countOptions counts the options in b up to End (a size hint).
func countOptions(b []byte) int {
	n := 0
	for len(b) >= 2 && b[0] != 255 {
		if b[0] == 0 {
			b = b[1:]
			continue
		}
		n++
		if len(b) < 2+int(b[1]) {
			break
		}
		b = b[2+int(b[1]):]
	}
	return n
}

// cString is the text of a NUL-padded BOOTP field: up to the first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// newReply4 is dhcpv4.NewReplyFromRequest(req) without its random
// transaction ID (which the request's replaces there too): a BOOTREPLY with
// req's hardware type and address, transaction ID, flags and giaddr, and
// req's options 82 (relay agent information, RFC 3046) and 61 (client
// identifier, RFC 6842). hint sizes the option map.
func newReply4(req *dhcpv4.DHCPv4, hint int) *dhcpv4.DHCPv4 {
	op := dhcpv4.OpcodeBootRequest
	if req.OpCode == dhcpv4.OpcodeBootRequest {
		op = dhcpv4.OpcodeBootReply
	}
	resp := &dhcpv4.DHCPv4{
		OpCode:        op,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		ClientHWAddr:  req.ClientHWAddr,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: req.GatewayIPAddr,
		Options:       make(dhcpv4.Options, hint),
	}
	for _, code := range [...]uint8{dhcpv4.OptionRelayAgentInformation.Code(), dhcpv4.OptionClientIdentifier.Code()} {
		if v := req.Options[code]; v != nil {
			resp.Options[code] = v
		}
	}
	return resp
}

// replyOptionsHint is the option map size a reply starts with: the options
// of a boot reply with an address, so that the map does not grow.
const replyOptionsHint = 16

// append4 appends m encoded as m.ToBytes() encodes it: the BOOTP header,
// the options in increasing order of code with 82 last (RFC 3046 §2.1),
// values longer than 255 bytes split (RFC 3396), End, and pad to the 300
// bytes of a BOOTP message. Where ToBytes would panic (an address that is
// neither nil nor IPv4) it writes 0.0.0.0.
func append4(b []byte, m *dhcpv4.DHCPv4) []byte {
	start := len(b)
	b = append(b, byte(m.OpCode), byte(m.HWType), byte(len(m.ClientHWAddr)), m.HopCount)
	b = append(b, m.TransactionID[:]...)
	b = append(b, byte(m.NumSeconds>>8), byte(m.NumSeconds), byte(m.Flags>>8), byte(m.Flags))
	for _, ip := range [...]net.IP{m.ClientIPAddr, m.YourIPAddr, m.ServerIPAddr, m.GatewayIPAddr} {
		if v4 := ip.To4(); v4 != nil {
			b = append(b, v4...)
		} else {
			b = append(b, 0, 0, 0, 0)
		}
	}
	b = appendField(b, m.ClientHWAddr, 16, 16)
	b = appendField(b, m.ServerHostName, 63, 64)
	b = appendField(b, m.BootFileName, 127, 128)
	b = append(b, magicCookie[:]...)

	var codes [256]uint8
	n := 0
	_, agent := m.Options[dhcpv4.OptionRelayAgentInformation.Code()]
	for code := range m.Options {
		if code == 0 || code == 255 || code == dhcpv4.OptionRelayAgentInformation.Code() {
			continue
		}
		// Insertion sort: a reply has a few dozen options at most.
		i := n
		for i > 0 && codes[i-1] > code {
			codes[i] = codes[i-1]
			i--
		}
		codes[i] = code
		n++
	}
	if agent {
		codes[n] = dhcpv4.OptionRelayAgentInformation.Code()
		n++
	}
	for _, code := range codes[:n] {
		v := m.Options[code]
		if len(v) == 0 {
			b = append(b, code, 0)
			continue
		}
		for len(v) > 0 {
			k := min(len(v), 255)
			b = append(b, code, byte(k))
			b = append(b, v[:k]...)
			v = v[k:]
		}
	}
	b = append(b, 255)
	for len(b)-start < bootpMinLen {
		b = append(b, 0)
	}
	return b
}

// appendField appends v cut to max bytes, padded with NULs to size.
func appendField[T ~string | ~[]byte](b []byte, v T, max, size int) []byte {
	if len(v) > max {
		v = v[:max]
	}
	b = append(b, v...)
	for range size - len(v) {
		b = append(b, 0)
	}
	return b
}

// sendBufs are the buffers replies are encoded into before they are sent.
var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1500); return &b }}

// encode4 encodes m into a pooled buffer and calls f with the bytes, which
// are valid only during f.
func encode4(m *dhcpv4.DHCPv4, f func([]byte) error) error {
	bp := sendBufs.Get().(*[]byte)
	b := append4((*bp)[:0], m)
	err := f(b)
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		sendBufs.Put(bp)
	}
	return err
}
