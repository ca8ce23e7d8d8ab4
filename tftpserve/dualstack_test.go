package tftpserve

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"
)

// TestDualStackWildcard: one socket on [::]:port (what ":69" gives) serves
// IPv4 and IPv6 clients, and each transfer answers from the address the
// request was sent to (learnt from IP_PKTINFO / IPV6_PKTINFO).
func TestDualStackWildcard(t *testing.T) {
	data := randBytes(50000, 5)
	for _, mode := range []struct {
		single, batched bool
		window          int
	}{{false, false, 8}, {true, false, 8}, {true, true, 1}} {
		single := mode.single
		t.Run(fmt.Sprintf("single-port=%v/batched=%v", single, mode.batched), func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "[::]:0")
			if err != nil {
				t.Skip(err)
			}
			srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), SinglePort: single, BatchedLockstep: mode.batched}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(pc) }()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				srv.Shutdown(ctx)
				<-errc
			}()
			port := addrPortOf(pc.LocalAddr()).Port()
			for _, a := range []string{"127.0.0.1", "::1", "127.0.0.2"} {
				server := netip.AddrPortFrom(netip.MustParseAddr(a), port)
				c := newTestClient(t, server)
				win := fmt.Sprint(mode.window)
				res, err := c.fetch("f", fetchOpts{window: mode.window}, Option{"blksize", "1468"}, Option{"windowsize", win})
				if err != nil {
					t.Fatalf("%s: %v", a, err)
				}
				if !bytes.Equal(res.data, data) {
					t.Fatalf("%s: content differs", a)
				}
				if c.tid.Addr() != server.Addr() {
					t.Fatalf("request to %s answered from %s", server, c.tid)
				}
			}
		})
	}
}
