package main

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/dhcpboot"
)

// labServer returns pxekit's lab server for 10.99.0.0/24 (pool .10-.250)
// answering in process, without sockets.
func labServer(t *testing.T) *dhcpboot.LabServer4 {
	t.Helper()
	policy, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := &dhcpboot.LabServer4{Policy: policy, ServerIP: netip.MustParseAddr("10.99.0.1"),
		Subnets: []dhcpboot.Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"),
			RangeStart: netip.MustParseAddr("10.99.0.10"), RangeEnd: netip.MustParseAddr("10.99.0.250")}}}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	return s
}

func testConfig(clients int) config {
	return config{Clients: clients, Timeout: time.Second, Server: netip.MustParseAddr("10.99.0.1"),
		PoolLo: netip.MustParseAddr("10.99.0.10"), PoolHi: netip.MustParseAddr("10.99.0.250"),
		VendorClass: []byte("PXEClient:Arch:00007:UNDI:003016"), ClientArch: []byte{0, 7}, MACPrefix: [2]byte{2, 0xd0},
		ParamRequestLst: []byte{1, 3, 6, 66, 67}}
}

// sameAddressServer answers m as a broken server would: 10.99.0.77 for
// every client.
func sameAddressServer(t *testing.T, m *dhcpv4.DHCPv4) []byte {
	typ := dhcpv4.MessageTypeOffer
	if m.MessageType() == dhcpv4.MessageTypeRequest {
		typ = dhcpv4.MessageTypeAck
	}
	r, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(typ), dhcpv4.WithYourIP(netip.MustParseAddr("10.99.0.77").AsSlice()),
		dhcpv4.WithServerIP(netip.MustParseAddr("10.99.0.1").AsSlice()), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(netip.MustParseAddr("10.99.0.1").AsSlice())))
	if err != nil {
		t.Fatal(err)
	}
	return r.ToBytes()
}

// drive runs the load against s (nil: sameAddressServer) in closed loop for rounds rounds of
// packets; mutate, when set, may change each reply's bytes before the load
// reads them.
func drive(t *testing.T, l *load, s *dhcpboot.LabServer4, rounds int, mutate func(b []byte, typ dhcpv4.MessageType)) {
	t.Helper()
	now := time.Now()
	l.start(now, time.Hour)
	pkts := l.begin(now, nil)
	for range rounds {
		var next [][]byte
		now = now.Add(time.Millisecond)
		for _, p := range pkts {
			m, err := dhcpv4.FromBytes(p)
			if err != nil {
				t.Fatalf("doraload sent a message insomniacslk cannot decode: %v", err)
			}
			if !m.IsBroadcast() {
				t.Fatalf("doraload sent %s without the broadcast flag", m.MessageType())
			}
			var b []byte
			if s != nil {
				x := s.Reply(m, dhcpboot.Arrival{Mode: dhcpboot.ModeFull})
				if x.Reply == nil {
					t.Fatalf("lab server did not answer %s: %s %v", m.MessageType(), x.NoReply, x.Err)
				}
				b = x.Reply.ToBytes()
			} else {
				b = sameAddressServer(t, m)
			}
			if mutate != nil {
				r, err := dhcpv4.FromBytes(b)
				if err != nil {
					t.Fatal(err)
				}
				mutate(b, r.MessageType())
			}
			next = l.handle(b, now, next)
		}
		l.release(pkts)
		pkts = next
	}
}

