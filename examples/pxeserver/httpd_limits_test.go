package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

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
		t.Fatalf("%s: no answer after %v (blocked opening a FIFO?)", what, limit)
	}
}

// TestNonRegularFiles: a FIFO in the HTTP root, as a machine script or as
// -script once held each request forever (10 500 of them exhausted the
// process's threads). Only regular files are served.
func TestNonRegularFiles(t *testing.T) {
	ws, buf, dir := newTestWeb(t, "")
	root := filepath.Join(dir, "root")
	mkfifo(t, filepath.Join(root, "pipe.efi"))
	mkfifo(t, filepath.Join(root, "machines", "52-54-00-00-00-03.ipxe"))
	for _, tt := range []struct {
		target string
		status int
		kind   string
	}{
		{"/pipe.efi", 404, "error"},
		{"/machine/52-54-00-00-00-03", 500, "error"},
		{"/dev-null-is-not-here", 404, "error"},
	} {
		t.Run(tt.target, func(t *testing.T) {
			buf.Reset()
			w := httptest.NewRecorder()
			within(t, 10*time.Second, "GET "+tt.target, func() {
				ws.ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil))
			})
			if w.Code != tt.status {
				t.Errorf("w.Code = %v, want %v", w.Code, tt.status)
			}
			if got := lastLog(t, buf)["kind"]; got != tt.kind {
				t.Errorf("lastLog(t, buf)[\"kind\"] = %v, want %v", got, tt.kind)
			}
		})
	}

	// -script naming a FIFO: refused at start, not a hung start.
	t.Run("script", func(t *testing.T) {
		script := filepath.Join(dir, "boot.ipxe")
		mkfifo(t, script)
		var err error
		within(t, 10*time.Second, "newScripts with a FIFO -script", func() {
			_, err = newScripts(&Config{HTTPAddr: "10.77.0.1:8080", Script: script})
		})
		if err == nil {
			t.Errorf("newScripts with a FIFO -script succeeded, want an error")
		} else {
			if s := err.Error(); !strings.Contains(s, "not a regular file") {
				t.Errorf("err.Error() = %q, want it to contain %q", s, "not a regular file")
			}
		}
	})
}

// httpLines returns the "http" lines logged to logs so far.
func httpLines(logs *syncbuf.Buffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if l != "" && json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http" {
			out = append(out, m)
		}
	}
	return out
}

// firstHTTPLine waits up to limit for the first "http" line; nil if none.
func firstHTTPLine(logs *syncbuf.Buffer, limit time.Duration) map[string]any {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ls := httpLines(logs); len(ls) > 0 {
			return ls[0]
		}
	}
	return nil
}

// startHTTP serves root over HTTP on loopback the way pxeserver does,
// with cfg's limits, and returns the address and the JSON log.
func startHTTP(t *testing.T, cfg *Config, root string) (string, *syncbuf.Buffer) {
	t.Helper()
	cfg.HTTPRoot = root
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen(\"tcp\", \"127.0.0.1:0\"): %v", err)
	}
	cfg.HTTPAddr = ln.Addr().String()
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	sc, err := newScripts(cfg)
	if err != nil {
		t.Fatalf("newScripts(cfg): %v", err)
	}
	web, err := newWebServer(cfg, log, sc)
	if err != nil {
		t.Fatalf("newWebServer(cfg, log, sc): %v", err)
	}
	hs, ln := newHTTPServer(cfg, web, ln, log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	t.Cleanup(func() {
		hs.Close()
		<-done
		web.Close()
	})
	return cfg.HTTPAddr, logs
}

// get sends a keep-alive GET on c and reads the whole response.
func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	if err != nil {
		t.Fatalf("fmt.Fprintf: %v", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatalf("c.SetReadDeadline(time.Now().Add(20*time.Second)): %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("http.ReadResponse(br, nil): %v", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatalf("io.Copy(io.Discard, resp.Body): %v", err)
	}
	resp.Body.Close()
	return resp
}

// TestHTTPConnectionCap: with -http-max-conns 2, two idle keep-alive
// connections hold both slots and a third is not served until the server
// closes them after -http-idle-timeout (17 600 idle connections once cost
// 369 MB).
func TestHTTPConnectionCap(t *testing.T) {
	cfg := &Config{HTTPMaxConns: 2, HTTPIdleTimeout: 2 * time.Second, HTTPWriteTimeout: 10 * time.Second}
	addr, _ := startHTTP(t, cfg, t.TempDir())
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("net.Dial(\"tcp\", addr): %v", err)
		}
		defer c.Close()
		if got := get(t, c, bufio.NewReader(c), "/boot.ipxe").StatusCode; got != 200 {
			t.Errorf("get(t, c, bufio.NewReader(c), \"/boot.ipxe\").StatusCode = %v, want 200", got)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr) // the kernel accepts it into the backlog
	if err != nil {
		t.Fatalf("net.Dial(\"tcp\", addr): %v", err)
	}
	defer extra.Close()
	_, err = fmt.Fprintf(extra, "GET /boot.ipxe HTTP/1.1\r\nHost: test\r\n\r\n")
	if err != nil {
		t.Fatalf("fmt.Fprintf: %v", err)
	}
	if err := extra.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatalf("extra.SetReadDeadline(time.Now().Add(time.Second)): %v", err)
	}
	var one [1]byte
	n, err := extra.Read(one[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("third connection answered while two are held: %d bytes, %v", n, err)
		return
	}
	// The idle ones are closed by the server...
	for i, c := range held {
		if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatalf("c.SetReadDeadline(time.Now().Add(20*time.Second)): %v", err)
		}
		_, err := c.Read(one[:])
		if !errors.Is(err, io.EOF) {
			t.Errorf("held connection %d not closed after the idle timeout: err = %v, want %v", i, err, io.EOF)
		}
	}
	// ...which frees the slots: the waiting request is answered.
	if err := extra.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatalf("extra.SetReadDeadline(time.Now().Add(20*time.Second)): %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("http.ReadResponse(bufio.NewReader(extra), nil): %v", err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("resp.StatusCode = %v, want 200", resp.StatusCode)
	}
}

