package qemulab

import (
	"net/netip"
	"testing"
)

func TestRouterAdvertisementFlags(t *testing.T) {
	p := netip.MustParsePrefix("fd77::/64")
	for _, tt := range []struct {
		flags byte
		want  byte
	}{{0, 0}, {RAManaged, 0x80}, {RAOther, 0x40}, {RAManaged | RAOther, 0xc0}} {
		b := RouterAdvertisementFlags(p, nil, tt.flags)
		if b[5] != tt.want {
			t.Errorf("RouterAdvertisementFlags(%v, nil, %#x): flags byte %#x, want %#x", p, tt.flags, b[5], tt.want)
		}
		wantPrefix := byte(0xc0) // on-link, autonomous
		if tt.flags&RAManaged != 0 {
			wantPrefix = 0x80 // on-link only
		}
		if got := b[16+3]; got != wantPrefix {
			t.Errorf("RouterAdvertisementFlags(%v, nil, %#x): prefix flags %#x, want %#x", p, tt.flags, got, wantPrefix)
		}
		if b[4] != 64 || b[6] != 0 || b[7] != 0 {
			t.Errorf("RouterAdvertisementFlags(%v, nil, %#x): hop limit %d, router lifetime %d, want 64 and 0", p, tt.flags, b[4], int(b[6])<<8|int(b[7]))
		}
	}
}