func TestLoadAgainstLabServer(t *testing.T) {
	l, err := newLoad(testConfig(50))
	if err != nil {
		t.Fatal(err)
	}
	drive(t, l, labServer(t), 40, nil)
	r := l.result()
	if r.Bad != 0 {
		t.Fatalf("result has %d bad replies from pxekit's lab server: %v", r.Bad, r.BadExamples)
	}
	// 40 rounds of one message per client: 20 DORAs each.
	if r.Acks != 50*20 || r.AcksInWindow != r.Acks || r.Offers != r.Acks || r.Discovers != r.Acks+50 {
		t.Errorf("counts: %d DISCOVERs, %d OFFERs, %d ACKs (%d in window), want 1050, 1000, 1000 (1000)", r.Discovers, r.Offers, r.Acks, r.AcksInWindow)
	}
	if r.Addresses != 50 || r.Stray != 0 || r.Naks != 0 {
		t.Errorf("%d addresses held, %d stray, %d NAKs; want 50, 0, 0", r.Addresses, r.Stray, r.Naks)
	}
	if r.LatencyP50MS != 2 || r.LatencyMaxMS != 2 { // DISCOVER to ACK: two steps of 1 ms
		t.Errorf("latency p50 %v ms, max %v ms; want 2, 2", r.LatencyP50MS, r.LatencyMaxMS)
	}
}

func TestLoadCatchesBadReplies(t *testing.T) {
	setOpt54 := func(b []byte, v [4]byte) {
		for o := b[240:]; len(o) > 2 && o[0] != 255; o = o[2+int(o[1]):] {
			if o[0] == 54 {
				copy(o[2:6], v[:])
			}
		}
	}
	for _, tc := range []struct {
		name   string
		broken bool // sameAddressServer in place of the lab server
		mutate func(b []byte, typ dhcpv4.MessageType)
		want   string
	}{
		{"wrong server identifier", false, func(b []byte, typ dhcpv4.MessageType) {
			if typ == dhcpv4.MessageTypeAck {
				setOpt54(b, netip.MustParseAddr("10.99.0.9").As4())
			}
		}, "server identifier 10.99.0.9"},
		{"one address for every client", true, nil, "which client"},
		{"address out of the pool", false, func(b []byte, typ dhcpv4.MessageType) {
			copy(b[16:20], []byte{10, 99, 0, 251})
		}, "not in the pool"},
		{"ACK not for the address offered", false, func(b []byte, typ dhcpv4.MessageType) {
			if typ == dhcpv4.MessageTypeAck {
				b[19]++
			}
		}, "was offered"},
		{"truncated", false, func(b []byte, typ dhcpv4.MessageType) {
			binary.BigEndian.PutUint32(b[236:], 0)
		}, "undecodable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newLoad(testConfig(5))
			if err != nil {
				t.Fatal(err)
			}
			s := labServer(t)
			if tc.broken {
				s = nil
			}
			drive(t, l, s, 4, tc.mutate)
			r := l.result()
			if r.Bad == 0 || !strings.Contains(strings.Join(r.BadExamples, "\n"), tc.want) {
				t.Errorf("result: %d bad %q, want some saying %q", r.Bad, r.BadExamples, tc.want)
			}
		})
	}
}

func TestLoadPaced(t *testing.T) {
	l, err := newLoad(testConfig(10))
	if err != nil {
		t.Fatal(err)
	}
	l.cfg.Rate = 1000
	t0 := time.Now()
	l.start(t0, time.Second)
	if got := len(l.begin(t0.Add(5*time.Millisecond), nil)); got != 5 {
		t.Errorf("paced at 1000/s, 5 ms in: %d DISCOVERs, want 5", got)
	}
	// 50 ms in, 45 more are due but only 5 clients are idle.
	if got := len(l.begin(t0.Add(50*time.Millisecond), nil)); got != 5 {
		t.Errorf("50 ms in: %d DISCOVERs, want 5 (the idle clients)", got)
	}
	if r := l.result(); r.Backlog != 40 {
		t.Errorf("backlog %d, want 40", r.Backlog)
	}
	l.sweep(t0.Add(2 * time.Second))
	if r := l.result(); r.Timeouts != 10 || l.outstanding() != 0 {
		t.Errorf("after the timeout: %d timeouts, %d outstanding; want 10, 0", r.Timeouts, l.outstanding())
	}
	// The clients are free again: the DORAs that waited start now.
	if got := len(l.begin(t0.Add(2*time.Second+time.Millisecond), nil)); got != 10 {
		t.Errorf("once clients are free: %d DISCOVERs, want 10", got)
	}
}
