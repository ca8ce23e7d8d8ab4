//go:build bench

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/faultnet"
	"github.com/pxekit/pxekit/internal/netlab"
	"golang.org/x/net/ipv4"
)

const blksize = 1468

// tftpServer is a server under test: how to start it on 0.0.0.0:69 serving dir.
type tftpServer struct {
	name      string
	windowed  bool // implements RFC 7440 windowsize
	forks     bool // serves each transfer in a child process, whose CPU time is not seen
	argv      func(dir string) []string
	available func() error
}

func fileExists(p string) error {
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%s not found (run bench/run.sh)", p)
	}
	return nil
}

func tftpServers(t testing.TB) []tftpServer {
	bin := abs(t, binDir())
	peers := abs(t, peerRoot())
	return []tftpServer{
		{
			name: "pxekit", windowed: true,
			argv: func(dir string) []string {
				return []string{filepath.Join(bin, "tftpd"), "-root", dir, "-addr", ":69"}
			},
			available: func() error { return fileExists(filepath.Join(bin, "tftpd")) },
		},
		{
			name: "tftpd-hpa", forks: true,
			argv: func(dir string) []string {
				return []string{filepath.Join(peers, "tftpd-hpa/usr/sbin/in.tftpd"), "-L", "-u", "root", "-a", "0.0.0.0:69", "-s", dir}
			},
			available: func() error { return fileExists(filepath.Join(peers, "tftpd-hpa/usr/sbin/in.tftpd")) },
		},
		{
			name: "atftpd", windowed: true,
			argv: func(dir string) []string {
				return []string{filepath.Join(peers, "atftpd/usr/sbin/atftpd"), "--daemon", "--no-fork", "--user", "root", "--group", "root",
					"--logfile", "/dev/null", "--no-multicast", "--maxthread", "400", "--port", "69", dir}
			},
			available: func() error { return fileExists(filepath.Join(peers, "atftpd/usr/sbin/atftpd")) },
		},
		{
			name: "dnsmasq",
			argv: func(dir string) []string {
				return []string{"/usr/sbin/dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--enable-tftp",
					"--tftp-root=" + dir, "--tftp-max=1000", "--user=root", "--group=root", "--pid-file=", "--log-facility=/dev/null"}
			},
			available: func() error { return fileExists("/usr/sbin/dnsmasq") },
		},
		{
			name: "pin/tftp",
			argv: func(dir string) []string {
				return []string{filepath.Join(bin, "pintftpd"), "-addr", ":69", "-root", dir}
			},
			available: func() error { return fileExists(filepath.Join(bin, "pintftpd")) },
		},
		{
			name: "pin/tftp anticipate 16",
			argv: func(dir string) []string {
				return []string{filepath.Join(bin, "pintftpd"), "-addr", ":69", "-root", dir, "-anticipate", "16"}
			},
			available: func() error { return fileExists(filepath.Join(bin, "pintftpd")) },
		},
	}
}

// lab is the benchmark network: a server namespace and a client namespace
// joined by a veth pair.
type lab struct {
	pair *netlab.Pair
	dir  string // served directory
	out  string // client download directory
}

func newLab(t *testing.T) *lab {
	netlab.Require(t)
	l := &lab{pair: netlab.NewPair(t), dir: t.TempDir(), out: t.TempDir()}
	if err := os.Chmod(l.dir, 0o777); err != nil { // atftpd wants it world-writable
		t.Fatal(err)
	}
	makeFile(t, l.dir, "probe", 1000)
	return l
}

// running is a started server.
type running struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func (r *running) stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
	}
	_ = r.cmd.Wait()
}

