package dhcpboot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/internal/netlab"
)

// kill9Env names the lease file of the LabServer4 the kill -9 test's child
// process serves.
const kill9Env = "PXEKIT_TEST_KILL9_LEASES"

// TestLeaseFileSurvivesKill9 runs a LabServer4 in a child process inside a
// private namespace (127.0.0.1:67), leases addresses to many clients at once
// through a fake relay (127.0.0.2:67), kills the server with SIGKILL in the
// middle of it, and checks that every lease whose ACK reached the relay is
// in the lease file.
func TestLeaseFileSurvivesKill9(t *testing.T) {
	if file := os.Getenv(kill9Env); file != "" {
		kill9Child(t, file)
		return
	}
	netlab.Require(t)
	ns := netlab.NewNS(t)
	file := t.TempDir() + "/leases"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	child := ns.Command(ctx, os.Args[0], "-test.run=^TestLeaseFileSurvivesKill9$", "-test.count=1")
	child.Env = append(os.Environ(), kill9Env+"="+file)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	ns.Track(child)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("child ended before serving: %v", <-exited)
		}
	case <-ctx.Done():
		t.Fatal("child never ready")
	}

	relay, err := ns.ListenPacket("udp4", "127.0.0.2:67")
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	var (
		mu     sync.Mutex
		waits  = map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}
		acked  = map[string]netip.Addr{}
		killed = make(chan struct{})
	)
	go func() { // dispatch replies by xid
		buf := make([]byte, 1500)
		for {
			n, _, err := relay.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			mu.Lock()
			if m.MessageType() == dhcpv4.MessageTypeAck {
				acked[m.ClientHWAddr.String()] = addrOf(m.YourIPAddr)
			}
			c := waits[m.TransactionID]
			mu.Unlock()
			if c != nil {
				select {
				case c <- m:
				default:
				}
			}
		}
	}()
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 67}
	// exchange sends m (retrying) until a reply of type want arrives.
	exchange := func(m *dhcpv4.DHCPv4, want dhcpv4.MessageType) *dhcpv4.DHCPv4 {
		c := make(chan *dhcpv4.DHCPv4, 4)
		mu.Lock()
		waits[m.TransactionID] = c
		mu.Unlock()
		defer func() { mu.Lock(); delete(waits, m.TransactionID); mu.Unlock() }()
		for range 5 {
			if _, err := relay.WriteTo(m.ToBytes(), server); err != nil {
				return nil
			}
			timer := time.NewTimer(2 * time.Second)
			for {
				select {
				case r := <-c:
					if r.MessageType() != want {
						continue
					}
					timer.Stop()
					return r
				case <-killed:
					timer.Stop()
					return nil
				case <-timer.C:
				}
				break
			}
		}
		return nil
	}
	const workers, perWorker = 16, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				select {
				case <-killed:
					return
				default:
				}
				hw := net.HardwareAddr{2, 0, 0, byte(w), byte(i >> 8), byte(i)}
				d, _ := dhcpv4.NewDiscovery(hw, dhcpv4.WithGatewayIP(net.IPv4(127, 0, 0, 2)))
				o := exchange(d, dhcpv4.MessageTypeOffer)
				if o == nil {
					return
				}
				r, _ := dhcpv4.NewRequestFromOffer(o)
				r.GatewayIPAddr = d.GatewayIPAddr
				if exchange(r, dhcpv4.MessageTypeAck) == nil {
					return
				}
			}
		}()
	}
	// Kill the server once a good number of leases are out, mid-burst.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 600 || time.Now().After(deadline) {
			break
		}
	}
	if err := syscall.Kill(-child.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	werr := <-exited
	close(killed)
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // replies already in the relay's socket
	relay.Close()
	t.Logf("server: %v", werr)

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ls, err := ReadLeases(f, func(line int, err error) { t.Logf("lease file line %d (torn by the kill?): %v", line, err) })
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]netip.Addr{}
	for _, l := range ls {
		have[l.MAC.String()] = l.IP
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 100 {
		t.Fatalf("only %d leases ACKed before the kill", len(acked))
	}
	lost := 0
	for mac, ip := range acked {
		if have[mac] != ip {
			lost++
			if lost <= 5 {
				t.Errorf("ACKed lease %s %v not in the file after kill -9 (file has %v)", mac, ip, have[mac])
			}
		}
	}
	t.Logf("after kill -9: %d/%d ACKed leases in the file (%d records read)", len(acked)-lost, len(acked), len(ls))
}

// kill9Child serves leases until killed (at most two minutes).
func kill9Child(t *testing.T, file string) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:67")
	if err != nil {
		t.Fatal(err)
	}
	s := &LabServer4{
		ServerIP: netip.MustParseAddr("127.0.0.1"),
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("127.0.0.0/16"),
			RangeStart: netip.MustParseAddr("127.0.1.0"), RangeEnd: netip.MustParseAddr("127.0.31.255")}},
		LeaseFile: file,
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	stop := time.AfterFunc(2*time.Minute, func() { s.Close() })
	defer stop.Stop()
	fmt.Println("ready")
	if err := s.Serve(conn); !errors.Is(err, ErrServerClosed) {
		t.Fatal(err)
	}
}
