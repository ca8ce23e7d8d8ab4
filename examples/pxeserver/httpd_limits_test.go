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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

// mkfifo makes a FIFO at path; cleanup opens it for writing once, which
// releases any reader still blocked opening it (before the fix, every
// request for it).
func mkfifo(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(path, 0o644))
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
			assert.Equal(t, tt.status, w.Code)
			assert.Equal(t, tt.kind, lastLog(t, buf)["kind"])
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
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "not a regular file")
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
	require.NoError(t, err)
	cfg.HTTPAddr = ln.Addr().String()
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	sc, err := newScripts(cfg)
	require.NoError(t, err)
	web, err := newWebServer(cfg, log, sc)
	require.NoError(t, err)
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
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
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
		require.NoError(t, err)
		defer c.Close()
		assert.Equal(t, 200, get(t, c, bufio.NewReader(c), "/boot.ipxe").StatusCode)
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr) // the kernel accepts it into the backlog
	require.NoError(t, err)
	defer extra.Close()
	_, err = fmt.Fprintf(extra, "GET /boot.ipxe HTTP/1.1\r\nHost: test\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, extra.SetReadDeadline(time.Now().Add(time.Second)))
	var one [1]byte
	n, err := extra.Read(one[:])
	var ne net.Error
	if !assert.True(t, errors.As(err, &ne) && ne.Timeout(), "third connection answered while two are held: %d bytes, %v", n, err) {
		return
	}
	// The idle ones are closed by the server...
	for i, c := range held {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
		_, err := c.Read(one[:])
		assert.ErrorIs(t, err, io.EOF, "held connection %d not closed after the idle timeout", i)
	}
	// ...which frees the slots: the waiting request is answered.
	require.NoError(t, extra.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}

// getBig serves a sparse file of size bytes with the given write timeout
// and sends a GET for it on a connection with a small receive buffer, so
// that a client that stops reading soon stops the server's writes. It
// returns the connection and the server's log.
func getBig(t *testing.T, size int64, writeTimeout time.Duration) (net.Conn, *syncbuf.Buffer) {
	t.Helper()
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "big.iso"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())
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
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "GET /big.iso HTTP/1.1\r\nHost: test\r\n\r\n")
	require.NoError(t, err)
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
	require.NotNil(t, line, "the response to a client that reads nothing is still being written after 30 s")
	assert.Less(t, line["bytes"], float64(size))
	assert.Equal(t, "WARN", line["level"])
	assert.Contains(t, line["err"], "i/o timeout")
	// What reached the socket buffers can still be read; then the
	// connection ends.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "connection still open: %v", err)
	assert.Less(t, n, int64(size))
}

// TestHTTPSlowProgress: a download that keeps moving is never cut, even
// when it takes many times -http-write-timeout (a fixed WriteTimeout would
// kill a slow 1 GB ISO download).
func TestHTTPSlowProgress(t *testing.T) {
	const size = 24 << 20
	c, logs := getBig(t, size, time.Second)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Minute)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
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
	assert.Equal(t, int64(size), got)
	line := firstHTTPLine(logs, 10*time.Second)
	require.NotNil(t, line)
	assert.Equal(t, float64(size), line["bytes"])
	assert.Greater(t, line["duration_ms"], float64(3000), "the download took less than 3 write timeouts: the test proves nothing")
}
