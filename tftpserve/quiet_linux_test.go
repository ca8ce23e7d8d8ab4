//go:build linux && (amd64 || arm64)

package tftpserve

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"
)

// listenerFD runs f with pc's descriptor.
func listenerFD(t *testing.T, pc net.PacketConn, f func(fd int)) {
	t.Helper()
	rc, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { f(int(fd)) }); err != nil {
		t.Fatal(err)
	}
}

// quietTestReader is a batch reader on pc that reads q.
func quietTestReader(pc net.PacketConn, q *quietSocket) *batchReader {
	r := newServeConn(pc).newBatchReader()
	r.useQuiet(q)
	return r
}

// TestQuietSocketTakes: while the quiet socket holds a listening socket's
// address, every datagram sent to it arrives on the quiet socket (with
// sender and destination), none on the listening socket, and no third
// socket can bind the address (SO_REUSEADDR is off again on both); after
// restore the quiet socket is closed.
func TestQuietSocketTakes(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			loop := "127.0.0.1"
			if network == "udp6" {
				loop = "::1"
			}
			pc, err := net.ListenPacket(network, net.JoinHostPort(loop, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer pc.Close()
			addr := addrPortOf(pc.LocalAddr())
			q := takeOverQuiet(pc, 1<<20)
			if q == nil {
				t.Fatal("takeOverQuiet refused a plain listening socket")
			}
			if _, err := net.ListenPacket(network, addr.String()); err == nil {
				t.Fatal("a third socket could bind the address while the quiet socket held it")
			}
			client := newTestClient(t, addr)
			rrq := appendRequest(nil, OpRRQ, "one", "octet")
			client.sendTo(addr, rrq)

			r := quietTestReader(pc, q)
			var n int
			for deadline := time.Now().Add(5 * time.Second); n == 0 && time.Now().Before(deadline); {
				if n, err = r.read(); err != nil && !errors.Is(err, errQuietIdle) {
					t.Fatal(err)
				}
			}
			if n != 1 || !bytes.Equal(r.in[0].b, rrq) {
				t.Fatalf("quiet socket read %d datagrams (%q), want the request %q", n, r.in[0].b, rrq)
			}
			if want := addrPortOf(client.pc.LocalAddr()); r.in[0].from != want {
				t.Errorf("sender %v, want %v", r.in[0].from, want)
			}
			if r.in[0].dst != addr.Addr() {
				t.Errorf("destination %v, want %v", r.in[0].dst, addr.Addr())
			}
			_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := pc.ReadFrom(make([]byte, 100)); err == nil {
				t.Fatal("the listening socket received a datagram while the quiet socket held its address")
			}

			listenerFD(t, pc, func(fd int) {
				if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); err != nil || v != 0 {
					t.Errorf("SO_REUSEADDR = %d (%v) on the listening socket, want 0", v, err)
				}
			})
			q.restore()
			if _, err := r.read(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("read after restore: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestQuietSocketRefuses: a connected socket is not a listening one, and
// a socket that is not a kernel UDP socket has no descriptor to lend.
func TestQuietSocketRefuses(t *testing.T) {
	c, err := net.Dial("udp4", "127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if q := takeOverQuiet(c.(net.PacketConn), 1<<20); q != nil {
		q.restore()
		t.Error("took over a connected socket")
	}
	if q := takeOverQuiet(fakePacketConn{}, 1<<20); q != nil {
		t.Error("took over a socket without a descriptor")
	}
}

type fakePacketConn struct{ net.PacketConn }

// TestBatchedLockstepQuietServe: a batched single-port server serves
// through the quiet socket — read requests that reached the listening
// socket before Serve (drained at the takeover) and after it, over IPv4
// and IPv6 — and the listening socket is connected to itself meanwhile.
func TestBatchedLockstepQuietServe(t *testing.T) {
	for _, tc := range []struct{ name, network, listen, client string }{
		{"udp4", "udp4", "127.0.0.1:0", "127.0.0.1"},
		{"udp6", "udp6", "[::1]:0", "::1"},
		// a dual-stack wildcard socket, as tftpd -addr :69 opens
		{"wildcard", "udp", ":0", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := net.ListenPacket(tc.network, tc.listen)
			if err != nil {
				t.Skipf("no %s socket: %v", tc.network, err)
			}
			addr := netip.AddrPortFrom(netip.MustParseAddr(tc.client), addrPortOf(pc.LocalAddr()).Port())
			self := addrPortOf(pc.LocalAddr())
			if !self.Addr().IsUnspecified() {
				self = addr
			} else if self.Addr().Is6() {
				self = netip.AddrPortFrom(netip.IPv6Loopback(), self.Port())
			} else {
				self = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), self.Port())
			}
			data := randBytes(5000, 3)
			logs := newInfoLog()
			srv := batchedServer(fstest.MapFS{"f": {Data: data}}, logs)
			early := newTestClient(t, addr)
			early.rrq("f", "octet") // queued on pc before Serve runs

			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(pc) }()
			defer func() {
				srv.Close()
				if err := <-errc; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve returned %v", err)
				}
			}()
			got := lockstepRest(early, early.expect(OpDATA).data)
			if !bytes.Equal(got, data) {
				t.Fatal("early client: content differs")
			}
			late := newTestClient(t, addr)
			late.rrq("f", "octet")
			if got := lockstepRest(late, late.expect(OpDATA).data); !bytes.Equal(got, data) {
				t.Fatal("late client: content differs")
			}
			for range 2 {
				if info := logs.next(t); info.Outcome != OutcomeOK {
					t.Fatalf("got %+v", info)
				}
			}
			listenerFD(t, pc, func(fd int) {
				peer, err := unix.Getpeername(fd)
				if err != nil {
					t.Fatalf("listening socket not connected away while serving: %v", err)
				}
				if p := sockaddrToAddrPort(peer); p != self {
					t.Errorf("listening socket connected to %v, want itself %v", p, self)
				}
			})
			if quietServing(srv) != 1 {
				t.Error("the send loop does not send through the quiet socket")
			}
			if loopStarted(srv) != 2 {
				t.Errorf("loop took %d data phases, want 2", loopStarted(srv))
			}
		})
	}
}

// quietServing counts srv's send loops that send through a quiet socket.
func quietServing(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	n := 0
	for sc := range srv.conns {
		if sc.loop != nil {
			sc.loop.mu.Lock()
			if sc.loop.quiet != nil && sc.loop.rawSent > 0 {
				n++
			}
			sc.loop.mu.Unlock()
		}
	}
	return n
}

func sockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// TestBatchedLockstepQuietCloseUnderLoad: Close ends Serve promptly even
// while datagrams keep arriving, so that the quiet socket never runs dry.
func TestBatchedLockstepQuietCloseUnderLoad(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := addrPortOf(pc.LocalAddr())
	srv := batchedServer(fstest.MapFS{"f": {Data: []byte("x")}}, nil)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(pc) }()

	stop := make(chan struct{})
	var flooders sync.WaitGroup
	for range 4 { // strangers' stale ACKs, as fast as they go, for 20 s at most
		flood, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer flood.Close()
		flooders.Add(1)
		go func() {
			defer flooders.Done()
			to := net.UDPAddrFromAddrPort(addr)
			ack := appendACK(nil, 1)
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = flood.WriteTo(ack, to)
			}
		}()
	}
	defer func() { close(stop); flooders.Wait() }()
	time.Sleep(300 * time.Millisecond)
	srv.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5 s after Close while datagrams kept coming")
	}
}
