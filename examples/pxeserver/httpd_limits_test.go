package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
