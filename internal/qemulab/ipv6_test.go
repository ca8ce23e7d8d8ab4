package qemulab

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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

func TestArgsIPv4Off(t *testing.T) {
	fw := Firmware{QEMU: "qemu", IPXEDir: "/ipxe", OVMFCode: "/code.fd", OVMFVars: filepath.Join(t.TempDir(), "vars.fd")}
	if err := os.WriteFile(fw.OVMFVars, []byte("vars"), 0o644); err != nil {
		t.Fatalf("os.WriteFile: %v", err)
	}
	const knob = "name=opt/org.tianocore/IPv4Support,string=no"
	for _, sc := range []Scenario{UEFIPXE, UEFIHTTP} {
		args, err := fw.Args(sc, "tap9", "/s", t.TempDir(), Options{IPv4Off: true})
		if err != nil {
			t.Fatalf("fw.Args(%s, IPv4Off): %v", sc, err)
		}
		if cl := strings.Join(args, " "); !strings.Contains(cl, knob) {
			t.Errorf("fw.Args(%s, IPv4Off) = %q, want it to contain %q", sc, cl, knob)
		}
		args, _ = fw.Args(sc, "tap9", "/s", t.TempDir(), Options{})
		if cl := strings.Join(args, " "); strings.Contains(cl, "IPv4Support") {
			t.Errorf("fw.Args(%s) = %q: IPv4Support without IPv4Off", sc, cl)
		}
	}
	if _, err := fw.Args(BIOSiPXE, "tap9", "/s", t.TempDir(), Options{IPv4Off: true}); err == nil || !strings.Contains(err.Error(), "IPv4Off") {
		t.Errorf("fw.Args(BIOSiPXE, IPv4Off) error = %v, want one naming IPv4Off", err)
	}
}
