//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/fleetsim"
	"github.com/pxekit/pxekit/internal/netlab"
)

// reMetric matches one sample of the pxekit metrics the fleet table uses.
var reMetric = regexp.MustCompile(`^(pxekit_requests_total|pxekit_machines|pxekit_stage_reached_total|pxekit_served_bytes_total)\{([^}]*)\} ([0-9.e+]+)$`)

// scrapeMetrics reads the pxekit samples of /metrics as "name{labels}" →
// value.
func scrapeMetrics(t *testing.T, ns *netlab.NS, url string) map[string]float64 {
	_, out, err := runTimed(ns, 30*time.Second, "curl", "-sf", url)
	if err != nil {
		t.Errorf("scrape %s: %v: %s", url, err, out)
		return nil
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := reMetric.FindStringSubmatch(sc.Text()); f != nil {
			v, _ := strconv.ParseFloat(f[3], 64)
			m[f[1]+"{"+f[2]+"}"] = v
		}
	}
	return m
}

// metricSum adds the samples of name whose labels contain every fragment.
func metricSum(m map[string]float64, name string, fragments ...string) float64 {
	var s float64
next:
	for k, v := range m {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, f := range fragments {
			if !strings.Contains(k, f) {
				continue next
			}
		}
		s += v
	}
	return s
}

