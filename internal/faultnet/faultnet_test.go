package faultnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

func TestDeciderRatesAndDeterminism(t *testing.T) {
	rates := Rates{Loss: 0.10, Duplicate: 0.05, Reorder: 0.20, Delay: time.Millisecond, Jitter: time.Millisecond}
	const n = 20000
	run := func(seed int64) []Decision {
		d := NewDecider(seed, rates)
		out := make([]Decision, n)
		for i := range out {
			out[i] = d.Next()
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(b, a) {
		t.Errorf("same seed must give the same decisions: b = %v, want %v", b, a)
	}
	if slices.Equal(c, a) {
		t.Errorf("another seed must give other decisions: c = %v, want anything but that", c)
	}

	var drop, dup, reorder int
	for _, d := range a {
		if d.Drop {
			drop++
		}
		if d.Duplicate {
			dup++
		}
		if d.Reorder {
			reorder++
		}
		if d.Delay < time.Millisecond {
			t.Errorf("d.Delay = %v, want >= %v", d.Delay, time.Millisecond)
		}
		if d.Delay >= 2*time.Millisecond {
			t.Errorf("d.Delay = %v, want < %v", d.Delay, 2*time.Millisecond)
		}
	}
	// Expected counts among n draws, within 5 standard deviations.
	if math.Abs(float64(drop)-float64(0.10*n)) > 5*42.4 {
		t.Errorf("drop = %v, want %v ± %v", drop, 0.10*n, 5*42.4)
	}
	if math.Abs(float64(dup)-float64(0.05*0.9*n)) > 5*30 {
		t.Errorf("dup = %v, want %v ± %v", dup, 0.05*0.9*n, 5*30)
	}
	if math.Abs(float64(reorder)-float64(0.20*0.9*n)) > 5*55 {
		t.Errorf("reorder = %v, want %v ± %v", reorder, 0.20*0.9*n, 5*55)
	}
}

// echoServer answers every datagram with the same bytes, from the same port.
func echoServer(t *testing.T, network, addr string) (net.PacketConn, chan uint32) {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatalf("net.ListenPacket(network, addr): %v", err)
	}
	seen := make(chan uint32, 100000)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				seen <- binary.BigEndian.Uint32(buf)
			}
			_, _ = c.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return c, seen
}

// waitDelivered waits until the relay has read n datagrams from its
// client and the server has read what the relay sent on (all but a
// datagram the relay may still hold back to reorder it), or until limit
// has passed.
func waitDelivered(r *Relay, seen chan uint32, n uint64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		up, _ := r.Stats()
		sent := int(up.Packets) - int(up.Dropped) + int(up.Duplicated)
		if up.Packets >= n && len(seen) >= sent-1 {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// sendSequence sends n numbered datagrams through the relay and returns the
// numbers the server saw, in arrival order.
func sendSequence(t *testing.T, seed int64, up Rates, n int) ([]uint32, Stats) {
	t.Helper()
	srv, seen := echoServer(t, "udp4", "127.0.0.1:0")
	r, err := StartRelay(RelayConfig{Listen: "127.0.0.1:0", Upstream: addrPort(srv.LocalAddr()), Seed: seed, Up: up})
	if err != nil {
		t.Fatalf("StartRelay: %v", err)
	}
	defer r.Close()
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	defer cli.Close()
	to := net.UDPAddrFromAddrPort(r.Addr())
	for i := 0; i < n; i++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		_, err := cli.WriteTo(b[:], to)
		if err != nil {
			t.Fatalf("cli.WriteTo(b[:], to): %v", err)
		}
		if i%50 == 49 {
			// Let the relay and the server catch up before sending more,
			// so that no socket buffer overflows, however slowly a loaded
			// machine schedules them (a fixed pause lost datagrams under
			// load: 1606 of 2000 reached the relay).
			waitDelivered(r, seen, uint64(i+1), 10*time.Second)
		}
	}
	// Wait until the relay has handled every datagram and held ones are out.
	waitDelivered(r, seen, uint64(n), 10*time.Second)
	time.Sleep(HoldMax + 50*time.Millisecond)
	var got []uint32
	for {
		select {
		case v := <-seen:
			got = append(got, v)
			continue
		default:
		}
		break
	}
	upStats, _ := r.Stats()
	return got, upStats
}

func TestRelayLossReorderDuplicate(t *testing.T) {
	const n = 2000
	rates := Rates{Loss: 0.10, Reorder: 0.10, Duplicate: 0.05}
	got, st := sendSequence(t, 42, rates, n)
	if st.Packets != n {
		t.Fatalf("st.Packets = %v, want %v", st.Packets, n)
	}

	// What the server saw matches the relay's own counts.
	if len(got) != n-int(st.Dropped)+int(st.Duplicated) {
		t.Errorf("len(got) = %d, want %d", len(got), n-int(st.Dropped)+int(st.Duplicated))
	}
	// The rates are observed (5 standard deviations).
	if math.Abs(float64(st.Dropped)-float64(0.10*n)) > 5*13.4 {
		t.Errorf("st.Dropped = %v, want %v ± %v", st.Dropped, 0.10*n, 5*13.4)
	}
	if math.Abs(float64(st.Reordered)-float64(0.10*0.9*n)) > 5*12.8 {
		t.Errorf("st.Reordered = %v, want %v ± %v", st.Reordered, 0.10*0.9*n, 5*12.8)
	}
	if math.Abs(float64(st.Duplicated)-float64(0.05*0.9*n)) > 5*9.5 {
		t.Errorf("st.Duplicated = %v, want %v ± %v", st.Duplicated, 0.05*0.9*n, 5*9.5)
	}

	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			inversions++
		}
	}
	if inversions <= 0 {
		t.Errorf("reordering must be visible to the server: inversions = %v, want > %v", inversions, 0)
	}
	// A held datagram goes right after its successor: never further.
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			if d := got[i-1] - got[i]; d > 3 {
				t.Errorf("datagram %d overtaken by %d: %d places, want at most 3", got[i], got[i-1], d)
			}
		}
	}

	// Same seed ⇒ same pattern: the same datagrams are lost and duplicated.
	again, st2 := sendSequence(t, 42, rates, n)
	if st2 != st {
		t.Errorf("st2 = %v, want %v", st2, st)
	}
	if !slices.Equal(multiset(again), multiset(got)) {
		t.Errorf("same seed, other datagrams: %v, want %v", multiset(again), multiset(got))
	}

	// Another seed ⇒ another pattern.
	other, _ := sendSequence(t, 43, rates, n)
	if slices.Equal(multiset(other), multiset(got)) {
		t.Errorf("another seed gave the same datagrams: %v", multiset(other))
	}
}

