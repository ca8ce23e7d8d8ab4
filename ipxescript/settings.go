package ipxescript

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// settingTypes lists the setting types iPXE knows (src/core/settings.c,
// dns.c).
var settingTypes = []string{
	"string", "uristring", "ipv4", "ipv6", "int8", "int16", "int32",
	"uint8", "uint16", "uint32", "hex", "hexhyp", "hexraw", "base64",
	"uuid", "guid", "busdevfn", "dnssl",
}

// SettingTypes returns the setting types iPXE knows (the setting_type
// definitions in src/core/settings.c and src/net/udp/dns.c), a new slice
// on each call. A type outside this list expands to an empty string.
func SettingTypes() []string { return slices.Clone(settingTypes) }

// IsSettingType reports whether t is a known setting type.
func IsSettingType(t string) bool { return slices.Contains(settingTypes, t) }

// Settings is an in-memory settings store that expands "${...}" the way
// iPXE does. Integer types format as 32-bit iPXE builds do (unsigned long
// is 32 bits on i386): a value of more than 4 significant bytes does not
// format, and int32 -2147483648 prints as iPXE's "%ld" garbles it. Keys
// are "name" or "scope/name"; values are raw bytes plus the type they were
// stored with. The zero value is ready to use.
type Settings struct {
	m map[string]setting
	// version selects the codecs where iPXE versions differ; a Runner
	// sets it to Runner.Version for the length of a run.
	version Version
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

// predefinedTypes are the types of iPXE's predefined settings that are
// not strings and apply to any settings block (the __setting tables of
// net/dhcp*.c, net/netdevice.c, net/ipv4.c, core/settings.c and others, the
// same in 2019 except ntp, peerdist and static-routes). parse_setting_name
// (core/settings.c) copies the predefined setting, type included, when a
// name matches: "set ip 10.0.0.5" stores an IPv4 address, and "${ip}"
// formats as IPv4 whatever type stored it.
var predefinedTypes = map[string]string{
	"ip": "ipv4", "netmask": "ipv4", "gateway": "ipv4", "dns": "ipv4", "next-server": "ipv4",
	"dhcp-server": "ipv4", "syslog": "ipv4", "ntp": "ipv4",
	"mac": "hex", "hwaddr": "hex", "busid": "hex", "static-routes": "hex", "trust": "hex",
	"cert": "hex", "privkey": "hex",
	"priority": "int8", "keep-san": "int8", "skip-san-boot": "int8", "san-retries": "int8",
	"active-scan": "int8", "peerdist": "int8", "san-drive": "uint8", "mtu": "int16",
	"busloc": "uint32", "uid": "uint32", "gid": "uint32",
}

// predefinedType returns the type of the predefined setting name, or def.
func predefinedType(name, def string) string {
	if t, ok := predefinedTypes[name]; ok {
		return t
	}
	return def
}

// Set stores value in the setting named by ref ("[scope/]name[:type]"),
// parsing it as iPXE's "set" does for the type. Without a type the value
// is a string, whatever type the setting had (set_core_exec in
// hci/commands/nvo_cmd.c applies setting_type_string), unless the name is
// a predefined setting with a type of its own ("ip" is ipv4, "mac" hex). An empty value
// deletes the setting. An empty or unknown type ("name:", "name:bogus")
// fails, as find_setting_type does in parse_setting_name. An empty name
// ("scope/") is accepted, as in iPXE, but stores nothing that can be read.
func (s *Settings) Set(ref, value string) error {
	r := ParseSettingRef(ref)
	if err := checkType(ref, r); err != nil {
		return err
	}
	typ := r.Type
	if typ == "" {
		typ = predefinedType(r.Name, "string")
	}
	if value == "" {
		s.Clear(ref)
		return nil
	}
	raw, err := parseTyped(typ, value)
	if err != nil {
		return fmt.Errorf("ipxescript: set %s: %w", ref, err)
	}
	if r.Name == "" {
		// parse_setting_name (core/settings.c) accepts an empty name
		// ("scope/", or "" itself) and the store succeeds, but
		// setting_cmp never matches an empty name: the value can never
		// be read back, so there is nothing to keep.
		return nil
	}
	s.store(r, typ, raw)
	return nil
}

func (s *Settings) store(r SettingRef, typ string, raw []byte) {
	if s.m == nil {
		s.m = map[string]setting{}
	}
	s.m[key(r)] = setting{typ: typ, raw: raw}
}

// checkType fails, as parse_setting_name does, when ref names an empty or
// unknown type.
func checkType(ref string, r SettingRef) error {
	if hasEmptyType(ref) || (r.Type != "" && !IsSettingType(r.Type)) {
		return fmt.Errorf("ipxescript: %s: unknown setting type %q", ref, r.Type)
	}
	return nil
}

// hasEmptyType reports whether ref names the empty type ("name:"), which
// iPXE's find_setting_type does not know (core/settings.c).
func hasEmptyType(ref string) bool {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	i := strings.IndexByte(ref, ':')
	return i >= 0 && i == len(ref)-1
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
	if !ok || hasEmptyType(ref) {
		return "", false
	}
	typ := r.Type
	if typ == "" {
		typ = predefinedType(r.Name, v.typ)
	}
	out, ok := formatTyped(typ, v.raw, s.version)
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
		return uriDecode(v), nil // parse_uristring_setting: uri_decode
	case "hex":
		return hexDecode(':', v)
	case "hexhyp":
		return hexDecode('-', v)
	case "hexraw":
		return hexDecode(0, v)
	case "base64":
		return base64Decode(v)
	case "ipv4":
		b, ok := inetAton(v)
		if !ok {
			return nil, fmt.Errorf("invalid IPv4 address %q", v)
		}
		return b[:], nil
	case "ipv6":
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is6() {
			return nil, fmt.Errorf("invalid IPv6 address %q", v)
		}
		b := a.As16()
		return b[:], nil
	case "int8", "int16", "int32", "uint8", "uint16", "uint32":
		// parse_int_setting (core/settings.c): strtoul base 0 with no
		// empty check (an empty value deletes before it gets here).
		n, ok := strtoul32(v)
		if !ok {
			return nil, fmt.Errorf("invalid integer %q", v)
		}
		return denumerate(typ, n), nil
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

// ParseInteger parses an integer as iPXE's parse_integer
// (core/parseopt.c) does for command arguments (exit, sleep, inc, option
// values): strtoul with base 0 (core/string.c), so leading whitespace, a
// "+" or "-" sign, "0x" hex (digits optional: "0x" is 0) and octal after a
// leading "0" are accepted, and the value is truncated to 32 bits ("-1" is
// 0xffffffff). The whole text must be consumed. Empty text is invalid, as
// in iPXE master since commit 8830f2f35; the 2019 build reads it as 0
// (the Runner follows Runner.Version).
func ParseInteger(v string) (uint64, error) {
	if v == "" {
		return 0, errors.New("empty integer")
	}
	n, ok := strtoul32(v)
	if !ok {
		return 0, fmt.Errorf("invalid integer %q", v)
	}
	return uint64(n), nil
}

// strtoul32 is iPXE's strtoul(v, &endp, 0) (core/string.c strtoul and
// strtoul_pre) reduced to the 32 bits that parse_integer and
// denumerate_int_setting keep; ok reports that endp reached the end.
func strtoul32(v string) (n uint32, ok bool) {
	n, end := strtoulPrefix(v, 0)
	return n, end == len(v)
}

// digitValue is iPXE's digit_value (core/string.c): 0-9, then letters of
// either case from 10; anything else is at least 36.
func digitValue(c byte) uint32 {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0')
	case c >= 'a' && c <= 'z':
		return uint32(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return uint32(c-'A') + 10
	}
	return 36
}

// hexDecode is iPXE's hex_decode (core/base16.c) as the hex, hexhyp and
// hexraw setting types call it (parse_hex_setting and friends in
// core/settings.c, the same in 2019 and master): pairs of hex digits,
// exactly one sep between pairs when sep is not 0, nothing else.
func hexDecode(sep byte, v string) ([]byte, error) {
	out := make([]byte, 0, len(v)/2)
	for i := 0; i < len(v); {
		if len(out) > 0 && sep != 0 {
			if v[i] != sep {
				return nil, fmt.Errorf("invalid hex %q", v)
			}
			i++
		}
		if i+2 > len(v) {
			return nil, fmt.Errorf("invalid hex %q", v)
		}
		hi, lo := digitValue(v[i]), digitValue(v[i+1])
		if hi >= 16 || lo >= 16 {
			return nil, fmt.Errorf("invalid hex %q", v)
		}
		out = append(out, byte(hi<<4|lo))
		i += 2
	}
	return out, nil
}

// intWidth is the size in bytes of an integer setting type, 0 for other
// types (setting_type_int_width, core/settings.c).
func intWidth(typ string) int {
	switch typ {
	case "int8", "uint8":
		return 1
	case "int16", "uint16":
		return 2
	case "int32", "uint32":
		return 4
	}
	return 0
}

// denumerate is denumerate_int_setting (core/settings.c): the low bytes of
// the 32-bit value, big-endian.
func denumerate(typ string, n uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return append([]byte(nil), b[4-intWidth(typ):]...)
}

// numerate is numerate_int_setting (core/settings.c numeric_setting_value)
// for an integer type, as 32-bit builds (the i386 BIOS ROM) compute it: raw
// of any length, sign-extended for signed types, into a 32-bit unsigned
// long; leading bytes beyond 4 must be padding (0, or 0xff for a negative
// signed value), else the value is out of range. 64-bit builds (x86_64
// EFI) accept up to 8 significant bytes there. ok is false for other
// types and out-of-range raw.
func numerate(typ string, raw []byte) (n uint32, ok bool) {
	if intWidth(typ) == 0 {
		return 0, false
	}
	var pad byte
	if typ[0] != 'u' && len(raw) > 0 && raw[0] >= 0x80 {
		n, pad = ^uint32(0), 0xff
	}
	for i, c := range raw {
		n = n<<8 | uint32(c)
		if i+4 < len(raw) && c != pad {
			return 0, false
		}
	}
	return n, true
}

// formatLong is iPXE's "%ld" (core/vsprintf.c format_decimal) with a
// 32-bit long: it negates a negative number before taking digits, and
// LONG_MIN stays negative, so each of its digits d comes out as the
// character '0'-d: -2147483648 prints as "-./,),(-*,(" (64-bit builds
// print this value correctly).
func formatLong(v int32) string {
	if v != math.MinInt32 {
		return strconv.FormatInt(int64(v), 10)
	}
	b := []byte("-2147483648")
	for i := 1; i < len(b); i++ {
		b[i] = '0' - (b[i] - '0')
	}
	return string(b)
}

func swapGUID(b []byte) {
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
}

func formatTyped(typ string, raw []byte, v Version) (string, bool) {
	switch typ {
	case "string":
		if i := indexNUL(raw); i >= 0 {
			raw = raw[:i]
		}
		return string(raw), true
	case "uristring":
		return uriEncode(raw, v), true
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
		n, ok := numerate(typ, raw)
		if !ok {
			return "", false
		}
		if typ[0] == 'u' {
			// format_uint_setting: "%#lx", and iPXE's vsnprintf writes
			// the 0x for zero too ("0x0").
			return fmt.Sprintf("0x%x", n), true
		}
		return formatLong(int32(n)), true // format_int_setting: "%ld"
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

// uriEscaped reports whether iPXE's format_uristring_setting escapes c:
// uri_encode with field 0 (core/uri.c uri_character_escaped) escapes what
// is not printable (isprint: ' '..'~', so also every byte >= 0x80), space,
// '%' and "/#:@?=&"; master also escapes '+' (the 2019 build does not).
func uriEscaped(c byte, v Version) bool {
	return c <= 0x20 || c >= 0x7f || strings.IndexByte("%/#:@?=&", c) >= 0 || (c == '+' && v != V2019)
}

// uriEncode is iPXE's uri_encode(0, raw, raw_len) as format_uristring_setting
// calls it, the same in 2019 and master: every byte of the raw value is
// written, a NUL as "%00". The byte is a (signed, on x86) char passed to
// "%%%02X", so a byte >= 0x80 comes out sign-extended: 0x80 is
// "%FFFFFF80" (iPXE builds where char is unsigned, such as ARM, write
// "%80").
func uriEncode(raw []byte, v Version) string {
	var b strings.Builder
	for _, c := range raw {
		switch {
		case !uriEscaped(c, v):
			b.WriteByte(c)
		case c >= 0x80:
			fmt.Fprintf(&b, "%%FFFFFF%02X", c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// uriDecode is iPXE's uri_decode (core/uri.c, the same in 2019 and
// master): after a '%', strtoul(.., 16) reads at most the next two
// characters; it skips leading whitespace and takes a sign, so "%4" is
// 0x04, "%4z" is 0x04 'z', "%-1" is 0xFF, "% 4" is 0x04 and "%-z" is 0x00
// 'z'. When strtoul consumes nothing the '%' stays itself ("%zz").
func uriDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			n, skip := strtoulPrefix(s[i+1:min(i+3, len(s))], 16)
			i += skip
			if skip > 0 {
				c = byte(n) // "char decoded = strtoul(...)"
			}
		}
		out = append(out, c)
	}
	return out
}

// strtoulPrefix is iPXE's strtoul(s, &endp, base) (core/string.c strtoul,
// strtoul_pre, digit_value) on a 32-bit unsigned long (the BIOS build):
// leading whitespace and one sign are skipped, base 0 reads "0x" as hex and
// a leading "0" as octal, then digits follow; end is the offset of endp.
// Unlike C's strtoul, endp lies after the whitespace, sign and prefix even
// when no digit follows ("-" gives 0 with end 1). The value wraps.
func strtoulPrefix(s string, base uint32) (n uint32, end int) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	if base == 0 {
		base = 10
		if i < len(s) && s[i] == '0' {
			i++
			base = 8
			if i < len(s) && s[i]&^0x20 == 'X' {
				i++
				base = 16
			}
		}
	}
	for ; i < len(s); i++ {
		d := digitValue(s[i])
		if d >= base {
			break
		}
		n = n*base + d // wraps as iPXE's unsigned arithmetic does
	}
	if neg {
		n = -n
	}
	return n, i
}

// inetAton is iPXE's inet_aton (net/ipv4.c, the same in 2019 and master):
// exactly four parts separated by '.', each read by strtoul base 0, so
// "010" is octal 8, "0x0a" is 10, "08" is refused, and a part may be "-",
// "+" or "0x" (0). A part above 0xff is refused (after 32-bit wrapping, as
// on the BIOS build).
func inetAton(s string) ([4]byte, bool) {
	var b [4]byte
	for k := range b {
		n, end := strtoulPrefix(s, 0)
		if end == 0 || n > 0xff {
			return b, false
		}
		b[k] = byte(n)
		s = s[end:]
		if k == 3 {
			return b, s == ""
		}
		if s == "" || s[0] != '.' {
			return b, false
		}
		s = s[1:]
	}
	return b, false
}

// base64Decode is iPXE's base64_decode (core/base64.c, the same rules in
// 2019 and master): whitespace (isspace) anywhere is skipped, at most two
// '=' and only at the end, each '=' takes back two bits, and the bits must
// make whole bytes, so unpadded "QQ" is refused while "QU JD" is "ABC".
// Bits left over in the last character are dropped ("QR==" is "A").
func base64Decode(v string) ([]byte, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var digits []byte
	pad := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isSpace(c):
		case c == '=':
			if pad >= 2 {
				return nil, fmt.Errorf("base64 %q: too many pad characters", v)
			}
			pad++
		case pad > 0:
			return nil, fmt.Errorf("base64 %q: invalid pad sequence", v)
		default:
			d := strings.IndexByte(alphabet, c)
			if d < 0 {
				return nil, fmt.Errorf("base64 %q: invalid character %q", v, c)
			}
			digits = append(digits, byte(d))
		}
	}
	bits := 6*len(digits) - 2*pad
	if bits < 0 || bits%8 != 0 {
		return nil, fmt.Errorf("base64 %q: invalid bit length", v)
	}
	out := make([]byte, bits/8)
	for i, d := range digits {
		bit := 6 * i
		in := int(d) << 2
		if off := bit / 8; off < len(out) {
			out[off] |= byte(in >> (bit % 8))
			if off+1 < len(out) {
				out[off+1] |= byte(in << (8 - bit%8))
			}
		}
	}
	return out, nil
}