// TestFleetBoot boots a simulated fleet (internal/fleetsim, run as
// bench/cmd/fleetsim in the client namespace) from examples/pxeserver in
// proxy mode in the server namespace: DHCP through a relay, ipxe.efi over
// TFTP, the boot script and machine script over HTTP. It measures the
// fleet's boot time and the server's CPU and memory; it fails when a
// machine fails to boot or the server's session table does not show every
// machine at the script stage.
func TestFleetBoot(t *testing.T) {
	bin := abs(t, binDir())
	for _, b := range []string{"pxeserver", "fleetsim"} {
		if err := fileExists(filepath.Join(bin, b)); err != nil {
			t.Fatalf("fleet benchmark: %v (bench/run.sh builds it)", err)
		}
	}
	netlab.Require(t)
	pair := netlab.NewPair(t)
	const prefix = "10.100.0.0/16"
	pair.Client.Run(t, "ip", "route", "add", "local", prefix, "dev", "lo")
	pair.Server.Run(t, "ip", "route", "add", prefix, "via", pair.ClientIP.String())

	machines := envInt("BENCH_FLEET", 10000)
	tftpMachines := envInt("BENCH_FLEET_TFTP", machines)
	inFlight := envInt("BENCH_FLEET_INFLIGHT", 500)
	ramp := env("BENCH_FLEET_RAMP", "0s")
	if machines > 60000 {
		t.Fatalf("BENCH_FLEET=%d: the client prefix %s holds at most 60000 machines", machines, prefix)
	}
	const fileSize = 1 << 20 // ipxe.efi-sized
	dir := t.TempDir()
	makeFile(t, dir, "ipxe.efi", fileSize)
	logPath := filepath.Join(t.TempDir(), "pxeserver.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	base := "http://" + pair.ServerIP.String() + ":8080"
	srv := pair.Server.Command(context.Background(), filepath.Join(bin, "pxeserver"), "-iface", pair.ServerIf,
		"-addr", pair.ServerIP.String(), "-dhcp", "proxy", "-tftp-root", dir, "-http-addr", pair.ServerIP.String()+":8080", "-log-json")
	srv.Stdout, srv.Stderr = logFile, logFile
	pair.Server.Track(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, _, err := runTimed(pair.Client, 3*time.Second, "curl", "-sf", "-o", "/dev/null", base+"/metrics"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("pxeserver did not answer HTTP within 15 s: %s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := &running{cmd: srv}
	sampler := startNSSampler(pair.Server.Name)
	args := []string{filepath.Join(bin, "fleetsim"), "-server", pair.ServerIP.String(), "-relay", pair.ClientIP.String(),
		"-clients", "10.100.0.10", "-n", strconv.Itoa(machines), "-tftp-n", strconv.Itoa(tftpMachines),
		"-inflight", strconv.Itoa(inFlight), "-ramp", ramp}
	wall, out, runErr := runTimed(pair.Client, 40*time.Minute, args...)
	cpu, nsRSS := sampler.stop()
	peak := r.peakRSS()
	metrics := scrapeMetrics(t, pair.Client, base+"/metrics")
	var rep fleetsim.Summary
	if err := json.Unmarshal(out, &rep); err != nil || runErr != nil {
		t.Fatalf("fleetsim: %v / %v: %s", runErr, err, out)
	}
	_ = srv.Process.Kill()
	_ = srv.Wait()
	logLines := 0
	if b, err := os.ReadFile(logPath); err == nil {
		logLines = bytes.Count(b, []byte("\n"))
	}

	atScript := metricSum(metrics, "pxekit_machines", `stage="script"`)
	table := metricSum(metrics, "pxekit_machines")
	if rep.Failed != 0 {
		t.Errorf("fleet: %d of %d machines failed: %v", rep.Failed, machines, rep.Errors)
	}
	if int(atScript) != machines-rep.Failed {
		t.Errorf("fleet: the server's session table has %v machines at the script stage (%v in all), want %d", atScript, table, machines-rep.Failed)
	}

	section := "Fleet: a simulated fleet boots from pxeserver (proxyDHCP + TFTP + HTTP) over a veth"
	results.printf(section, "Each machine: DISCOVER through a relay (giaddr) and REQUEST to port 4011 as UEFI firmware,\n"+
		"ipxe.efi (%d bytes) over TFTP with blksize 1468 and windowsize 16, the same two DHCP\n"+
		"exchanges as iPXE (user class iPXE), then /boot.ipxe and the /machine/MAC script it chains over\n"+
		"HTTP. The clients are goroutines of one process (bench/cmd/fleetsim, internal/fleetsim) in the\n"+
		"client namespace, each with its own MAC and address; at most %d boot at once (ramp %s).\n"+
		"Server CPU is pxeserver's (user + system) from /proc during the run; its log (-log-json, one\n"+
		"line per event) goes to a file.\n\n", fileSize, inFlight, ramp)
	results.printf(section, "| machines | of them TFTP | failed | fleet boot time | per machine p50 / p99 / max | steps p50 (dhcp / tftp / ipxe-dhcp / http) | steps p99 | server CPU | server CPU per machine | server peak RSS | client CPU | wall |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	ms := func(s float64) string { return fmt.Sprintf("%.0f ms", s*1000) }
	steps := func(m map[string]float64) string {
		return fmt.Sprintf("%s / %s / %s / %s", ms(m["dhcp"]), ms(m["tftp"]), ms(m["ipxe-dhcp"]), ms(m["http"]))
	}
	results.printf(section, "| %d | %d | %d | %.1f s | %s / %s / %s | %s | %s | %.1f s | %.2f ms | %.1f MiB (namespace %.1f MiB) | %.1f s | %.1f s |\n",
		machines, rep.TFTPMachines, rep.Failed, rep.ElapsedSeconds, ms(rep.BootP50), ms(rep.BootP99), ms(rep.BootMax),
		steps(rep.StepP50), steps(rep.StepP99), cpu.Seconds(), cpu.Seconds()*1000/float64(machines),
		float64(peak)/(1<<20), float64(nsRSS)/(1<<20), rep.CPUUserSeconds+rep.CPUSysSeconds, wall.Seconds())
	var keys []string
	for k, v := range metrics {
		if v == 0 {
			continue
		}
		if strings.HasPrefix(k, "pxekit_requests_total") || strings.HasPrefix(k, "pxekit_machines") || strings.HasPrefix(k, "pxekit_served_bytes_total") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	results.printf(section, "\nServer's counts (its /metrics after the run, zeros left out): ")
	for i, k := range keys {
		if i > 0 {
			results.printf(section, ", ")
		}
		results.printf(section, "`%s` %.0f", k, metrics[k])
	}
	results.printf(section, ". Session table: %.0f machines, %.0f at the script stage. Log: %d lines.\n", table, atScript, logLines)
	results.printf(section, "Client side: %d DHCP messages sent for %d replies, %d TFTP bytes, %d ACKs, %d TFTP waits of 1 s, %d HTTP responses.\n",
		rep.DHCPSent, rep.DHCPReplies, rep.TFTPBytes, rep.TFTPAcks, rep.TFTPTimeouts, rep.HTTPRequests)
	if len(rep.Errors) > 0 {
		results.printf(section, "Failures: %v\n", rep.Errors)
	}
}
