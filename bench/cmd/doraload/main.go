// Command doraload is a DHCPv4 load generator for the lab-mode benchmarks:
// many simulated clients, each with its own MAC address, doing whole
// DISCOVER → OFFER → REQUEST → ACK exchanges over one real UDP socket
// (port 68, bound to an interface, broadcast flag set as perfdhcp does),
// with batched reads and writes (recvmmsg, sendmmsg) and a large receive
// buffer (SO_RCVBUFFORCE), so that the generator is not what loses replies.
// It checks every OFFER and ACK (the transaction and hardware address are
// the client's, the server identifier is -server, the address is in -pool,
// the ACK gives the address offered and requested, and no two clients hold
// one address) and prints one JSON object: the counts, the completed
// DORAs per second in the measured window, latency percentiles and its own
// CPU time. It exits 1 when any reply failed a check.
//
//	doraload -iface IFACE -server ADDR -pool FIRST-LAST [-clients 200] [-rate 0] [-seconds 5]
//
// Run it in the client's network namespace, never on a real interface:
// it is a DHCP client.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/net/ipv4"
)

func main() {
	res, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "doraload:", err)
		os.Exit(2)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	if res.Bad > 0 {
		os.Exit(1)
	}
}

func run() (result, error) {
	iface := flag.String("iface", "", "interface to send on (required; in a test namespace)")
	server := flag.String("server", "", "the server identifier every OFFER and ACK must carry (required)")
	pool := flag.String("pool", "", "FIRST-LAST: the range every address must come from (required)")
	clients := flag.Int("clients", 200, "simulated clients (distinct MACs), each with one DORA at a time")
	rate := flag.Float64("rate", 0, "DORAs started per second; 0 = closed loop, the next as soon as the ACK comes")
	seconds := flag.Float64("seconds", 5, "length of the measured window")
	timeout := flag.Duration("timeout", time.Second, "a DORA not done in this long is lost")
	vendor := flag.String("vendor-class", "PXEClient:Arch:00007:UNDI:003016", "option 60 (empty: none)")
	arch := flag.String("arch", "0007", "option 93 in hex (empty: none)")
	rcvbuf := flag.Int("rcvbuf", 32<<20, "receive buffer (SO_RCVBUFFORCE)")
	flag.Parse()
	if *iface == "" {
		return result{}, errors.New("-iface is required")
	}
	srv, err := netip.ParseAddr(*server)
	if err != nil {
		return result{}, fmt.Errorf("-server: %w", err)
	}
	first, last, ok := strings.Cut(*pool, "-")
	if !ok {
		return result{}, errors.New("-pool wants FIRST-LAST")
	}
	lo, err := netip.ParseAddr(first)
	if err != nil {
		return result{}, fmt.Errorf("-pool: %w", err)
	}
	hi, err := netip.ParseAddr(last)
	if err != nil {
		return result{}, fmt.Errorf("-pool: %w", err)
	}
	archB, err := hex.DecodeString(*arch)
	if err != nil {
		return result{}, fmt.Errorf("-arch: %w", err)
	}
	l, err := newLoad(config{Clients: *clients, Rate: *rate, Timeout: *timeout, Server: srv, PoolLo: lo, PoolHi: hi,
		VendorClass: []byte(*vendor), ClientArch: archB, MACPrefix: [2]byte{0x02, 0xd0}, ParamRequestLst: []byte{1, 3, 6, 15, 66, 67}})
	if err != nil {
		return result{}, err
	}

	conn, err := server4.NewIPv4UDPConn(*iface, &net.UDPAddr{Port: 68})
	if err != nil {
		return result{}, fmt.Errorf("listen %s udp/68: %w", *iface, err)
	}
	defer conn.Close()
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, *rcvbuf) != nil {
				_ = conn.SetReadBuffer(*rcvbuf)
			}
		})
	}
	p := ipv4.NewPacketConn(conn)
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	var sendMu sync.Mutex
	var wms []ipv4.Message
	write := func(pkts [][]byte) {
		if len(pkts) == 0 {
			return
		}
		sendMu.Lock()
		wms = wms[:0]
		for _, b := range pkts {
			wms = append(wms, ipv4.Message{Buffers: [][]byte{b}, Addr: dst})
		}
		for ms := wms; len(ms) > 0; {
			n, err := p.WriteBatch(ms, 0)
			if err != nil {
				l.mu.Lock()
				l.res.SendErrors += len(ms)
				l.mu.Unlock()
				break
			}
			ms = ms[n:]
		}
		sendMu.Unlock()
		l.release(pkts)
	}

	readDone := make(chan struct{})
	var reads, datagrams int
	go func() {
		defer close(readDone)
		ms := make([]ipv4.Message, 64)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		var out [][]byte
		for {
			n, err := p.ReadBatch(ms, 0)
			if err != nil {
				return // closed at the end
			}
			reads++
			datagrams += n
			now := time.Now()
			out = out[:0]
			for i := range n {
				out = l.handle(ms[i].Buffers[0][:ms[i].N], now, out)
			}
			write(out)
		}
	}()

	d := time.Duration(*seconds * float64(time.Second))
	start := time.Now()
	l.start(start, d)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // pacer and sweeper
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var out [][]byte
		lastSweep := start
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				if now.Sub(lastSweep) >= 20*time.Millisecond {
					l.sweep(now)
					lastSweep = now
				}
				out = l.begin(now, out[:0])
				write(out)
			}
		}
	}()
	time.Sleep(d)
	l.stop()
	// Let the DORAs outstanding end (they count, but not in the window).
	for end := time.Now().Add(*timeout); time.Now().Before(end) && l.outstanding() > 0; {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	conn.Close()
	<-readDone
	res := l.result()
	res.Reads, res.ReadDatagrams = reads, datagrams
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.ClientCPUSec = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return res, nil
}
