package pxekit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/tftpserve"
)

func newMetrics(t *testing.T) (*prometheus.Registry, *pxekit.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := pxekit.NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics(new registry): %v", err)
	}
	return reg, m
}

// Every metric from a known set of events, compared with the exposition
// text a scrape shows.
func TestMetricsObserve(t *testing.T) {
	reg, m := newMetrics(t)
	m.SetStageCounts(func() map[pxekit.Stage]int {
		return map[pxekit.Stage]int{pxekit.StageDHCP: 3, pxekit.StageKernel: 2}
	})
	uefi := pxekit.DHCPEvent{Outcome: pxekit.DHCPAnswered, Rule: "uefi-x64", Why: `rule "uefi-x64" (#12) matched: arch in {7,9}`}
	events := []pxekit.Event{
		uefi, uefi,
		pxekit.DHCPEvent{Outcome: pxekit.DHCPIgnored, Rule: "keep-off", Why: `rule "keep-off" (#1) matched`},
		pxekit.DHCPEvent{Outcome: pxekit.DHCPIgnored, Why: "no rule matched"},
		pxekit.DHCPEvent{Outcome: pxekit.DHCPIgnored, NoReply: "DHCPREQUEST on port 67"}, // not decided
		pxekit.DHCPEvent{Outcome: pxekit.DHCPInvalid},
		pxekit.TFTPEvent{Filename: "ipxe.efi", Bytes: 850528, Duration: 1500 * time.Millisecond, Outcome: tftpserve.OutcomeOK},
		pxekit.TFTPEvent{Filename: "ipxe.efi", Outcome: tftpserve.OutcomeSizeProbe, Duration: time.Millisecond},
		pxekit.TFTPEvent{Filename: "ipxe.efi", Bytes: 14680, Duration: 20 * time.Second, Outcome: tftpserve.OutcomeTimeout},
		pxekit.TFTPEvent{Filename: "upload", Write: true, Bytes: 100, Duration: time.Second, Outcome: tftpserve.OutcomeOK},
		pxekit.HTTPEvent{Route: pxekit.HTTPFile, Method: "GET", Status: 200, Bytes: 1000, Duration: 200 * time.Millisecond},
		pxekit.HTTPEvent{Route: pxekit.HTTPFile, Method: "HEAD", Status: 200, Duration: time.Millisecond},
		pxekit.HTTPEvent{Route: pxekit.HTTPFile, Method: "GET", Status: 206, Bytes: 10, Duration: time.Millisecond},
		pxekit.HTTPEvent{Route: pxekit.HTTPMachineScript, Status: 200, Bytes: 312, Duration: time.Millisecond},
		pxekit.HTTPEvent{Route: pxekit.HTTPError, Status: 404, Bytes: 19},
		pxekit.HTTPEvent{Route: pxekit.HTTPFile, Method: "GET", Status: 200, Bytes: 500, Err: errors.New("broken pipe")},
		pxekit.StageEvent{From: pxekit.StageUnknown, To: pxekit.StageDHCP},
		pxekit.StageEvent{From: pxekit.StageDHCP, To: pxekit.StageBootFile},
		pxekit.StageEvent{From: pxekit.StageBootFile, To: pxekit.StageDHCP, NewBoot: true},
		pxekit.UnknownMachineEvent{},
	}
	for _, e := range events {
		m.Observe(e)
	}
	want := `
# HELP pxekit_dhcp_decisions_total DHCP policy decisions by matching rule; (none) when no rule matched.
# TYPE pxekit_dhcp_decisions_total counter
pxekit_dhcp_decisions_total{rule="(none)"} 1
pxekit_dhcp_decisions_total{rule="keep-off"} 1
pxekit_dhcp_decisions_total{rule="uefi-x64"} 2
# HELP pxekit_machines Machines in the session table by the boot stage they reached.
# TYPE pxekit_machines gauge
pxekit_machines{stage="bootfile"} 0
pxekit_machines{stage="dhcp"} 3
pxekit_machines{stage="ipxe"} 0
pxekit_machines{stage="kernel"} 2
pxekit_machines{stage="script"} 0
pxekit_machines{stage="unknown"} 0
# HELP pxekit_requests_total Boot requests by kind (dhcp, tftp, http) and outcome.
# TYPE pxekit_requests_total counter
pxekit_requests_total{kind="dhcp",outcome="answered"} 2
pxekit_requests_total{kind="dhcp",outcome="failed"} 0
pxekit_requests_total{kind="dhcp",outcome="ignored"} 3
pxekit_requests_total{kind="dhcp",outcome="invalid"} 1
pxekit_requests_total{kind="http",outcome="2xx"} 4
pxekit_requests_total{kind="http",outcome="3xx"} 0
pxekit_requests_total{kind="http",outcome="4xx"} 1
pxekit_requests_total{kind="http",outcome="5xx"} 0
pxekit_requests_total{kind="http",outcome="failed"} 1
pxekit_requests_total{kind="tftp",outcome="aborted"} 0
pxekit_requests_total{kind="tftp",outcome="canceled"} 0
pxekit_requests_total{kind="tftp",outcome="failed"} 0
pxekit_requests_total{kind="tftp",outcome="ok"} 2
pxekit_requests_total{kind="tftp",outcome="refused"} 0
pxekit_requests_total{kind="tftp",outcome="size-probe"} 1
pxekit_requests_total{kind="tftp",outcome="timeout"} 1
# HELP pxekit_served_bytes_total Payload bytes served, by protocol (tftp: acknowledged by the client; http: response body).
# TYPE pxekit_served_bytes_total counter
pxekit_served_bytes_total{protocol="http"} 1841
pxekit_served_bytes_total{protocol="tftp"} 865208
# HELP pxekit_stage_reached_total Machines reaching a boot stage (dhcp, bootfile, ipxe, script, kernel).
# TYPE pxekit_stage_reached_total counter
pxekit_stage_reached_total{stage="bootfile"} 1
pxekit_stage_reached_total{stage="dhcp"} 2
pxekit_stage_reached_total{stage="ipxe"} 0
pxekit_stage_reached_total{stage="kernel"} 0
pxekit_stage_reached_total{stage="script"} 0
# HELP pxekit_unknown_machines_total Machines the inventory did not know that asked to boot.
# TYPE pxekit_unknown_machines_total counter
pxekit_unknown_machines_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), pxekit.MetricDHCPDecisions, pxekit.MetricMachines,
		pxekit.MetricRequests, pxekit.MetricServedBytes, pxekit.MetricStageReached, pxekit.MetricUnknownMachines); err != nil {
		t.Error(err)
	}

	// Durations: only the whole TFTP read (1.5 s) and the HTTP GET of a
	// file answered 200 in full (0.2 s).
	want = `
# HELP pxekit_transfer_duration_seconds Duration of whole file transfers (TFTP reads ending ok, HTTP GETs of static files answered 200), by protocol.
# TYPE pxekit_transfer_duration_seconds histogram
` + histogramText("http", 0.2) + histogramText("tftp", 1.5)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), pxekit.MetricTransferDuration); err != nil {
		t.Error(err)
	}
}

// histogramText is the exposition of a transfer-duration histogram for
// protocol holding the one observation v.
func histogramText(protocol string, v float64) string {
	var b strings.Builder
	for _, le := range []string{"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "+Inf"} {
		var n int
		if f, err := strconv.ParseFloat(le, 64); err == nil && v <= f {
			n = 1
		}
		fmt.Fprintf(&b, "pxekit_transfer_duration_seconds_bucket{protocol=%q,le=%q} %d\n", protocol, le, n)
	}
	fmt.Fprintf(&b, "pxekit_transfer_duration_seconds_sum{protocol=%q} %v\n", protocol, v)
	fmt.Fprintf(&b, "pxekit_transfer_duration_seconds_count{protocol=%q} 1\n", protocol)
	return b.String()
}

// scrape GETs url like Prometheus does and parses the text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: the exposition does not parse: %v", url, err)
	}
	return fams
}

// sample returns the value of the series of family name with the given
// labels (counter, gauge, or a histogram's count), and whether it exists.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, *dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return 0, nil, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), m, true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), m, true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), m, true
		}
	}
	return 0, nil, false
}

// Real traffic: boot files fetched over TFTP (pin/tftp's client) and HTTP
// (HTTPHandler) on loopback, the hooks feeding Observe, and a scrape of
// promhttp's /metrics read back as Prometheus would.
func TestMetricsScrape(t *testing.T) {
	dir := t.TempDir()
	efi := make([]byte, 300_000)
	rand.Read(efi)
	if err := os.WriteFile(filepath.Join(dir, "ipxe.efi"), efi, 0o644); err != nil {
		t.Fatal(err)
	}
	reg, m := newMetrics(t)
	m.SetStageCounts(func() map[pxekit.Stage]int { return map[pxekit.Stage]int{pxekit.StageBootFile: 1} })

	var mu sync.Mutex
	var hookEvents []pxekit.Event
	hook := func(e pxekit.Event) { // what the composed server does with each event
		m.Observe(e)
		mu.Lock()
		hookEvents = append(hookEvents, e)
		mu.Unlock()
	}

	// TFTP.
	files, err := tftpserve.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	transfers := make(chan struct{}, 8)
	tsrv := &tftpserve.Server{Handler: files, OnTransfer: func(info tftpserve.TransferInfo) {
		hook(pxekit.TFTPEventFrom(info, nil))
		transfers <- struct{}{}
	}}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tsrv.Serve(pc)
	defer tsrv.Close()
	c, err := pintftp.NewClient(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetBlockSize(1428)
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive("ipxe.efi", "octet")
	if err != nil {
		t.Fatalf("TFTP read of ipxe.efi: %v", err)
	}
	var got bytes.Buffer
	if _, err := wt.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), efi) {
		t.Fatalf("TFTP read of ipxe.efi: %d bytes, err %v; want the %d bytes written", got.Len(), err, len(efi))
	}
	if _, err := c.Receive("missing.efi", "octet"); err == nil {
		t.Fatal("TFTP read of a missing file succeeded")
	}
	for range 2 {
		select {
		case <-transfers:
		case <-time.After(30 * time.Second):
			t.Fatal("OnTransfer not called within 30 s for both transfers")
		}
	}

	// HTTP.
	h, err := pxekit.NewHTTPHandler(pxekit.HTTPConfig{BaseURL: "http://127.0.0.1:8080", Files: dir,
		OnRequest: func(r pxekit.HTTPRequest) { hook(pxekit.HTTPEventFrom(r)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	boot := httptest.NewServer(h)
	defer boot.Close()
	var httpBytes int
	for _, tt := range []struct {
		method, path string
		status       int
	}{ // as OVMF's HTTP boot client does: HEAD, then GET
		{"HEAD", "/ipxe.efi", 200}, {"GET", "/ipxe.efi", 200}, {"GET", "/boot.ipxe", 200}, {"GET", "/missing.efi", 404}} {
		req, _ := http.NewRequest(tt.method, boot.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tt.status {
			t.Fatalf("%s %s: %s, %v; want %d", tt.method, tt.path, resp.Status, err, tt.status)
		}
		httpBytes += len(b)
	}

	// The scrape, through promhttp as pxeserver serves it.
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	prom := httptest.NewServer(mux)
	defer prom.Close()
	fams := scrape(t, prom.URL+"/metrics")

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{pxekit.MetricRequests, []string{"kind", "tftp", "outcome", "ok"}, 1},
		{pxekit.MetricRequests, []string{"kind", "tftp", "outcome", "refused"}, 1},
		{pxekit.MetricRequests, []string{"kind", "http", "outcome", "2xx"}, 3},
		{pxekit.MetricRequests, []string{"kind", "http", "outcome", "4xx"}, 1},
		{pxekit.MetricRequests, []string{"kind", "dhcp", "outcome", "answered"}, 0},
		{pxekit.MetricServedBytes, []string{"protocol", "tftp"}, float64(len(efi))},
		{pxekit.MetricServedBytes, []string{"protocol", "http"}, float64(httpBytes)},
		{pxekit.MetricTransferDuration, []string{"protocol", "tftp"}, 1},
		{pxekit.MetricTransferDuration, []string{"protocol", "http"}, 1},
		{pxekit.MetricMachines, []string{"stage", "bootfile"}, 1},
		{pxekit.MetricMachines, []string{"stage", "kernel"}, 0},
		{pxekit.MetricUnknownMachines, nil, 0},
	}
	for _, c := range checks {
		v, _, ok := sample(fams, c.name, c.labels...)
		if !ok || v != c.want {
			t.Errorf("scrape: %s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	mu.Lock()
	var tftpDur, httpDur time.Duration
	for _, e := range hookEvents {
		if e, ok := e.(pxekit.TFTPEvent); ok && e.Outcome == tftpserve.OutcomeOK {
			tftpDur = e.Duration
		}
		if e, ok := e.(pxekit.HTTPEvent); ok && e.Route == pxekit.HTTPFile && e.Method == "GET" && e.Status == 200 {
			httpDur = e.Duration
		}
	}
	mu.Unlock()
	for proto, d := range map[string]time.Duration{"tftp": tftpDur, "http": httpDur} {
		_, s, _ := sample(fams, pxekit.MetricTransferDuration, "protocol", proto)
		if sum := s.GetHistogram().GetSampleSum(); sum != d.Seconds() || d <= 0 {
			t.Errorf("scrape: %s sum for %s = %v s, want the event's duration %v", pxekit.MetricTransferDuration, proto, sum, d)
		}
	}
	for name, typ := range map[string]dto.MetricType{pxekit.MetricRequests: dto.MetricType_COUNTER,
		pxekit.MetricTransferDuration: dto.MetricType_HISTOGRAM, pxekit.MetricMachines: dto.MetricType_GAUGE} {
		if f := fams[name]; f.GetType() != typ || f.GetHelp() == "" {
			t.Errorf("scrape: %s is %v with help %q, want %v with help", name, f.GetType(), f.GetHelp(), typ)
		}
	}
}

func TestNewMetricsErrors(t *testing.T) {
	if m, err := pxekit.NewMetrics(nil); err == nil || m != nil {
		t.Errorf("NewMetrics(nil) = %v, %v; want an error", m, err)
	}

	reg, m := newMetrics(t)
	m.Observe(pxekit.UnknownMachineEvent{})
	if m2, err := pxekit.NewMetrics(reg); err == nil || m2 != nil || !strings.HasPrefix(err.Error(), "pxekit: ") {
		t.Errorf("NewMetrics(registry already holding them) = %v, %v; want a pxekit: error", m2, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pxekit_unknown_machines_total Machines the inventory did not know that asked to boot.
# TYPE pxekit_unknown_machines_total counter
pxekit_unknown_machines_total 1
`), pxekit.MetricUnknownMachines); err != nil {
		t.Errorf("after a failed second NewMetrics, the first one's metrics: %v", err)
	}

	// A registerer that refuses each metric in turn: whichever fails,
	// nothing stays registered.
	for failAt := 1; ; failAt++ {
		r := &refusingRegisterer{failAt: failAt, live: map[prometheus.Collector]bool{}}
		_, err := pxekit.NewMetrics(r)
		if err == nil {
			if failAt <= 1 {
				t.Fatal("NewMetrics registered nothing")
			}
			break
		}
		if !errors.Is(err, errRefused) || len(r.live) != 0 {
			t.Errorf("NewMetrics with registration %d refused: err %v, %d collectors left registered; want errRefused, none left",
				failAt, err, len(r.live))
		}
	}
}

