package faultnet

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	assert.Equal(t, a, b, "same seed must give the same decisions")
	assert.NotEqual(t, a, c, "another seed must give other decisions")

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
		assert.GreaterOrEqual(t, d.Delay, time.Millisecond)
		assert.Less(t, d.Delay, 2*time.Millisecond)
	}
	// Expected counts among n draws, within 5 standard deviations.
	assert.InDelta(t, 0.10*n, drop, 5*42.4)
	assert.InDelta(t, 0.05*0.9*n, dup, 5*30)
	assert.InDelta(t, 0.20*0.9*n, reorder, 5*55)
}

// echoServer answers every datagram with the same bytes, from the same port.
func echoServer(t *testing.T, network, addr string) (net.PacketConn, chan uint32) {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	require.NoError(t, err)
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

// sendSequence sends n numbered datagrams through the relay and returns the
// numbers the server saw, in arrival order.
func sendSequence(t *testing.T, seed int64, up Rates, n int) ([]uint32, Stats) {
	t.Helper()
	srv, seen := echoServer(t, "udp4", "127.0.0.1:0")
	r, err := StartRelay(RelayConfig{Listen: "127.0.0.1:0", Upstream: addrPort(srv.LocalAddr()), Seed: seed, Up: up})
	require.NoError(t, err)
	defer r.Close()
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer cli.Close()
	to := net.UDPAddrFromAddrPort(r.Addr())
	for i := 0; i < n; i++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		_, err := cli.WriteTo(b[:], to)
		require.NoError(t, err)
		if i%50 == 49 {
			time.Sleep(2 * time.Millisecond) // stay far below socket buffer sizes
		}
	}
	// Wait until the relay has handled every datagram and held ones are out.
	deadline := time.Now().Add(10 * time.Second)
	for {
		upStats, _ := r.Stats()
		if upStats.Packets == uint64(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	require.EqualValues(t, n, st.Packets)

	// What the server saw matches the relay's own counts.
	assert.Len(t, got, n-int(st.Dropped)+int(st.Duplicated))
	// The rates are observed (5 standard deviations).
	assert.InDelta(t, 0.10*n, st.Dropped, 5*13.4)
	assert.InDelta(t, 0.10*0.9*n, st.Reordered, 5*12.8)
	assert.InDelta(t, 0.05*0.9*n, st.Duplicated, 5*9.5)

	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			inversions++
		}
	}
	assert.Greater(t, inversions, 0, "reordering must be visible to the server")
	// A held datagram goes right after its successor: never further.
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			assert.LessOrEqual(t, got[i-1]-got[i], uint32(3), "datagram %d overtaken by %d", got[i], got[i-1])
		}
	}

	// Same seed ⇒ same pattern: the same datagrams are lost and duplicated.
	again, st2 := sendSequence(t, 42, rates, n)
	assert.Equal(t, st, st2)
	assert.Equal(t, multiset(got), multiset(again))

	// Another seed ⇒ another pattern.
	other, _ := sendSequence(t, 43, rates, n)
	assert.NotEqual(t, multiset(got), multiset(other))
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
	require.NoError(t, err)
	defer listener.Close()
	transfer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer transfer.Close()

	r, err := StartRelay(RelayConfig{Listen: "127.0.0.1:0", Upstream: addrPort(listener.LocalAddr())})
	require.NoError(t, err)
	defer r.Close()

	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.WriteTo([]byte("RRQ"), net.UDPAddrFromAddrPort(r.Addr()))
	require.NoError(t, err)

	buf := make([]byte, 100)
	require.NoError(t, listener.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, relayUp, err := listener.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "RRQ", string(buf[:n]))

	// Answer from the transfer socket: a new TID.
	_, err = transfer.WriteTo([]byte("DATA1"), relayUp)
	require.NoError(t, err)
	require.NoError(t, cli.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, from, err := cli.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "DATA1", string(buf[:n]))
	fromAP := addrPort(from)
	assert.NotEqual(t, r.Addr().Port(), fromAP.Port(), "a new server TID needs a new relay port")

	// The client's ACK to that port reaches the transfer socket.
	_, err = cli.WriteTo([]byte("ACK1"), from)
	require.NoError(t, err)
	require.NoError(t, transfer.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, _, err = transfer.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "ACK1", string(buf[:n]))
}

func TestWrapWriteLossAndReadDelay(t *testing.T) {
	srv, seen := echoServer(t, "udp4", "127.0.0.1:0")
	raw, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	c := Wrap(raw, 7, Rates{Loss: 0.5}, Rates{Delay: 5 * time.Millisecond})
	defer c.Close()

	const n = 400
	for i := 0; i < n; i++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		_, err := c.WriteTo(b[:], srv.LocalAddr())
		require.NoError(t, err)
	}
	w, _ := c.Stats()
	assert.EqualValues(t, n, w.Packets)
	assert.InDelta(t, n/2, w.Dropped, 5*10)

	received := 0
	buf := make([]byte, 100)
	for received < n-int(w.Dropped) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, _, err := c.ReadFrom(buf)
		require.NoError(t, err, "after %d echoes", received)
		received++
	}
	_, rd := c.Stats()
	assert.EqualValues(t, received, rd.Delayed)
	assert.Len(t, drain(seen), received)

	// With nothing left the deadline fires.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, _, err = c.ReadFrom(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
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
	srv, err := p.Server.ListenPacket("udp4", "10.99.0.1:6900")
	require.NoError(t, err)
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], from)
		}
	}()
	// The relay runs in the client namespace, on its loopback.
	r, err := StartRelay(RelayConfig{
		Listen:       "127.0.0.1:0",
		Upstream:     netip.MustParseAddrPort("10.99.0.1:6900"),
		Up:           Rates{Delay: 2 * time.Millisecond},
		Down:         Rates{Delay: 2 * time.Millisecond},
		ListenPacket: p.Client.ListenPacket,
	})
	require.NoError(t, err)
	defer r.Close()
	cli, err := p.Client.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer cli.Close()
	buf := make([]byte, 100)
	for i := 0; i < 10; i++ {
		start := time.Now()
		msg := fmt.Sprint("ping", i)
		_, err := cli.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(r.Addr()))
		require.NoError(t, err)
		require.NoError(t, cli.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := cli.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, msg, string(buf[:n]))
		// A lower bound that the relay guarantees, not a speed assertion.
		assert.GreaterOrEqual(t, time.Since(start), 4*time.Millisecond)
	}
	up, down := r.Stats()
	assert.EqualValues(t, 10, up.Delayed)
	assert.EqualValues(t, 10, down.Delayed)
}
