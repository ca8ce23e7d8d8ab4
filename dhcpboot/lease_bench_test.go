package dhcpboot

import (
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkLabServerAcks measures ACKs per second while 2000 clients get a
// lease each from a LabServer with a lease file (every ACK durable before
// it returns): serially, and from 8 clients at once (whose leases can be
// synced together), from 200 (perfdhcp's lab run); and with LeaseSync
// WriteBeforeAck.
func BenchmarkLabServerAcks(b *testing.B) {
	const leases = 2000
	for _, c := range []struct {
		name string
		par  int
		sync LeaseSync
	}{{"serial", 1, SyncBeforeAck}, {"8clients", 8, SyncBeforeAck}, {"8clients-sync-after-ack", 8, WriteBeforeAck},
		{"200clients", 200, SyncBeforeAck}, {"200clients-sync-after-ack", 200, WriteBeforeAck}} {
		par := c.par
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
				s := newLab(b, filepath.Join(b.TempDir(), "leases"), clock)
				s.LeaseSync = c.sync
				s.Subnets[0].Prefix = netip.MustParsePrefix("10.99.0.0/20")
				s.Subnets[0].RangeStart, s.Subnets[0].RangeEnd = netip.MustParseAddr("10.99.1.0"), netip.MustParseAddr("10.99.15.254")
				reqs := make([]*dhcpv4.DHCPv4, leases)
				for i := range reqs {
					d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)})
					o, err := respond4(s, d)
					if err != nil {
						b.Fatal(err)
					}
					reqs[i], _ = dhcpv4.NewRequestFromOffer(o)
				}
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := range par {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < leases; i += par {
							if a, err := respond4(s, reqs[i]); err != nil || a.MessageType() != dhcpv4.MessageTypeAck {
								b.Errorf("REQUEST %d: %v %v", i, a, err)
								return
							}
						}
					}()
				}
				wg.Wait()
				total += time.Since(start)
			}
			b.ReportMetric(float64(leases*b.N)/total.Seconds(), "acks/s")
		})
	}
}
