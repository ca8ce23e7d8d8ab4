package kernelcmdline

import (
	"errors"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name, value, want string
		err               error
	}{
		{"hostname", "web01", "hostname=web01", nil},
		{"hostname", "web 01", `hostname="web 01"`, nil},
		{"x", "a\tb;c", "x=\"a\tb;c\"", nil},
		{"x", "à", "x=\"à\"", nil}, // UTF-8 C3 A0: Linux's isspace includes 0xA0
		{"x", "", "x=", nil},
		{"x", "a=b c", `x="a=b c"`, nil},
		{"x", "$(reboot);`id`", "x=$(reboot);`id`", nil}, // no shell here: literal
		{"x", `say "hi"`, "", ErrQuote},
		{"x", "a\x00", "", ErrNUL},
		{"", "v", "", ErrName},
		{"a b", "v", "", ErrName},
		{"a=b", "v", "", ErrName},
		{"a\x01", "v", "", ErrName},
		{"a\xa0", "v", "", ErrName},
	}
	for _, tt := range tests {
		got, err := Quote(tt.name, tt.value)
		if tt.err != nil {
			var e *Error
			if !errors.Is(err, tt.err) || !errors.As(err, &e) || got != "" {
				t.Errorf("Quote(%q, %q) = %q, %v; want error %v", tt.name, tt.value, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Quote(%q, %q) = %q, %v; want %q", tt.name, tt.value, got, err, tt.want)
		}
		// What Linux reads back, between two neighbours, is the pair.
		if a := Split("a " + got + " b"); len(a) != 3 || a[1] != (Arg{tt.name, tt.value, true}) {
			t.Errorf("%q: Linux reads %+v", got, a)
		}
	}
}

func TestJoin(t *testing.T) {
	params := []string{"console=ttyS0,115200n8", "quiet", "hostname=web 01", "ks=http://10.0.0.1/ks.cfg?a=1&b=2", "x="}
	got, err := Join(params)
	if err != nil {
		t.Fatal(err)
	}
	want := `console=ttyS0,115200n8 quiet hostname="web 01" ks=http://10.0.0.1/ks.cfg?a=1&b=2 x=`
	if got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	back := Split(got)
	if len(back) != len(params) {
		t.Fatalf("Linux reads %d arguments, want %d: %+v", len(back), len(params), back)
	}
	for i, p := range params {
		name, value, has := strings.Cut(p, "=")
		if back[i] != (Arg{name, value, has}) {
			t.Errorf("argument %d: Linux reads %+v, want %q", i, back[i], p)
		}
	}
	for _, bad := range [][]string{{"ok", `a="b"`}, {"a b"}, {""}, {"=v"}, {"x=\x00"}} {
		if s, err := Join(bad); err == nil {
			t.Errorf("Join(%q) = %q, want an error", bad, s)
		} else if !strings.Contains(err.Error(), "parameter") {
			t.Errorf("Join(%q): error %q does not say which parameter", bad, err)
		}
	}
}

// FuzzQuote: Quote either refuses with an *Error or writes one argument
// that Linux reads back as exactly the name and value.
func FuzzQuote(f *testing.F) {
	for _, s := range [][2]string{{"a", "b"}, {"hostname", "web 01"}, {"x", `"`}, {"x", "à"}, {"a b", "c"}, {"--", ""}, {"x", "\xa0\""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		got, err := Quote(name, value)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if a := Split("a " + got + " b"); len(a) != 3 || a[1] != (Arg{name, value, true}) {
			t.Fatalf("Quote(%q, %q) = %q: Linux reads %+v", name, value, got, a)
		}
	})
}
