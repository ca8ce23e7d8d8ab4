package dhcpboot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Template is a boot file name or URL with {{name}} placeholders filled in
// from the request, for example
//
//	http://{{server}}:8080/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}&uuid={{uuid}}
//
// Placeholders:
//
//	server       the server address the client talks to (IPv6 in brackets in
//	             URLs, without a zone)
//	mac          aa:bb:cc:dd:ee:ff      mac_hyphen  aa-bb-cc-dd-ee-ff (PXELINUX style)
//	mac_hex      aabbccddeeff           uuid        canonical RFC 4122 text, or ""
//	arch         decimal arch code      arch_name   IANA name
//	firmware     bios, uefi, ...        cpu         x86_64, arm64, ...
//	transport    pxe, http              ipxe        "1" for iPXE, else "0"
//	user_class   first user class       vendor_class option 60 as sent
//	interface    receiving interface    relay       giaddr, or ""
//
// Values are escaped so that a client can never change the shape of the
// result: when the template starts with a URL scheme ("http://", "tftp://",
// ...), every byte of a value outside the URL unreserved set
// (A-Z a-z 0-9 - . _ ~) is percent-encoded, so a value cannot add a path
// segment, a query parameter or an iPXE ${setting}. Otherwise the template
// is a file name and such bytes become '_' (and a value made only of dots
// becomes underscores), so a value cannot climb out of a directory.
// Text outside placeholders is kept as written, including iPXE's own
// ${...} settings, which iPXE expands itself.
type Template struct {
	text  string
	url   bool
	parts []tplPart
}

type tplPart struct {
	lit string
	v   tplVar // 0: literal
}

type tplVar uint8

const (
	varNone tplVar = iota
	varServer
	varMAC
	varMACHyphen
	varMACHex
	varUUID
	varArch
	varArchName
	varFirmware
	varCPU
	varTransport
	varIPXE
	varUserClass
	varVendorClass
	varInterface
	varRelay
)

var tplVars = map[string]tplVar{
	"server": varServer, "mac": varMAC, "mac_hyphen": varMACHyphen, "mac_hex": varMACHex,
	"uuid": varUUID, "arch": varArch, "arch_name": varArchName, "firmware": varFirmware,
	"cpu": varCPU, "transport": varTransport, "ipxe": varIPXE, "user_class": varUserClass,
	"vendor_class": varVendorClass, "interface": varInterface, "relay": varRelay,
}

// ErrTemplate is wrapped by the errors [ParseTemplate] returns.
var ErrTemplate = errors.New("dhcpboot: bad template")

// ParseTemplate parses a template. Unknown or unterminated placeholders are
// errors.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{text: s, url: hasScheme(s)}
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if strings.Contains(rest, "}}") {
				return nil, fmt.Errorf("%w %q: '}}' without '{{'", ErrTemplate, s)
			}
			if rest != "" {
				t.parts = append(t.parts, tplPart{lit: rest})
			}
			return t, nil
		}
		if strings.Contains(rest[:i], "}}") {
			return nil, fmt.Errorf("%w %q: '}}' without '{{'", ErrTemplate, s)
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		rest = rest[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return nil, fmt.Errorf("%w %q: unterminated '{{'", ErrTemplate, s)
		}
		name := strings.TrimSpace(rest[:j])
		v, ok := tplVars[name]
		if !ok {
			return nil, fmt.Errorf("%w %q: unknown placeholder %q", ErrTemplate, s, name)
		}
		t.parts = append(t.parts, tplPart{v: v})
		rest = rest[j+2:]
	}
}

// MustParseTemplate is like [ParseTemplate] but panics on error; for
// templates written in source code.
func MustParseTemplate(s string) *Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the template text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.text
}

// IsURL reports whether the template starts with a URL scheme.
func (t *Template) IsURL() bool { return t != nil && t.url }

// Expand fills the placeholders from r.
func (t *Template) Expand(r *Request) string {
	if t == nil {
		return ""
	}
	if len(t.parts) == 1 && t.parts[0].v == varNone {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.v == varNone {
			b.WriteString(p.lit)
			continue
		}
		val, raw := t.value(p.v, r)
		if raw {
			b.WriteString(val)
		} else if t.url {
			escapeURL(&b, val)
		} else {
			escapeFile(&b, val)
		}
	}
	return b.String()
}

// value returns the placeholder's value and whether it is trusted (not
// client-controlled) and so written without escaping.
func (t *Template) value(v tplVar, r *Request) (string, bool) {
	c := &r.Client
	switch v {
	case varServer:
		if !r.ServerIP.IsValid() {
			return "", true
		}
		// A zone is meaningful only on this host (RFC 6874 §1): never sent.
		ip := r.ServerIP.Unmap().WithZone("")
		if ip.Is6() && t.url {
			return "[" + ip.String() + "]", true
		}
		return ip.String(), true
	case varMAC:
		return c.MAC.String(), false
	case varMACHyphen:
		return strings.ReplaceAll(c.MAC.String(), ":", "-"), false
	case varMACHex:
		return strings.ReplaceAll(c.MAC.String(), ":", ""), false
	case varUUID:
		return c.UUID, false
	case varArch:
		if !c.HasArch {
			return "", false
		}
		return strconv.Itoa(int(c.Arch)), false
	case varArchName:
		return c.ArchName, false
	case varFirmware:
		return string(c.Firmware), false
	case varCPU:
		return string(c.CPU), false
	case varTransport:
		return string(c.Transport), false
	case varIPXE:
		if c.IPXE {
			return "1", true
		}
		return "0", true
	case varUserClass:
		if len(c.UserClasses) > 0 {
			return c.UserClasses[0], false
		}
		return "", false
	case varVendorClass:
		return c.VendorClass.Raw, false
	case varInterface:
		return r.Interface, false
	case varRelay:
		if r.Relay.IsValid() {
			return r.Relay.String(), true
		}
		return "", true
	}
	return "", true
}

func hasScheme(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func escapeURL(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

func escapeFile(b *strings.Builder, s string) {
	if strings.Trim(s, ".") == "" {
		b.WriteString(strings.Repeat("_", len(s)))
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) && c != '~' || c == ':' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
}

// MarshalText implements encoding.TextMarshaler.
func (t *Template) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseTemplate].
func (t *Template) UnmarshalText(b []byte) error {
	v, err := ParseTemplate(string(b))
	if err != nil {
		return err
	}
	*t = *v
	return nil
}
