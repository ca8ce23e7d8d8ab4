// Command steploop is a benchmark probe, not a TFTP server: it measures
// what the one-loop design of issue 19 (one socket, recvmmsg for the ACKs
// of every transfer, one sendmmsg for their next blocks) would cost in a
// lock-step boot storm. It answers read requests from port 69 with files
// of -root held in memory, grants blksize, and has no retransmission, no
// timeouts and no limits: it is only fit for the loss-free veth of the
// storm benchmark (bench/tftp_test.go, BENCH_STORM_PROBE=1).
//
//	steploop -root DIR
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/net/ipv4"
)

type xfer struct {
	sent, last int64
	bs         int
	hdr        [4]byte
	oack       []byte
	data       []byte
}

func main() {
	root := flag.String("root", "", "directory whose files are served (read into memory at the first request)")
	flag.Parse()
	if *root == "" {
		log.Fatal("steploop: -root is required")
	}
	files := map[string][]byte{}
	pc, err := net.ListenPacket("udp4", ":69")
	if err != nil {
		log.Fatal(err)
	}
	p := ipv4.NewPacketConn(pc)
	in := make([]ipv4.Message, 64)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	out := make([]ipv4.Message, 0, 64)
	xs := map[netip.AddrPort]*xfer{}
	block := func(x *xfer, to net.Addr) ipv4.Message {
		binary.BigEndian.PutUint16(x.hdr[0:], 3)
		binary.BigEndian.PutUint16(x.hdr[2:], uint16(x.sent))
		off := (x.sent - 1) * int64(x.bs)
		end := min(off+int64(x.bs), int64(len(x.data)))
		return ipv4.Message{Buffers: [][]byte{x.hdr[:], x.data[off:end]}, Addr: to}
	}
	for {
		n, err := p.ReadBatch(in, 0)
		if err != nil {
			log.Fatal(err)
		}
		out = out[:0]
		for i := range n {
			b := in[i].Buffers[0][:in[i].N]
			from := in[i].Addr.(*net.UDPAddr).AddrPort()
			if len(b) < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(b) {
			case 1: // RRQ: name, mode, options
				f := bytes.Split(b[2:len(b)-1], []byte{0})
				name := filepath.Base(string(f[0]))
				data, ok := files[name]
				if !ok {
					if data, err = os.ReadFile(filepath.Join(*root, name)); err != nil {
						out = append(out, ipv4.Message{Buffers: [][]byte{append([]byte{0, 5, 0, 1}, "file not found\x00"...)}, Addr: in[i].Addr})
						continue
					}
					files[name] = data
				}
				x := &xfer{bs: 512, data: data}
				for j := 2; j+1 < len(f); j += 2 {
					if string(bytes.ToLower(f[j])) == "blksize" {
						x.bs, _ = strconv.Atoi(string(f[j+1]))
						x.oack = append([]byte{0, 6}, append([]byte("blksize\x00"), append(f[j+1], 0)...)...)
					}
				}
				if x.bs < 8 || x.bs > 1468 {
					x.bs, x.oack = 512, nil
				}
				x.last = int64(len(data))/int64(x.bs) + 1
				xs[from] = x
				if x.oack != nil {
					out = append(out, ipv4.Message{Buffers: [][]byte{x.oack}, Addr: in[i].Addr})
				} else {
					x.sent = 1
					out = append(out, block(x, in[i].Addr))
				}
			case 4: // ACK
				x := xs[from]
				if x == nil || binary.BigEndian.Uint16(b[2:]) != uint16(x.sent) {
					continue
				}
				if x.sent == x.last {
					delete(xs, from)
					continue
				}
				x.sent++
				out = append(out, block(x, in[i].Addr))
			case 5:
				delete(xs, from)
			}
		}
		for len(out) > 0 {
			k, err := p.WriteBatch(out, 0)
			if err != nil {
				log.Print(err)
				break
			}
			out = out[k:]
		}
	}
}
