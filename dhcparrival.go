package pxekit

import (
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// arrivals remembers when the Server's DHCPv4 servers classified their
// latest requests: ClassifyDHCP4 runs before the reply goes out, the
// OnReply hook (ObserveDHCP4) after it, by which time a fast machine may
// have moved on. It holds the last len(ring) requests, so that a request
// never observed costs nothing beyond its place in the ring.
type arrivals struct {
	mu   sync.Mutex
	at   map[*dhcpv4.DHCPv4]time.Time
	ring [1024]*dhcpv4.DHCPv4 // noted requests, oldest at next
	next int
}

// note records that m arrives now.
func (a *arrivals) note(m *dhcpv4.DHCPv4) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at == nil {
		a.at = make(map[*dhcpv4.DHCPv4]time.Time, len(a.ring))
	}
	if old := a.ring[a.next]; old != nil {
		delete(a.at, old)
	}
	a.ring[a.next] = m
	a.next = (a.next + 1) % len(a.ring)
	a.at[m] = now
}

// take returns when m arrived and forgets it; zero when it was not noted
// (or was noted too long ago).
func (a *arrivals) take(m *dhcpv4.DHCPv4) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.at[m]
	if ok {
		delete(a.at, m)
	}
	return at
}
