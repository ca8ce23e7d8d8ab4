package pxekit

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pxekit/pxekit/tftpserve"
)

// Metric names, all registered by NewMetrics. Labels take values from
// small fixed sets (the rule label from the policy's rule names): no MAC,
// address or path ever becomes a label.
const (
	// MetricRequests counts requests by kind ("dhcp", "tftp", "http") and
	// outcome: DHCP "answered", "ignored", "invalid", "failed"; TFTP the
	// transfer outcome ("ok", "size-probe", "aborted", "refused",
	// "timeout", "failed", "canceled"); HTTP the status class ("2xx",
	// "3xx", "4xx", "5xx") or "failed" when the response was cut off.
	MetricRequests = "pxekit_requests_total"
	// MetricServedBytes counts payload bytes served by protocol ("tftp":
	// bytes of read transfers the clients acknowledged, whole or not;
	// "http": response body bytes written).
	MetricServedBytes = "pxekit_served_bytes_total"
	// MetricTransferDuration is the duration of whole file transfers by
	// protocol: TFTP reads that ended "ok", HTTP GETs of static files
	// answered 200 and sent in full (scripts, HEAD and ranges are not
	// whole transfers). Buckets (s): 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5
	// 5 10 30 60 120 300.
	MetricTransferDuration = "pxekit_transfer_duration_seconds"
	// MetricDHCPDecisions counts policy decisions by rule name, "(none)"
	// when no rule matched.
	MetricDHCPDecisions = "pxekit_dhcp_decisions_total"
	// MetricStageReached counts StageEvents by the stage reached: the
	// boot funnel (how many boots got as far as "kernel").
	MetricStageReached = "pxekit_stage_reached_total"
	// MetricUnknownMachines counts UnknownMachineEvents.
	MetricUnknownMachines = "pxekit_unknown_machines_total"
	// MetricMachines is the number of machines in the session table by
	// the stage each reached, read at scrape time from the function given
	// to SetStageCounts.
	MetricMachines = "pxekit_machines"
)

// transferBuckets are MetricTransferDuration's histogram buckets, in
// seconds: from a script-sized file on a LAN (10 ms) to a large initrd
// over a slow link or lockstep TFTP (5 min).
var transferBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// noRule is the rule label of a decision no rule matched.
const noRule = "(none)"

// Metrics turns events into Prometheus metrics (see the Metric
// constants). Feed it the events the server's hook gets, with Observe.
// It is safe for concurrent use; a nil *Metrics observes nothing.
type Metrics struct {
	requests  *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	durations *prometheus.HistogramVec
	decisions *prometheus.CounterVec
	stages    *prometheus.CounterVec
	unknown   prometheus.Counter
	machines  *machinesCollector
}

// NewMetrics creates the metrics and registers them on reg (the caller's
// registry, served by promhttp on /metrics). It fails, registering
// nothing, when reg is nil or already holds metrics of the same names (a
// second Metrics on one registry). The series a dashboard plots from the
// start exist at zero: every kind and outcome of MetricRequests except
// HTTP's rare ones, both protocols of the bytes and durations, every stage
// of MetricStageReached.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("pxekit: NewMetrics: nil Registerer")
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRequests,
			Help: "Boot requests by kind (dhcp, tftp, http) and outcome."}, []string{"kind", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricServedBytes,
			Help: "Payload bytes served, by protocol (tftp: acknowledged by the client; http: response body)."}, []string{"protocol"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricTransferDuration,
			Help:    "Duration of whole file transfers (TFTP reads ending ok, HTTP GETs of static files answered 200), by protocol.",
			Buckets: transferBuckets}, []string{"protocol"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricDHCPDecisions,
			Help: "DHCP policy decisions by matching rule; (none) when no rule matched."}, []string{"rule"}),
		stages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricStageReached,
			Help: "Machines reaching a boot stage (dhcp, bootfile, ipxe, script, kernel)."}, []string{"stage"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricUnknownMachines,
			Help: "Machines the inventory did not know that asked to boot."}),
		machines: &machinesCollector{desc: prometheus.NewDesc(MetricMachines,
			"Machines in the session table by the boot stage they reached.", []string{"stage"}, nil)},
	}
	cs := []prometheus.Collector{m.requests, m.bytes, m.durations, m.decisions, m.stages, m.unknown, m.machines}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("pxekit: NewMetrics: %w", err)
		}
	}
	for _, o := range []DHCPOutcome{DHCPAnswered, DHCPIgnored, DHCPInvalid, DHCPFailed} {
		m.requests.WithLabelValues(string(EventDHCP), string(o))
	}
	for _, o := range []tftpserve.Outcome{tftpserve.OutcomeOK, tftpserve.OutcomeSizeProbe, tftpserve.OutcomeAborted,
		tftpserve.OutcomeRefused, tftpserve.OutcomeTimeout, tftpserve.OutcomeFailed, tftpserve.OutcomeCanceled} {
		m.requests.WithLabelValues(string(EventTFTP), string(o))
	}
	for _, o := range []string{"2xx", "3xx", "4xx", "5xx", "failed"} {
		m.requests.WithLabelValues(string(EventHTTP), o)
	}
	for _, p := range []EventKind{EventTFTP, EventHTTP} {
		m.bytes.WithLabelValues(string(p))
		m.durations.WithLabelValues(string(p))
	}
	for s := StageDHCP; s <= StageKernel; s++ {
		m.stages.WithLabelValues(s.String())
	}
	return m, nil
}

