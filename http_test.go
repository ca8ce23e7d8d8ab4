package pxekit

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxekit/pxekit/ipxescript"
)

// mapInventory is an Inventory over a map keyed by MAC string (or
// "uuid:"+UUID); err, when set, is returned for every lookup.
type mapInventory struct {
	m   map[string]Machine
	err error
}

func (inv mapInventory) Machine(_ context.Context, k MachineKey) (Machine, bool, error) {
	if inv.err != nil {
		return Machine{}, false, inv.err
	}
	if m, ok := inv.m[k.MAC.String()]; ok {
		return m, true, nil
	}
	if k.UUID != "" {
		if m, ok := inv.m["uuid:"+k.UUID]; ok {
			return m, true, nil
		}
	}
	return Machine{}, false, nil
}

// testMachines is the inventory most tests use.
var testMachines = map[string]Machine{
	"52:54:00:00:00:01": {Name: "web01", Kernel: "images/vmlinuz", Initrds: []string{"images/initrd.img", "http://mirror.lan/extra.img"},
		Cmdline: []string{"console=ttyS0", "hostname=web 01", "quiet"}},
	"52:54:00:00:00:02":                         {Name: "disk", Boot: BootLocal},
	"52:54:00:00:00:03":                         {Name: "own", Script: "#!ipxe\necho mine\n"},
	"52:54:00:00:00:04":                         {Name: "broken", Script: "echo no magic line\n"},
	"52:54:00:00:00:05":                         {Name: "badarg", Kernel: "vmlinuz", Cmdline: []string{`x=a"b`}},
	"52:54:00:00:00:06":                         {Name: "empty"},
	"52:54:00:00:00:07":                         {Name: "weird", Boot: "sanboot"},
	"uuid:00112233-4455-6677-8899-aabbccddeeff": {Name: "byuuid", Boot: BootLocal},
}

// writeFile writes b to dir/name, making directories.
func writeFile(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatalf("os.MkdirAll: %v", err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatalf("os.WriteFile(%s): %v", p, err)
	}
}

// mkfifo makes a FIFO at p; cleanup opens it for writing once, which
// releases a reader still blocked opening it.
func mkfifo(t testing.TB, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatalf("syscall.Mkfifo(%s): %v", p, err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
			time.Sleep(100 * time.Millisecond)
			f.Close()
		}
	})
}

// requests collects OnRequest calls.
type requests struct {
	mu  sync.Mutex
	all []HTTPRequest
}

func (rs *requests) add(r HTTPRequest) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.all = append(rs.all, r)
}

// wait returns the requests once there are at least n, or fails after
// limit.
func (rs *requests) wait(t *testing.T, n int, limit time.Duration) []HTTPRequest {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		rs.mu.Lock()
		all := slices.Clone(rs.all)
		rs.mu.Unlock()
		if len(all) >= n {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests reported after %v, want %d", len(all), limit, n)
		}
	}
}

// testFiles makes dir/root with boot files, a FIFO, a directory, a link
// out of the root and a secret next to it; it returns the root.
func testFiles(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	writeFile(t, root, "ipxe.efi", []byte("MZ efi image"))
	writeFile(t, root, "images/vmlinuz", bytes.Repeat([]byte("0123456789"), 1000))
	writeFile(t, dir, "secret", []byte("secret"))
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(root, "escape")); err != nil {
		t.Fatalf("os.Symlink: %v", err)
	}
	mkfifo(t, filepath.Join(root, "pipe.efi"))
	return root
}

// newTestHandler returns a handler over testFiles and testMachines at
// http://10.77.0.1:8080, reporting into the returned requests.
func newTestHandler(t *testing.T, cfg HTTPConfig) (*HTTPHandler, *requests) {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://10.77.0.1:8080"
	}
	if cfg.Files == "" {
		cfg.Files = testFiles(t)
	}
	if cfg.Inventory == nil {
		cfg.Inventory = mapInventory{m: testMachines}
	}
	rs := &requests{}
	cfg.OnRequest = rs.add
	h, err := NewHTTPHandler(cfg)
	if err != nil {
		t.Fatalf("NewHTTPHandler: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h, rs
}

// listen returns a loopback TCP listener and its base URL.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	return ln, "http://" + ln.Addr().String()
}

// serve serves h on ln with the limits l until the test ends.
func serve(t *testing.T, ln net.Listener, h http.Handler, l HTTPLimits) {
	t.Helper()
	hs := l.Server(h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(l.Listener(ln))
	}()
	t.Cleanup(func() {
		hs.Close()
		<-done
	})
}

// within runs fn and fails the test if it has not returned after limit.
func within(t *testing.T, limit time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s: no answer after %v", what, limit)
	}
}

