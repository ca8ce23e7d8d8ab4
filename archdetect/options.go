package archdetect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Errors the option decoders return (wrapped with detail).
var (
	// ErrTruncated means an option is shorter than its format requires.
	ErrTruncated = errors.New("archdetect: option truncated")
	// ErrBadLength means an option's length does not fit its format.
	ErrBadLength = errors.New("archdetect: bad option length")
	// ErrBadValue means an option holds a value its format does not allow.
	ErrBadValue = errors.New("archdetect: bad option value")
)

// ParseArchs decodes DHCPv4 option 93 / DHCPv6 option 61: a list of 16-bit
// big-endian architecture codes. It uses the iana package's decoder and
// rejects an empty or odd-length value.
func ParseArchs(b []byte) ([]Arch, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: client arch list is empty", ErrBadLength)
	}
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: client arch list has odd length %d", ErrBadLength, len(b))
	}
	var a iana.Archs
	if err := a.FromBytes(b); err != nil {
		return nil, fmt.Errorf("%w: client arch list: %v", ErrBadValue, err)
	}
	return []Arch(a), nil
}

// ParseUNDI decodes DHCPv4 option 94 / DHCPv6 option 62 (Client Network
// Interface Identifier, RFC 4578 §2.2): exactly 3 bytes, type, major, minor.
func ParseUNDI(b []byte) (UNDI, error) {
	if len(b) != 3 {
		return UNDI{}, fmt.Errorf("%w: network interface identifier has %d bytes, want 3", ErrBadLength, len(b))
	}
	return UNDI{Type: b[0], Major: b[1], Minor: b[2]}, nil
}

// String formats the UNDI version as "type.major.minor" with type 1 (UNDI)
// printed as "UNDI 3.10".
func (u UNDI) String() string {
	if u.Type == 1 {
		return fmt.Sprintf("UNDI %d.%d", u.Major, u.Minor)
	}
	return fmt.Sprintf("type %d %d.%d", u.Type, u.Major, u.Minor)
}

// MachineID is a decoded DHCPv4 option 97 (Client Machine Identifier,
// RFC 4578 §2.3).
type MachineID struct {
	// Type is the identifier type; 0 is a 16-byte GUID.
	Type uint8
	// Raw is the 16 bytes as sent.
	Raw [16]byte
}

// ParseMachineID decodes option 97: a type byte 0 followed by 16 bytes.
func ParseMachineID(b []byte) (MachineID, error) {
	if len(b) != 17 {
		return MachineID{}, fmt.Errorf("%w: machine identifier has %d bytes, want 17", ErrBadLength, len(b))
	}
	if b[0] != 0 {
		return MachineID{}, fmt.Errorf("%w: machine identifier type %d, want 0", ErrBadValue, b[0])
	}
	var m MachineID
	copy(m.Raw[:], b[1:])
	return m, nil
}

// UUID returns the identifier in canonical RFC 4122 text form, reading the
// bytes in EFI GUID order (first three fields little-endian), which is what
// iPXE and EDK2 send: QEMU -uuid 00112233-4455-6677-8899-aabbccddeeff is sent
// as 33 22 11 00 55 44 77 66 88 99 … and printed here as the QEMU value,
// the same text iPXE's ${uuid} and SMBIOS tools show.
func (m MachineID) UUID() string { return FormatGUID(m.Raw) }

// FormatGUID prints 16 bytes in EFI GUID order (first three fields
// little-endian) as a canonical lower-case UUID string.
func FormatGUID(b [16]byte) string {
	var s [16]byte
	s[0], s[1], s[2], s[3] = b[3], b[2], b[1], b[0]
	s[4], s[5] = b[5], b[4]
	s[6], s[7] = b[7], b[6]
	copy(s[8:], b[8:])
	return FormatUUID(s)
}

// FormatUUID prints 16 bytes in RFC 4122 (big-endian) order as a canonical
// lower-case UUID string.
func FormatUUID(b [16]byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// ParseUUID parses a UUID in canonical text form (hyphens optional, either
// case, optional braces) and returns it in canonical lower-case form.
func ParseUUID(s string) (string, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	t = strings.ReplaceAll(t, "-", "")
	if len(t) != 32 {
		return "", fmt.Errorf("%w: %q is not a UUID", ErrBadValue, s)
	}
	var b [16]byte
	for i := range b {
		v, err := strconv.ParseUint(t[2*i:2*i+2], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not a UUID", ErrBadValue, s)
		}
		b[i] = byte(v)
	}
	return FormatUUID(b), nil
}

// ParseUserClass decodes DHCPv4 option 77. It tries RFC 3004 (one or more
// length-prefixed instances) with dhcpv4's own decoder and, when the value
// is not RFC 3004 (as the raw "iPXE" that iPXE sends), returns the whole
// value as one element, as (*dhcpv4.DHCPv4).UserClass does. An empty value
// gives nil.
func ParseUserClass(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	var s dhcpv4.Strings
	if err := s.FromBytes(b); err != nil {
		return []string{string(b)}
	}
	return []string(s)
}

// ParseVendorClass parses a DHCPv4 option 60 (or DHCPv6 option 16 data)
// value. It matches the prefix only ("PXEClient", "HTTPClient", "U-Boot";
// the last in any case, as old U-Boot sent "U-boot")
// and then reads the "Arch:" digits (decimal) and the "UNDI:" digits
// (3 decimal major + 3 minor) wherever they appear among the ':'-separated
// fields; anything it cannot read is simply left out, never guessed.
func ParseVendorClass(s string) VendorClass {
	v := VendorClass{Raw: s}
	switch {
	case strings.HasPrefix(s, "PXEClient"):
		v.Kind = "PXEClient"
	case strings.HasPrefix(s, "HTTPClient"):
		v.Kind = "HTTPClient"
	case len(s) >= len("U-Boot") && strings.EqualFold(s[:len("U-Boot")], "U-Boot"):
		// U-Boot spelled it "U-boot.armv8" until 2016; boards still ship that.
		v.Kind = "U-Boot"
		return v
	default:
		return v
	}
	fields := strings.Split(s, ":")
	for i := 0; i+1 < len(fields); i++ {
		val := fields[i+1]
		switch fields[i] {
		case "Arch":
			if v.HasArch || !allDigits(val) || len(val) > 5 {
				continue
			}
			n, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				continue
			}
			v.Arch, v.HasArch = Arch(n), true
		case "UNDI":
			if v.HasUNDI || len(val) != 6 || !allDigits(val) {
				continue
			}
			maj, _ := strconv.ParseUint(val[:3], 10, 16)
			minor, _ := strconv.ParseUint(val[3:], 10, 16)
			if maj > 255 || minor > 255 {
				continue
			}
			v.UNDI, v.HasUNDI = UNDI{Type: 1, Major: uint8(maj), Minor: uint8(minor)}, true
		}
	}
	return v
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