var errRefused = errors.New("refused by the test")

// refusingRegisterer refuses the failAt'th registration and keeps the
// set of registered collectors.
type refusingRegisterer struct {
	failAt, n int
	live      map[prometheus.Collector]bool
}

func (r *refusingRegisterer) Register(c prometheus.Collector) error {
	if r.n++; r.n == r.failAt {
		return errRefused
	}
	r.live[c] = true
	return nil
}

func (r *refusingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *refusingRegisterer) Unregister(c prometheus.Collector) bool {
	ok := r.live[c]
	delete(r.live, c)
	return ok
}

// A nil *Metrics (a server without metrics) observes nothing, quietly.
func TestMetricsNil(t *testing.T) {
	var m *pxekit.Metrics
	m.Observe(pxekit.DHCPEvent{Outcome: pxekit.DHCPAnswered})
	m.SetStageCounts(func() map[pxekit.Stage]int { return nil })
}

// Events from many goroutines while Prometheus scrapes: every one counted
// (go test -race checks the rest).
func TestMetricsConcurrent(t *testing.T) {
	reg, m := newMetrics(t)
	var stageMu sync.Mutex
	counts := map[pxekit.Stage]int{}
	m.SetStageCounts(func() map[pxekit.Stage]int {
		stageMu.Lock()
		defer stageMu.Unlock()
		return map[pxekit.Stage]int{pxekit.StageDHCP: counts[pxekit.StageDHCP]}
	})
	const workers, each = 8, 300
	ctx, cancel := context.WithCancel(context.Background())
	scraped := make(chan error, 1)
	go func() {
		var err error
		for ctx.Err() == nil && err == nil {
			_, err = reg.Gather()
		}
		scraped <- err
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				m.Observe(pxekit.TFTPEvent{Bytes: 10, Outcome: tftpserve.OutcomeOK, Duration: time.Duration(i) * time.Millisecond})
				m.Observe(pxekit.StageEvent{To: pxekit.StageDHCP})
				stageMu.Lock()
				counts[pxekit.StageDHCP]++
				stageMu.Unlock()
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-scraped; err != nil {
		t.Fatalf("Gather during Observe: %v", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{pxekit.MetricRequests, []string{"kind", "tftp", "outcome", "ok"}, workers * each},
		{pxekit.MetricServedBytes, []string{"protocol", "tftp"}, workers * each * 10},
		{pxekit.MetricTransferDuration, []string{"protocol", "tftp"}, workers * each},
		{pxekit.MetricStageReached, []string{"stage", "dhcp"}, workers * each},
		{pxekit.MetricMachines, []string{"stage", "dhcp"}, workers * each},
	} {
		if v, _, ok := sample(byName, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
}
