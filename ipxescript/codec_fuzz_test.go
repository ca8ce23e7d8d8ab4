package ipxescript

import (
	"bytes"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

var plainDecimal = regexp.MustCompile(`^[1-9][0-9]*$`)

// FuzzSettingCodecs checks the integer and hex codecs of the Settings
// store: parsing never panics; hex input is accepted exactly when it is
// the canonical form the type prints (any letter case), so format(parse(v))
// is v in lower case; a plain decimal integer is its value modulo 2^32, as
// iPXE's strtoul into 32 bits; and whatever the integer types accept
// prints back as a value that parses to the same bytes.
func FuzzSettingCodecs(f *testing.F) {
	for _, s := range []string{"41:42", "4142", "41-42", "4:1", ":41", "41:", "41::42", "aB:cD", "",
		"0", "0x", "-", "+7", "-1", "08", "0x1F", " 5", "5 ", "4294967296", "99999999999", "--1", "0x-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, typ := range []string{"hex", "hexhyp", "hexraw"} {
			raw, err := parseTyped(typ, v)
			if err != nil {
				continue
			}
			if out, _ := formatTyped(typ, raw, Master); out != strings.ToLower(v) {
				t.Fatalf("%s %q accepted as %x, which prints %q", typ, v, raw, out)
			}
		}
		n, ok := strtoul32(v)
		if plainDecimal.MatchString(v) {
			want, _ := new(big.Int).SetString(v, 10)
			want.Mod(want, big.NewInt(1<<32))
			if !ok || uint64(n) != want.Uint64() {
				t.Fatalf("strtoul32(%q) = %d, %v; want %d", v, n, ok, want)
			}
		}
		if _, err := ParseInteger(v); (err == nil) != (ok && v != "") {
			t.Fatalf("ParseInteger(%q) = %v but strtoul32 ok=%v", v, err, ok)
		}
		for _, typ := range []string{"int8", "uint8", "int16", "uint16", "int32", "uint32"} {
			raw, err := parseTyped(typ, v)
			if err != nil {
				continue
			}
			out, ok := formatTyped(typ, raw, Master)
			if !ok {
				t.Fatalf("%s %q stored %x, which does not print", typ, v, raw)
			}
			if typ == "int32" && bytes.Equal(raw, []byte{0x80, 0, 0, 0}) {
				continue // LONG_MIN prints as iPXE garbles it (formatLong)
			}
			back, err := parseTyped(typ, out)
			if err != nil || !bytes.Equal(back, raw) {
				t.Fatalf("%s %q stored %x, prints %q, which parses to %x, %v", typ, v, raw, out, back, err)
			}
		}
	})
}
