package ipxescript

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// SettingTypes lists the setting types iPXE knows (src/core/settings.c,
// dns.c). A type outside this list expands to an empty string.
var SettingTypes = []string{
	"string", "uristring", "ipv4", "ipv6", "int8", "int16", "int32",
	"uint8", "uint16", "uint32", "hex", "hexhyp", "hexraw", "base64",
	"uuid", "guid", "busdevfn", "dnssl",
}

// IsSettingType reports whether t is a known setting type.
func IsSettingType(t string) bool {
	for _, s := range SettingTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Settings is an in-memory settings store that expands "${...}" the way
// iPXE does. Keys are "name" or "scope/name"; values are raw bytes plus the
// type they were stored with. The zero value is ready to use.
type Settings struct {
	m map[string]setting
}

type setting struct {
	typ string
	raw []byte
}

// ErrExpansionLoop is returned when expansion does not terminate (a
// setting whose value refers to itself makes iPXE loop forever).
var ErrExpansionLoop = errors.New("ipxescript: setting expansion does not terminate")

// maxExpansions bounds the expansion loop.
const (
	maxExpansions  = 1024
	maxExpandedLen = 256 << 10
)

func key(r SettingRef) string {
	if r.Scope != "" {
		return r.Scope + "/" + r.Name
	}
	return r.Name
}

// Set stores value in the setting named by ref ("[scope/]name[:type]"),
// parsing it as iPXE's "set" does for the type (default string). An empty
// value deletes the setting.
func (s *Settings) Set(ref, value string) error {
	r := ParseSettingRef(ref)
	if r.Name == "" {
		return fmt.Errorf("ipxescript: invalid setting name %q", ref)
	}
	typ := r.Type
	if typ == "" {
		if old, ok := s.lookup(r); ok {
			typ = old.typ
		} else {
			typ = "string"
		}
	}
	if value == "" {
		s.Clear(ref)
		return nil
	}
	raw, err := parseTyped(typ, value)
	if err != nil {
		return fmt.Errorf("ipxescript: set %s: %w", ref, err)
	}
	if s.m == nil {
		s.m = map[string]setting{}
	}
	s.m[key(r)] = setting{typ: typ, raw: raw}
	return nil
}

// Clear deletes a setting.
func (s *Settings) Clear(ref string) {
	r := ParseSettingRef(ref)
	delete(s.m, key(r))
}

func (s *Settings) lookup(r SettingRef) (setting, bool) {
	if r.Scope != "" {
		if v, ok := s.m[key(r)]; ok {
			return v, true
		}
		if r.Scope == "netX" {
			return s.lookup(SettingRef{Scope: "net0", Name: r.Name})
		}
		return setting{}, false
	}
	if v, ok := s.m[r.Name]; ok {
		return v, true
	}
	// Unscoped names search every block; take scoped entries in name order.
	var keys []string
	for k := range s.m {
		if i := strings.LastIndexByte(k, '/'); i >= 0 && k[i+1:] == r.Name {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return setting{}, false
	}
	sort.Strings(keys)
	return s.m[keys[0]], true
}

// Get returns the value of ref formatted as "${ref}" would show it.
func (s *Settings) Get(ref string) (string, bool) {
	r := ParseSettingRef(ref)
	v, ok := s.lookup(r)
	if !ok {
		return "", false
	}
	typ := r.Type
	if typ == "" {
		typ = v.typ
	}
	out, ok := formatTyped(typ, v.raw)
	return out, ok
}

// Expand expands every "${...}" in one token exactly as iPXE's
// expand_settings: find the first "}" after some "${", expand from the last
// "${" before it, splice the value in and rescan from the start. Unset
// settings, unknown scopes and types expand to "".
func (s *Settings) Expand(token string) (string, error) {
	for n := 0; ; n++ {
		start, end := -1, -1
		for i := 0; i < len(token); i++ {
			if token[i] == '$' && i+1 < len(token) && token[i+1] == '{' {
				start = i
			}
			if start >= 0 && token[i] == '}' {
				end = i
				break
			}
		}
		if end < 0 {
			return token, nil
		}
		if n >= maxExpansions || len(token) > maxExpandedLen {
			return token, ErrExpansionLoop
		}
		val, _ := s.Get(token[start+2 : end])
		token = token[:start] + val + token[end+1:]
	}
}

func parseTyped(typ, v string) ([]byte, error) {
	switch typ {
	case "string":
		return []byte(v), nil
	case "uristring":
		return uriDecode(v), nil
	case "hex", "hexhyp", "hexraw":
		sep := map[string]string{"hex": ":", "hexhyp": "-", "hexraw": ""}[typ]
		if sep != "" {
			v = strings.ReplaceAll(v, sep, "")
		}
		return hex.DecodeString(v)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(v)
		}
		return b, err
	case "ipv4":
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address %q", v)
		}
		b := a.As4()
		return b[:], nil
	case "ipv6":
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is6() {
			return nil, fmt.Errorf("invalid IPv6 address %q", v)
		}
		b := a.As16()
		return b[:], nil
	case "int8", "int16", "int32", "uint8", "uint16", "uint32":
		neg := strings.HasPrefix(v, "-") // strtoul accepts and negates a sign
		n, err := ParseInteger(strings.TrimPrefix(v, "-"))
		if err != nil {
			return nil, err
		}
		if neg {
			n = -n
		}
		size := map[string]int{"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4}[typ]
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], n)
		return b[8-size:], nil
	case "uuid", "guid":
		h := strings.ReplaceAll(v, "-", "")
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 16 {
			return nil, fmt.Errorf("invalid UUID %q", v)
		}
		if typ == "guid" {
			swapGUID(b)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown setting type %q", typ)
}

// ParseInteger parses an integer as iPXE's parse_integer (strtoul base 0):
// decimal, "0x" hex, or octal when it starts with "0". Empty is invalid.
func ParseInteger(v string) (uint64, error) {
	if v == "" {
		return 0, errors.New("empty integer")
	}
	n, err := strconv.ParseUint(v, 0, 32)
	if err != nil || (len(v) > 1 && v[0] == '0' && (v[1] == 'o' || v[1] == 'O' || v[1] == 'b' || v[1] == 'B' || v[1] == '_')) || strings.Contains(v, "_") {
		return 0, fmt.Errorf("invalid integer %q", v)
	}
	return n, nil
}

func swapGUID(b []byte) {
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
}

func formatTyped(typ string, raw []byte) (string, bool) {
	switch typ {
	case "string":
		if i := indexNUL(raw); i >= 0 {
			raw = raw[:i]
		}
		return string(raw), true
	case "uristring":
		return uriEncode(raw), true
	case "hex", "hexhyp", "hexraw":
		sep := map[string]string{"hex": ":", "hexhyp": "-", "hexraw": ""}[typ]
		parts := make([]string, len(raw))
		for i, c := range raw {
			parts[i] = fmt.Sprintf("%02x", c)
		}
		return strings.Join(parts, sep), true
	case "base64":
		return base64.StdEncoding.EncodeToString(raw), true
	case "ipv4":
		if len(raw) != 4 {
			return "", false
		}
		return netip.AddrFrom4([4]byte(raw)).String(), true
	case "ipv6":
		if len(raw) != 16 {
			return "", false
		}
		return netip.AddrFrom16([16]byte(raw)).String(), true
	case "int8", "int16", "int32", "uint8", "uint16", "uint32":
		if len(raw) == 0 || len(raw) > 8 {
			return "", false
		}
		var u uint64
		for _, c := range raw {
			u = u<<8 | uint64(c)
		}
		if typ[0] == 'u' {
			if u == 0 {
				return "0", true
			}
			return fmt.Sprintf("%#x", u), true
		}
		shift := 64 - 8*uint(len(raw))
		return strconv.FormatInt(int64(u<<shift)>>shift, 10), true
	case "uuid", "guid":
		if len(raw) != 16 {
			return "", false
		}
		b := append([]byte(nil), raw...)
		if typ == "guid" {
			swapGUID(b)
		}
		h := hex.EncodeToString(b)
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
	}
	return "", false
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// uriEscaped reports whether iPXE's uristring format percent-encodes c
// (current iPXE; builds from 2019 and earlier leave "+" as is).
func uriEscaped(c byte) bool {
	return c <= 0x20 || c >= 0x7f || strings.IndexByte("%/#:@?=&+", c) >= 0
}

func uriEncode(raw []byte) string {
	var b strings.Builder
	for _, c := range raw {
		if c == 0 {
			break
		}
		if uriEscaped(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func uriDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s)+0 && i+2 <= len(s)-1 {
			if b, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				out = append(out, b[0])
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}
