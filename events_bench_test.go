package pxekit_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

// BenchmarkMetricsObserve is the cost the hook adds per event: a DHCP
// decision, a TFTP transfer and an HTTP request, from parallel goroutines.
func BenchmarkMetricsObserve(b *testing.B) {
	m, err := pxekit.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	events := []pxekit.Event{
		pxekit.DHCPEvent{Outcome: pxekit.DHCPAnswered, Rule: "uefi-x64", Why: "rule matched"},
		pxekit.TFTPEvent{Bytes: 850528, Duration: time.Second, Outcome: tftpserve.OutcomeOK},
		pxekit.HTTPEvent{Route: pxekit.HTTPFile, Status: 200, Bytes: 1000, Duration: time.Millisecond},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.Observe(events[i%len(events)])
		}
	})
}

// BenchmarkDHCPEvent is the cost of one DHCP decision's event: made from
// the exchange (a copy of the client) and written as a JSON log line.
func BenchmarkDHCPEvent(b *testing.B) {
	x := newLab4(b).Reply(captured4(b, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1), dhcpboot.Arrival{})
	b.ReportAllocs()
	for b.Loop() {
		e := pxekit.DHCPEventFrom4(x)
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}
