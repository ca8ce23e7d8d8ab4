package pxekit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// get sends a keep-alive GET on c and reads the whole response.
func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		t.Fatalf("write request: %v", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("http.ReadResponse: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return resp
}

// TestHTTPLimitsConnectionCap: with MaxConns 2, two idle keep-alive
// connections hold both slots and a third is not served until the server
// closes them after IdleTimeout.
func TestHTTPLimitsConnectionCap(t *testing.T) {
	ln, base := listen(t)
	h, _ := newTestHandler(t, HTTPConfig{BaseURL: base})
	serve(t, ln, h, HTTPLimits{MaxConns: 2, IdleTimeout: 2 * time.Second})
	addr := ln.Addr().String()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := get(t, c, bufio.NewReader(c), "/boot.ipxe").StatusCode; got != 200 {
			t.Errorf("status %d, want 200", got)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr) // the kernel accepts it into the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprintf(extra, "GET /boot.ipxe HTTP/1.1\r\nHost: test\r\n\r\n")
	if err := extra.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	n, err := extra.Read(one[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("third connection answered while two are held: %d bytes, %v", n, err)
	}
	// The idle ones are closed by the server...
	for i, c := range held {
		if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(one[:]); !errors.Is(err, io.EOF) {
			t.Errorf("held connection %d not closed after the idle timeout: %v", i, err)
		}
	}
	// ...which frees the slots: the waiting request is answered.
	if err := extra.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("the waiting request: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("the waiting request: status %d, want 200", resp.StatusCode)
	}
}

// TestHTTPLimitsDefaults: the zero HTTPLimits takes the documented
// defaults; negative fields turn limits off.
func TestHTTPLimitsDefaults(t *testing.T) {
	hs := HTTPLimits{}.Server(http.NotFoundHandler())
	if hs.IdleTimeout != DefaultHTTPIdleTimeout || hs.ReadHeaderTimeout != DefaultHTTPReadHeaderTimeout || hs.WriteTimeout != 0 {
		t.Errorf("zero HTTPLimits: idle %v, read header %v, write %v", hs.IdleTimeout, hs.ReadHeaderTimeout, hs.WriteTimeout)
	}
	hs = HTTPLimits{IdleTimeout: -1, ReadHeaderTimeout: -1}.Server(http.NotFoundHandler())
	if hs.IdleTimeout != 0 || hs.ReadHeaderTimeout != 0 {
		t.Errorf("negative HTTPLimits: idle %v, read header %v, want 0", hs.IdleTimeout, hs.ReadHeaderTimeout)
	}
	ln, _ := listen(t)
	defer ln.Close()
	if got := (HTTPLimits{MaxConns: -1}).Listener(ln); got != ln {
		t.Errorf("MaxConns -1 wrapped the listener")
	}
	if got := (HTTPLimits{}).Listener(ln); got == ln {
		t.Errorf("zero MaxConns did not cap the listener")
	}
}

// bigFileServer serves a sparse file of size bytes with the given write
// timeout, and returns a connection with a small receive buffer that has
// asked for it, so that a client that stops reading soon stops the
// server's writes.
func bigFileServer(t *testing.T, size int64, stall time.Duration) (net.Conn, *requests) {
	t.Helper()
	root := t.TempDir()
	if err := os.Truncate(createFile(t, filepath.Join(root, "big.iso")), size); err != nil {
		t.Fatal(err)
	}
	ln, base := listen(t)
	h, rs := newTestHandler(t, HTTPConfig{BaseURL: base, Files: root, WriteTimeout: stall})
	serve(t, ln, h, HTTPLimits{})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /big.iso HTTP/1.1\r\nHost: test\r\n\r\n")
	return c, rs
}

// createFile creates an empty file and returns its path.
func createFile(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestHTTPStalledReader: a client that asks for a big image and stops
// reading is cut off once a write has made no progress for WriteTimeout.
func TestHTTPStalledReader(t *testing.T) {
	const size = 256 << 20
	c, rs := bigFileServer(t, size, time.Second)
	r := rs.wait(t, 1, 30*time.Second)[0]
	if r.Bytes >= size {
		t.Errorf("bytes sent to a client that reads nothing: %d, want < %d", r.Bytes, size)
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "i/o timeout") {
		t.Errorf("Err = %v, want an i/o timeout", r.Err)
	}
	// What reached the socket buffers can still be read; then the
	// connection ends.
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open: %v", err)
	}
	if n >= size {
		t.Errorf("read %d bytes, want < %d", n, size)
	}
}

// TestHTTPSlowProgress: a download that keeps moving is never cut, even
// when it takes many times WriteTimeout (a fixed WriteTimeout would kill
// a slow ISO download).
func TestHTTPSlowProgress(t *testing.T) {
	const size = 24 << 20
	c, rs := bigFileServer(t, size, time.Second)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
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
	if got != size {
		t.Errorf("read %d bytes, want %d", got, size)
	}
	r := rs.wait(t, 1, 10*time.Second)[0]
	if r.Bytes != size || r.Err != nil {
		t.Errorf("reported %d bytes, err %v; want %d, nil", r.Bytes, r.Err, size)
	}
	if r.Duration <= 3*time.Second {
		t.Errorf("the download took %v, under 3 write timeouts: the test proves nothing", r.Duration)
	}
}

// TestHTTPFIFOQuick: many concurrent GETs of a FIFO in the files
// directory all get 404 at once; none blocks opening it.
func TestHTTPFIFOQuick(t *testing.T) {
	ln, base := listen(t)
	h, _ := newTestHandler(t, HTTPConfig{BaseURL: base})
	serve(t, ln, h, HTTPLimits{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	within(t, 30*time.Second, "50 GETs of a FIFO", func() {
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := http.Client{Timeout: 20 * time.Second}
				resp, err := cl.Get(base + "/pipe.efi")
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 404 {
					errs <- fmt.Errorf("status %d, want 404", resp.StatusCode)
				}
			}()
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		t.Errorf("GET /pipe.efi: %v", err)
	}
}