// cpuTime returns the CPU time (user + system) of the server process, its
// threads and its reaped children (tftpd-hpa forks per transfer).
func (r *running) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	str := string(b)
	f := strings.Fields(str[strings.LastIndexByte(str, ')')+2:])
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// peakRSS returns VmHWM in bytes.
func (r *running) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// start starts srv in the server namespace and waits until it answers.
func (l *lab) start(t *testing.T, srv tftpServer) (*running, error) {
	argv := srv.argv(l.dir)
	cmd := l.pair.Server.Command(context.Background(), argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	l.pair.Server.Track(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, out: &out}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, o, err := runTimed(l.pair.Client, 3*time.Second, "atftp", "--get", "-r", "probe", "-l", filepath.Join(l.out, "probe"), "10.99.0.1", "69")
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("%s did not answer: %v: %s / server: %s", srv.name, err, o, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetchSeq names download files uniquely among concurrent fetches.
var fetchSeq atomic.Uint64

// fetch downloads name with atftp from host:port inside ns and checks its size.
func (l *lab) fetch(ns *netlab.NS, host string, port int, name string, size int64, window int, timeout time.Duration) (time.Duration, error) {
	d, _, err := l.fetchCPU(ns, host, port, name, size, window, timeout)
	return d, err
}

// fetchCPU is fetch that also returns the client's CPU time.
func (l *lab) fetchCPU(ns *netlab.NS, host string, port int, name string, size int64, window int, timeout time.Duration) (time.Duration, time.Duration, error) {
	return l.downloadCPU(ns, size, timeout, func(dst string) []string {
		argv := []string{"atftp", "--get", "-r", name, "-l", dst, "--option", fmt.Sprintf("blksize %d", blksize)}
		if window > 0 {
			argv = append(argv, "--option", fmt.Sprintf("windowsize %d", window))
		}
		return append(argv, host, strconv.Itoa(port))
	})
}

// download runs the client command argv(dst) inside ns, which must write a
// file of size bytes to dst (a unique name among concurrent downloads), and
// returns its wall time.
func (l *lab) download(ns *netlab.NS, size int64, timeout time.Duration, argv func(dst string) []string) (time.Duration, error) {
	d, _, err := l.downloadCPU(ns, size, timeout, argv)
	return d, err
}

// downloadCPU is download that also returns the client's CPU time.
func (l *lab) downloadCPU(ns *netlab.NS, size int64, timeout time.Duration, argv func(dst string) []string) (time.Duration, time.Duration, error) {
	dst := filepath.Join(l.out, "dl-"+strconv.FormatUint(fetchSeq.Add(1), 10))
	defer os.Remove(dst)
	d, cpu, out, err := runTimedCPU(ns, timeout, argv(dst)...)
	if err != nil {
		return d, cpu, fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	st, err := os.Stat(dst)
	if err != nil {
		return d, cpu, fmt.Errorf("%v (client said %q)", err, bytes.TrimSpace(out))
	}
	if st.Size() != size {
		return d, cpu, fmt.Errorf("got %d bytes, want %d (client said %q)", st.Size(), size, bytes.TrimSpace(out))
	}
	return d, cpu, nil
}

// seriesFor returns the series of server name under label in res, making it.
func seriesFor(res map[string]map[string]*series, label, name string, size int) *series {
	if res[label] == nil {
		res[label] = map[string]*series{}
	}
	s := res[label][name]
	if s == nil {
		s = &series{bytes: int64(size)}
		res[label][name] = s
	}
	return s
}

// config is one benchmark configuration on a path.
type config struct {
	label  string
	window int // 0 = lockstep
	size   int
}

// availableServers returns the servers to measure: all, or those named in
// BENCH_SERVERS (comma-separated) for a focused run.
func availableServers(t *testing.T) []tftpServer {
	var s []tftpServer
	only := map[string]bool{}
	for _, n := range strings.Split(os.Getenv("BENCH_SERVERS"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			only[n] = true
		}
	}
	for _, srv := range tftpServers(t) {
		if len(only) > 0 && !only[srv.name] {
			continue
		}
		if err := srv.available(); err != nil {
			// bench/run.sh builds or unpacks every server: one missing is
			// a failed run, not a shorter table.
			t.Errorf("%s not measured: %v", srv.name, err)
			continue
		}
		s = append(s, srv)
	}
	return s
}

// measure runs every config on every server, interleaving servers run by run.
// via returns the host and port the client uses (the server, or a relay).
func measure(t *testing.T, l *lab, servers []tftpServer, configs []config, runs int,
	via func(t *testing.T) (host string, port int, stop func()), timeout time.Duration) map[string]map[string]*series {
	res := map[string]map[string]*series{}
	for _, c := range configs {
		makeFile(t, l.dir, fmt.Sprintf("f%d", c.size), c.size)
	}
	for run := 0; run < runs; run++ {
		for _, srv := range servers {
			r, err := l.start(t, srv)
			if err != nil {
				t.Errorf("run %d: %v", run, err)
				continue
			}
			host, port, stopVia := via(t)
			for _, c := range configs {
				if c.window > 0 && !srv.windowed {
					continue
				}
				s := seriesFor(res, c.label, srv.name, c.size)
				cpu0 := r.cpuTime()
				d, ccpu, err := l.fetchCPU(l.pair.Client, host, port, fmt.Sprintf("f%d", c.size), int64(c.size), c.window, timeout)
				if err != nil {
					t.Logf("%s %s run %d: %v", srv.name, c.label, run, err)
				} else {
					s.client = append(s.client, ccpu)
				}
				s.add(d, err)
				if err == nil && !srv.forks {
					time.Sleep(20 * time.Millisecond) // let a forking server reap its child
					s.cpu = append(s.cpu, r.cpuTime()-cpu0)
				}
			}
			stopVia()
			r.stop()
		}
	}
	return res
}

// relayed returns a path through a faultnet relay in the client namespace.
func relayed(l *lab, rates faultnet.Rates, seed int64) func(t *testing.T) (string, int, func()) {
	return func(t *testing.T) (string, int, func()) {
		r, err := faultnet.StartRelay(faultnet.RelayConfig{
			Listen:       "127.0.0.1:0",
			Upstream:     netip.MustParseAddrPort("10.99.0.1:69"),
			Seed:         seed,
			Up:           rates,
			Down:         rates,
			ListenPacket: l.pair.Client.ListenPacket,
		})
		if err != nil {
			t.Fatal(err)
		}
		return "127.0.0.1", int(r.Addr().Port()), func() { r.Close() }
	}
}

func writeTable(section string, res map[string]map[string]*series, configs []config, ref func(label string) (peer string, extra string)) {
	results.printf(section, "| config | server | median | MB/s | min–max (s) | failures | ratio | server CPU ms/MB | CPU ratio | client CPU (share of wall) | raw runs (s) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range configs {
		byServer := res[c.label]
		if byServer == nil {
			continue
		}
		peer, _ := ref(c.label)
		for _, name := range serverOrder(byServer) {
			s := byServer[name]
			lo, hi := s.minMax()
			ratio, cpuRatio := "", ""
			if strings.HasPrefix(name, "pxekit") && peer != "" && byServer[peer] != nil && byServer[peer].mbps() > 0 {
				ratio = fmt.Sprintf("%.2f× %s", s.mbps()/byServer[peer].mbps(), peer)
				if pc := byServer[peer].cpuPerMB(); pc > 0 && s.cpuPerMB() > 0 {
					cpuRatio = fmt.Sprintf("%.2f× %s", s.cpuPerMB()/pc, peer)
				}
			}
			cpu := "–" // not measured: tftpd-hpa's children exit unseen
			if c := s.cpuPerMB(); c > 0 {
				cpu = fmt.Sprintf("%.2f", c)
			}
			client := "–"
			if ccpu, share := s.clientShare(); ccpu > 0 {
				client = fmt.Sprintf("%d ms (%.0f %%)", ccpu.Milliseconds(), 100*share)
			}
			results.printf(section, "| %s | %s | %.3f s | %.2f | %.3f–%.3f | %d/%d | %s | %s | %s | %s | %s |\n",
				c.label, name, s.median().Seconds(), s.mbps(), lo.Seconds(), hi.Seconds(), s.failures(), len(s.samples), ratio, cpu, cpuRatio, client, s.raw())
		}
	}
	results.printf(section, "\n")
}

func serverOrder(m map[string]*series) []string {
	var names []string
	for _, srv := range []string{"pxekit", "pxekit -no-gso", "pxekit (old)", "tftpd-hpa", "atftpd", "dnsmasq", "pin/tftp", "pin/tftp anticipate 16"} {
		if _, ok := m[srv]; ok {
			names = append(names, srv)
		}
	}
	return names
}

// oldPxekit returns pxekit's server s run from the tftpd build named by
// BENCH_TFTPD_OLD (older code, measured in the same run, interleaved, as
// "pxekit (old)"), and false when the knob is not set.
func oldPxekit(t *testing.T, s tftpServer) (tftpServer, bool) {
	old := os.Getenv("BENCH_TFTPD_OLD")
	if old == "" {
		return tftpServer{}, false
	}
	if err := fileExists(old); err != nil {
		t.Fatalf("BENCH_TFTPD_OLD: %v", err)
	}
	prev, bin := s, abs(t, old)
	prev.name = "pxekit (old)"
	prev.argv = func(dir string) []string { return append([]string{bin}, s.argv(dir)[1:]...) }
	return prev, true
}

func TestTFTPLoopback(t *testing.T) {
	l := newLab(t)
	servers := availableServers(t)
	for _, s := range servers {
		if s.name == "pxekit" {
			// The same server sending one datagram per block (sendmmsg per
			// window): what UDP GSO changes, in the same run.
			noGSO := s
			noGSO.name = "pxekit -no-gso"
			noGSO.argv = func(dir string) []string { return append(s.argv(dir), "-no-gso") }
			servers = append(servers, noGSO)
			if prev, ok := oldPxekit(t, s); ok {
				servers = append(servers, prev)
			}
			break
		}
	}
	size := envInt("BENCH_LOOPBACK_MIB", 32) << 20
	configs := []config{
		{label: "lockstep", size: size},
		{label: "windowsize 16", window: 16, size: size},
		{label: "windowsize 64", window: 64, size: size},
	}
	// Loopback: the client runs in the server's namespace.
	loop := &lab{pair: &netlab.Pair{Server: l.pair.Server, Client: l.pair.Server}, dir: l.dir, out: l.out}
	res := measure(t, loop, servers, configs, envInt("BENCH_RUNS", 5), func(*testing.T) (string, int, func()) {
		return "127.0.0.1", 69, func() {}
	}, 2*time.Minute)
	section := fmt.Sprintf("TFTP: loopback, %d MiB, atftp client, blksize %d", size>>20, blksize)
	writeTable(section, res, configs, func(label string) (string, string) {
		if label == "lockstep" {
			return "tftpd-hpa", ""
		}
		return "atftpd", ""
	})
	results.printf(section, "Targets: lockstep ≥ 1.0× tftpd-hpa; windowsize 16 and 64 ≥ 1.0× atftpd at the same window.\n")
}

func TestTFTPDelay(t *testing.T) {
	l := newLab(t)
	servers := availableServers(t)
	rates := faultnet.Rates{Delay: 2 * time.Millisecond}
	configs := []config{
		{label: "lockstep", size: 1 << 20},
		{label: "windowsize 4", window: 4, size: 4 << 20},
		{label: "windowsize 16", window: 16, size: 8 << 20},
		{label: "windowsize 64", window: 64, size: 16 << 20},
	}
	res := measure(t, l, servers, configs, envInt("BENCH_DELAY_RUNS", 3), relayed(l, rates, 1), 3*time.Minute)
	rtt := measureRTT(t, l, rates)
	rate := measurePathRate(t, l, rates)
	section := fmt.Sprintf("TFTP: 4.5 ms RTT (veth + faultnet relay, 2 ms each way; measured RTT %.2f ms), blksize %d", float64(rtt.Microseconds())/1000, blksize)
	writeTable(section, res, configs, func(label string) (string, string) {
		if label == "lockstep" {
			return "tftpd-hpa", ""
		}
		return "atftpd", ""
	})
	results.printf(section, "Efficiency against the path's own limit: RFC 7440 is stop-and-wait per window, so a window\n"+
		"costs a round trip plus the time the path takes to carry it, and the best possible is\n"+
		"limit = W·blk ÷ (RTT + W·blk ÷ path rate), with RTT %.2f ms and the relay path's rate %.0f MB/s\n"+
		"(server namespace → relay → client namespace, as the DATA goes; Go sender, sendmmsg; Go\n"+
		"sink, one datagram per read) both measured in this run. The old figure,\n"+
		"against W·blk ÷ RTT alone, is kept for comparison.\n\n", float64(rtt.Microseconds())/1000, rate/1e6)
	results.printf(section, "| config | server | MB/s | path limit MB/s | efficiency | W·blk/RTT MB/s | old efficiency |\n|---|---|---|---|---|---|---|\n")
	for _, c := range configs {
		w := c.window
		if w == 0 {
			w = 1
		}
		wb := float64(w * blksize)
		ideal := wb / rtt.Seconds() / 1e6
		limit := wb / (rtt.Seconds() + wb/rate) / 1e6
		for _, name := range serverOrder(res[c.label]) {
			mb := res[c.label][name].mbps()
			results.printf(section, "| %s | %s | %.2f | %.2f | %.0f %% | %.2f | %.0f %% |\n", c.label, name, mb, limit, 100*mb/limit, ideal, 100*mb/ideal)
		}
	}
	results.printf(section, "\nTargets: windowsize 4/16/64 ≥ 95 %% of the limit; lockstep matches the RTT-bound peers.\n")
}

// measurePathRate returns the bytes per second the relay path carries in
// the direction TFTP data goes: a Go sender in the server namespace
// (sendmmsg, 32 datagrams of 1468 bytes per call) answers the relay's
// upstream socket, the relay forwards down to a sink in the client
// namespace that reads one datagram per call, as atftp does.
func measurePathRate(t *testing.T, l *lab, rates faultnet.Rates) float64 {
	src, err := l.pair.Server.ListenPacket("udp4", "10.99.0.1:7004")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := l.delayRelay(t, rates, "10.99.0.1:7004")
	defer r.Close()
	sink, err := l.pair.Client.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	_ = sink.(*net.UDPConn).SetReadBuffer(4 << 20)
	// The sink's first datagram makes it the relay's client; the sender
	// answers where it came from (the relay's upstream socket).
	if _, err := sink.WriteTo([]byte("hello"), udpAddr(r.Addr())); err != nil {
		t.Fatal(err)
	}
	_ = src.SetReadDeadline(time.Now().Add(5 * time.Second))
	hello := make([]byte, 64)
	_, relayUp, err := src.ReadFrom(hello)
	if err != nil {
		t.Fatalf("path rate: no datagram through the relay: %v", err)
	}
	received, done := countInto(sink)
	pc := ipv4.NewPacketConn(src)
	payload := make([]byte, blksize+4)
	msgs := make([]ipv4.Message, 32)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{payload}, Addr: relayUp}
	}
	warm := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(warm) {
		_, _ = pc.WriteBatch(msgs, 0)
	}
	start, base := time.Now(), received.Load()
	for end := start.Add(2 * time.Second); time.Now().Before(end); {
		_, _ = pc.WriteBatch(msgs, 0)
	}
	// Count what was in flight (the relay's 2 ms delay) too.
	time.Sleep(50 * time.Millisecond)
	got := received.Load() - base
	sink.Close()
	<-done
	return float64(got) / time.Since(start).Seconds()
}

// delayRelay starts a relay in the client namespace, on 127.0.0.1, in
// front of upstream in the server namespace.
func (l *lab) delayRelay(t *testing.T, rates faultnet.Rates, upstream string) *faultnet.Relay {
	r, err := faultnet.StartRelay(faultnet.RelayConfig{Listen: "127.0.0.1:0", Upstream: netip.MustParseAddrPort(upstream),
		Up: rates, Down: rates, ListenPacket: l.pair.Client.ListenPacket})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// measureRTT times small UDP round trips through the relay path.
func measureRTT(t *testing.T, l *lab, rates faultnet.Rates) time.Duration {
	l.pair.Server.EchoUDP(t, "10.99.0.1:7777")
	r := l.delayRelay(t, rates, "10.99.0.1:7777")
	defer r.Close()
	c, err := l.pair.Client.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s series
	buf := make([]byte, 2048)
	for i := 0; i < 50; i++ {
		start := time.Now()
		_, _ = c.WriteTo(make([]byte, 32), udpAddr(r.Addr()))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _, err := c.ReadFrom(buf)
		s.add(time.Since(start), err)
	}
	return s.median()
}

func TestTFTPLoss(t *testing.T) {
	l := newLab(t)
	servers := availableServers(t)
	rates := faultnet.Rates{Delay: 2 * time.Millisecond, Loss: 0.01}
	configs := []config{{label: "lockstep 256 KiB", size: 256 << 10}}
	runs := envInt("BENCH_LOSS_RUNS", 20)
	// pxekit and tftpd-hpa (the target) get every run; the others, whose
	// 5 s retransmission makes each run long, get a quarter of them.
	var main, rest []tftpServer
	for _, s := range servers {
		if s.name == "pxekit" || s.name == "tftpd-hpa" {
			main = append(main, s)
		} else if s.name != "pin/tftp anticipate 16" {
			rest = append(rest, s)
		}
	}
	res := map[string]map[string]*series{}
	merge := func(m map[string]map[string]*series) {
		for c, bys := range m {
			if res[c] == nil {
				res[c] = map[string]*series{}
			}
			for s, v := range bys {
				if res[c][s] == nil {
					res[c][s] = v
				} else {
					res[c][s].samples = append(res[c][s].samples, v.samples...)
				}
			}
		}
	}
	// Each run uses its own seed, the same for every server in that run.
	for run := 0; run < runs; run++ {
		merge(measure(t, l, main, configs, 1, relayed(l, rates, int64(100+run)), 2*time.Minute))
		if run%4 == 0 {
			merge(measure(t, l, rest, configs, 1, relayed(l, rates, int64(100+run)), 2*time.Minute))
		}
	}
	section := "TFTP: 1 % loss each way + 2 ms each way, 256 KiB, blksize 1468, atftp client"
	writeTable(section, res, configs, func(string) (string, string) { return "tftpd-hpa", "" })
	results.printf(section, "Target: zero failures and a median time ≤ tftpd-hpa's. Ratio here is throughput (higher is better).\n")
}

// TestTFTPStorm starts n atftp clients at once, all fetching one 4 MiB file.
func TestTFTPStorm(t *testing.T) {
	l := newLab(t)
	var servers []tftpServer
	for _, s := range availableServers(t) {
		switch s.name {
		case "pxekit":
			if prev, ok := oldPxekit(t, s); ok {
				servers = append(servers, prev)
			}
			// Also with its memory cache: one shared copy of the file for
			// every transfer, what a boot server facing a storm would run.
			cached := s
			cached.name = "pxekit -cache"
			cached.argv = func(dir string) []string { return append(s.argv(dir), "-cache") }
			// Single-port mode, and with the lock-step data phase run by
			// the socket's loop (tftpserve.Server.BatchedLockstep).
			single := s
			single.name = "pxekit -single-port"
			single.argv = func(dir string) []string { return append(s.argv(dir), "-single-port") }
			batched := s
			batched.name = "pxekit -single-port -batch"
			batched.argv = func(dir string) []string { return append(s.argv(dir), "-single-port", "-batch") }
			variants := []tftpServer{s, cached, single, batched}
			// BENCH_STORM_VARIANTS: which pxekit rows to run, by name
			// ("pxekit,pxekit -single-port -batch"); the four above by
			// default, and "pxekit -single-port -batch -cache" on request.
			if want := envList("BENCH_STORM_VARIANTS", ""); len(want) > 0 {
				batchedCached := s
				batchedCached.name = "pxekit -single-port -batch -cache"
				batchedCached.argv = func(dir string) []string { return append(s.argv(dir), "-single-port", "-batch", "-cache") }
				variants = slices.DeleteFunc(append(variants, batchedCached), func(v tftpServer) bool { return !slices.Contains(want, v.name) })
			}
			servers = append(servers, variants...)
		case "dnsmasq", "tftpd-hpa", "atftpd":
			servers = append(servers, s)
		}
	}
	// BENCH_STORM_PROBE=1 adds bench/cmd/steploop, which is not a server
	// (no retransmission): what the one-loop design would cost.
	if os.Getenv("BENCH_STORM_PROBE") != "" {
		bin := filepath.Join(abs(t, binDir()), "steploop")
		if err := fileExists(bin); err != nil {
			t.Fatalf("BENCH_STORM_PROBE: %v", err)
		}
		servers = append(servers, tftpServer{name: "one-loop probe", argv: func(dir string) []string { return []string{bin, "-root", dir} }})
	}
	const size = 4 << 20
	makeFile(t, l.dir, "storm", size)
	section := "TFTP: boot storm, N concurrent atftp clients × 4 MiB from one file, blksize 1468, veth"
	results.printf(section, "| clients | server | total time | failures | server CPU | CPU ms/MB | peak RSS | raw total times (s) |\n|---|---|---|---|---|---|---|---|\n")
	runs := envInt("BENCH_STORM_RUNS", 2)
	var clients []int // BENCH_STORM_CLIENTS: storm sizes, comma-separated
	for _, f := range envList("BENCH_STORM_CLIENTS", "50,200") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			t.Fatalf("BENCH_STORM_CLIENTS: %q is not a client count", f)
		}
		clients = append(clients, n)
	}
	type agg struct {
		s       series
		cpu     []time.Duration
		rss     []int64
		failed  int
		clients int
	}
	all := map[string]*agg{}
	for run := 0; run < runs; run++ {
		for _, n := range clients {
			for _, srv := range servers {
				key := fmt.Sprintf("%d|%s", n, srv.name)
				a := all[key]
				if a == nil {
					a = &agg{s: series{bytes: int64(n) * size}, clients: n}
					all[key] = a
				}
				r, err := l.start(t, srv)
				if err != nil {
					t.Error(err)
					continue
				}
				sampler := startNSSampler(l.pair.Server.Name)
				var wg sync.WaitGroup
				var mu sync.Mutex
				failed := 0
				start := time.Now()
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := l.fetch(l.pair.Client, "10.99.0.1", 69, "storm", size, 0, 5*time.Minute); err != nil {
							mu.Lock()
							failed++
							mu.Unlock()
							t.Logf("%s storm %d: %v", srv.name, n, err)
						}
					}()
				}
				wg.Wait()
				d := time.Since(start)
				var ferr error
				if failed > 0 {
					ferr = errors.New("failures")
				}
				a.s.add(d, ferr)
				a.failed += failed
				cpu, rss := sampler.stop()
				t.Logf("storm run %d: %d × %s: %.2f s, %d failed, CPU %.2f s (%.2f ms/MB), RSS %.1f MiB", run+1, n, srv.name,
					d.Seconds(), failed, cpu.Seconds(), float64(cpu.Milliseconds())/(float64(n)*size/1e6), float64(rss)/(1<<20))
				a.cpu = append(a.cpu, cpu)
				a.rss = append(a.rss, max(rss, r.peakRSS()))
				r.stop()
			}
		}
	}
	for _, n := range clients {
		for _, srv := range servers {
			a := all[fmt.Sprintf("%d|%s", n, srv.name)]
			if a == nil {
				continue
			}
			var cpu time.Duration
			for _, c := range a.cpu {
				cpu += c
			}
			cpu /= time.Duration(len(a.cpu))
			var rss int64
			for _, x := range a.rss {
				rss = max(rss, x)
			}
			mb := float64(n) * size / 1e6
			results.printf(section, "| %d | %s | %.2f s | %d | %.2f s | %.2f | %.1f MiB | %s |\n", n, srv.name, a.s.median().Seconds(),
				a.failed, cpu.Seconds(), float64(cpu.Milliseconds())/mb, float64(rss)/(1<<20), a.s.raw())
		}
	}
	results.printf(section, "\nServer CPU is the user+system time of every process in the server's namespace during the\nstorm (tftpd-hpa forks one process per transfer; all are counted), sampled every 50 ms; peak\nRSS is the largest sum of resident memory of those processes at one sample (or VmHWM of the\nserver process, whichever is larger). Targets: zero failures;\ntotal time and CPU/MB ≤ dnsmasq; peak RSS flat from 50 to 200 clients. pxekit -cache serves\nfrom one copy in memory (tftpserve.Cache); plain pxekit reads the file per window.\n")
}

