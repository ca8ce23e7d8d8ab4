package dhcpboot

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// bootFiles serves what the booting firmware fetches besides DHCP, inside
// the lab namespace: dnsmasq for TFTP only (no DHCP unless dhcpRange is
// set, and then without any boot option: the site's plain DHCP server) and a
// Go HTTP server on :8080 with boot.ipxe and ipxe.efi that records requests.
type bootFiles struct {
	mu   sync.Mutex
	reqs []string
}

func (b *bootFiles) requested(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.reqs {
		if r == path {
			return true
		}
	}
	return false
}

func startBootFiles(t *testing.T, lab *qemulab.Lab, dhcpRange string) *bootFiles {
	t.Helper()
	tftp := filepath.Join(lab.Dir, "tftp")
	web := filepath.Join(lab.Dir, "http")
	if err := lab.Firmware.CopyBootFiles(tftp); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := qemulab.CopyFile(filepath.Join(web, "ipxe.efi"), lab.Firmware.IPXEEFI()); err != nil {
		t.Fatal(err)
	}
	script := "#!ipxe\nimgfetch http://${next-server}:8080/done?mac=${net0/mac} ||\necho DHCPBOOT-BOOTED ${net0/mac} ${buildarch} ${platform}\n"
	for name, data := range map[string]string{"boot.ipxe": script, "done": "ok\n"} {
		if err := os.WriteFile(filepath.Join(web, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=" + lab.Bridge, "--bind-interfaces",
		"--except-interface=lo", "--user=root", "--group=root", "--pid-file=" + filepath.Join(lab.Dir, "dnsmasq.pid"),
		"--dhcp-leasefile=" + filepath.Join(lab.Dir, "dnsmasq.leases"), "--enable-tftp", "--tftp-root=" + tftp, "--log-dhcp"}
	if dhcpRange != "" {
		args = append(args, "--dhcp-range="+dhcpRange, "--no-ping")
	}
	logf, err := os.Create(filepath.Join(lab.Dir, "dnsmasq.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := lab.NS.Command(context.Background(), "/usr/sbin/dnsmasq", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	lab.NS.Track(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("dnsmasq log:\n%s", b)
		}
	})
	b := &bootFiles{}
	ln, err := lab.NS.Listen("tcp4", lab.ServerIP.String()+":8080")
	if err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(web))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.reqs = append(b.reqs, r.URL.Path+"?mac="+r.URL.Query().Get("mac"))
		b.mu.Unlock()
		files.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return b
}

func bootAndWait(t *testing.T, lab *qemulab.Lab, files *bootFiles, sc qemulab.Scenario, wantArch string) {
	t.Helper()
	m := lab.Boot(t, sc, qemulab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	line, err := m.WaitConsole(ctx, "DHCPBOOT-BOOTED")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario %s: %q after %s", sc, line, time.Since(m.Started).Round(time.Millisecond))
	f := strings.Fields(line)
	if len(f) < 3 || f[1] != m.MAC.String() || f[2] != wantArch {
		t.Errorf("console %q, want mac %s buildarch %s", line, m.MAC, wantArch)
	}
	if !files.requested("/done?mac=" + m.MAC.String()) {
		t.Error("the script's HTTP request did not arrive")
	}
}

// Real firmware (iPXE ROM, OVMF PXE, OVMF HTTP boot) boots from LabServer4
// with DefaultPolicy: addresses, boot files, the iPXE loop broken.
func TestFirmwareBootsFromLabServer(t *testing.T) {
	fw := qemulab.Require(t)
	netlab.RequireTool(t, "dnsmasq")
	lab := qemulab.NewLab(t, fw)
	files := startBootFiles(t, lab, "")
	policy, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe?mac={{mac_hyphen}}",
		HTTPBase: "http://{{server}}:8080/"})
	if err != nil {
		t.Fatal(err)
	}
	s := &LabServer4{Policy: policy, Interface: lab.Bridge, ServerIP: lab.ServerIP,
		Subnets: []Subnet{{Prefix: lab.Prefix, RangeStart: lab.Prefix.Addr().Next().Next(), RangeEnd: netipAdd(lab.Prefix.Addr(), 99)}},
		Logger:  testLogger(t)}
	var conn net.PacketConn
	if err := lab.NS.Do(func() (err error) { conn, err = ListenUDP4(lab.Bridge, 67); return err }); err != nil {
		t.Fatal(err)
	}
	serveInBackground(t, s, func() error { return s.Serve(conn) })
	cases := []struct {
		sc   qemulab.Scenario
		arch string
	}{{qemulab.BIOSiPXE, "i386"}, {qemulab.UEFIPXE, "x86_64"}, {qemulab.UEFIHTTP, "x86_64"}}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, c := range cases {
		t.Run(string(c.sc), func(t *testing.T) { bootAndWait(t, lab, files, c.sc, c.arch) })
	}
}

// OVMF's PXE client boots through ProxyServer beside dnsmasq giving
// addresses: it takes the proxy offer without option 43, asks again on port
// 4011 (from port 4011) and boots what the ACK names; iPXE then gets the
// script from the proxy offer.
func TestFirmwareBootsThroughProxy(t *testing.T) {
	fw := qemulab.Require(t)
	netlab.RequireTool(t, "dnsmasq")
	if testing.Short() {
		t.Skip("UEFI under TCG takes ~30 s")
	}
	lab := qemulab.NewLab(t, fw)
	files := startBootFiles(t, lab, "10.77.0.100,10.77.0.199,255.255.255.0,10m")
	policy, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe?mac={{mac_hyphen}}"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		binl   int
		logger = testLogger(t)
	)
	proxy := &ProxyServer{Policy: policy, Interface: lab.Bridge, ServerIP: lab.ServerIP, Logger: logger}
	c67 := listenIn(t, lab.NS, lab.Bridge, 67)
	c4011 := listenIn(t, lab.NS, lab.Bridge, PXEPort)
	serveInBackground(t, proxy, func() error { return proxy.Serve(c67) }, func() error { return proxy.ServeBootServer(countingConn{c4011, &mu, &binl}) })
	bootAndWait(t, lab, files, qemulab.UEFIPXE, "x86_64")
	mu.Lock()
	defer mu.Unlock()
	if binl == 0 {
		t.Error("EDK2 never asked on port 4011")
	}
}

// countingConn counts datagrams read (the port-4011 requests).
type countingConn struct {
	net.PacketConn
	mu *sync.Mutex
	n  *int
}

func (c countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.mu.Lock()
		*c.n++
		c.mu.Unlock()
	}
	return n, a, err
}

func netipAdd(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}