func TestHTTPHandlerRoutes(t *testing.T) {
	h, rs := newTestHandler(t, HTTPConfig{})
	for _, tt := range []struct {
		name, method, target, ua string
		status                   int
		kind                     HTTPKind
		bodyHas, ctype, mac      string
		known                    bool
	}{
		{name: "boot script", method: "GET", target: "/boot.ipxe", ua: "iPXE/1.21.1", status: 200, kind: HTTPBootScript,
			bodyHas: "http://10.77.0.1:8080/machine/${net0/mac:hexhyp}?mac=", ctype: "text/plain; charset=utf-8"},
		{name: "unknown machine", method: "GET", target: "/machine/52-54-00-77-00-0a?mac=52-54-00-77-00-0a&buildarch=x86_64&platform=efi",
			status: 200, kind: HTTPMachineScript, bodyHas: BootedMarker + " ${net0/mac}", mac: "52:54:00:77:00:0a"},
		{name: "kernel", method: "GET", target: "/machine/52:54:00:00:00:01.ipxe", status: 200, kind: HTTPMachineScript,
			bodyHas: "kernel http://10.77.0.1:8080/images/vmlinuz console=ttyS0 ", mac: "52:54:00:00:00:01", known: true},
		{name: "local", method: "GET", target: "/machine/5254.0000.0002", status: 200, kind: HTTPMachineScript, bodyHas: "\nexit\n", mac: "52:54:00:00:00:02", known: true},
		{name: "own script", method: "GET", target: "/machine/52-54-00-00-00-03", status: 200, kind: HTTPMachineScript, bodyHas: "#!ipxe\necho mine\n", mac: "52:54:00:00:00:03", known: true},
		{name: "own script that does not parse", method: "GET", target: "/machine/52-54-00-00-00-04", status: 500, kind: HTTPError, mac: "52:54:00:00:00:04", known: true},
		{name: "cmdline Linux cannot read", method: "GET", target: "/machine/52-54-00-00-00-05", status: 500, kind: HTTPError, mac: "52:54:00:00:00:05", known: true},
		{name: "zero machine", method: "GET", target: "/machine/52-54-00-00-00-06", status: 200, kind: HTTPMachineScript, bodyHas: BootedMarker, mac: "52:54:00:00:00:06", known: true},
		{name: "unknown boot kind", method: "GET", target: "/machine/52-54-00-00-00-07", status: 500, kind: HTTPError, mac: "52:54:00:00:00:07", known: true},
		{name: "by uuid", method: "GET", target: "/machine/52-54-00-00-00-99?uuid=00112233-4455-6677-8899-aabbccddeeff", status: 200, kind: HTTPMachineScript,
			bodyHas: "\nexit\n", mac: "52:54:00:00:00:99", known: true},
		{name: "bad mac", method: "GET", target: "/machine/zz", status: 400, kind: HTTPError},
		{name: "efi", method: "GET", target: "/ipxe.efi?mac=52-54-00-00-00-01", ua: "UefiHttpBoot/1.0", status: 200, kind: HTTPFile,
			bodyHas: "MZ efi image", ctype: "application/efi", mac: "52:54:00:00:00:01"},
		{name: "head", method: "HEAD", target: "/ipxe.efi", status: 200, kind: HTTPFile, ctype: "application/efi"},
		{name: "missing", method: "GET", target: "/nope.efi", status: 404, kind: HTTPError},
		{name: "fifo", method: "GET", target: "/pipe.efi", status: 404, kind: HTTPError},
		{name: "directory", method: "GET", target: "/images", status: 404, kind: HTTPError},
		{name: "root", method: "GET", target: "/", status: 404, kind: HTTPError},
		{name: "link out of root", method: "GET", target: "/escape", status: 403, kind: HTTPError},
		{name: "post", method: "POST", target: "/boot.ipxe", status: 405, kind: HTTPError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.RemoteAddr = "10.77.0.100:1234"
			if tt.ua != "" {
				r.Header.Set("User-Agent", tt.ua)
			}
			w := httptest.NewRecorder()
			n := len(rs.wait(t, 0, 0))
			within(t, 10*time.Second, tt.method+" "+tt.target, func() { h.ServeHTTP(w, r) })
			body := w.Body.String()
			if w.Code != tt.status {
				t.Errorf("status %d, want %d; body %q", w.Code, tt.status, body)
			}
			if !strings.Contains(body, tt.bodyHas) {
				t.Errorf("body %q, want it to contain %q", body, tt.bodyHas)
			}
			if tt.ctype != "" && w.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", w.Header().Get("Content-Type"), tt.ctype)
			}
			all := rs.wait(t, n+1, time.Second)
			if len(all) != n+1 {
				t.Fatalf("OnRequest called %d times, want once", len(all)-n)
			}
			got := all[n]
			if got.Kind != tt.kind || got.Status != tt.status || got.Method != tt.method || got.Path != r.URL.Path {
				t.Errorf("OnRequest got %s %s kind %q status %d, want %s %s kind %q status %d",
					got.Method, got.Path, got.Kind, got.Status, tt.method, r.URL.Path, tt.kind, tt.status)
			}
			if got.Peer.String() != "10.77.0.100" {
				t.Errorf("Peer = %v, want 10.77.0.100", got.Peer)
			}
			if got.MAC.String() != tt.mac {
				t.Errorf("MAC = %q, want %q", got.MAC, tt.mac)
			}
			if got.Known != tt.known {
				t.Errorf("Known = %v, want %v", got.Known, tt.known)
			}
			if tt.method == "GET" && got.Bytes != int64(len(body)) {
				t.Errorf("Bytes = %d, want %d", got.Bytes, len(body))
			}
			if tt.ua == "iPXE/1.21.1" && !got.Client.IPXE {
				t.Errorf("Client.IPXE = false for User-Agent %s", tt.ua)
			}
		})
	}
}

