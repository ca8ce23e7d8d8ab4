package pcaptest

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// Every committed capture reads whole, and its packets carry what the
// tests rely on: frame numbers from 1, Ethernet sources, UDP addresses.
func TestCapturesLoad(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.pcapng"))
	if len(names) != 6 {
		t.Fatalf("%d captures in %s, want 6", len(names), dir)
	}
	for _, n := range names {
		pkts := Read(t, filepath.Base(n))
		udp := 0
		for i, p := range pkts {
			if p.Frame != i+1 || len(p.SrcMAC) != 6 || len(p.Data) != p.Info.CaptureLength {
				t.Fatalf("%s packet %d: frame %d, MAC %v, %d bytes of %d", n, i, p.Frame, p.SrcMAC, len(p.Data), p.Info.CaptureLength)
			}
			if p.UDP {
				udp++
				if !p.Src.IsValid() || !p.Dst.IsValid() {
					t.Errorf("%s frame %d: UDP without addresses", n, p.Frame)
				}
			}
		}
		if udp == 0 {
			t.Errorf("%s: no UDP packets", n)
		}
	}
}

// The first packet of the BIOS capture, checked against tshark: iPXE's
// DISCOVER from 0.0.0.0:68 to 255.255.255.255:67.
func TestReadDecodesUDP(t *testing.T) {
	p := Read(t, "bios-ipxe-rom-http.pcapng")[0]
	if p.SrcMAC.String() != "52:54:00:77:00:0a" || !p.UDP ||
		p.Src != netip.MustParseAddrPort("0.0.0.0:68") || p.Dst != netip.MustParseAddrPort("255.255.255.255:67") ||
		len(p.Payload) != 442-42 || p.Payload[0] != 1 {
		t.Errorf("frame 1: %v %v -> %v, %d payload bytes", p.SrcMAC, p.Src, p.Dst, len(p.Payload))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcapng")
	if err := os.WriteFile(bad, []byte("not a capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing.pcapng")} {
		if pkts, err := Load(p); err == nil {
			t.Errorf("Load(%s): %d packets, no error", p, len(pkts))
		}
	}
}
