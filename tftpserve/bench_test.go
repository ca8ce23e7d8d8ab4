package tftpserve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	pintftp "github.com/pin/tftp/v3"
)

// startPin serves data with pin/tftp v3.2.0 on loopback (the baseline).
func startPin(b *testing.B, data []byte) netip.AddrPort {
	s := pintftp.NewServer(func(name string, rf io.ReaderFrom) error {
		rf.(pintftp.OutgoingTransfer).SetSize(int64(len(data)))
		_, err := rf.ReadFrom(bytes.NewReader(data))
		return err
	}, nil)
	s.SetTimeout(time.Second)
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(pc)
	b.Cleanup(s.Shutdown)
	return addrPortOf(pc.LocalAddr())
}

// BenchmarkTransfer downloads a 4 MiB file over loopback with the same Go
// client from tftpserve and from pin/tftp (which has no windowsize: its
// rows are lock-step whatever is asked).
func BenchmarkTransfer(b *testing.B) {
	data := randBytes(4<<20, 1)
	for _, server := range []string{"tftpserve", "pin"} {
		for _, tc := range []struct {
			bs, win int
		}{{512, 1}, {1468, 1}, {1468, 4}, {1468, 16}, {1468, 64}, {8192, 16}} {
			b.Run(fmt.Sprintf("%s/blksize%d/window%d", server, tc.bs, tc.win), func(b *testing.B) {
				var addr netip.AddrPort
				if server == "pin" {
					addr = startPin(b, data)
				} else {
					addr = startServer(b, &Server{Handler: ContentFunc(func(*Request) ([]byte, error) { return data, nil })}, "udp4")
				}
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					c := newTestClient(b, addr)
					res, err := c.fetch("f", fetchOpts{window: tc.win, timeout: time.Second},
						Option{"blksize", strconv.Itoa(tc.bs)}, Option{"windowsize", strconv.Itoa(tc.win)}, Option{"tsize", "0"})
					if err != nil || len(res.data) != len(data) {
						b.Fatalf("%v (%d bytes)", err, len(res.data))
					}
					c.pc.Close()
				}
			})
		}
	}
}

// BenchmarkConcurrentClients: 16 clients at once, blksize 1468, window 16.
func BenchmarkConcurrentClients(b *testing.B) {
	data := randBytes(1<<20, 2)
	srv := &Server{Handler: NewCache(fstest.MapFS{"f": {Data: data}})}
	addr := startServer(b, srv, "udp4")
	b.SetBytes(int64(len(data)) * 16)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		errs := make(chan error, 16)
		for j := 0; j < 16; j++ {
			go func() {
				c := newTestClient(b, addr)
				defer c.pc.Close()
				res, err := c.fetch("f", fetchOpts{window: 16, timeout: time.Second}, Option{"blksize", "1468"}, Option{"windowsize", "16"})
				if err == nil && len(res.data) != len(data) {
					err = fmt.Errorf("%d bytes", len(res.data))
				}
				errs <- err
			}()
		}
		for j := 0; j < 16; j++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkParseRRQ(b *testing.B) {
	pkt := appendRequest(nil, OpRRQ, "boot/x86_64/ipxe.efi", "octet", Option{"tsize", "0"}, Option{"blksize", "1468"}, Option{"windowsize", "4"})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, err := parsePacket(pkt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := negotiate(p.options, Limits{BlockSize: 1468, WindowSize: 64, MaxTimeout: 255, Retries: 5}, "octet"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendWindow measures the server's send path alone: one window of
// full 1468-byte blocks per op from a transfer socket to a loopback sink
// that drains and counts, as UDP GSO messages (gso=on) and as one
// sendmmsg of datagrams (gso=off, what DisableGSO and kernels before 4.18
// get).
func BenchmarkSendWindow(b *testing.B) {
	for _, win := range []int{16, 64} {
		for _, gso := range []bool{true, false} {
			b.Run(fmt.Sprintf("window%d/gso=%v", win, gso), func(b *testing.B) {
				sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					b.Fatal(err)
				}
				defer sink.Close()
				_ = sink.SetReadBuffer(4 << 20)
				go func() {
					buf := make([]byte, 2048)
					for {
						if _, err := sink.Read(buf); err != nil {
							return
						}
					}
				}()
				pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				l := newSockLink(context.Background(), pc, addrPortOf(sink.LocalAddr()))
				defer l.close()
				if gso && !gsoAvailable(l.udp) {
					b.Skip("kernel without UDP_SEGMENT")
				}
				l.gso = gso
				pkts := make([][]byte, win)
				for i := range pkts {
					pkts[i] = appendDataHeader(make([]byte, 0, 4+1468), uint16(i+1))[:4+1468]
				}
				b.SetBytes(int64(win * 1468))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := l.sendBatch(pkts); err != nil {
						b.Fatal(err)
					}
				}
				if gso && !l.gso {
					b.Fatal("the kernel refused GSO")
				}
			})
		}
	}
}
