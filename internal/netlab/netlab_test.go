package netlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a child test process for the cleanup tests.
const childEnv = "PXKNETLAB_CHILD"

func TestOwnerPid(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"pxk123x1", 123, true},
		{"pxk9probe", 9, true},
		{"pxkx1", 0, false},
		{"pxk12", 0, false},
		{"pxk12y3", 0, false},
		{"other123x1", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		pid, ok := ownerPid(tt.name)
		if ok != tt.ok {
			t.Errorf("%v: ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if tt.ok {
			if pid != tt.pid {
				t.Errorf("%v: pid = %v, want %v", tt.name, pid, tt.pid)
			}
		}
	}
}

// TestUDPEchoAcrossVeth sends datagrams from a Go socket in one namespace to a
// Go echo server in another, across a veth pair.
func TestUDPEchoAcrossVeth(t *testing.T) {
	p := NewPair(t)
	p.Server.EchoUDP(t, p.ServerIP.String()+":7007")

	cli, err := p.Client.ListenPacket("udp4", p.ClientIP.String()+":0")
	if err != nil {
		t.Fatalf("p.Client.ListenPacket(\"udp4\", p.ClientIP.String()+\":0\"): %v", err)
	}
	defer cli.Close()
	to := &net.UDPAddr{IP: p.ServerIP.AsSlice(), Port: 7007}
	buf := make([]byte, 2048)
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("ping %d", i)
		_, err := cli.WriteTo([]byte(msg), to)
		if err != nil {
			t.Fatalf("cli.WriteTo([]byte(msg), to): %v", err)
		}
		if err := cli.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatalf("cli.SetReadDeadline(time.Now().Add(5*time.Second)): %v", err)
		}
		n, from, err := cli.ReadFrom(buf)
		if err != nil {
			t.Fatalf("cli.ReadFrom(buf): %v", err)
		}
		if got := string(buf[:n]); got != msg {
			t.Errorf("string(buf[:n]) = %v, want %v", got, msg)
		}
		if got := from.String(); got != to.String() {
			t.Errorf("from.String() = %v, want %v", got, to.String())
		}
	}

	// The server address does not exist in the root namespace: the socket
	// really lives inside the namespace.
	_, err = net.ListenPacket("udp4", p.ServerIP.String()+":0")
	if err == nil {
		t.Errorf("10.99.0.1 must not be bound in the root namespace: the listen succeeded")
	}
}

// TestCurlAcrossVeth runs a real client (curl) inside the client namespace
// against a Go HTTP server listening inside the server namespace.
func TestCurlAcrossVeth(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("skipping: curl is not installed")
	}
	p := NewPair(t)
	l, err := p.Server.Listen("tcp4", p.ServerIP.String()+":8080")
	if err != nil {
		t.Fatalf("p.Server.Listen(\"tcp4\", p.ServerIP.String()+\":8080\"): %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	out := p.Client.Run(t, "curl", "-sS", "--max-time", "10", "http://10.99.0.1:8080/netlab")
	if out != "hello /netlab" {
		t.Errorf("out = %q, want \"hello /netlab\"", out)
	}
}

func TestBridgeAndTap(t *testing.T) {
	ns := NewNS(t)
	ns.Bridge(t, "br0", "10.98.0.1/24")
	ns.Tap(t, "tap0", "br0")
	out := ns.Run(t, "ip", "-o", "link", "show", "tap0")
	if !strings.Contains(out, "master br0") {
		t.Errorf("out = %q, want it to contain %q", out, "master br0")
	}
	out = ns.Run(t, "ip", "-o", "addr", "show", "br0")
	if !strings.Contains(out, "10.98.0.1/24") {
		t.Errorf("out = %q, want it to contain %q", out, "10.98.0.1/24")
	}
}

func TestDialContext(t *testing.T) {
	p := NewPair(t)
	l, err := p.Server.Listen("tcp4", p.ServerIP.String()+":9000")
	if err != nil {
		t.Fatalf("p.Server.Listen(\"tcp4\", p.ServerIP.String()+\":9000\"): %v", err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("ok"))
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.Client.DialContext(ctx, "tcp4", "10.99.0.1:9000")
	if err != nil {
		t.Fatalf("p.Client.DialContext(ctx, \"tcp4\", \"10.99.0.1:9000\"): %v", err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("io.ReadAll(c): %v", err)
	}
	if got := string(b); got != "ok" {
		t.Errorf("string(b) = %q, want \"ok\"", got)
	}
}

// TestChild is not a test of its own: the cleanup tests run the test binary
// with childEnv set to play a test process that fails or gets killed.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return // run directly, it has nothing to do (not a skip: nothing is missing)
	}
	ns := NewNS(t)
	sleeper := ns.Start(t, "sleep", "300")
	fmt.Printf("NS %s PID %d\n", ns.Name, sleeper.Process.Pid)
	switch mode {
	case "fail":
		t.Fatal("failing on purpose")
	case "hang":
		time.Sleep(5 * time.Minute)
	}
}

// startChild runs TestChild in a new test process and returns its namespace
// name and the pid of the process it started inside it.
func startChild(t *testing.T, mode string) (cmd *exec.Cmd, nsName string, pid int) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("cmd.StdoutPipe(): %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cmd.Start(): %v", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "NS" {
			nsName = f[1]
			pid, err = strconv.Atoi(f[3])
			if err != nil {
				t.Fatalf("strconv.Atoi(f[3]): %v", err)
			}
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return cmd, nsName, pid
		}
	}
	_ = cmd.Wait()
	t.Fatal("child test process did not report its namespace")
	return nil, "", 0
}

