package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("#!ipxe\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(file, []byte(\"#!ipxe\\n\"), 0o644): %v", err)
	}
	base := []string{"-iface", "br0", "-addr", "10.77.0.1"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{"defaults", base, "", func(t *testing.T, c *Config) {
			if c.DHCP != "proxy" {
				t.Errorf("c.DHCP = %q, want \"proxy\"", c.DHCP)
			}
			if c.HTTPAddr != "10.77.0.1:8080" {
				t.Errorf("c.HTTPAddr = %q, want \"10.77.0.1:8080\"", c.HTTPAddr)
			}
			if got := c.HTTPBase(); got != "http://10.77.0.1:8080" {
				t.Errorf("c.HTTPBase() = %q, want \"http://10.77.0.1:8080\"", got)
			}
			if c.Pool != ([2]netip.Addr{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.199")}) {
				t.Errorf("c.Pool = %v, want %v", c.Pool, [2]netip.Addr{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.199")})
			}
			if c.BootBIOS != "undionly.kpxe" {
				t.Errorf("c.BootBIOS = %q, want \"undionly.kpxe\"", c.BootBIOS)
			}
			if c.BootUEFIX64 != "ipxe.efi" {
				t.Errorf("c.BootUEFIX64 = %q, want \"ipxe.efi\"", c.BootUEFIX64)
			}
			if c.HTTPMaxConns != 1024 {
				t.Errorf("c.HTTPMaxConns = %v, want 1024", c.HTTPMaxConns)
			}
			if c.HTTPIdleTimeout != 60*time.Second {
				t.Errorf("c.HTTPIdleTimeout = %v, want %v", c.HTTPIdleTimeout, 60*time.Second)
			}
			if c.HTTPWriteTimeout != 60*time.Second {
				t.Errorf("c.HTTPWriteTimeout = %v, want %v", c.HTTPWriteTimeout, 60*time.Second)
			}
		}},
		{"http limits", append(base, "-http-max-conns", "0", "-http-idle-timeout", "5s", "-http-write-timeout", "0"), "", func(t *testing.T, c *Config) {
			if c.HTTPMaxConns != 0 {
				t.Errorf("c.HTTPMaxConns = %v, want 0", c.HTTPMaxConns)
			}
			if c.HTTPIdleTimeout != 5*time.Second {
				t.Errorf("c.HTTPIdleTimeout = %v, want %v", c.HTTPIdleTimeout, 5*time.Second)
			}
			if c.HTTPWriteTimeout != time.Duration(0) {
				t.Errorf("c.HTTPWriteTimeout = %v, want %v", c.HTTPWriteTimeout, time.Duration(0))
			}
		}},
		{"negative conns", append(base, "-http-max-conns", "-1"), "-http-max-conns", nil},
		{"zero idle", append(base, "-http-idle-timeout", "0"), "-http-idle-timeout", nil},
		{"negative write timeout", append(base, "-http-write-timeout", "-1s"), "-http-write-timeout", nil},
		{"lab with pool and roots", append(base, "-dhcp", "lab", "-pool", "10.77.0.10-10.77.0.20", "-tftp-root", dir, "-router", "10.77.0.254"), "", func(t *testing.T, c *Config) {
			if c.DHCP != "lab" {
				t.Errorf("c.DHCP = %q, want \"lab\"", c.DHCP)
			}
			if c.Pool[1] != netip.MustParseAddr("10.77.0.20") {
				t.Errorf("c.Pool[1] = %v, want %v", c.Pool[1], netip.MustParseAddr("10.77.0.20"))
			}
			if c.HTTPRoot != dir {
				t.Errorf("http root defaults to tftp root: c.HTTPRoot = %v, want %v", c.HTTPRoot, dir)
			}
			if c.Router != netip.MustParseAddr("10.77.0.254") {
				t.Errorf("c.Router = %v, want %v", c.Router, netip.MustParseAddr("10.77.0.254"))
			}
		}},
		{"small subnet pool", append(base, "-netmask", "255.255.255.248"), "", func(t *testing.T, c *Config) {
			if c.Pool[0] != netip.MustParseAddr("10.77.0.1") {
				t.Errorf("c.Pool[0] = %v, want %v", c.Pool[0], netip.MustParseAddr("10.77.0.1"))
			}
			if c.Pool[1] != netip.MustParseAddr("10.77.0.6") {
				t.Errorf("c.Pool[1] = %v, want %v", c.Pool[1], netip.MustParseAddr("10.77.0.6"))
			}
		}},
		{"http addr any", append(base, "-http-addr", ":9000"), "", func(t *testing.T, c *Config) {
			if got := c.HTTPBase(); got != "http://10.77.0.1:9000" {
				t.Errorf("c.HTTPBase() = %q, want \"http://10.77.0.1:9000\"", got)
			}
		}},
		{"no iface", []string{"-addr", "10.0.0.1"}, "-iface is required", nil},
		{"no addr", []string{"-iface", "x"}, "-addr", nil},
		{"ipv6 addr", []string{"-iface", "x", "-addr", "fd00::1"}, "IPv4", nil},
		{"bad mode", append(base, "-dhcp", "full"), "-dhcp", nil},
		{"bad mask", append(base, "-netmask", "255.0.255.0"), "-netmask", nil},
		{"pool outside", append(base, "-pool", "10.78.0.1-10.78.0.9"), "not inside", nil},
		{"pool reversed", append(base, "-pool", "10.77.0.9-10.77.0.1"), "before first", nil},
		{"pool holds server", append(base, "-pool", "10.77.0.1-10.77.0.9"), "server's own address", nil},
		{"pool syntax", append(base, "-pool", "10.77.0.1"), "FIRST-LAST", nil},
		{"missing root", append(base, "-tftp-root", filepath.Join(dir, "nope")), "-tftp-root", nil},
		{"root is file", append(base, "-http-root", file), "not a directory", nil},
		{"missing script", append(base, "-script", filepath.Join(dir, "nope")), "-script", nil},
		{"bad http addr", append(base, "-http-addr", "nohost"), "-http-addr", nil},
		{"bad http port", append(base, "-http-addr", "1.2.3.4:99999"), "bad port", nil},
		{"boot file with space", append(base, "-bootfile-bios", "a b"), "-bootfile-bios", nil},
		{"stray argument", append(base, "extra"), "unexpected argument", nil},
		{"unknown flag", append(base, "-nope"), "not defined", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parseConfig(%q) succeeded, want an error containing %q", tt.args, tt.wantErr)
				}
				if s := err.Error(); !strings.Contains(s, tt.wantErr) {
					t.Errorf("err.Error() = %q, want it to contain %q", s, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig(%q): %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestPreflightMissingInterface(t *testing.T) {
	c, err := parseConfig([]string{"-iface", "pxk-no-such-if0", "-addr", "10.77.0.1", "-dhcp", "off"}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	err = preflight(c)
	if err == nil {
		t.Fatalf("preflight(c) succeeded, want an error")
	}
	if s := err.Error(); !strings.Contains(s, `interface "pxk-no-such-if0"`) {
		t.Errorf("err.Error() = %q, want it to contain %q", s, `interface "pxk-no-such-if0"`)
	}
	if s := err.Error(); !strings.Contains(s, "lo") {
		t.Errorf("lists the interfaces there are: err.Error() = %q, want it to contain %q", s, "lo")
	}
}

func TestPreflightAddressNotOnInterface(t *testing.T) {
	c, err := parseConfig([]string{"-iface", "lo", "-addr", "10.77.0.1", "-dhcp", "off"}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	err = preflight(c)
	if err == nil {
		t.Fatalf("preflight(c) succeeded, want an error")
	}
	if s := err.Error(); !strings.Contains(s, "address 10.77.0.1 on interface lo") {
		t.Errorf("err.Error() = %q, want it to contain %q", s, "address 10.77.0.1 on interface lo")
	}
	if s := err.Error(); !strings.Contains(s, "127.0.0.1/8") {
		t.Errorf("err.Error() = %q, want it to contain %q", s, "127.0.0.1/8")
	}
}

func TestPreflightNeedsRoot(t *testing.T) {
	// Whoever runs the test, preflight sees a user without root.
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	c, err := parseConfig([]string{"-iface", "lo", "-addr", "127.0.0.1", "-dhcp", "lab"}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	err = preflight(c)
	if err == nil {
		t.Fatalf("preflight(c) succeeded, want an error")
	}
	if s := err.Error(); !strings.Contains(s, "root privileges") {
		t.Errorf("err.Error() = %q, want it to contain %q", s, "root privileges")
	}
}

func TestRunExitCodes(t *testing.T) {
	var stderr strings.Builder
	if got := run(t.Context(), []string{"-dhcp", "x"}, io.Discard, &stderr); got != 2 {
		t.Errorf("run(t.Context(), []string{\"-dhcp\", \"x\"}, io.Discard, &stderr) = %v, want 2", got)
	}
	if s := stderr.String(); !strings.Contains(s, "pxeserver: ") {
		t.Errorf("stderr.String() = %q, want it to contain %q", s, "pxeserver: ")
	}
	stderr.Reset()
	if got := run(t.Context(), []string{"-h"}, io.Discard, &stderr); got != 0 {
		t.Errorf("run(t.Context(), []string{\"-h\"}, io.Discard, &stderr) = %v, want 0", got)
	}
	if s := stderr.String(); !strings.Contains(s, "usage: pxeserver") {
		t.Errorf("stderr.String() = %q, want it to contain %q", s, "usage: pxeserver")
	}
	stderr.Reset()
	if got := run(t.Context(), []string{"-iface", "pxk-no-such-if0", "-addr", "10.0.0.1", "-dhcp", "off"}, io.Discard, &stderr); got != 1 {
		t.Errorf("run(t.Context(), []string{\"-iface\", \"pxk-no-such-if0\", \"-addr\", \"10.0.0.1\", \"-dhcp\", \"off\"}, io.Discard, &stderr) = %v, want 1", got)
	}
	if s := stderr.String(); !strings.Contains(s, "missing interface") {
		t.Errorf("stderr.String() = %q, want it to contain %q", s, "missing interface")
	}
}

// runLocal runs the whole command on loopback with DHCP and TFTP off (no
// root needed) and the extra flags, and waits for its "ready" line. It
// returns that line, a function that returns the next log line, and one
// that cancels the command and returns its exit status.
func runLocal(t *testing.T, extra ...string) (ready map[string]any, next func() map[string]any, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	args := append([]string{"-iface", "lo", "-addr", "127.0.0.1", "-dhcp", "off", "-http-addr", "127.0.0.1:0", "-log-json"}, extra...)
	go func() {
		done <- run(ctx, args, pw, &stderr)
		pw.Close()
	}()
	// Decode log lines as they come: io.Pipe blocks the writer until read.
	lines := make(chan map[string]any, 16)
	go func() {
		defer close(lines)
		dec := json.NewDecoder(pr)
		for {
			var l map[string]any
			if dec.Decode(&l) != nil {
				_, _ = io.Copy(io.Discard, pr)
				return
			}
			lines <- l
		}
	}()
	next = func() map[string]any {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("no log line within 10 s; stderr %s", stderr.String())
			return nil
		}
	}
	stop = func() int {
		cancel()
		go func() {
			for range lines { // keep the log flowing until run returns
			}
		}()
		select {
		case rc := <-done:
			return rc
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return 10 s after cancel")
			return -1
		}
	}
	ready = next()
	for range 10 { // records before ready (the -inventory load)
		if ready["msg"] == "ready" {
			break
		}
		ready = next()
	}
	if ready["msg"] != "ready" {
		t.Fatalf("first log record msg = %q, want \"ready\"; stderr:\n%s", ready["msg"], stderr.String())
	}
	return ready, next, stop
}

// TestRunServesAndStops runs the whole command: it logs ready, serves the
// boot script over HTTP with URLs that carry the real port, and stops
// cleanly on cancel.
func TestRunServesAndStops(t *testing.T) {
	ready, next, stop := runLocal(t)
	base, _ := ready["http"].(string)
	if strings.Contains(base, ":0") {
		t.Fatalf("the real port is handed out: base = %q, want it not to contain %q", base, ":0")
	}

	resp, err := http.Get(base + "/boot.ipxe")
	if err != nil {
		t.Fatalf("http.Get(base + \"/boot.ipxe\"): %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("resp.StatusCode = %v, want 200", resp.StatusCode)
	}
	if s := string(body); !strings.Contains(s, base+"/machine/${net0/mac:hexhyp}") {
		t.Errorf("string(body) = %q, want it to contain %q", s, base+"/machine/${net0/mac:hexhyp}")
	}
	logged := next()
	if logged["kind"] != "http" {
		t.Errorf("logged[\"kind\"] = %q, want \"http\"", logged["kind"])
	}
	if logged["route"] != "script" {
		t.Errorf("logged[\"route\"] = %q, want \"script\"", logged["route"])
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}
}

// TestRunFIFOWithCurl: curl, a real client, asks the running command for a
// FIFO under the HTTP root and for a machine script that is a FIFO: each
// is answered at once (before, each request hung for good). A machine
// script the inventory cannot read gets the default script, as
// pxekit.HTTPHandler does for an inventory error.
func TestRunFIFOWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (scripts/install-deps.sh installs it)")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "machines"), 0o755); err != nil {
		t.Fatalf("os.MkdirAll(filepath.Join(root, \"machines\"), 0o755): %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "ipxe.efi"), []byte("MZ efi"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(root, \"ipxe.efi\"), []byte(\"MZ efi\"), 0o644): %v", err)
	}
	mkfifo(t, filepath.Join(root, "pipe.efi"))
	mkfifo(t, filepath.Join(root, "machines", "52-54-00-00-00-03.ipxe"))
	ready, _, stop := runLocal(t, "-http-root", root, "-http-max-conns", "4")
	base, _ := ready["http"].(string)
	for _, tt := range []struct{ path, status string }{
		{"/pipe.efi", "404"}, {"/machine/52-54-00-00-00-03", "200"}, {"/ipxe.efi", "200"},
	} {
		out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", base+tt.path).Output()
		if err != nil {
			t.Errorf("curl %s (exit 28 is its timeout): %v", tt.path, err)
		}
		if got := string(out); got != tt.status {
			t.Errorf("curl %s: status %s, want %s", tt.path, got, tt.status)
		}
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}
}

// mkfifo makes a FIFO at path; cleanup opens it for writing once, which
// releases any reader still blocked opening it (before the fix, every
// request for it).
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatalf("syscall.Mkfifo(path, 0o644): %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			time.Sleep(100 * time.Millisecond)
			f.Close()
		}
	})
}
