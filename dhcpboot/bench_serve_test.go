package dhcpboot

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// memConn is a net.PacketConn that hands out the given datagrams in turn
// (copied into the reader's buffer, from a fixed relay address) until n
// have been read, then fails as a closed socket does; writes are counted
// and dropped. It measures a server's whole path for one datagram (serve
// loop, decode, classify, decide, reply, encode, send) without the system
// calls.
type memConn struct {
	dgrams [][]byte
	n      int
	read   int
	sent   atomic.Int64
	peer   *net.UDPAddr
}

var errMemConnDone = errors.New("memConn: done")

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.read >= c.n {
		return 0, nil, errMemConnDone
	}
	d := c.dgrams[c.read%len(c.dgrams)]
	c.read++
	return copy(b, d), c.peer, nil
}

func (c *memConn) WriteTo(b []byte, _ net.Addr) (int, error) { c.sent.Add(1); return len(b), nil }
func (c *memConn) Close() error                              { return nil }
func (c *memConn) LocalAddr() net.Addr                       { return &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: 67} }
func (c *memConn) SetDeadline(time.Time) error               { return nil }
func (c *memConn) SetReadDeadline(time.Time) error           { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error          { return nil }

// serveMem runs serve over b.N datagrams of c and checks that every one
// was answered.
func serveMem(b *testing.B, c *memConn, serve func(net.PacketConn) error) {
	c.n = b.N
	b.ReportAllocs()
	b.ResetTimer()
	if err := serve(c); err == nil || !errors.Is(err, errMemConnDone) {
		b.Fatalf("serve returned %v, want the end of the datagrams", err)
	}
	b.StopTimer()
	if got := c.sent.Load(); got != int64(b.N) {
		b.Fatalf("%d replies to %d datagrams", got, b.N)
	}
}

// BenchmarkProxyServe measures ProxyServer's whole path for one relayed
// PXE DISCOVER (as perfdhcp sends them) in process: allocations per reply.
func BenchmarkProxyServe(b *testing.B) {
	policy, _ := DefaultPolicy(DefaultConfig{})
	disc := captureRequest(b, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	disc.GatewayIPAddr = net.IPv4(10, 99, 0, 2).To4()
	c := &memConn{dgrams: [][]byte{disc.ToBytes()}, peer: &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 67}}
	s := &ProxyServer{Policy: policy, ServerIP: netip.MustParseAddr("10.99.0.1")}
	serveMem(b, c, s.Serve)
}

// BenchmarkLabServe measures LabServer4's whole path (no lease file) for
// DISCOVERs and REQUESTs of 200 PXE clients in turn: allocations per reply.
func BenchmarkLabServe(b *testing.B) {
	policy, _ := DefaultPolicy(DefaultConfig{})
	server := netip.MustParseAddr("10.99.0.1")
	newServer := func() *LabServer4 {
		return &LabServer4{Policy: policy, ServerIP: server,
			Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), RangeStart: netip.MustParseAddr("10.99.0.10"),
				RangeEnd: netip.MustParseAddr("10.99.0.250")}}}
	}
	warm := newServer()
	base := captureRequest(b, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	var dgrams [][]byte
	for i := range 200 {
		d := *base
		d.Options = dhcpv4.Options{}
		for k, v := range base.Options {
			d.Options[k] = v
		}
		d.ClientHWAddr = net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}
		d.GatewayIPAddr = net.IPv4(10, 99, 0, 2).To4()
		x := warm.Reply(&d, Arrival{})
		if x.Reply == nil {
			b.Fatalf("no offer: %s", x.NoReply)
		}
		r := d
		r.Options = dhcpv4.Options{}
		for k, v := range d.Options {
			r.Options[k] = v
		}
		r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		r.UpdateOption(dhcpv4.OptRequestedIPAddress(x.Reply.YourIPAddr))
		r.UpdateOption(dhcpv4.OptServerIdentifier(net.IP(server.AsSlice())))
		dgrams = append(dgrams, d.ToBytes(), r.ToBytes())
	}
	c := &memConn{dgrams: dgrams, peer: &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 67}}
	serveMem(b, c, newServer().Serve)
}
