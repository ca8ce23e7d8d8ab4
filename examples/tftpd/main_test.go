package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"github.com/pxekit/pxekit/internal/netlab"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTftpdWithRealClients builds tftpd, runs it on loopback and fetches a
// file with atftp (windowsize 16) and curl, checking bytes and the logs.
func TestTftpdWithRealClients(t *testing.T) {
	atftp, curl := netlab.RequireTool(t, "atftp"), netlab.RequireTool(t, "curl")
	bin := buildTftpd(t)
	root := t.TempDir()
	data := make([]byte, 700_000)
	rand.New(rand.NewSource(1)).Read(data)
	os.WriteFile(filepath.Join(root, "ipxe.efi"), data, 0o644)

	for _, extra := range [][]string{nil, {"-single-port", "-cache", "-windowsize-max", "8", "-blksize-max", "1024"}, {"-no-gso"}, {"-single-port", "-batch"}} {
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
			if slices.Contains(extra, "-windowsize-max") {
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

// TestSIGTERMAbortsAndLogsEveryTransfer: 20 transfers still running when
// the shutdown grace ends each get ERROR 0 "server shutting down" and a
// log line before tftpd exits, in both port modes.
func TestSIGTERMAbortsAndLogsEveryTransfer(t *testing.T) {
	const clients = 20
	bin := buildTftpd(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"-single-port"}, {"-single-port", "-batch"}} {
		t.Run(strings.Join(append([]string{"flags"}, extra...), " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"-root", root, "-addr", "127.0.0.1:0", "-log-json", "-shutdown-grace", "300ms"}, extra...)...)
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := jsonLines(stderr)
			var hello map[string]any
			select {
			case hello = <-lines:
			case <-time.After(20 * time.Second):
				t.Fatal("no log line")
			}
			server, err := netip.ParseAddrPort(fmt.Sprint(hello["addr"]))
			if err != nil {
				t.Fatalf("first line %v", hello)
			}

			// Slow clients: one ACK every 20 ms, 2048 blocks of 512 bytes.
			started := make(chan struct{}, clients)
			ended := make(chan string, clients)
			for i := 0; i < clients; i++ {
				pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				go slowClient(pc, server, started, ended)
			}
			for i := 0; i < clients; i++ {
				select {
				case <-started:
				case <-time.After(20 * time.Second):
					t.Fatalf("only %d of %d transfers started", i, clients)
				}
			}
			cmd.Process.Signal(syscall.SIGTERM)
			canceled := 0
			for m := range lines { // until tftpd exits (ctx bounds it)
				if m["msg"] == "tftp transfer" && m["outcome"] == "canceled" {
					canceled++
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v", err)
			}
			told := 0
			for i := 0; i < clients; i++ {
				if msg := <-ended; msg == "server shutting down" {
					told++
				}
			}
			if canceled != clients || told != clients {
				t.Fatalf("%d/%d transfers logged as canceled, %d/%d clients told", canceled, clients, told, clients)
			}
		})
	}
}

// slowClient downloads "big" in lockstep, one ACK every 20 ms, until an
// ERROR (its message goes to ended) or 20 s of silence ("" goes to ended).
func slowClient(pc net.PacketConn, server netip.AddrPort, started chan<- struct{}, ended chan<- string) {
	rrq := []byte("\x00\x01big\x00octet\x00")
	if _, err := pc.WriteTo(rrq, net.UDPAddrFromAddrPort(server)); err != nil {
		ended <- ""
		return
	}
	buf := make([]byte, 1024)
	first := true
	for {
		_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			ended <- ""
			return
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(buf) {
		case 3: // DATA
			if first {
				first = false
				started <- struct{}{}
			}
			time.Sleep(20 * time.Millisecond)
			_, _ = pc.WriteTo([]byte{0, 4, buf[2], buf[3]}, from)
		case 5: // ERROR
			ended <- strings.TrimRight(string(buf[4:n]), "\x00")
			return
		}
	}
}
