package qemulab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got)
		assert.NotEqual(t, "unknown scenario", got.Describe())
	}
}

func TestDefaultMACsDiffer(t *testing.T) {
	seen := map[string]Scenario{}
	for _, sc := range Scenarios() {
		m := sc.DefaultMAC().String()
		_, dup := seen[m]
		assert.False(t, dup, "scenario %s reuses MAC %s", sc, m)
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
			assert.Equal(t, tt.want, Clean([]byte(tt.in)))
		})
	}
}

func TestRouterAdvertisement(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	b := RouterAdvertisement(netip.MustParsePrefix("fd77::/64"), mac)
	require.Len(t, b, 16+8+32)
	assert.Equal(t, byte(134), b[0])
	assert.Equal(t, []byte{1, 1, 2, 0, 0, 0, 0, 1}, b[16:24], "source link-layer option")
	p := b[24:]
	assert.Equal(t, []byte{3, 4, 64, 0xc0}, p[:4], "prefix option header")
	assert.Equal(t, netip.MustParseAddr("fd77::").AsSlice(), p[16:32])
	assert.Len(t, RouterAdvertisement(netip.MustParsePrefix("fd00:1::/64"), nil), 16+32)
}

func TestArgs(t *testing.T) {
	fw := Firmware{QEMU: "qemu", IPXEDir: "/ipxe", OVMFCode: "/code.fd", OVMFVars: filepath.Join(t.TempDir(), "vars.fd")}
	require.NoError(t, os.WriteFile(fw.OVMFVars, []byte("vars"), 0o644))
	dir := t.TempDir()
	for _, sc := range Scenarios() {
		args, err := fw.Args(sc, "tap9", "/s", dir, Options{})
		require.NoError(t, err)
		cl := strings.Join(args, " ")
		assert.Contains(t, cl, "-accel tcg")
		assert.Contains(t, cl, "mac="+sc.DefaultMAC().String())
		assert.Contains(t, cl, "ifname=tap9")
		if sc.UEFI() {
			assert.Contains(t, cl, "romfile=,", "UEFI must run EDK2's own network stack")
			assert.FileExists(t, filepath.Join(dir, "vars-tap9.fd"), "OVMF variables copied")
		} else {
			assert.NotContains(t, cl, "romfile=", "BIOS boots QEMU's default iPXE ROM")
		}
		assert.Equal(t, sc == UEFIHTTP, strings.Contains(cl, "IPv4PXESupport,string=no"), sc)
	}
	_, err := fw.Args("Z", "tap9", "/s", dir, Options{})
	assert.Error(t, err)
}

func TestCopyFileFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "real"), []byte("payload"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")))
	require.NoError(t, CopyFile(filepath.Join(dir, "copy"), filepath.Join(dir, "link")))
	fi, err := os.Lstat(filepath.Join(dir, "copy"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
	b, _ := os.ReadFile(filepath.Join(dir, "copy"))
	assert.Equal(t, "payload", string(b))
	assert.Error(t, CopyFile(filepath.Join(dir, "x"), filepath.Join(dir, "missing")))
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
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dnsmasq not installed (CI is set)")
		}
		t.Skip("skipping: dnsmasq (package dnsmasq-base) is not installed")
	}
	tftp := filepath.Join(lab.Dir, "tftp")
	web := filepath.Join(lab.Dir, "http")
	require.NoError(t, lab.Firmware.CopyBootFiles(tftp))
	require.NoError(t, os.MkdirAll(web, 0o755))
	require.NoError(t, CopyFile(filepath.Join(web, "ipxe.efi"), lab.Firmware.IPXEEFI()))
	base := "http://" + lab.ServerIP.String() + ":8080"
	a2 := BIOSUndionly.DefaultMAC().String()
	script := "#!ipxe\n" +
		"echo QEMULAB-SCRIPT ${net0/mac} ${net0/chip}\n" +
		"iseq ${net0/mac} " + a2 + " && iseq ${net0/chip} undionly && goto done ||\n" +
		"iseq ${net0/mac} " + a2 + " && chain tftp://${next-server}/undionly.kpxe ||\n" +
		":done\n" +
		"imgfetch " + base + "/done?mac=${net0/mac}&buildarch=${buildarch}&platform=${platform}&chip=${net0/chip}\n" +
		"echo QEMULAB-BOOTED ${net0/mac} ${buildarch} ${platform} ${net0/chip}\n"
	require.NoError(t, os.WriteFile(filepath.Join(web, "boot.ipxe"), []byte(script), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(web, "done"), []byte("ok\n"), 0o644))

	conf := fmt.Sprintf(`port=0
interface=%[1]s
bind-interfaces
except-interface=lo
user=root
group=root
pid-file=%[2]s/dnsmasq.pid
dhcp-leasefile=%[2]s/dnsmasq.leases
log-dhcp
dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,10m
dhcp-authoritative
no-ping
dhcp-match=set:ipxe,175
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:bios,option:client-arch,0
dhcp-match=set:efi64,option:client-arch,7
dhcp-vendorclass=set:httpclient,HTTPClient
dhcp-boot=tag:ipxe,%[3]s/boot.ipxe
dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe
dhcp-boot=tag:!ipxe,tag:efi64,tag:!httpclient,ipxe.efi
dhcp-boot=tag:!ipxe,tag:httpclient,%[3]s/ipxe.efi
dhcp-option-force=tag:!ipxe,tag:httpclient,60,HTTPClient
dhcp-option=tag:ipxe,encap:175,176,1b
enable-tftp
tftp-root=%[4]s
`, lab.Bridge, lab.Dir, base, tftp)
	confPath := filepath.Join(lab.Dir, "dnsmasq.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o644))
	logf, err := os.Create(filepath.Join(lab.Dir, "dnsmasq.log"))
	require.NoError(t, err)
	t.Cleanup(func() { logf.Close() })
	cmd := lab.NS.Command(context.Background(), "dnsmasq", "-k", "--log-facility=-", "--conf-file="+confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	lab.NS.Track(cmd)
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("dnsmasq log:\n%s", b)
		}
	})

	s := &standIn{}
	ln, err := lab.NS.Listen("tcp4", lab.ServerIP.String()+":8080")
	require.NoError(t, err)
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
			require.NoError(t, err)
			t.Logf("scenario %s: %q after %s", sc, line, time.Since(m.Started).Round(time.Millisecond))
			f := strings.Fields(line)
			require.GreaterOrEqual(t, len(f), 4, line)
			assert.Equal(t, m.MAC.String(), f[1])
			assert.Equal(t, want[sc].buildarch, f[2])
			assert.Equal(t, want[sc].platform, f[3])
			if want[sc].chip != "" {
				require.Len(t, f, 5, line)
				assert.Equal(t, want[sc].chip, f[4])
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
			assert.True(t, done, "GET /done with the machine's values")
			assert.Equal(t, sc == UEFIHTTP, efi, "ipxe.efi over HTTP only in scenario C")
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
