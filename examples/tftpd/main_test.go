package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tool finds a client program; it skips without it, or fails on CI.
func tool(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// TestTftpdWithRealClients builds tftpd, runs it on loopback and fetches a
// file with atftp (windowsize 16) and curl, checking bytes and the logs.
func TestTftpdWithRealClients(t *testing.T) {
	atftp, curl := tool(t, "atftp"), tool(t, "curl")
	bin := buildTftpd(t)
	root := t.TempDir()
	data := make([]byte, 700_000)
	rand.New(rand.NewSource(1)).Read(data)
	os.WriteFile(filepath.Join(root, "ipxe.efi"), data, 0o644)

	for _, extra := range [][]string{nil, {"-single-port", "-cache", "-windowsize-max", "8", "-blksize-max", "1024"}} {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd, next, addr := startTftpd(t, bin, append([]string{"-root", root, "-v"}, extra...)...)
			host, port, _ := strings.Cut(addr, ":")

			out := filepath.Join(t.TempDir(), "a")
			if b, err := exec.CommandContext(ctx, atftp, "--option", "blksize 1468", "--option", "windowsize 16", "--option", "tsize 0",
				"-g", "-r", "ipxe.efi", "-l", out, host, port).CombinedOutput(); err != nil {
				t.Fatalf("atftp: %v\n%s", err, b)
			}
			check(t, out, data)
			m := next()
			wantBS, wantWin := 1468.0, 16.0
			if extra != nil {
				wantBS, wantWin = 1024, 8
			}
			if m["msg"] != "tftp transfer" || m["outcome"] != "ok" || m["file"] != "ipxe.efi" || m["bytes"] != float64(len(data)) ||
				m["blksize"] != wantBS || m["windowsize"] != wantWin {
				t.Fatalf("log line %v", m)
			}

			out2 := filepath.Join(t.TempDir(), "c")
			if b, err := exec.CommandContext(ctx, curl, "-sS", "--tftp-blksize", "1468", "-o", out2, "tftp://"+addr+"//ipxe.efi").CombinedOutput(); err != nil {
				t.Fatalf("curl: %v\n%s", err, b)
			}
			check(t, out2, data)
			if m := next(); m["outcome"] != "ok" {
				t.Fatalf("log line %v", m)
			}
			// Not found and traversal are refused and logged.
			exec.CommandContext(ctx, atftp, "-g", "-r", "../etc/passwd", "-l", filepath.Join(t.TempDir(), "x"), host, port).Run()
			if m := next(); m["outcome"] != "refused" || m["code"] != 2.0 {
				t.Fatalf("log line %v", m)
			}

			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("tftpd did not stop on SIGTERM")
			}
		})
	}
}

func check(t *testing.T, path string, want []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(b) != sha256.Sum256(want) {
		t.Fatalf("%s: %d bytes, want %d", path, len(b), len(want))
	}
	_ = bytes.MinRead
}

func TestFlags(t *testing.T) {
	if err := run([]string{"-addr", "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "-root") {
		t.Fatalf("missing -root: %v", err)
	}
	if err := run([]string{"-root", "/nonexistent/dir"}); err == nil {
		t.Fatal("bad root accepted")
	}
	if err := run([]string{"-bogus"}); err == nil {
		t.Fatal("bad flag accepted")
	}
}
