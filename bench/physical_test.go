//go:build bench

package bench

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/faultnet"
	"github.com/pxekit/pxekit/internal/netlab"
	"golang.org/x/net/ipv4"
)

func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }

// countInto reads sink until it is closed, one datagram per call, adding
// up the bytes; done is closed when it stops.
func countInto(sink net.PacketConn) (received *atomic.Int64, done chan struct{}) {
	received, done = new(atomic.Int64), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := sink.ReadFrom(buf)
			if err != nil {
				return
			}
			received.Add(int64(n))
		}
	}()
	return received, done
}

// blast sends 1468-byte datagrams from a socket in the client namespace to to
// for d, one syscall per datagram or batched with sendmmsg, and returns the
// bytes per second the sink received.
func blast(t *testing.T, client *netlab.NS, sinkNS *netlab.NS, sinkAddr string, to netip.AddrPort, batch bool, d time.Duration) float64 {
	sink, err := sinkNS.ListenPacket("udp4", sinkAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	_ = sink.(*net.UDPConn).SetReadBuffer(4 << 20)
	received, _ := countInto(sink)
	c, err := client.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := udpAddr(to)
	payload := make([]byte, blksize+4)
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 32)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{payload}, Addr: dst}
	}
	// Warm up, then count for d.
	end := time.Now().Add(d)
	var start time.Time
	var base int64
	for i := 0; time.Now().Before(end); i++ {
		if i == 1000 {
			start, base = time.Now(), received.Load()
		}
		if batch {
			_, _ = pc.WriteBatch(msgs, 0)
		} else {
			_, _ = c.WriteTo(payload, dst)
		}
	}
	if start.IsZero() {
		return 0
	}
	time.Sleep(50 * time.Millisecond)
	got := received.Load() - base
	return float64(got) / time.Since(start).Seconds()
}

// TestPhysicalLimit measures what each path carries at most, in this run.
func TestPhysicalLimit(t *testing.T) {
	l := newLab(t)
	section := "Physical limit of each path (Go UDP sender, 1468-byte payloads, received by a Go sink)"
	results.printf(section, "| path | one syscall per datagram | sendmmsg, 32 per call |\n|---|---|---|\n")
	paths := []struct {
		name string
		run  func(batch bool) float64
	}{
		{"namespace loopback", func(batch bool) float64 {
			return blast(t, l.pair.Server, l.pair.Server, "127.0.0.1:7000", netip.MustParseAddrPort("127.0.0.1:7000"), batch, 2*time.Second)
		}},
		{"veth", func(batch bool) float64 {
			return blast(t, l.pair.Client, l.pair.Server, "10.99.0.1:7001", netip.MustParseAddrPort("10.99.0.1:7001"), batch, 2*time.Second)
		}},
		{"veth + faultnet relay 2 ms each way", func(batch bool) float64 {
			r := l.delayRelay(t, faultnet.Rates{Delay: 2 * time.Millisecond}, "10.99.0.1:7002")
			defer r.Close()
			return blast(t, l.pair.Client, l.pair.Server, "10.99.0.1:7002", r.Addr(), batch, 2*time.Second)
		}},
	}
	for _, p := range paths {
		one := p.run(false)
		many := p.run(true)
		results.printf(section, "| %s | %.0f MB/s | %.0f MB/s |\n", p.name, one/1e6, many/1e6)
	}
	results.printf(section, "\nThe relay path's limit is the relay's own forwarding rate (one goroutine per direction,\none syscall per datagram); TFTP figures on that path are bounded by it.\n")
	fmt.Println(results.sections[section].String())
}
