package qemulab

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseScenario(t *testing.T) {
	tests := []struct {
		in   string
		want Scenario
		err  bool
	}{
		{"A", BIOSiPXE, false},
		{"a2", BIOSUndionly, false},
		{"B", UEFIPXE, false},
		{"C", UEFIHTTP, false},
		{"D", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ParseScenario(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseScenario(%q) succeeded, want an error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("got = %v, want %v", got, tt.want)
		}
		if got := got.Describe(); got == "unknown scenario" {
			t.Errorf("got.Describe() = %v, want anything but that", got)
		}
	}
}

func TestDefaultMACsDiffer(t *testing.T) {
	seen := map[string]Scenario{}
	for _, sc := range Scenarios() {
		m := sc.DefaultMAC().String()
		_, dup := seen[m]
		if dup {
			t.Errorf("scenario %s reuses MAC %s", sc, m)
		}
		seen[m] = sc
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "a\nb\n", []string{"a", "b"}},
		{"crlf and blank lines", "a\r\n\r\n\r\nb", []string{"a", "b"}},
		{"ansi colours", "\x1b[0m\x1b[37m\x1b[40mPXEKIT-BOOTED x\x1b[0m\n", []string{"PXEKIT-BOOTED x"}},
		{"cursor moves and reset", "\x1bc\x1b[2J\x1b[01;01Hhello\x1b[K\n", []string{"hello"}},
		{"backspace spinner", "Waiting |\b/\b-\bok\n", []string{"Waiting ok"}},
		{"bare CR splits", "one\rtwo", []string{"one", "two"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean([]byte(tt.in)); !slices.Equal(got, tt.want) {
				t.Errorf("Clean([]byte(tt.in)) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRouterAdvertisement(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	b := RouterAdvertisement(netip.MustParsePrefix("fd77::/64"), mac)
	if len(b) != 16+8+32 {
		t.Fatalf("len(b) = %d, want %d", len(b), 16+8+32)
	}
	if b[0] != byte(134) {
		t.Errorf("b[0] = %v, want %v", b[0], byte(134))
	}
	if got := b[16:24]; !bytes.Equal(got, []byte{1, 1, 2, 0, 0, 0, 0, 1}) {
		t.Errorf("source link-layer option: b[16:24] = %v, want %v", got, []byte{1, 1, 2, 0, 0, 0, 0, 1})
	}
	p := b[24:]
	if got := p[:4]; !bytes.Equal(got, []byte{3, 4, 64, 0xc0}) {
		t.Errorf("prefix option header: p[:4] = %v, want %v", got, []byte{3, 4, 64, 0xc0})
	}
	if got := p[16:32]; !bytes.Equal(got, netip.MustParseAddr("fd77::").AsSlice()) {
		t.Errorf("p[16:32] = %v, want %v", got, netip.MustParseAddr("fd77::").AsSlice())
	}
	if len(RouterAdvertisement(netip.MustParsePrefix("fd00:1::/64"), nil)) != 16+32 {
		t.Errorf("len(RouterAdvertisement(netip.MustParsePrefix(\"fd00:1::/64\"), nil)) = %d, want %d", len(RouterAdvertisement(netip.MustParsePrefix("fd00:1::/64"), nil)), 16+32)
	}
}

func TestRAMarshal(t *testing.T) {
	prefix := netip.MustParsePrefix("fd79::/64")
	for _, tt := range []struct {
		ra          RA
		flags       byte
		lifetime    uint16
		prefixFlags byte
	}{
		{RA{Prefix: prefix}, 0, 0, 0xc0},
		{RA{Prefix: prefix, Managed: true}, 0x80, 0, 0xc0},
		{RA{Prefix: prefix, Other: true}, 0x40, 0, 0xc0},
		{RA{Prefix: prefix, Managed: true, Other: true, DHCPv6Only: true}, 0xc0, 0, 0x80},
		{RA{Prefix: prefix, Managed: true, RouterLifetime: 30 * time.Minute}, 0x80, 1800, 0xc0},
		{RA{Prefix: prefix, RouterLifetime: 24 * time.Hour}, 0, 9000, 0xc0},
	} {
		b := tt.ra.Marshal(nil)
		if got := b[5]; got != tt.flags {
			t.Errorf("%+v: flags byte = %#x, want %#x", tt.ra, got, tt.flags)
		}
		if got := binary.BigEndian.Uint16(b[6:]); got != tt.lifetime {
			t.Errorf("%+v: router lifetime = %d, want %d", tt.ra, got, tt.lifetime)
		}
		if got := b[16+3]; got != tt.prefixFlags {
			t.Errorf("%+v: prefix flags = %#x, want %#x", tt.ra, got, tt.prefixFlags)
		}
		if b[4] != 64 {
			t.Errorf("%+v: hop limit = %d, want 64", tt.ra, b[4])
		}
		if got := b[16+16 : 16+32]; !bytes.Equal(got, prefix.Addr().AsSlice()) {
			t.Errorf("%+v: prefix = %v, want %v", tt.ra, got, prefix.Addr().AsSlice())
		}
	}
}

func TestArgsPXEIPv6Only(t *testing.T) {
	fw := Firmware{QEMU: "qemu", IPXEDir: "/ipxe", OVMFCode: "/code.fd", OVMFVars: filepath.Join(t.TempDir(), "vars.fd")}
	if err := os.WriteFile(fw.OVMFVars, []byte("vars"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(fw.OVMFVars): %v", err)
	}
	args, err := fw.Args(UEFIPXE, "tap9", "/s", t.TempDir(), Options{PXEIPv6Only: true})
	if err != nil {
		t.Fatalf("fw.Args(UEFIPXE, PXEIPv6Only): %v", err)
	}
	cl := strings.Join(args, " ")
	if !strings.Contains(cl, "opt/org.tianocore/IPv4PXESupport,string=no") || strings.Contains(cl, "IPv6PXESupport") {
		t.Errorf("cl = %q, want IPv4 PXE off and IPv6 PXE left on", cl)
	}
	for _, sc := range []Scenario{BIOSiPXE, UEFIHTTP} {
		if _, err := fw.Args(sc, "tap9", "/s", t.TempDir(), Options{PXEIPv6Only: true}); err == nil {
			t.Errorf("fw.Args(%s, PXEIPv6Only) succeeded, want an error (UEFIPXE only)", sc)
		}
	}
}

func TestArgs(t *testing.T) {
	fw := Firmware{QEMU: "qemu", IPXEDir: "/ipxe", OVMFCode: "/code.fd", OVMFVars: filepath.Join(t.TempDir(), "vars.fd")}
	if err := os.WriteFile(fw.OVMFVars, []byte("vars"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(fw.OVMFVars, []byte(\"vars\"), 0o644): %v", err)
	}
	dir := t.TempDir()
	for _, sc := range Scenarios() {
		args, err := fw.Args(sc, "tap9", "/s", dir, Options{})
		if err != nil {
			t.Fatalf("fw.Args(sc, \"tap9\", \"/s\", dir, Options{}): %v", err)
		}
		cl := strings.Join(args, " ")
		if !strings.Contains(cl, "-accel tcg") {
			t.Errorf("cl = %q, want it to contain %q", cl, "-accel tcg")
		}
		if !strings.Contains(cl, "mac="+sc.DefaultMAC().String()) {
			t.Errorf("cl = %q, want it to contain %q", cl, "mac="+sc.DefaultMAC().String())
		}
		if !strings.Contains(cl, "ifname=tap9") {
			t.Errorf("cl = %q, want it to contain %q", cl, "ifname=tap9")
		}
		if sc.UEFI() {
			if !strings.Contains(cl, "romfile=,") {
				t.Errorf("UEFI must run EDK2's own network stack: cl = %q, want it to contain %q", cl, "romfile=,")
			}
			if _, err := os.Stat(filepath.Join(dir, "vars-tap9.fd")); err != nil {
				t.Errorf("OVMF variables copied: %v", err)
			}
		} else {
			if strings.Contains(cl, "romfile=") {
				t.Errorf("BIOS boots QEMU's default iPXE ROM: cl = %q, want it not to contain %q", cl, "romfile=")
			}
		}
		if got := strings.Contains(cl, "IPv4PXESupport,string=no"); got != (sc == UEFIHTTP) {
			t.Errorf("%v: strings.Contains(cl, \"IPv4PXESupport,string=no\") = %v, want %v", sc, got, sc == UEFIHTTP)
		}
	}
	_, err := fw.Args("Z", "tap9", "/s", dir, Options{})
	if err == nil {
		t.Errorf("fw.Args with scenario \"Z\" succeeded, want an error")
	}
}

func TestCopyFileFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "real"), []byte("payload"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(dir, \"real\"), []byte(\"payload\"), 0o644): %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Fatalf("os.Symlink(filepath.Join(dir, \"real\"), filepath.Join(dir, \"link\")): %v", err)
	}
	if err := CopyFile(filepath.Join(dir, "copy"), filepath.Join(dir, "link")); err != nil {
		t.Fatalf("CopyFile(filepath.Join(dir, \"copy\"), filepath.Join(dir, \"link\")): %v", err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "copy"))
	if err != nil {
		t.Fatalf("os.Lstat(filepath.Join(dir, \"copy\")): %v", err)
	}
	if !fi.Mode().IsRegular() {
		t.Errorf("fi.Mode().IsRegular() is false, want true")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "copy"))
	if got := string(b); got != "payload" {
		t.Errorf("string(b) = %q, want \"payload\"", got)
	}
	if err := CopyFile(filepath.Join(dir, "x"), filepath.Join(dir, "missing")); err == nil {
		t.Errorf("CopyFile(filepath.Join(dir, \"x\"), filepath.Join(dir, \"missing\")) succeeded, want an error")
	}
}

// standIn runs the boot servers of the reference recipe inside the lab:
// dnsmasq for DHCP and TFTP (its policy: iPXE gets the script, BIOS PXE
// undionly.kpxe, UEFI PXE ipxe.efi, HTTP boot an http URL with option 60
// echoed) and a Go HTTP server that records requests. It tests the harness,
// not pxekit: pxekit's own servers are tested with it in examples/pxeserver.
type standIn struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *standIn) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func startStandIn(t *testing.T, lab *Lab) *standIn {
	t.Helper()
	tftp := filepath.Join(lab.Dir, "tftp")
	web := filepath.Join(lab.Dir, "http")
	if err := lab.Firmware.CopyBootFiles(tftp); err != nil {
		t.Fatalf("lab.Firmware.CopyBootFiles(tftp): %v", err)
	}
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatalf("os.MkdirAll(web, 0o755): %v", err)
	}
	if err := CopyFile(filepath.Join(web, "ipxe.efi"), lab.Firmware.IPXEEFI()); err != nil {
		t.Fatalf("CopyFile(filepath.Join(web, \"ipxe.efi\"), lab.Firmware.IPXEEFI()): %v", err)
	}
	base := "http://" + lab.ServerIP.String() + ":8080"
	a2 := BIOSUndionly.DefaultMAC().String()
	script := "#!ipxe\n" +
		"echo QEMULAB-SCRIPT ${net0/mac} ${net0/chip}\n" +
		"iseq ${net0/mac} " + a2 + " && iseq ${net0/chip} undionly && goto done ||\n" +
		"iseq ${net0/mac} " + a2 + " && chain tftp://${next-server}/undionly.kpxe ||\n" +
		":done\n" +
		"imgfetch " + base + "/done?mac=${net0/mac}&buildarch=${buildarch}&platform=${platform}&chip=${net0/chip}\n" +
		"echo QEMULAB-BOOTED ${net0/mac} ${buildarch} ${platform} ${net0/chip}\n"
	if err := os.WriteFile(filepath.Join(web, "boot.ipxe"), []byte(script), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(web, \"boot.ipxe\"), []byte(script), 0o644): %v", err)
	}
	if err := os.WriteFile(filepath.Join(web, "done"), []byte("ok\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(web, \"done\"), []byte(\"ok\\n\"), 0o644): %v", err)
	}

	StartDnsmasq(t, lab.NS, lab.Bridge, lab.Dir,
		"dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,10m",
		"dhcp-authoritative",
		"no-ping",
		"dhcp-match=set:ipxe,175",
		"dhcp-userclass=set:ipxe,iPXE",
		"dhcp-match=set:bios,option:client-arch,0",
		"dhcp-match=set:efi64,option:client-arch,7",
		"dhcp-vendorclass=set:httpclient,HTTPClient",
		"dhcp-boot=tag:ipxe,"+base+"/boot.ipxe",
		"dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe",
		"dhcp-boot=tag:!ipxe,tag:efi64,tag:!httpclient,ipxe.efi",
		"dhcp-boot=tag:!ipxe,tag:httpclient,"+base+"/ipxe.efi",
		"dhcp-option-force=tag:!ipxe,tag:httpclient,60,HTTPClient",
		"dhcp-option=tag:ipxe,encap:175,176,1b",
		"enable-tftp",
		"tftp-root="+tftp,
	)

	s := &standIn{}
	ln, err := lab.NS.Listen("tcp4", lab.ServerIP.String()+":8080")
	if err != nil {
		t.Fatalf("lab.NS.Listen(\"tcp4\", lab.ServerIP.String()+\":8080\"): %v", err)
	}
	files := http.FileServer(http.Dir(web))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.reqs = append(s.reqs, r)
			s.mu.Unlock()
			files.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

// TestBootStandIn boots every scenario against the reference recipe's
// stand-in servers and checks, from the console and from the HTTP requests,
// that the firmware ran the script as the expected iPXE build.
func TestBootStandIn(t *testing.T) {
	fw := Require(t)
	lab := NewLab(t, fw)
	lab.AdvertiseIPv6(t)
	srv := startStandIn(t, lab)
	want := map[Scenario]struct{ buildarch, platform, chip string }{
		BIOSiPXE:     {"i386", "pcbios", "virtio-net"},
		BIOSUndionly: {"i386", "pcbios", "undionly"},
		UEFIPXE:      {"x86_64", "efi", ""},
		UEFIHTTP:     {"x86_64", "efi", ""},
	}
	scenarios := Scenarios()
	if testing.Short() {
		scenarios = scenarios[:1]
	}
	for _, sc := range scenarios {
		t.Run(string(sc), func(t *testing.T) {
			m := lab.Boot(t, sc, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			line, err := m.WaitConsole(ctx, "QEMULAB-BOOTED")
			if err != nil {
				t.Fatalf("m.WaitConsole(ctx, \"QEMULAB-BOOTED\"): %v", err)
			}
			t.Logf("scenario %s: %q after %s", sc, line, time.Since(m.Started).Round(time.Millisecond))
			f := strings.Fields(line)
			if got := len(f); got < 4 {
				t.Fatalf("%v: len(f) = %v, want >= %v", line, got, 4)
			}
			if f[1] != m.MAC.String() {
				t.Errorf("f[1] = %v, want %v", f[1], m.MAC.String())
			}
			if f[2] != want[sc].buildarch {
				t.Errorf("f[2] = %v, want %v", f[2], want[sc].buildarch)
			}
			if f[3] != want[sc].platform {
				t.Errorf("f[3] = %v, want %v", f[3], want[sc].platform)
			}
			if want[sc].chip != "" {
				if len(f) != 5 {
					t.Fatalf("%v: len(f) = %d, want 5", line, len(f))
				}
				if f[4] != want[sc].chip {
					t.Errorf("f[4] = %v, want %v", f[4], want[sc].chip)
				}
			}
			var done, efi bool
			for _, r := range srv.requests() {
				q := r.URL.Query()
				if r.URL.Path == "/done" && q.Get("mac") == m.MAC.String() {
					done = q.Get("buildarch") == want[sc].buildarch && q.Get("platform") == want[sc].platform
				}
				if r.URL.Path == "/ipxe.efi" && strings.HasPrefix(r.UserAgent(), "UefiHttpBoot") {
					efi = true
				}
			}
			if !done {
				t.Errorf("GET /done with the machine's values")
			}
			if efi != (sc == UEFIHTTP) {
				t.Errorf("ipxe.efi over HTTP only in scenario C: efi = %v, want %v", efi, sc == UEFIHTTP)
			}
		})
	}
}

// FuzzClean checks that any console bytes give lines without escapes,
// carriage returns or blank lines, and never panic.
func FuzzClean(f *testing.F) {
	f.Add([]byte("\x1b[0mhello\r\n"))
	f.Add([]byte("a\b\b\bb\x1bc\x1b[2J\x00"))
	f.Add([]byte("\xff\xfe\b\r\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range Clean(b) {
			if strings.ContainsAny(l, "\r\n\b\x00") || strings.TrimSpace(l) == "" {
				t.Fatalf("line %q from %q", l, b)
			}
		}
	})
}
