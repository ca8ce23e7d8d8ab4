package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// config is what a load run does.
type config struct {
	// Clients is how many simulated clients there are, each with its own
	// MAC address and at most one DORA outstanding.
	Clients int
	// Rate is how many DORAs start per second (paced; those due when every
	// client is busy start as clients come free); 0 starts
	// the next DORA of a client as soon as its ACK comes (closed loop: as
	// fast as the server answers Clients at once).
	Rate float64
	// Timeout is how long a DORA may take before it counts as lost and its
	// client starts again.
	Timeout time.Duration
	// Server is the server identifier (option 54) every OFFER and ACK must
	// carry; Pool the range every address must come from.
	Server          netip.Addr
	PoolLo, PoolHi  netip.Addr
	VendorClass     []byte // option 60, none when empty
	ClientArch      []byte // option 93, none when empty
	MACPrefix       [2]byte
	ParamRequestLst []byte // option 55
}

// Client states.
const (
	idle = iota
	discovering
	requesting
)

// client is one simulated DHCP client.
type client struct {
	mac     [6]byte
	xid     uint32
	state   int
	started time.Time
	offered netip.Addr // yiaddr of the OFFER being requested
	addr    netip.Addr // the address of its last ACK
}

// result is what a run measured; the JSON doraload prints.
type result struct {
	Clients       int      `json:"clients"`
	Rate          float64  `json:"rate"`
	Seconds       float64  `json:"seconds"`
	Discovers     int      `json:"discovers"`
	Offers        int      `json:"offers"`
	Requests      int      `json:"requests"`
	Acks          int      `json:"acks"`
	AcksInWindow  int      `json:"acks_in_window"`
	DORAPerSecond float64  `json:"dora_per_s"`
	Naks          int      `json:"naks"`
	Timeouts      int      `json:"timeouts"`
	Backlog       int      `json:"backlog_max"` // most DORAs due that waited for a free client
	Stray         int      `json:"stray"`
	Bad           int      `json:"bad"`
	BadExamples   []string `json:"bad_examples,omitempty"`
	Addresses     int      `json:"addresses"`
	LatencyP50MS  float64  `json:"latency_p50_ms"`
	LatencyP90MS  float64  `json:"latency_p90_ms"`
	LatencyP99MS  float64  `json:"latency_p99_ms"`
	LatencyMaxMS  float64  `json:"latency_max_ms"`
	SendErrors    int      `json:"send_errors"`
	ClientCPUSec  float64  `json:"client_cpu_s,omitempty"`
	Reads         int      `json:"reads"`
	ReadDatagrams int      `json:"read_datagrams"`
}

// load is the state of a run: its clients, who holds which address, and
// the counts. Its methods are safe for concurrent use; the packets they
// return are the caller's to send.
type load struct {
	cfg config

	mu       sync.Mutex
	clients  []client
	idleQ    []int // idle clients, oldest first
	owner    map[netip.Addr]int
	seq      uint32
	started  int // DORAs started (paced mode)
	t0       time.Time
	window   time.Time // end of the measured window
	res      result
	latUS    []uint32 // DORA latency of ACKs in the window, µs
	pool     [][]byte
	stopping bool
}

func newLoad(cfg config) (*load, error) {
	if cfg.Clients < 1 || cfg.Clients > 1<<16 {
		return nil, fmt.Errorf("clients %d: want 1 to 65536", cfg.Clients)
	}
	if !cfg.Server.Is4() || !cfg.PoolLo.Is4() || !cfg.PoolHi.Is4() || cfg.PoolHi.Less(cfg.PoolLo) {
		return nil, fmt.Errorf("server %v, pool %v-%v: want IPv4 addresses, first ≤ last", cfg.Server, cfg.PoolLo, cfg.PoolHi)
	}
	l := &load{cfg: cfg, clients: make([]client, cfg.Clients), owner: map[netip.Addr]int{}}
	for i := range l.clients {
		c := &l.clients[i]
		c.mac = [6]byte{cfg.MACPrefix[0], cfg.MACPrefix[1], 0, 0, byte(i >> 8), byte(i)}
		l.idleQ = append(l.idleQ, i)
	}
	return l, nil
}

// start begins the measured window of length d at now.
func (l *load) start(now time.Time, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t0, l.window = now, now.Add(d)
	l.res.Clients, l.res.Rate, l.res.Seconds = l.cfg.Clients, l.cfg.Rate, d.Seconds()
}

// stop makes the load start no more DORAs (the ones outstanding may end).
func (l *load) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
}

// outstanding returns how many DORAs have not ended.
func (l *load) outstanding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.Clients - len(l.idleQ)
}

