package tftpserve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// testClient is a scripted TFTP client for tests: it speaks exactly what a
// test tells it, or runs a complete windowed download (fetch).
type testClient struct {
	t      testing.TB
	pc     net.PacketConn
	server netip.AddrPort // port 69 equivalent
	tid    netip.AddrPort // the transfer's port, once known
	buf    []byte
}

func newTestClient(t testing.TB, server netip.AddrPort) *testClient {
	t.Helper()
	network := "udp4"
	local := "127.0.0.1:0"
	if server.Addr().Is6() {
		network, local = "udp6", "[::1]:0"
	}
	pc, err := net.ListenPacket(network, local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &testClient{t: t, pc: pc, server: server, buf: make([]byte, 70000)}
}

func (c *testClient) sendTo(to netip.AddrPort, b []byte) {
	c.t.Helper()
	if _, err := c.pc.WriteTo(b, net.UDPAddrFromAddrPort(to)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *testClient) rrq(name, mode string, opts ...Option) {
	c.t.Helper()
	c.sendTo(c.server, appendRequest(nil, OpRRQ, name, mode, opts...))
}

func (c *testClient) ack(block uint16) {
	c.t.Helper()
	c.sendTo(c.tid, appendACK(nil, block))
}

// recv waits up to d for a packet; ok is false on timeout.
func (c *testClient) recv(d time.Duration) (packet, netip.AddrPort, bool) {
	c.t.Helper()
	_ = c.pc.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.pc.ReadFrom(c.buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return packet{}, netip.AddrPort{}, false
		}
		c.t.Fatal(err)
	}
	p, err := parsePacket(c.buf[:n])
	if err != nil {
		c.t.Fatalf("client got malformed packet % x: %v", c.buf[:n], err)
	}
	if p.data != nil {
		p.data = append([]byte(nil), p.data...)
	}
	fromAP := addrPortOf(from)
	if !c.tid.IsValid() && fromAP != c.server {
		c.tid = fromAP
	}
	return p, fromAP, true
}

// expect waits for a packet of op and fails the test otherwise.
func (c *testClient) expect(op Opcode) packet {
	c.t.Helper()
	p, from, ok := c.recv(3 * time.Second)
	if !ok {
		c.t.Fatalf("timeout waiting for %v", op)
	}
	if p.op != op {
		c.t.Fatalf("got %v (code %d %q), want %v", p.op, p.code, p.msg, op)
	}
	if !c.tid.IsValid() {
		c.tid = from
	}
	return p
}

// fetchResult is what a complete download saw.
type fetchResult struct {
	data     []byte
	oack     []Option
	dataPkts int // DATA packets received, duplicates included
	dupData  int // DATA packets for blocks already received
}

// fetchOpts tune the scripted downloader.
type fetchOpts struct {
	window      int           // ACK every window blocks (what was asked for)
	timeout     time.Duration // client retransmission timeout
	deadline    time.Duration // whole-transfer bound
	dupAcks     int           // send every ACK this many extra times
	limitBlocks int64         // stop after this many blocks (0: no limit)
	edk2        bool          // ACK the last in-order block for every out-of-order packet, as EDK2 does
	sink        func([]byte)  // if set, receives the data instead of fetchResult.data
	dally       time.Duration // after the final ACK, re-ACK until this long quiet; 0 means 50 ms
}

// fetch runs a complete RFC 7440 download like a careful firmware client:
// ACK after every window of in-order blocks and after the last, ACK the last
// in-order block once per gap, re-ACK on timeout.
func (c *testClient) fetch(name string, fo fetchOpts, opts ...Option) (fetchResult, error) {
	var res fetchResult
	if fo.window == 0 {
		fo.window = 1
	}
	if fo.timeout == 0 {
		fo.timeout = 300 * time.Millisecond
	}
	if fo.deadline == 0 {
		fo.deadline = 60 * time.Second
	}
	if fo.dally == 0 {
		fo.dally = 50 * time.Millisecond
	}
	blksize := 512
	end := time.Now().Add(fo.deadline)
	c.rrq(name, "octet", opts...)
	var got int64 // blocks received in order
	lastAck := int64(-1)
	gapAcked := int64(-1)
	send := func(b int64) {
		for i := 0; i <= fo.dupAcks; i++ {
			c.ack(uint16(b))
		}
		lastAck = b
	}
	idle := 0
	for time.Now().Before(end) {
		p, from, ok := c.recv(fo.timeout)
		if !ok {
			idle++
			if idle > 20 {
				return res, errors.New("client: server went silent")
			}
			if !c.tid.IsValid() {
				c.rrq(name, "octet", opts...)
			} else if got > 0 || lastAck >= 0 {
				send(got)
			}
			continue
		}
		idle = 0
		if c.tid.IsValid() && from != c.tid {
			continue
		}
		switch p.op {
		case OpOACK:
			if got > 0 {
				continue
			}
			c.tid = from
			res.oack = p.options
			blksize, fo.window = 512, 1 // what the OACK does not grant is not in force
			for _, o := range p.options {
				switch lower(o.Name) {
				case "blksize":
					blksize, _ = strconv.Atoi(o.Value)
				case "windowsize":
					fo.window, _ = strconv.Atoi(o.Value)
				}
			}
			send(0)
		case OpDATA:
			c.tid = from
			res.dataPkts++
			k := got + int64(uint16(p.block-uint16(got))) // absolute number
			if k != got+1 {
				if k <= got {
					res.dupData++
				} else if gapAcked != got || fo.edk2 {
					gapAcked = got
					send(got) // ACK the last in-order block once per gap
				}
				continue
			}
			if fo.sink != nil {
				fo.sink(p.data)
			} else {
				res.data = append(res.data, p.data...)
			}
			got = k
			if len(p.data) < blksize {
				send(got)
				// Dally briefly: re-ACK a retransmitted final block.
				for {
					q, _, ok := c.recv(fo.dally)
					if !ok {
						return res, nil
					}
					if q.op == OpDATA {
						res.dataPkts++
						res.dupData++
						send(got)
					}
				}
			}
			if fo.limitBlocks > 0 && got >= fo.limitBlocks {
				return res, nil
			}
			if got-lastAck >= int64(fo.window) { // RFC 7440: a window since the last ACK
				send(got)
			}
		case OpERROR:
			return res, &Error{Code: p.code, Message: p.msg}
		}
	}
	return res, fmt.Errorf("client: deadline after %d blocks", got)
}

// startServer serves h on a loopback socket and returns its address.
func startServer(t testing.TB, s *Server, network string) netip.AddrPort {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "udp6" {
		addr = "[::1]:0"
	}
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(pc) }()
	t.Cleanup(func() {
		// Tests may leave abandoned transfers behind: cut them short.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return addrPortOf(pc.LocalAddr())
}

var _ = binary.BigEndian
