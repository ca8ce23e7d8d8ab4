//go:build bench

package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// env returns the environment variable or def.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// binDir holds our binaries and pintftpd, built by run.sh.
func binDir() string { return env("BENCH_BIN", "out/bin") }

// peerRoot is where run.sh unpacked the peer servers' .deb files, one
// directory per package.
func peerRoot() string { return env("BENCH_PEERS", "out/peers") }

func abs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// makeFile writes size random bytes to dir/name once.
func makeFile(t testing.TB, dir, name string, size int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if st, err := os.Stat(p); err == nil && st.Size() == int64(size) {
		return p
	}
	b := make([]byte, size)
	_, _ = rand.Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sample is one measured run.
type sample struct {
	dur time.Duration
	err error
}

// series collects runs of one configuration.
type series struct {
	bytes   int64
	samples []sample
	cpu     []time.Duration // server CPU per run, when measured
	client  []time.Duration // client CPU per run, when measured
}

// clientShare is the client's median CPU time per run and its share of
// the median wall time, 0 when not measured.
func (s *series) clientShare() (time.Duration, float64) {
	if len(s.client) == 0 || s.median() == 0 {
		return 0, 0
	}
	v := append([]time.Duration(nil), s.client...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return m, float64(m) / float64(s.median())
}

// cpuPerMB is the median server CPU time per MB (10^6 bytes) in ms, 0 when
// not measured.
func (s *series) cpuPerMB() float64 {
	if len(s.cpu) == 0 {
		return 0
	}
	v := append([]time.Duration(nil), s.cpu...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return float64(m.Microseconds()) / 1000 / (float64(s.bytes) / 1e6)
}

func (s *series) add(d time.Duration, err error) { s.samples = append(s.samples, sample{d, err}) }

func (s *series) ok() []time.Duration {
	var v []time.Duration
	for _, x := range s.samples {
		if x.err == nil {
			v = append(v, x.dur)
		}
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v
}

func (s *series) failures() int { return len(s.samples) - len(s.ok()) }

func (s *series) median() time.Duration {
	v := s.ok()
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// mbps is the throughput of the median run in MB/s (10^6 bytes).
func (s *series) mbps() float64 {
	m := s.median()
	if m == 0 {
		return 0
	}
	return float64(s.bytes) / m.Seconds() / 1e6
}

func (s *series) minMax() (time.Duration, time.Duration) {
	v := s.ok()
	if len(v) == 0 {
		return 0, 0
	}
	return v[0], v[len(v)-1]
}

func (s *series) raw() string {
	var parts []string
	for _, x := range s.samples {
		if x.err != nil {
			parts = append(parts, "FAIL")
		} else {
			parts = append(parts, fmt.Sprintf("%.3f", x.dur.Seconds()))
		}
	}
	return strings.Join(parts, " ")
}

// report gathers the sections of RESULTS.md.
type report struct {
	mu       sync.Mutex
	sections map[string]*strings.Builder
	order    []string
}

var results = &report{sections: map[string]*strings.Builder{}}

func (r *report) printf(section, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.sections[section]
	if !ok {
		b = &strings.Builder{}
		r.sections[section] = b
		r.order = append(r.order, section)
	}
	fmt.Fprintf(b, format, args...)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if out := os.Getenv("BENCH_RESULTS"); out != "" && len(results.order) > 0 {
		var b bytes.Buffer
		b.WriteString(resultsHeader())
		for _, name := range orderSections(results.order) {
			fmt.Fprintf(&b, "\n## %s\n\n%s", name, results.sections[name].String())
		}
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench: write results:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// orderSections keeps sections in a fixed order whatever order tests ran in.
func orderSections(names []string) []string {
	rank := func(n string) int {
		for i, p := range []string{"Physical", "TFTP: loopback", "TFTP: 4.5 ms", "TFTP: 1 %", "TFTP: boot storm", "DHCP", "Fleet", "Go"} {
			if strings.HasPrefix(n, p) {
				return i
			}
		}
		return 99
	}
	s := append([]string(nil), names...)
	sort.SliceStable(s, func(i, j int) bool { return rank(s[i]) < rank(s[j]) })
	return s
}

func resultsHeader() string {
	var b strings.Builder
	b.WriteString("# pxekit benchmarks: side by side with the peers\n\n")
	b.WriteString("Generated by `make bench` (bench/run.sh → `go test -tags bench ./bench`). Do not edit by hand;\n")
	b.WriteString("the commentary is in bench/README.md.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %s, %d cores (shared, noisy: compare within one run)\n", unameR(), numCPU())
	fmt.Fprintf(&b, "- versions: %s\n", versions())
	b.WriteString("- method: every server runs in its own turn inside the same network namespace on the same\n")
	b.WriteString("  path; servers are interleaved run by run; figures are medians with min–max and raw runs;\n")
	b.WriteString("  ratios are pxekit ÷ peer within this run. MB = 10^6 bytes.\n")
	return b.String()
}

func unameR() string {
	out, _ := exec.Command("uname", "-sr").Output()
	return strings.TrimSpace(string(out))
}

func numCPU() int {
	out, _ := exec.Command("nproc").Output()
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func versions() string {
	var v []string
	for _, p := range []string{"tftpd-hpa", "atftpd", "atftp", "dnsmasq-base", "curl", "kea-admin"} {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", p).Output()
		if err == nil && len(out) > 0 {
			v = append(v, p+" "+string(out))
		}
	}
	if d := os.Getenv("BENCH_PEER_VERSIONS"); d != "" {
		v = append(v, d)
	}
	v = append(v, "pin/tftp v3.2.0", goVersion())
	return strings.Join(v, ", ")
}

func goVersion() string {
	out, _ := exec.Command("go", "version").Output()
	return strings.TrimSpace(strings.TrimPrefix(string(out), "go version "))
}

// runTimed runs argv inside ns and returns its wall time.
func runTimed(ns *netlab.NS, timeout time.Duration, argv ...string) (time.Duration, []byte, error) {
	d, _, out, err := runTimedCPU(ns, timeout, argv...)
	return d, out, err
}

// runTimedCPU is runTimed that also returns the CPU time (user + system)
// the command used ("ip netns exec" runs it in its own process).
func runTimedCPU(ns *netlab.NS, timeout time.Duration, argv ...string) (time.Duration, time.Duration, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := ns.Command(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	var cpu time.Duration
	if ps := cmd.ProcessState; ps != nil {
		cpu = ps.UserTime() + ps.SystemTime()
	}
	return d, cpu, out.Bytes(), err
}
