package dhcpboot

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// loopbackPair returns two UDP sockets on the loopback address of network
// ("udp4" or "udp6"; the test skips without one), closed when the test
// ends.
func loopbackPair(t *testing.T, network string) (net.PacketConn, net.PacketConn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "udp6" {
		addr = "[::1]:0"
	}
	var cs [2]net.PacketConn
	for i := range cs {
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			t.Skipf("no %s loopback: %v", network, err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs[0], cs[1]
}

// On Linux a burst waiting in a server socket's buffer is one read: the
// batch reader takes every datagram queued (up to readBatchSize) with its
// sender, in order, from IPv4 and IPv6 sockets alike.
func TestBatchReaderTakesTheBurst(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("recvmmsg is Linux's; elsewhere the serve loop reads one datagram at a time")
	}
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			srv, cli := loopbackPair(t, network)
			r := newBatchReader(srv)
			if r == nil {
				t.Fatalf("newBatchReader(%s socket) = nil, want a batch reader on Linux", network)
			}
			const burst = 5
			for i := range burst {
				if _, err := cli.WriteTo([]byte(fmt.Sprintf("datagram %d", i)), srv.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond) // all five in the buffer (loopback delivers at once)
			srv.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := 0
			for reads := 0; got < burst; reads++ {
				n, err := r.read()
				if err != nil {
					t.Fatalf("read after %d datagrams: %v", got, err)
				}
				if reads == 0 && n != burst {
					t.Errorf("first read: %d datagrams, want the whole burst of %d", n, burst)
				}
				for i := range n {
					b, from := r.datagram(i)
					if want := fmt.Sprintf("datagram %d", got); string(b) != want {
						t.Errorf("datagram %d = %q, want %q", got, b, want)
					}
					if addrPortOf(from) != addrPortOf(cli.LocalAddr()) {
						t.Errorf("datagram %d from %v, want %v", got, from, cli.LocalAddr())
					}
					got++
				}
			}
		})
	}
}

// A socket that is no *net.UDPConn gets no batch reader: the serve loop
// reads it one datagram per ReadFrom (tests and programs serve in-memory or
// wrapped sockets).
func TestBatchReaderFallback(t *testing.T) {
	srv, cli := loopbackPair(t, "udp4")
	wrapped := struct{ net.PacketConn }{srv}
	if r := newBatchReader(wrapped); r != nil {
		t.Errorf("newBatchReader(wrapped socket) = %v, want nil", r)
	}
	r := newDatagramReader(wrapped)
	for _, msg := range []string{"one", "two"} {
		if _, err := cli.WriteTo([]byte(msg), srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"one", "two"} {
		n, err := r.read()
		if err != nil || n != 1 {
			t.Fatalf("read of a wrapped socket = %d, %v; want 1 datagram", n, err)
		}
		if b, from := r.datagram(0); string(b) != want || addrPortOf(from) != addrPortOf(cli.LocalAddr()) {
			t.Errorf("datagram = %q from %v, want %q from %v", b, from, want, cli.LocalAddr())
		}
	}
}

// A burst queued before the server reads is answered whole and in order,
// each datagram on its own: an undecodable one goes to OnInvalid and a
// handler panic drops only its own message, the rest of the batch is
// still answered.
func TestServeBurstInOrder(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			conn, client := loopbackPair(t, network)
			const burst = 40
			panicMAC := net.HardwareAddr{0x52, 0x54, 0, 0x42, 0, 7}
			var mu sync.Mutex
			var replied []string
			invalid := 0
			policy, _ := DefaultPolicy(DefaultConfig{})
			s := &ProxyServer{Policy: policy, ServerIP: netip.MustParseAddr("127.0.0.1"), Logger: testLogger(t),
				Classify: func(m *dhcpv4.DHCPv4) archdetect.Client {
					if m.ClientHWAddr.String() == panicMAC.String() {
						panic("classifier broken for this one")
					}
					return archdetect.FromDHCPv4(m)
				},
				OnReply: func(x Exchange4) {
					mu.Lock()
					defer mu.Unlock()
					if x.Reply != nil {
						replied = append(replied, x.Request.ClientHWAddr.String())
					}
				},
				OnInvalid: func(Invalid) { mu.Lock(); invalid++; mu.Unlock() },
			}
			var want []string
			for i := range burst {
				hw := net.HardwareAddr{0x52, 0x54, 0, 0x42, 0, byte(i)}
				if i == 20 {
					client.WriteTo([]byte("not DHCP"), conn.LocalAddr())
				}
				req, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
					dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
					dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
				if _, err := client.WriteTo(req.ToBytes(), conn.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				if hw.String() != panicMAC.String() {
					want = append(want, hw.String())
				}
			}
			done := make(chan error, 1)
			go func() { done <- s.ServeBootServer(conn) }()
			defer s.Close()
			client.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 1500)
			for i := range want {
				n, _, err := client.ReadFrom(buf)
				if err != nil {
					t.Fatalf("ACK %d of %d: %v", i, len(want), err)
				}
				ack, err := dhcpv4.FromBytes(buf[:n])
				if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck {
					t.Fatalf("reply %d: %v %v, want an ACK", i, ack, err)
				}
				if got := ack.ClientHWAddr.String(); got != want[i] {
					t.Errorf("ACK %d for %s, want %s (the order the REQUESTs came)", i, got, want[i])
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil { // OnReply has run for every reply
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-done; err != ErrServerClosed {
				t.Errorf("ServeBootServer = %v, want ErrServerClosed", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(replied) != len(want) || invalid != 1 {
				t.Errorf("OnReply saw %d replies, OnInvalid %d datagrams; want %d and 1", len(replied), invalid, len(want))
			}
		})
	}
}