func assertGone(t *testing.T, nsName string, pid int) {
	t.Helper()
	_, err := os.Stat(filepath.Join("/var/run/netns", nsName))
	if !os.IsNotExist(err) {
		t.Errorf("namespace %s still exists", nsName)
	}
	// The killed process may linger as a zombie of its reaped parent for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for processRunning(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if processRunning(pid) {
		t.Errorf("process %d still running", pid)
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// TestCleanupAfterFailure proves that a failing test leaves no namespace and
// no process behind.
func TestCleanupAfterFailure(t *testing.T) {
	Require(t)
	cmd, nsName, pid := startChild(t, "fail")
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("the child test must fail: it exited 0")
	}
	assertGone(t, nsName, pid)
}

// TestSweepAfterKill proves that Sweep removes what a SIGKILLed test process
// left behind, processes included.
func TestSweepAfterKill(t *testing.T) {
	Require(t)
	cmd, nsName, pid := startChild(t, "hang")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("cmd.Process.Signal(syscall.SIGKILL): %v", err)
	}
	_ = cmd.Wait()
	_, err := os.Stat(filepath.Join("/var/run/netns", nsName))
	if err != nil {
		t.Fatalf("the namespace must survive its killed owner until Sweep: %v", err)
	}
	if err := Sweep(); err != nil {
		t.Fatalf("Sweep(): %v", err)
	}
	assertGone(t, nsName, pid)
}

// recordTB is a testing.TB whose Fatalf and Skipf record the outcome and
// stop the goroutine, as the real ones do.
type recordTB struct {
	testing.TB
	failed, skipped string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// requireToolIn runs RequireTool(name) on a recordTB in its own goroutine.
func requireToolIn(t *testing.T, name string) (path string, r *recordTB) {
	r = &recordTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = RequireTool(r, name)
	}()
	<-done
	return path, r
}

// TestRequireTool: a present tool is found, in $PATH or in /usr/sbin (a
// user's $PATH may lack it); a missing one skips, or fails under CI.
func TestRequireTool(t *testing.T) {
	t.Setenv("CI", "")
	if p, r := requireToolIn(t, "sh"); p == "" || r.failed != "" || r.skipped != "" {
		t.Errorf("RequireTool(sh) = %q (failed %q, skipped %q), want its path", p, r.failed, r.skipped)
	}
	if _, err := os.Stat("/usr/sbin/ip"); err == nil {
		t.Setenv("PATH", "/nonexistent")
		if p, r := requireToolIn(t, "ip"); p != "/usr/sbin/ip" {
			t.Errorf("RequireTool(ip) with $PATH lacking /usr/sbin = %q (failed %q, skipped %q), want /usr/sbin/ip", p, r.failed, r.skipped)
		}
	}
	const missing = "pxk-no-such-tool"
	if _, r := requireToolIn(t, missing); r.skipped == "" || r.failed != "" || !strings.Contains(r.skipped, missing) {
		t.Errorf("RequireTool(%s) without CI: skipped %q, failed %q; want a skip naming it", missing, r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	if _, r := requireToolIn(t, missing); r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, missing) {
		t.Errorf("RequireTool(%s) under CI: failed %q, skipped %q; want a failure naming it", missing, r.failed, r.skipped)
	}
}