// buf returns a packet buffer from the pool.
func (l *load) buf() []byte {
	if n := len(l.pool); n > 0 {
		b := l.pool[n-1]
		l.pool = l.pool[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 400)
}

// release gives sent packets back to the pool.
func (l *load) release(pkts [][]byte) {
	l.mu.Lock()
	l.pool = append(l.pool, pkts...)
	l.mu.Unlock()
}

// startDORA sends client i's DISCOVER (appended to out). l.mu is held.
func (l *load) startDORA(i int, now time.Time, out [][]byte) [][]byte {
	c := &l.clients[i]
	l.seq++
	c.xid = uint32(i) | l.seq<<16
	c.state, c.started, c.offered = discovering, now, netip.Addr{}
	l.res.Discovers++
	return append(out, l.packet(c, msgDiscover))
}

// begin starts the DORAs due at now: in paced mode those the rate asks for
// since the start, in closed loop every idle client. It returns the
// DISCOVERs to send.
func (l *load) begin(now time.Time, out [][]byte) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return out
	}
	due := len(l.idleQ)
	if l.cfg.Rate > 0 {
		want := int(l.cfg.Rate * now.Sub(l.t0).Seconds())
		due = want - l.started
		if due > len(l.idleQ) {
			// Every client is busy: the rest start as clients come free
			// (the server is slower than the rate with this many
			// clients, or paused).
			l.res.Backlog = max(l.res.Backlog, due-len(l.idleQ))
			due = len(l.idleQ)
		}
	}
	for ; due > 0; due-- {
		i := l.idleQ[0]
		l.idleQ = l.idleQ[1:]
		l.started++
		out = l.startDORA(i, now, out)
	}
	return out
}

// finish ends client i's DORA. l.mu is held.
func (l *load) finish(i int) {
	l.clients[i].state = idle
	l.idleQ = append(l.idleQ, i)
}

// sweep ends the DORAs older than the timeout (lost).
func (l *load) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.clients {
		c := &l.clients[i]
		if c.state != idle && now.Sub(c.started) > l.cfg.Timeout {
			l.res.Timeouts++
			l.finish(i)
		}
	}
}

func (l *load) bad(format string, args ...any) {
	l.res.Bad++
	if len(l.res.BadExamples) < 10 {
		l.res.BadExamples = append(l.res.BadExamples, fmt.Sprintf(format, args...))
	}
}

// handle takes one datagram from a server at now and returns out with
// what to send in answer: a REQUEST for an OFFER, the next DISCOVER after
// an ACK in closed loop.
func (l *load) handle(b []byte, now time.Time, out [][]byte) [][]byte {
	r, ok := parseReply(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		l.bad("undecodable reply of %d bytes", len(b))
		return out
	}
	i := int(r.xid & 0xffff)
	if i >= len(l.clients) || l.clients[i].xid != r.xid || l.clients[i].mac != r.chaddr || l.clients[i].state == idle {
		l.res.Stray++ // a late reply to a DORA that timed out, or not ours
		return out
	}
	c := &l.clients[i]
	if r.msgType != msgNak && r.serverID != l.cfg.Server {
		l.bad("%s to %x: server identifier %v, want %v", msgName(r.msgType), c.mac, r.serverID, l.cfg.Server)
		l.finish(i)
		return out
	}
	switch {
	case r.msgType == msgOffer && c.state == discovering:
		l.res.Offers++
		if !l.inPool(r.yiaddr) {
			l.bad("OFFER to %x: %v is not in the pool %v-%v", c.mac, r.yiaddr, l.cfg.PoolLo, l.cfg.PoolHi)
			l.finish(i)
			return out
		}
		c.state, c.offered = requesting, r.yiaddr
		l.res.Requests++
		return append(out, l.packet(c, msgRequest))
	case r.msgType == msgAck && c.state == requesting:
		l.res.Acks++
		switch {
		case r.yiaddr != c.offered:
			l.bad("ACK to %x: %v, but %v was offered and requested", c.mac, r.yiaddr, c.offered)
		case !l.inPool(r.yiaddr):
			l.bad("ACK to %x: %v is not in the pool", c.mac, r.yiaddr)
		default:
			if o, held := l.owner[r.yiaddr]; held && o != i {
				l.bad("ACK to %x: %v, which client %x holds", c.mac, r.yiaddr, l.clients[o].mac)
				break
			}
			if c.addr.IsValid() && c.addr != r.yiaddr {
				delete(l.owner, c.addr)
			}
			c.addr = r.yiaddr
			l.owner[r.yiaddr] = i
			if !now.After(l.window) {
				l.res.AcksInWindow++
				l.latUS = append(l.latUS, uint32(now.Sub(c.started).Microseconds()))
			}
		}
		l.finish(i)
		if l.cfg.Rate == 0 && !l.stopping {
			l.idleQ = l.idleQ[:len(l.idleQ)-1] // i, just appended
			l.started++
			out = l.startDORA(i, now, out)
		}
		return out
	case r.msgType == msgNak && c.state == requesting:
		l.res.Naks++
		l.finish(i)
		return out
	}
	l.res.Stray++ // a second OFFER, an ACK to a DISCOVER: not the step the client is at
	return out
}