// TestHTTPHandlerInventoryError: an inventory that cannot answer boots
// the default flow (and is logged), not a 500.
func TestHTTPHandlerInventoryError(t *testing.T) {
	h, rs := newTestHandler(t, HTTPConfig{Inventory: mapInventory{err: errors.New("database down")}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/machine/52-54-00-00-00-01", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), BootedMarker) {
		t.Errorf("status %d body %q, want 200 and the default script", w.Code, w.Body)
	}
	if got := rs.wait(t, 1, time.Second)[0]; got.Known {
		t.Errorf("Known = true for an inventory error")
	}
}

// TestHTTPHandlerPrefix: with a base URL path, routes live under it and
// every URL written carries it.
func TestHTTPHandlerPrefix(t *testing.T) {
	h, _ := newTestHandler(t, HTTPConfig{BaseURL: "https://boot.lan/pxe/"})
	if got := h.URL("/ipxe.efi"); got != "https://boot.lan/pxe/ipxe.efi" {
		t.Errorf("URL = %q", got)
	}
	for target, want := range map[string]int{
		"/pxe/boot.ipxe": 200, "/pxe/ipxe.efi": 200, "/pxe/machine/52-54-00-00-00-01": 200,
		"/boot.ipxe": 404, "/ipxe.efi": 404, "/pxeipxe.efi": 404, "/pxe": 404,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", target, w.Code, want)
		}
		if target == "/pxe/boot.ipxe" && !strings.Contains(w.Body.String(), "https://boot.lan/pxe/machine/") {
			t.Errorf("boot script %q does not chain under the base URL", w.Body)
		}
		if target == "/pxe/machine/52-54-00-00-00-01" && !strings.Contains(w.Body.String(), "kernel https://boot.lan/pxe/images/vmlinuz ") {
			t.Errorf("machine script %q: kernel not under the base URL", w.Body)
		}
	}
}

func TestNewHTTPHandlerErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  HTTPConfig
		want string
	}{
		{HTTPConfig{}, "empty"},
		{HTTPConfig{BaseURL: "10.0.0.1:8080"}, "scheme"},
		{HTTPConfig{BaseURL: "ftp://10.0.0.1"}, "scheme"},
		{HTTPConfig{BaseURL: "http://"}, "no host"},
		{HTTPConfig{BaseURL: "http://0.0.0.0:8080"}, "unspecified"},
		{HTTPConfig{BaseURL: "http://u:p@h/"}, "user info"},
		{HTTPConfig{BaseURL: "http://h/?a=b"}, "query"},
		{HTTPConfig{BaseURL: "http://h:99999"}, "port"},
		{HTTPConfig{BaseURL: "http://h/a/../b"}, "clean"},
		{HTTPConfig{BaseURL: "http://h/a b"}, "escaping"},
		{HTTPConfig{BaseURL: "http://h", BootScript: []byte("echo no magic\n")}, "BootScript"},
		{HTTPConfig{BaseURL: "http://h", DefaultScript: []byte("#!ipxe\necho x \\")}, "backslash"},
		{HTTPConfig{BaseURL: "http://h", Files: "/nonexistent/pxekit"}, "HTTP files"},
	} {
		_, err := NewHTTPHandler(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewHTTPHandler(%+v) = %v, want an error about %q", tt.cfg, err, tt.want)
		}
	}
	h, err := NewHTTPHandler(HTTPConfig{BaseURL: "http://[fd00::1]:8080/", BootScript: []byte("#!ipxe\necho custom\n")})
	if err != nil {
		t.Fatalf("NewHTTPHandler: %v", err)
	}
	if h.BaseURL() != "http://[fd00::1]:8080" {
		t.Errorf("BaseURL() = %q", h.BaseURL())
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/boot.ipxe", nil))
	if w.Body.String() != "#!ipxe\necho custom\n" {
		t.Errorf("custom boot script served as %q", w.Body)
	}
}