func multiset(v []uint32) []uint32 {
	s := append([]uint32(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// TestRelayNewTID checks TFTP-style transfer IDs: the server answers from a
// new port, the client sees a new relay port and talks to it.
func TestRelayNewTID(t *testing.T) {
	listener, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	defer listener.Close()
	transfer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	defer transfer.Close()

	r, err := StartRelay(RelayConfig{Listen: "127.0.0.1:0", Upstream: addrPort(listener.LocalAddr())})
	if err != nil {
		t.Fatalf("StartRelay: %v", err)
	}
	defer r.Close()

	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	defer cli.Close()
	_, err = cli.WriteTo([]byte("RRQ"), net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatalf("cli.WriteTo: %v", err)
	}

	buf := make([]byte, 100)
	if err := listener.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("listener.SetReadDeadline(time.Now().Add(5*time.Second)): %v", err)
	}
	n, relayUp, err := listener.ReadFrom(buf)
	if err != nil {
		t.Fatalf("listener.ReadFrom(buf): %v", err)
	}
	if got := string(buf[:n]); got != "RRQ" {
		t.Fatalf("string(buf[:n]) = %q, want \"RRQ\"", got)
	}

	// Answer from the transfer socket: a new TID.
	_, err = transfer.WriteTo([]byte("DATA1"), relayUp)
	if err != nil {
		t.Fatalf("transfer.WriteTo([]byte(\"DATA1\"), relayUp): %v", err)
	}
	if err := cli.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("cli.SetReadDeadline(time.Now().Add(5*time.Second)): %v", err)
	}
	n, from, err := cli.ReadFrom(buf)
	if err != nil {
		t.Fatalf("cli.ReadFrom(buf): %v", err)
	}
	if got := string(buf[:n]); got != "DATA1" {
		t.Errorf("string(buf[:n]) = %q, want \"DATA1\"", got)
	}
	fromAP := addrPort(from)
	if got := fromAP.Port(); got == r.Addr().Port() {
		t.Errorf("a new server TID needs a new relay port: fromAP.Port() = %v, want anything but that", got)
	}

	// The client's ACK to that port reaches the transfer socket.
	_, err = cli.WriteTo([]byte("ACK1"), from)
	if err != nil {
		t.Fatalf("cli.WriteTo([]byte(\"ACK1\"), from): %v", err)
	}
	if err := transfer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("transfer.SetReadDeadline(time.Now().Add(5*time.Second)): %v", err)
	}
	n, _, err = transfer.ReadFrom(buf)
	if err != nil {
		t.Fatalf("transfer.ReadFrom(buf): %v", err)
	}
	if got := string(buf[:n]); got != "ACK1" {
		t.Errorf("string(buf[:n]) = %q, want \"ACK1\"", got)
	}
}

