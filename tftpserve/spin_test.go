package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestSpinRecv: with busy-polling on and off (the raw receives on Linux),
// the transfer socket reports the right payload and sender (IPv4, IPv6,
// and IPv4 through a dual-stack socket), and still times out when nothing
// comes.
func TestSpinRecv(t *testing.T) {
	cases := []struct{ name, serverNet, serverAddr, clientNet, clientAddr, dial string }{
		{"ipv4", "udp4", "127.0.0.1:0", "udp4", "127.0.0.1:0", "127.0.0.1"},
		{"ipv6", "udp6", "[::1]:0", "udp6", "[::1]:0", "::1"},
		{"ipv4 to dual-stack", "udp", "[::]:0", "udp4", "127.0.0.1:0", "127.0.0.1"},
	}
	for _, c := range cases {
		for _, spin := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/spin=%v", c.name, spin), func(t *testing.T) {
				srv, err := net.ListenPacket(c.serverNet, c.serverAddr)
				if err != nil {
					t.Skipf("no %s here: %v", c.serverNet, err)
				}
				defer srv.Close()
				cli, err := net.ListenPacket(c.clientNet, c.clientAddr)
				if err != nil {
					t.Fatalf("net.ListenPacket(c.clientNet, c.clientAddr): %v", err)
				}
				defer cli.Close()
				cliAP := netip.MustParseAddrPort(cli.LocalAddr().String())
				l := newSockLink(context.Background(), srv, cliAP)
				defer l.close()
				l.spin, l.spinFor = spin, 50*time.Microsecond

				port := srv.LocalAddr().(*net.UDPAddr).Port
				to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(c.dial), uint16(port)))
				buf := make([]byte, 64)
				for i := range 50 {
					msg := []byte{0, 4, 0, byte(i)}
					_, err := cli.WriteTo(msg, to)
					if err != nil {
						t.Fatalf("cli.WriteTo(msg, to): %v", err)
					}
					n, from, err := l.recv(context.Background(), buf, time.Now().Add(2*time.Second))
					if err != nil {
						t.Fatalf("l.recv: %v", err)
					}
					if got := buf[:n]; !bytes.Equal(got, msg) {
						t.Fatalf("buf[:n] = %v, want %v", got, msg)
					}
					if from != cliAP {
						t.Fatalf("sender as the transfer compares it with the client: from = %v, want %v", from, cliAP)
					}
				}
				_, _, err = l.recv(context.Background(), buf, time.Now().Add(20*time.Millisecond))
				if !errors.Is(err, errDeadline) {
					t.Fatalf("err = %v, want %v", err, errDeadline)
				}
			})
		}
	}
}

// TestSpinOnlyWhenFastAndFew: the RTT estimator turns busy-polling on for a
// short RTT with few transfers, and off for a slow link.
func TestSpinOnlyWhenFastAndFew(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket(\"udp4\", \"127.0.0.1:0\"): %v", err)
	}
	defer pc.Close()
	srv := &Server{}
	srv.sem = make(chan struct{}, 1024)
	tr := &transfer{srv: srv, minRTO: time.Millisecond, maxRTO: time.Second}
	tr.sock = newSockLink(context.Background(), pc, netip.MustParseAddrPort("127.0.0.1:9"))
	defer tr.sock.close()

	tr.sample(40 * time.Microsecond)
	if !tr.sock.spin {
		t.Fatalf("loopback RTT")
	}
	for range 20 {
		tr.sample(5 * time.Millisecond)
	}
	if tr.sock.spin {
		t.Fatalf("5 ms RTT")
	}

	tr2 := &transfer{srv: srv, minRTO: time.Millisecond, maxRTO: time.Second, sock: tr.sock}
	for range runtime.GOMAXPROCS(0) {
		srv.sem <- struct{}{}
	}
	tr2.sample(40 * time.Microsecond)
	if tr.sock.spin {
		t.Fatalf("as many transfers as processors")
	}
}
