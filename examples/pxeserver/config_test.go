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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, []byte("#!ipxe\n"), 0o644))
	base := []string{"-iface", "br0", "-addr", "10.77.0.1"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{"defaults", base, "", func(t *testing.T, c *Config) {
			assert.Equal(t, "proxy", c.DHCP)
			assert.Equal(t, "10.77.0.1:8080", c.HTTPAddr)
			assert.Equal(t, "http://10.77.0.1:8080", c.HTTPBase())
			assert.Equal(t, [2]netip.Addr{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.199")}, c.Pool)
			assert.Equal(t, "undionly.kpxe", c.BootBIOS)
			assert.Equal(t, "ipxe.efi", c.BootUEFIX64)
			assert.Equal(t, 1024, c.HTTPMaxConns)
			assert.Equal(t, 60*time.Second, c.HTTPIdleTimeout)
			assert.Equal(t, 60*time.Second, c.HTTPWriteTimeout)
		}},
		{"http limits", append(base, "-http-max-conns", "0", "-http-idle-timeout", "5s", "-http-write-timeout", "0"), "", func(t *testing.T, c *Config) {
			assert.Equal(t, 0, c.HTTPMaxConns)
			assert.Equal(t, 5*time.Second, c.HTTPIdleTimeout)
			assert.Equal(t, time.Duration(0), c.HTTPWriteTimeout)
		}},
		{"negative conns", append(base, "-http-max-conns", "-1"), "-http-max-conns", nil},
		{"zero idle", append(base, "-http-idle-timeout", "0"), "-http-idle-timeout", nil},
		{"negative write timeout", append(base, "-http-write-timeout", "-1s"), "-http-write-timeout", nil},
		{"lab with pool and roots", append(base, "-dhcp", "lab", "-pool", "10.77.0.10-10.77.0.20", "-tftp-root", dir, "-router", "10.77.0.254"), "", func(t *testing.T, c *Config) {
			assert.Equal(t, "lab", c.DHCP)
			assert.Equal(t, netip.MustParseAddr("10.77.0.20"), c.Pool[1])
			assert.Equal(t, dir, c.HTTPRoot, "http root defaults to tftp root")
			assert.Equal(t, netip.MustParseAddr("10.77.0.254"), c.Router)
		}},
		{"small subnet pool", append(base, "-netmask", "255.255.255.248"), "", func(t *testing.T, c *Config) {
			assert.Equal(t, netip.MustParseAddr("10.77.0.1"), c.Pool[0])
			assert.Equal(t, netip.MustParseAddr("10.77.0.6"), c.Pool[1])
		}},
		{"http addr any", append(base, "-http-addr", ":9000"), "", func(t *testing.T, c *Config) {
			assert.Equal(t, "http://10.77.0.1:9000", c.HTTPBase())
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
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestPreflightMissingInterface(t *testing.T) {
	c, err := parseConfig([]string{"-iface", "pxk-no-such-if0", "-addr", "10.77.0.1", "-dhcp", "off"}, io.Discard)
	require.NoError(t, err)
	err = preflight(c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `interface "pxk-no-such-if0"`)
	assert.Contains(t, err.Error(), "lo", "lists the interfaces there are")
}

func TestPreflightAddressNotOnInterface(t *testing.T) {
	c, err := parseConfig([]string{"-iface", "lo", "-addr", "10.77.0.1", "-dhcp", "off"}, io.Discard)
	require.NoError(t, err)
	err = preflight(c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address 10.77.0.1 on interface lo")
	assert.Contains(t, err.Error(), "127.0.0.1/8")
}

func TestPreflightNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: the missing-root message cannot show")
	}
	c, err := parseConfig([]string{"-iface", "lo", "-addr", "127.0.0.1", "-dhcp", "lab"}, io.Discard)
	require.NoError(t, err)
	err = preflight(c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "root privileges")
}

func TestRunExitCodes(t *testing.T) {
	var stderr strings.Builder
	assert.Equal(t, 2, run(t.Context(), []string{"-dhcp", "x"}, io.Discard, &stderr))
	assert.Contains(t, stderr.String(), "pxeserver: ")
	stderr.Reset()
	assert.Equal(t, 0, run(t.Context(), []string{"-h"}, io.Discard, &stderr))
	assert.Contains(t, stderr.String(), "usage: pxeserver")
	stderr.Reset()
	assert.Equal(t, 1, run(t.Context(), []string{"-iface", "pxk-no-such-if0", "-addr", "10.0.0.1", "-dhcp", "off"}, io.Discard, &stderr))
	assert.Contains(t, stderr.String(), "missing interface")
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
	require.Equal(t, "ready", ready["msg"], stderr.String())
	return ready, next, stop
}

// TestRunServesAndStops runs the whole command: it logs ready, serves the
// boot script over HTTP with URLs that carry the real port, and stops
// cleanly on cancel.
func TestRunServesAndStops(t *testing.T) {
	ready, next, stop := runLocal(t)
	base, _ := ready["http"].(string)
	require.NotContains(t, base, ":0", "the real port is handed out")

	resp, err := http.Get(base + "/boot.ipxe")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(body), base+"/machine/${net0/mac:hexhyp}")
	logged := next()
	assert.Equal(t, "http", logged["msg"])
	assert.Equal(t, "script", logged["kind"])
	assert.Equal(t, 0, stop())
}

// TestRunFIFOWithCurl: curl, a real client, asks the running command for a
// FIFO under the HTTP root and for a machine script that is a FIFO: each
// is answered at once (before, each request hung for good).
func TestRunFIFOWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (scripts/install-deps.sh installs it)")
	}
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "machines"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "ipxe.efi"), []byte("MZ efi"), 0o644))
	mkfifo(t, filepath.Join(root, "pipe.efi"))
	mkfifo(t, filepath.Join(root, "machines", "52-54-00-00-00-03.ipxe"))
	ready, _, stop := runLocal(t, "-http-root", root, "-http-max-conns", "4")
	base, _ := ready["http"].(string)
	for _, tt := range []struct{ path, status string }{
		{"/pipe.efi", "404"}, {"/machine/52-54-00-00-00-03", "500"}, {"/ipxe.efi", "200"},
	} {
		out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", base+tt.path).Output()
		assert.NoError(t, err, "curl %s (exit 28 is its timeout)", tt.path)
		assert.Equal(t, tt.status, string(out), tt.path)
	}
	assert.Equal(t, 0, stop())
}