// TestBuiltinScriptsRun: the built-in boot script chains the per-machine
// URL with what iPXE knows, and the default machine script exits.
func TestBuiltinScriptsRun(t *testing.T) {
	h, _ := newTestHandler(t, HTTPConfig{})
	f, err := ipxescript.Parse(h.boot, "boot.ipxe")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	st := &ipxescript.Settings{}
	for k, v := range map[string]string{"net0/ip": "10.77.0.100", "net0/mac": "52:54:00:00:00:01", "buildarch": "x86_64", "platform": "efi", "uuid": "00112233-4455-6677-8899-aabbccddeeff", "net0/chip": "virtio-net"} {
		if err := st.Set(k, v); err != nil {
			t.Fatalf("Settings.Set(%s): %v", k, err)
		}
	}
	res, err := (&ipxescript.Runner{Settings: st}).Run(f)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"chain", "--autofree", "http://10.77.0.1:8080/machine/52-54-00-00-00-01?mac=52-54-00-00-00-01&buildarch=x86_64&platform=efi&uuid=00112233-4455-6677-8899-aabbccddeeff&chip=virtio-net"}
	if !slices.ContainsFunc(res.Argv(), func(a []string) bool { return slices.Equal(a, want) }) {
		t.Errorf("boot script ran %q, want a step %q", res.Argv(), want)
	}

	// iPXE that got its address from DHCPv6 (net0.dhcpv6/ip6, no IPv4
	// address) runs no dhcp again: on an IPv6-only network that waited
	// ~18 s for DHCPv4 every time the script ran.
	st6 := &ipxescript.Settings{}
	for k, v := range map[string]string{"net0.dhcpv6/ip6": "fd77::100", "net0/mac": "52:54:00:00:00:01", "buildarch": "x86_64", "platform": "efi"} {
		if err := st6.Set(k, v); err != nil {
			t.Fatalf("Settings.Set(%s): %v", k, err)
		}
	}
	if res, err = (&ipxescript.Runner{Settings: st6}).Run(f); err != nil {
		t.Fatalf("Run (IPv6): %v", err)
	}
	for _, a := range res.Argv() {
		if len(a) > 0 && a[0] == "dhcp" {
			t.Errorf("boot script with net0.dhcpv6/ip6 set ran %q, want no dhcp", res.Argv())
			break
		}
	}
}

// TestBuiltinScriptDHCPv6: iPXE configured over DHCPv6 only (an IPv6-only
// network: no net0/ip, an address in net0.dhcpv6/ip6) chains at once; it
// does not run "dhcp" again, which would wait for DHCPv4 to time out.
func TestBuiltinScriptDHCPv6(t *testing.T) {
	h, _ := newTestHandler(t, HTTPConfig{BaseURL: "http://[fd77::1]:8080"})
	f, err := ipxescript.Parse(h.boot, "boot.ipxe")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	st := &ipxescript.Settings{}
	for k, v := range map[string]string{"net0.dhcpv6/ip6": "fd77::100", "net0/mac": "52:54:00:00:00:01", "buildarch": "x86_64", "platform": "efi", "uuid": "00112233-4455-6677-8899-aabbccddeeff", "net0/chip": "SNP"} {
		if err := st.Set(k, v); err != nil {
			t.Fatalf("Settings.Set(%s): %v", k, err)
		}
	}
	res, err := (&ipxescript.Runner{Settings: st}).Run(f)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, a := range res.Argv() {
		if len(a) > 0 && a[0] == "dhcp" {
			t.Errorf("boot script ran %q with a DHCPv6 address: want no dhcp step", res.Argv())
		}
	}
	want := []string{"chain", "--autofree", "http://[fd77::1]:8080/machine/52-54-00-00-00-01?mac=52-54-00-00-00-01&buildarch=x86_64&platform=efi&uuid=00112233-4455-6677-8899-aabbccddeeff&chip=SNP"}
	if !slices.ContainsFunc(res.Argv(), func(a []string) bool { return slices.Equal(a, want) }) {
		t.Errorf("boot script ran %q, want a step %q", res.Argv(), want)
	}
}
