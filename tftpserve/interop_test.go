package tftpserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"
	"github.com/pxekit/pxekit/internal/netlab"
)

// interopFiles are the sizes every client must transfer byte-exact.
var interopSizes = []int{0, 1, 511, 512, 513, 1468 * 4, 8192 * 2, 1 << 20}

// interopServer writes the test files to a directory and serves it on
// loopback (IPv4 and IPv6).
func interopServer(t *testing.T, extra map[string]int) (dir string, v4, v6 string, files map[string][sha256.Size]byte) {
	t.Helper()
	return interopServerWith(t, extra, nil)
}

// interopServerWith is interopServer with the server's settings changed by
// configure (if not nil) before it starts.
func interopServerWith(t *testing.T, extra map[string]int, configure func(*Server)) (dir string, v4, v6 string, files map[string][sha256.Size]byte) {
	t.Helper()
	dir = t.TempDir()
	files = map[string][sha256.Size]byte{}
	write := func(name string, n int) {
		b := randBytes(n, int64(n)*31+int64(len(name)))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = sha256.Sum256(b)
	}
	for _, n := range interopSizes {
		write("f"+strconv.Itoa(n), n)
	}
	for name, n := range extra {
		write(name, n)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	srv := &Server{Handler: d}
	if configure != nil {
		configure(srv)
	}
	a4 := startServer(t, srv, "udp4")
	a6 := startServer(t, srv, "udp6")
	return dir, a4.String(), a6.String(), files
}

// interopModes are the server settings every interop test runs with.
var interopModes = []struct {
	name      string
	configure func(*Server)
}{
	{"default", nil},
	// Lock-step data phases in the single-port socket's loop.
	{"single-port-batched", func(s *Server) { s.SinglePort, s.BatchedLockstep = true, true }},
}

// forInteropModes runs f against an interop server in each mode.
func forInteropModes(t *testing.T, f func(t *testing.T, v4, v6 string, files map[string][sha256.Size]byte)) {
	for _, m := range interopModes {
		t.Run(m.name, func(t *testing.T) {
			_, v4, v6, files := interopServerWith(t, nil, m.configure)
			f(t, v4, v6, files)
		})
	}
}

// runClient runs a client program with a time bound and returns its output.
func runClient(t *testing.T, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func checkFile(t *testing.T, path string, want [sha256.Size]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(b) != want {
		t.Fatalf("%s: %d bytes, sha256 differs", path, len(b))
	}
}

func hostPort(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return strings.Trim(addr[:i], "[]"), addr[i+1:]
}

func TestInteropAtftp(t *testing.T) {
	atftp := netlab.RequireTool(t, "atftp")
	forInteropModes(t, func(t *testing.T, v4, v6 string, files map[string][sha256.Size]byte) {
		out := t.TempDir()
		for _, bs := range []int{512, 1468, 8192} {
			for _, win := range []int{1, 4, 16, 64} {
				for _, n := range interopSizes {
					name := "f" + strconv.Itoa(n)
					t.Run(fmt.Sprintf("blksize%d/window%d/%s", bs, win, name), func(t *testing.T) {
						host, port := hostPort(v4)
						local := filepath.Join(out, fmt.Sprintf("%d-%d-%s", bs, win, name))
						args := []string{"--option", "blksize " + strconv.Itoa(bs), "--option", "tsize 0"}
						if win > 1 {
							args = append(args, "--option", "windowsize "+strconv.Itoa(win))
						}
						runClient(t, 30*time.Second, atftp, append(args, "-g", "-r", name, "-l", local, host, port)...)
						checkFile(t, local, files[name])
					})
				}
			}
		}
		t.Run("ipv6", func(t *testing.T) {
			host, port := hostPort(v6)
			local := filepath.Join(out, "v6")
			runClient(t, 30*time.Second, atftp, "--option", "blksize 1468", "--option", "windowsize 16", "-g", "-r", "f1048576", "-l", local, host, port)
			checkFile(t, local, files["f1048576"])
		})
	})
}

// TestInteropRollover: more than 65535 blocks at blksize 512 (33.6 MB) to
// atftp, whose block counter wraps to 0 like every boot client's.
func TestInteropRollover(t *testing.T) {
	if testing.Short() {
		t.Skip("33 MB transfer")
	}
	atftp := netlab.RequireTool(t, "atftp")
	n := 512*65536 + 700
	_, v4, _, files := interopServer(t, map[string]int{"big": n})
	host, port := hostPort(v4)
	local := filepath.Join(t.TempDir(), "big")
	runClient(t, 120*time.Second, atftp, "--option", "blksize 512", "--option", "windowsize 16", "--option", "tsize 0", "-g", "-r", "big", "-l", local, host, port)
	checkFile(t, local, files["big"])
}

func TestInteropCurl(t *testing.T) {
	curl := netlab.RequireTool(t, "curl")
	forInteropModes(t, func(t *testing.T, v4, v6 string, files map[string][sha256.Size]byte) {
		out := t.TempDir()
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"default", nil},
			{"blksize512", []string{"--tftp-blksize", "512"}},
			{"blksize1468", []string{"--tftp-blksize", "1468"}},
			{"blksize8192", []string{"--tftp-blksize", "8192"}},
			{"no-options", []string{"--tftp-no-options"}},
			{"timeout", []string{"--tftp-blksize", "1468", "--connect-timeout", "7"}},
		} {
			for _, n := range interopSizes {
				name := "f" + strconv.Itoa(n)
				if n == 0 && tc.name != "no-options" {
					// curl (7.88 at least) rejects an OACK carrying "tsize 0"
					// ("invalid tsize -:0:- value in OACK packet"), which is the
					// right answer for an empty file; tested without options.
					continue
				}
				t.Run(tc.name+"/"+name, func(t *testing.T) {
					local := filepath.Join(out, tc.name+"-"+name)
					args := append([]string{"-sS", "--max-time", "30", "-o", local}, tc.args...)
					runClient(t, 40*time.Second, curl, append(args, "tftp://"+v4+"/"+name)...)
					checkFile(t, local, files[name])
				})
			}
		}
		t.Run("ipv6", func(t *testing.T) {
			local := filepath.Join(out, "v6")
			runClient(t, 40*time.Second, curl, "-sS", "-g", "--max-time", "30", "--tftp-blksize", "1448", "-o", local, "tftp://"+v6+"/f1048576")
			checkFile(t, local, files["f1048576"])
		})
	})
}

