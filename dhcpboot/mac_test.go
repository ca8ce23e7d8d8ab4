package dhcpboot

import (
	"errors"
	"net"
	"testing"
)

func TestParseMACPattern(t *testing.T) {
	tests := []struct {
		in        string
		exact     bool
		match     []string
		noMatch   []string
		wantError bool
	}{
		{in: "52:54:00:77:00:0a", exact: true, match: []string{"52:54:00:77:00:0a"}, noMatch: []string{"52:54:00:77:00:0b"}},
		{in: "52-54-00-77-00-0A", exact: true, match: []string{"52:54:00:77:00:0a"}},
		{in: "5254007700AA", exact: true, match: []string{"52:54:00:77:00:aa"}},
		{in: "52:54:00", match: []string{"52:54:00:00:00:00", "52:54:00:ff:ff:ff"}, noMatch: []string{"52:54:01:00:00:00", "52:54:00:00:00:00:00:00"}},
		{in: "52:*:00:*:*:0a", match: []string{"52:99:00:01:02:0a"}, noMatch: []string{"52:99:00:01:02:0b"}},
		{in: "52:54:00:00:00:00/24", match: []string{"52:54:00:12:34:56"}, noMatch: []string{"52:54:01:12:34:56"}},
		{in: "52:54:00:00:00:00/ff:ff:ff:00:00:0f", match: []string{"52:54:00:12:34:50"}, noMatch: []string{"52:54:00:12:34:51"}},
		{in: "52:54:00:77:00:0a/48", exact: true, match: []string{"52:54:00:77:00:0a"}},
		{in: "00:11:22:33:44:55:66:77", exact: true, match: []string{"00:11:22:33:44:55:66:77"}, noMatch: []string{"00:11:22:33:44:55"}},
		{in: "", wantError: true},
		{in: "zz:54:00", wantError: true},
		{in: "52::00", wantError: true},
		{in: "525:4:00", wantError: true},
		{in: "52:54:00/24", wantError: true},
		{in: "52:54:00:00:00:00/49", wantError: true},
		{in: "52:54:00:00:00:00/ff:ff", wantError: true},
		{in: "52:*:00:00:00:00/8", wantError: true},
		{in: "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseMACPattern(tt.in)
			if tt.wantError {
				if err == nil || !errors.Is(err, ErrBadMAC) {
					t.Fatalf("err = %v, want ErrBadMAC", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Exact() != tt.exact {
				t.Errorf("Exact = %v", p.Exact())
			}
			if p.String() != tt.in {
				t.Errorf("String = %q", p.String())
			}
			for _, s := range tt.match {
				if !p.Match(mustMAC(s)) {
					t.Errorf("does not match %s", s)
				}
			}
			for _, s := range tt.noMatch {
				if p.Match(mustMAC(s)) {
					t.Errorf("matches %s", s)
				}
			}
		})
	}
	var zero MACPattern
	if zero.Match(mustMAC("00:00:00:00:00:00")) || zero.Exact() {
		t.Error("zero pattern matches")
	}
	if ExactMAC(nil).Exact() || ExactMAC(make(net.HardwareAddr, 17)).Exact() {
		t.Error("bad ExactMAC is exact")
	}
}

func FuzzParseMACPattern(f *testing.F) {
	for _, s := range []string{"52:54:00:77:00:0a", "52:54:00", "52:*:00:*:*:0a", "52:54:00:00:00:00/24",
		"52:54:00:00:00:00/ff:ff:ff:00:00:0f", "5254007700aa", "::", "/", "*"} {
		f.Add(s, []byte{0x52, 0x54, 0, 0x77, 0, 0x0a})
	}
	f.Fuzz(func(t *testing.T, s string, hw []byte) {
		p, err := ParseMACPattern(s)
		if err != nil {
			return
		}
		m := p.Match(hw)
		// A pattern matches only addresses of its own length.
		if m && len(hw) != int(p.n) {
			t.Fatalf("%q matched %d-byte address", s, len(hw))
		}
		// Text round trip gives the same pattern.
		txt, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var q MACPattern
		if err := q.UnmarshalText(txt); err != nil || q != p {
			t.Fatalf("round trip %q: %v", txt, err)
		}
		if p.Exact() && len(hw) == int(p.n) {
			if p.Match(hw) != (string(hw) == string(p.addr[:p.n])) {
				t.Fatalf("exact %q vs %x", s, hw)
			}
		}
	})
}