// SetStageCounts sets the function MetricMachines reads at each scrape:
// the number of machines per stage (the session table's count). Until it
// is set (or when f is nil) MetricMachines has no series. f is called on
// the scraping goroutine and must be safe for concurrent use.
func (m *Metrics) SetStageCounts(f func() map[Stage]int) {
	if m == nil {
		return
	}
	if f == nil {
		m.machines.counts.Store(nil)
		return
	}
	m.machines.counts.Store(&f)
}

// Observe updates the metrics from one event. It never blocks for long
// (a few atomic additions): call it from the event hook.
func (m *Metrics) Observe(e Event) {
	if m == nil {
		return
	}
	switch e := e.(type) {
	case DHCPEvent:
		m.requests.WithLabelValues(string(EventDHCP), string(e.Outcome)).Inc()
		if e.Why != "" { // the policy decided: Decide always explains
			rule := e.Rule
			if rule == "" {
				rule = noRule
			}
			m.decisions.WithLabelValues(rule).Inc()
		}
	case TFTPEvent:
		m.requests.WithLabelValues(string(EventTFTP), string(e.Outcome)).Inc()
		if !e.Write {
			m.bytes.WithLabelValues(string(EventTFTP)).Add(float64(e.Bytes))
			if e.Outcome == tftpserve.OutcomeOK {
				m.durations.WithLabelValues(string(EventTFTP)).Observe(e.Duration.Seconds())
			}
		}
	case HTTPEvent:
		outcome := e.Outcome()
		m.requests.WithLabelValues(string(EventHTTP), outcome).Inc()
		m.bytes.WithLabelValues(string(EventHTTP)).Add(float64(e.Bytes))
		if e.Route == HTTPFile && e.Method == http.MethodGet && e.Status == http.StatusOK && e.Err == nil {
			m.durations.WithLabelValues(string(EventHTTP)).Observe(e.Duration.Seconds())
		}
	case StageEvent:
		m.stages.WithLabelValues(e.To.String()).Inc()
	case UnknownMachineEvent:
		m.unknown.Inc()
	}
}

// machinesCollector is MetricMachines: a gauge per stage read from a
// function at scrape time.
type machinesCollector struct {
	desc   *prometheus.Desc
	counts atomic.Pointer[func() map[Stage]int]
}

// Describe sends the one descriptor.
func (c *machinesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends one gauge per stage, every stage of a boot (zero
// included) and any other stage the function counts.
func (c *machinesCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.counts.Load()
	if f == nil {
		return
	}
	counts := (*f)()
	stages := []Stage{StageUnknown, StageDHCP, StageBootFile, StageIPXE, StageScript, StageKernel}
	for _, s := range slices.Sorted(maps.Keys(counts)) {
		if s > StageKernel {
			stages = append(stages, s)
		}
	}
	for _, s := range stages {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
}