func TestInteropTftpHPA(t *testing.T) {
	tftp := netlab.RequireTool(t, "tftp")
	if out, _ := exec.Command(tftp, "-V").CombinedOutput(); !bytes.Contains(out, []byte("tftp-hpa")) {
		t.Skipf("%s is not tftp-hpa: %s", tftp, out)
	}
	forInteropModes(t, func(t *testing.T, v4, v6 string, files map[string][sha256.Size]byte) {
		out := t.TempDir()
		for _, n := range interopSizes {
			name := "f" + strconv.Itoa(n)
			t.Run(name, func(t *testing.T) {
				host, port := hostPort(v4)
				local := filepath.Join(out, name)
				runClient(t, 30*time.Second, tftp, "-4", "-m", "octet", host, port, "-c", "get", name, local)
				checkFile(t, local, files[name])
			})
		}
		t.Run("ipv6", func(t *testing.T) {
			host, port := hostPort(v6)
			local := filepath.Join(out, "v6")
			runClient(t, 30*time.Second, tftp, "-6", "-m", "octet", host, port, "-c", "get", "f513", local)
			checkFile(t, local, files["f513"])
		})
	})
}

func TestInteropBusybox(t *testing.T) {
	bb := netlab.RequireTool(t, "busybox")
	forInteropModes(t, func(t *testing.T, v4, _ string, files map[string][sha256.Size]byte) {
		out := t.TempDir()
		for _, bs := range []int{0, 1468} {
			for _, n := range interopSizes {
				name := "f" + strconv.Itoa(n)
				t.Run(fmt.Sprintf("blksize%d/%s", bs, name), func(t *testing.T) {
					host, port := hostPort(v4)
					local := filepath.Join(out, fmt.Sprintf("%d-%s", bs, name))
					args := []string{"tftp", "-g", "-r", name, "-l", local}
					if bs > 0 {
						args = append(args, "-b", strconv.Itoa(bs))
					}
					runClient(t, 30*time.Second, bb, append(args, host, port)...)
					checkFile(t, local, files[name])
				})
			}
		}
	})
}

func TestInteropPinClient(t *testing.T) {
	forInteropModes(t, func(t *testing.T, v4, v6 string, files map[string][sha256.Size]byte) {
		for _, addr := range []string{v4, v6} {
			for _, bs := range []int{512, 1468} {
				for _, n := range interopSizes {
					name := "f" + strconv.Itoa(n)
					t.Run(fmt.Sprintf("%s/blksize%d/%s", addr, bs, name), func(t *testing.T) {
						c, err := pintftp.NewClient(addr)
						if err != nil {
							t.Fatal(err)
						}
						c.SetBlockSize(bs)
						c.RequestTSize(true)
						c.SetTimeout(2 * time.Second)
						wt, err := c.Receive(name, "octet")
						if err != nil {
							t.Fatal(err)
						}
						if sz, ok := wt.(pintftp.IncomingTransfer).Size(); !ok || sz != int64(n) {
							t.Fatalf("tsize %d %v, want %d", sz, ok, n)
						}
						var buf bytes.Buffer
						if _, err := wt.WriteTo(&buf); err != nil {
							t.Fatal(err)
						}
						if sha256.Sum256(buf.Bytes()) != files[name] {
							t.Fatalf("got %d bytes, sha256 differs", buf.Len())
						}
					})
				}
			}
		}
	})
}