func TestWrapWriteLossAndReadDelay(t *testing.T) {
	srv, seen := echoServer(t, "udp4", "127.0.0.1:0")
	raw, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	c := Wrap(raw, 7, Rates{Loss: 0.5}, Rates{Delay: 5 * time.Millisecond})
	defer c.Close()

	const n = 400
	for i := 0; i < n; i++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		_, err := c.WriteTo(b[:], srv.LocalAddr())
		if err != nil {
			t.Fatalf("c.WriteTo(b[:], srv.LocalAddr()): %v", err)
		}
	}
	w, _ := c.Stats()
	if w.Packets != n {
		t.Errorf("w.Packets = %v, want %v", w.Packets, n)
	}
	if math.Abs(float64(w.Dropped)-float64(n/2)) > 5*10 {
		t.Errorf("w.Dropped = %v, want %v ± %v", w.Dropped, n/2, 5*10)
	}

	received := 0
	buf := make([]byte, 100)
	for received < n-int(w.Dropped) {
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatalf("c.SetReadDeadline(time.Now().Add(5*time.Second)): %v", err)
		}
		_, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d echoes: %v", received, err)
		}
		received++
	}
	_, rd := c.Stats()
	if rd.Delayed != uint64(received) {
		t.Errorf("rd.Delayed = %v, want %v", rd.Delayed, received)
	}
	if len(drain(seen)) != received {
		t.Errorf("len(drain(seen)) = %d, want %d", len(drain(seen)), received)
	}

	// With nothing left the deadline fires.
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatalf("c.SetReadDeadline(time.Now().Add(20*time.Millisecond)): %v", err)
	}
	_, _, err = c.ReadFrom(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want %v", err, os.ErrDeadlineExceeded)
	}
}

func drain(c chan uint32) []uint32 {
	var v []uint32
	for {
		select {
		case x := <-c:
			v = append(v, x)
		default:
			return v
		}
	}
}

// TestRelayDelayInNamespace runs the relay inside a namespace, between a client
// and a server in two others, and sees the configured delay on every round trip.
func TestRelayDelayInNamespace(t *testing.T) {
	p := netlab.NewPair(t)
	p.Server.EchoUDP(t, "10.99.0.1:6900")
	// The relay runs in the client namespace, on its loopback.
	r, err := StartRelay(RelayConfig{
		Listen:       "127.0.0.1:0",
		Upstream:     netip.MustParseAddrPort("10.99.0.1:6900"),
		Up:           Rates{Delay: 2 * time.Millisecond},
		Down:         Rates{Delay: 2 * time.Millisecond},
		ListenPacket: p.Client.ListenPacket,
	})
	if err != nil {
		t.Fatalf("StartRelay: %v", err)
	}
	defer r.Close()
	cli, err := p.Client.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("p.Client.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	defer cli.Close()
	buf := make([]byte, 100)
	for i := 0; i < 10; i++ {
		start := time.Now()
		msg := fmt.Sprint("ping", i)
		_, err := cli.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(r.Addr()))
		if err != nil {
			t.Fatalf("cli.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(r.Addr())): %v", err)
		}
		if err := cli.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatalf("cli.SetReadDeadline(time.Now().Add(5*time.Second)): %v", err)
		}
		n, _, err := cli.ReadFrom(buf)
		if err != nil {
			t.Fatalf("cli.ReadFrom(buf): %v", err)
		}
		if got := string(buf[:n]); got != msg {
			t.Errorf("string(buf[:n]) = %v, want %v", got, msg)
		}
		// A lower bound that the relay guarantees, not a speed assertion.
		if got := time.Since(start); got < 4*time.Millisecond {
			t.Errorf("time.Since(start) = %v, want >= %v", got, 4*time.Millisecond)
		}
	}
	up, down := r.Stats()
	if up.Delayed != 10 {
		t.Errorf("up.Delayed = %v, want 10", up.Delayed)
	}
	if down.Delayed != 10 {
		t.Errorf("down.Delayed = %v, want 10", down.Delayed)
	}
}