// nsSampler adds up CPU time and resident memory of every process in a
// network namespace, sampling /proc, so that forking servers are measured
// whole.
type nsSampler struct {
	done   chan struct{}
	result chan [2]int64
}

func netnsInode(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return ""
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

func startNSSampler(ns string) *nsSampler {
	s := &nsSampler{done: make(chan struct{}), result: make(chan [2]int64, 1)}
	want := netnsInode("/var/run/netns/" + ns)
	go func() {
		base := map[int]int64{} // CPU ticks at first sight (processes that existed before)
		last := map[int]int64{}
		var peakRSS int64
		sample := func(first bool) {
			entries, _ := os.ReadDir("/proc")
			var rss int64
			for _, e := range entries {
				pid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil || link != want {
					continue
				}
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				if err != nil {
					continue
				}
				str := string(b)
				f := strings.Fields(str[strings.LastIndexByte(str, ')')+2:])
				if len(f) < 22 {
					continue
				}
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				pages, _ := strconv.ParseInt(f[21], 10, 64)
				rss += pages * int64(os.Getpagesize())
				if _, ok := base[pid]; !ok {
					if first {
						base[pid] = ut + st
					} else {
						base[pid] = 0
					}
				}
				last[pid] = ut + st
			}
			peakRSS = max(peakRSS, rss)
		}
		sample(true)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				sample(false)
				var ticks int64
				for pid, v := range last {
					ticks += v - base[pid]
				}
				s.result <- [2]int64{ticks, peakRSS}
				return
			case <-t.C:
				sample(false)
			}
		}
	}()
	return s
}

// stop ends sampling and returns the CPU time used since start and the peak
// resident memory seen.
func (s *nsSampler) stop() (time.Duration, int64) {
	close(s.done)
	r := <-s.result
	return time.Duration(r[0]) * 10 * time.Millisecond, r[1]
}
