package dhcpboot

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxHWLen is the largest hardware address a BOOTP header can carry (chaddr).
const maxHWLen = 16

// MACPattern matches hardware addresses: one exact address, an OUI or other
// prefix, a bit mask, or a per-byte wildcard. Build one with [ParseMACPattern]
// or [ExactMAC]. The zero value matches nothing.
type MACPattern struct {
	addr  [maxHWLen]byte
	mask  [maxHWLen]byte
	n     uint8 // address length in bytes; 0 = invalid
	exact bool  // every bit of mask set
	text  string
}

// ErrBadMAC is wrapped by the errors [ParseMACPattern] returns.
var ErrBadMAC = errors.New("dhcpboot: bad MAC pattern")

// ExactMAC returns a pattern that matches exactly hw.
func ExactMAC(hw net.HardwareAddr) MACPattern {
	var p MACPattern
	if len(hw) == 0 || len(hw) > maxHWLen {
		return p
	}
	p.n = uint8(len(hw))
	copy(p.addr[:], hw)
	for i := 0; i < len(hw); i++ {
		p.mask[i] = 0xff
	}
	p.exact = true
	p.text = hw.String()
	return p
}

// ParseMACPattern parses a MAC pattern. Bytes are two hex digits separated
// by ':' or '-' (or 12 hex digits without separators for an exact
// Ethernet address). Accepted forms:
//
//	52:54:00:77:00:0a                   exact address
//	52:54:00                            prefix (OUI): matches every 6-byte address starting so
//	52:54:00:*:*:0a                     '*' matches any byte
//	52:54:00:00:00:00/24                the first 24 bits
//	52:54:00:00:00:00/ff:ff:ff:00:00:0f explicit mask
//
// A prefix shorter than six bytes always describes a 6-byte (Ethernet) address.
func ParseMACPattern(s string) (MACPattern, error) {
	var p MACPattern
	fail := func(why string) (MACPattern, error) {
		return MACPattern{}, fmt.Errorf("%w %q: %s", ErrBadMAC, s, why)
	}
	if s == "" {
		return fail("empty")
	}
	body, maskText, hasMask := strings.Cut(s, "/")
	var addr, wild []byte
	if len(body) == 12 && !strings.ContainsAny(body, ":-*") {
		for i := 0; i < 12; i += 2 {
			b, err := strconv.ParseUint(body[i:i+2], 16, 8)
			if err != nil {
				return fail("bad hex digits")
			}
			addr = append(addr, byte(b))
			wild = append(wild, 0)
		}
	} else {
		parts := strings.FieldsFunc(body, func(r rune) bool { return r == ':' || r == '-' })
		if len(parts) == 0 || len(parts) > maxHWLen {
			return fail("need 1 to 16 bytes")
		}
		// FieldsFunc drops empty fields; reject "aa::bb" by counting separators.
		if seps := strings.Count(body, ":") + strings.Count(body, "-"); seps != len(parts)-1 {
			return fail("empty byte")
		}
		for _, part := range parts {
			if part == "*" {
				addr = append(addr, 0)
				wild = append(wild, 1)
				continue
			}
			if len(part) > 2 {
				return fail("byte " + strconv.Quote(part) + " is more than two hex digits")
			}
			b, err := strconv.ParseUint(part, 16, 8)
			if err != nil {
				return fail("byte " + strconv.Quote(part) + " is not hex")
			}
			addr = append(addr, byte(b))
			wild = append(wild, 0)
		}
	}
	n := len(addr)
	if n < 6 {
		if hasMask {
			return fail("a mask needs the whole address")
		}
		n = 6
	}
	p.n = uint8(n)
	copy(p.addr[:], addr)
	for i := range addr {
		if wild[i] == 0 {
			p.mask[i] = 0xff
		}
	}
	if hasMask {
		for i := range wild {
			if wild[i] != 0 {
				return fail("'*' and a mask together")
			}
		}
		var mask [maxHWLen]byte
		if bits, err := strconv.Atoi(maskText); err == nil {
			if bits < 0 || bits > n*8 {
				return fail("prefix length out of range")
			}
			for i := 0; i < bits; i++ {
				mask[i/8] |= 0x80 >> (i % 8)
			}
		} else {
			m, err := ParseMACPattern(maskText)
			if err != nil || !m.exact || int(m.n) != n {
				return fail("mask must be a prefix length or an address of the same length")
			}
			mask = m.addr
		}
		p.mask = mask
	}
	p.exact = true
	for i := 0; i < n; i++ {
		p.addr[i] &= p.mask[i]
		if p.mask[i] != 0xff {
			p.exact = false
		}
	}
	p.text = s
	return p, nil
}

// MustParseMACPattern is like [ParseMACPattern] but panics on error. It is
// meant for patterns written in source code.
func MustParseMACPattern(s string) MACPattern {
	p, err := ParseMACPattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Match reports whether hw matches the pattern. Addresses of another length
// never match.
func (p MACPattern) Match(hw net.HardwareAddr) bool {
	if p.n == 0 || len(hw) != int(p.n) {
		return false
	}
	for i := 0; i < len(hw); i++ {
		if hw[i]&p.mask[i] != p.addr[i] {
			return false
		}
	}
	return true
}

// Exact reports whether the pattern matches exactly one address.
func (p MACPattern) Exact() bool { return p.exact && p.n != 0 }

// String returns the pattern as it was written (or the address for [ExactMAC]).
func (p MACPattern) String() string {
	if p.n == 0 {
		return "<none>"
	}
	return p.text
}

// macKey is a comparable form of a hardware address, used as a map key
// without allocating.
type macKey struct {
	n uint8
	b [maxHWLen]byte
}

func keyOf(hw net.HardwareAddr) (macKey, bool) {
	var k macKey
	if len(hw) == 0 || len(hw) > maxHWLen {
		return k, false
	}
	k.n = uint8(len(hw))
	copy(k.b[:], hw)
	return k, true
}

// MarshalText implements encoding.TextMarshaler.
func (p MACPattern) MarshalText() ([]byte, error) {
	if p.n == 0 {
		return nil, fmt.Errorf("%w: zero pattern", ErrBadMAC)
	}
	return []byte(p.text), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseMACPattern].
func (p *MACPattern) UnmarshalText(b []byte) error {
	v, err := ParseMACPattern(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