func (l *load) inPool(a netip.Addr) bool {
	return a.Is4() && !a.Less(l.cfg.PoolLo) && !l.cfg.PoolHi.Less(a)
}

// result returns the counts and latency percentiles so far.
func (l *load) result() result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	r.BadExamples = slices.Clone(r.BadExamples)
	if r.Seconds > 0 {
		r.DORAPerSecond = float64(r.AcksInWindow) / r.Seconds
	}
	r.Addresses = len(l.owner)
	lat := slices.Clone(l.latUS)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		k := int(p * float64(len(lat)-1))
		return float64(lat[k]) / 1000
	}
	r.LatencyP50MS, r.LatencyP90MS, r.LatencyP99MS, r.LatencyMaxMS = pct(0.5), pct(0.9), pct(0.99), pct(1)
	return r
}

// DHCP message types (option 53).
const (
	msgDiscover = 1
	msgOffer    = 2
	msgRequest  = 3
	msgAck      = 5
	msgNak      = 6
)

func msgName(t byte) string {
	switch t {
	case msgOffer:
		return "OFFER"
	case msgAck:
		return "ACK"
	case msgNak:
		return "NAK"
	}
	return fmt.Sprintf("message type %d", t)
}

// packet builds client c's DISCOVER or REQUEST (with options 50 and 54
// for the OFFER it took), broadcast flag set, padded to BOOTP's 300
// bytes. l.mu is held.
func (l *load) packet(c *client, typ byte) []byte {
	b := l.buf()
	b = append(b, 1, 1, 6, 0) // BOOTREQUEST, Ethernet, hlen 6, hops 0
	b = binary.BigEndian.AppendUint32(b, c.xid)
	b = append(b, 0, 0, 0x80, 0)       // secs 0, broadcast flag
	b = append(b, make([]byte, 16)...) // ciaddr yiaddr siaddr giaddr
	b = append(b, c.mac[:]...)
	b = append(b, make([]byte, 10+64+128)...) // chaddr padding, sname, file
	b = append(b, 99, 130, 83, 99, 53, 1, typ)
	if typ == msgRequest {
		b = append(b, 50, 4)
		b = append(b, c.offered.AsSlice()...)
		b = append(b, 54, 4)
		b = append(b, l.cfg.Server.AsSlice()...)
	}
	b = append(b, 61, 7, 1)
	b = append(b, c.mac[:]...)
	if n := len(l.cfg.ParamRequestLst); n > 0 {
		b = append(b, 55, byte(n))
		b = append(b, l.cfg.ParamRequestLst...)
	}
	if n := len(l.cfg.VendorClass); n > 0 {
		b = append(b, 60, byte(n))
		b = append(b, l.cfg.VendorClass...)
	}
	if n := len(l.cfg.ClientArch); n > 0 {
		b = append(b, 93, byte(n))
		b = append(b, l.cfg.ClientArch...)
	}
	b = append(b, 255)
	for len(b) < 300 {
		b = append(b, 0)
	}
	return b
}

// reply is what doraload reads of a server's message.
type reply struct {
	xid      uint32
	chaddr   [6]byte
	yiaddr   netip.Addr
	msgType  byte
	serverID netip.Addr
}

// parseReply reads a BOOTREPLY with an Ethernet address and the DHCP
// magic cookie: its message type and server identifier from the options
// field (false when any of that is missing or malformed).
func parseReply(b []byte) (reply, bool) {
	var r reply
	if len(b) < 240 || b[0] != 2 || b[1] != 1 || b[2] != 6 || binary.BigEndian.Uint32(b[236:]) != 0x63825363 {
		return r, false
	}
	r.xid = binary.BigEndian.Uint32(b[4:])
	r.yiaddr = netip.AddrFrom4([4]byte(b[16:20]))
	r.chaddr = [6]byte(b[28:34])
	opts := b[240:]
	for len(opts) > 0 {
		code := opts[0]
		if code == 255 {
			break
		}
		if code == 0 {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return r, false
		}
		v := opts[2 : 2+int(opts[1])]
		switch code {
		case 53:
			if len(v) != 1 {
				return r, false
			}
			r.msgType = v[0]
		case 54:
			if len(v) != 4 {
				return r, false
			}
			r.serverID = netip.AddrFrom4([4]byte(v))
		}
		opts = opts[2+len(v):]
	}
	return r, r.msgType != 0
}