// getBig serves a sparse file of size bytes with the given write timeout
// and sends a GET for it on a connection with a small receive buffer, so
// that a client that stops reading soon stops the server's writes. It
// returns the connection and the server's log.
func getBig(t *testing.T, size int64, writeTimeout time.Duration) (net.Conn, *syncbuf.Buffer) {
	t.Helper()
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "big.iso"))
	if err != nil {
		t.Fatalf("os.Create(filepath.Join(root, \"big.iso\")): %v", err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatalf("f.Truncate(size): %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("f.Close(): %v", err)
	}
	cfg := &Config{HTTPMaxConns: 8, HTTPIdleTimeout: time.Minute, HTTPWriteTimeout: writeTimeout}
	addr, logs := startHTTP(t, cfg, root)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("d.Dial(\"tcp\", addr): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "GET /big.iso HTTP/1.1\r\nHost: test\r\n\r\n")
	if err != nil {
		t.Fatalf("fmt.Fprintf: %v", err)
	}
	return c, logs
}

// TestHTTPStalledReader: a client that asks for a big image and stops
// reading is cut off once a write has made no progress for
// -http-write-timeout (300 such clients once held their connections for
// good).
func TestHTTPStalledReader(t *testing.T) {
	const size = 256 << 20
	c, logs := getBig(t, size, time.Second)
	line := firstHTTPLine(logs, 30*time.Second)
	if line == nil {
		t.Fatalf("the response to a client that reads nothing is still being written after 30 s: line is nil")
	}
	if b, ok := line["bytes"].(float64); !ok || b >= size {
		t.Errorf("bytes sent to a client that reads nothing: %v, want a number < %d", line["bytes"], size)
	}
	if line["level"] != "WARN" {
		t.Errorf("line[\"level\"] = %q, want \"WARN\"", line["level"])
	}
	if s, _ := line["err"].(string); !strings.Contains(s, "i/o timeout") {
		t.Errorf("line[\"err\"] = %q, want it to contain %q", line["err"], "i/o timeout")
	}
	// What reached the socket buffers can still be read; then the
	// connection ends.
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatalf("c.SetReadDeadline(time.Now().Add(30*time.Second)): %v", err)
	}
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open: %v", err)
	}
	if n >= int64(size) {
		t.Errorf("n = %v, want < %v", n, int64(size))
	}
}

// TestHTTPSlowProgress: a download that keeps moving is never cut, even
// when it takes many times -http-write-timeout (a fixed WriteTimeout would
// kill a slow 1 GB ISO download).
func TestHTTPSlowProgress(t *testing.T) {
	const size = 24 << 20
	c, logs := getBig(t, size, time.Second)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		t.Fatalf("c.SetReadDeadline(time.Now().Add(5*time.Minute)): %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("http.ReadResponse(br, nil): %v", err)
	}
	defer resp.Body.Close()
	// 64 KiB every 15 ms: at least 6 s for 24 MiB, whatever the load, and
	// no gap near the 1 s limit.
	var got int64
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got += int64(n)
		if err != nil {
			break
		}
		time.Sleep(15 * time.Millisecond)
	}
	if got != int64(size) {
		t.Errorf("got = %v, want %v", got, int64(size))
	}
	line := firstHTTPLine(logs, 10*time.Second)
	if line == nil {
		t.Fatalf("line is nil")
	}
	if line["bytes"] != float64(size) {
		t.Errorf("line[\"bytes\"] = %v, want %v", line["bytes"], float64(size))
	}
	if ms, ok := line["duration_ms"].(float64); !ok || ms <= 3000 {
		t.Errorf("the download took less than 3 write timeouts: the test proves nothing: duration_ms = %v, want > 3000", line["duration_ms"])
	}
}
