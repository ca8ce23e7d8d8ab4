package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// buildTftpd builds the command into a temporary directory.
func buildTftpd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tftpd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// jsonLines decodes the JSON log lines read from r (tftpd -log-json); the
// channel closes at the end of r.
func jsonLines(r io.Reader) <-chan map[string]any {
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	return lines
}

// jsonLogLines reads -log-json lines from r; the returned function waits
// up to 20 s for the next one and fails the test without it.
func jsonLogLines(t *testing.T, r io.Reader) func() map[string]any {
	lines := jsonLines(r)
	return func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("tftpd exited")
			}
			return m
		case <-time.After(20 * time.Second):
			t.Fatal("no log line from tftpd")
		}
		return nil
	}
}

// startTftpd runs bin with args on loopback for at most a minute; it
// returns the command (killed when the test ends), a reader of its log
// lines and the address it logged it listens on.
func startTftpd(t *testing.T, bin string, args ...string) (*exec.Cmd, func() map[string]any, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0", "-log-json"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	next := jsonLogLines(t, stderr)
	hello := next()
	addr, _ := hello["addr"].(string)
	if hello["msg"] != "tftpd listening" || addr == "" {
		t.Fatalf("first line %v", hello)
	}
	return cmd, next, addr
}
