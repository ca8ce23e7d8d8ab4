package tftpserve

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Opcode is a TFTP packet type (RFC 1350, RFC 2347).
type Opcode uint16

// The TFTP opcodes.
const (
	OpRRQ   Opcode = 1 // read request
	OpWRQ   Opcode = 2 // write request
	OpDATA  Opcode = 3 // data block
	OpACK   Opcode = 4 // acknowledgement
	OpERROR Opcode = 5 // error
	OpOACK  Opcode = 6 // option acknowledgement (RFC 2347)
)

// String returns the RFC name of the opcode.
func (o Opcode) String() string {
	switch o {
	case OpRRQ:
		return "RRQ"
	case OpWRQ:
		return "WRQ"
	case OpDATA:
		return "DATA"
	case OpACK:
		return "ACK"
	case OpERROR:
		return "ERROR"
	case OpOACK:
		return "OACK"
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}

// ErrorCode is the code carried by a TFTP ERROR packet.
type ErrorCode uint16

// The TFTP error codes (RFC 1350, RFC 2347).
const (
	CodeUndefined     ErrorCode = 0 // not defined, see message
	CodeNotFound      ErrorCode = 1 // file not found
	CodeAccess        ErrorCode = 2 // access violation
	CodeDiskFull      ErrorCode = 3 // disk full or allocation exceeded
	CodeIllegalOp     ErrorCode = 4 // illegal TFTP operation
	CodeUnknownTID    ErrorCode = 5 // unknown transfer ID
	CodeFileExists    ErrorCode = 6 // file already exists
	CodeNoSuchUser    ErrorCode = 7 // no such user
	CodeOptionRefused ErrorCode = 8 // option negotiation failed (RFC 2347)
)

// String returns a short description of the code.
func (c ErrorCode) String() string {
	switch c {
	case CodeUndefined:
		return "undefined"
	case CodeNotFound:
		return "file not found"
	case CodeAccess:
		return "access violation"
	case CodeDiskFull:
		return "disk full"
	case CodeIllegalOp:
		return "illegal operation"
	case CodeUnknownTID:
		return "unknown transfer ID"
	case CodeFileExists:
		return "file exists"
	case CodeNoSuchUser:
		return "no such user"
	case CodeOptionRefused:
		return "option refused"
	}
	return "error(" + strconv.Itoa(int(c)) + ")"
}

// Option is one option name and value as a client sent it (RFC 2347).
type Option struct {
	Name  string // as sent; compare with strings.EqualFold
	Value string
}

// Limits of the wire format.
const (
	MinBlockSize  = 8     // RFC 2348
	MaxBlockSize  = 65464 // RFC 2348
	MaxWindowSize = 65535 // RFC 7440
	MinTimeout    = 1     // RFC 2349, seconds
	MaxTimeout    = 255   // RFC 2349, seconds
	// maxRequestSize bounds accepted RRQ/WRQ packets. RFC 2347 caps requests
	// at 512 octets; a little slack is allowed for clients that exceed it.
	maxRequestSize = 1024
)

// errMalformed reports a packet that is not valid TFTP.
var errMalformed = errors.New("tftpserve: malformed packet")

// packet is a decoded TFTP packet. Only the fields of its opcode are set.
type packet struct {
	op       Opcode
	filename string // RRQ, WRQ
	mode     string // RRQ, WRQ
	options  []Option
	block    uint16 // DATA, ACK
	data     []byte // DATA (aliases the input)
	code     ErrorCode
	msg      string // ERROR
}

// parsePacket decodes one datagram. Strings are copied; DATA payloads alias b.
func parsePacket(b []byte) (packet, error) {
	var p packet
	if len(b) < 2 {
		return p, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	p.op = Opcode(binary.BigEndian.Uint16(b))
	body := b[2:]
	switch p.op {
	case OpRRQ, OpWRQ:
		if len(b) > maxRequestSize {
			return p, fmt.Errorf("%w: request of %d bytes", errMalformed, len(b))
		}
		var err error
		if p.filename, body, err = cstring(body); err != nil {
			return p, fmt.Errorf("%w: filename: %v", errMalformed, err)
		}
		if p.mode, body, err = cstring(body); err != nil {
			return p, fmt.Errorf("%w: mode: %v", errMalformed, err)
		}
		if p.options, err = parseOptions(body); err != nil {
			return p, err
		}
	case OpOACK:
		var err error
		if p.options, err = parseOptions(body); err != nil {
			return p, err
		}
	case OpDATA:
		if len(body) < 2 {
			return p, fmt.Errorf("%w: short DATA", errMalformed)
		}
		p.block = binary.BigEndian.Uint16(body)
		p.data = body[2:]
	case OpACK:
		if len(body) < 2 {
			return p, fmt.Errorf("%w: short ACK", errMalformed)
		}
		p.block = binary.BigEndian.Uint16(body)
	case OpERROR:
		if len(body) < 2 {
			return p, fmt.Errorf("%w: short ERROR", errMalformed)
		}
		p.code = ErrorCode(binary.BigEndian.Uint16(body))
		// Be lenient with the message: many stacks forget the NUL.
		msg := body[2:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > 512 {
			msg = msg[:512]
		}
		p.msg = string(msg)
	default:
		return p, fmt.Errorf("%w: unknown opcode %d", errMalformed, p.op)
	}
	return p, nil
}

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (string, []byte, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, errors.New("missing NUL terminator")
	}
	return string(b[:i]), b[i+1:], nil
}

// parseOptions decodes name/value pairs. Trailing NUL padding (sent by some
// boot ROMs) is ignored; a name without a value is an error.
func parseOptions(b []byte) ([]Option, error) {
	var opts []Option
	for len(b) > 0 {
		if allZero(b) {
			break
		}
		name, rest, err := cstring(b)
		if err != nil {
			return nil, fmt.Errorf("%w: option name: %v", errMalformed, err)
		}
		if name == "" {
			return nil, fmt.Errorf("%w: empty option name", errMalformed)
		}
		value, rest, err := cstring(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: option %q: value: %v", errMalformed, name, err)
		}
		if len(opts) >= 32 {
			return nil, fmt.Errorf("%w: too many options", errMalformed)
		}
		opts = append(opts, Option{Name: name, Value: value})
		b = rest
	}
	return opts, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// appendRequest encodes an RRQ or WRQ (used by tests and the scripted client).
func appendRequest(b []byte, op Opcode, filename, mode string, opts ...Option) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(op))
	b = append(append(b, filename...), 0)
	b = append(append(b, mode...), 0)
	return appendOptions(b, opts)
}

func appendOptions(b []byte, opts []Option) []byte {
	for _, o := range opts {
		b = append(append(b, o.Name...), 0)
		b = append(append(b, o.Value...), 0)
	}
	return b
}

// appendOACK encodes an OACK.
func appendOACK(b []byte, opts []Option) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpOACK))
	return appendOptions(b, opts)
}

// appendACK encodes an ACK.
func appendACK(b []byte, block uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpACK))
	return binary.BigEndian.AppendUint16(b, block)
}

// appendDataHeader encodes the 4-byte DATA header.
func appendDataHeader(b []byte, block uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpDATA))
	return binary.BigEndian.AppendUint16(b, block)
}

// appendError encodes an ERROR. The message is cut to keep the packet small
// and stripped of NULs.
func appendError(b []byte, code ErrorCode, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpERROR))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	msg = strings.ReplaceAll(msg, "\x00", "")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return append(append(b, msg...), 0)
}

// parseDecimal parses an option value: ASCII digits only, no sign, at most
// ten digits.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseSize parses a tsize value: up to 20 digits, fits an int64.
func parseSize(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
