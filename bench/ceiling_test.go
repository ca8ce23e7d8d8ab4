//go:build bench

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/udpgro"
	"golang.org/x/net/ipv4"
)

// sinkMode is how the sink reads.
type sinkMode int

const (
	sinkRead  sinkMode = iota // one datagram per system call
	sinkBatch                 // recvmmsg, up to a window per call
	sinkGRO                   // UDP_GRO: a GSO message in one call, whole
)

func (m sinkMode) String() string {
	return [...]string{"Go sink, one datagram per read", "Go sink, recvmmsg", "Go sink with UDP_GRO"}[m]
}

// sinkResult is one sink download.
type sinkResult struct {
	bytes int64
	dur   time.Duration // first DATA to last
	reads int           // datagrams read (a GSO message counts once with gro)
}

// tftpSink downloads name (size bytes) from server with windowsize win and
// blksize 1468 from a socket in ns, keeping nothing: it counts the bytes of
// in-order blocks, ACKs each window and the last block, ACKs the last
// in-order block once per gap (RFC 7440), re-ACKs after 100 ms of silence.
// It reads as mode says: one datagram per call like the physical-limit
// sink, a window per recvmmsg, or with UDP_GRO, where a GSO message arrives
// whole and is read in one call.
func tftpSink(ns *netlab.NS, server netip.AddrPort, name string, size int64, win int, mode sinkMode) (sinkResult, error) {
	var res sinkResult
	pc, err := ns.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer pc.Close()
	u := pc.(*net.UDPConn)
	_ = u.SetReadBuffer(4 << 20)
	if mode == sinkGRO {
		if err := udpgro.Enable(u); err != nil {
			return res, err
		}
	}
	var rrq []byte
	rrq = binary.BigEndian.AppendUint16(rrq, 1)
	for _, s := range []string{name, "octet", "blksize", strconv.Itoa(blksize), "windowsize", strconv.Itoa(win)} {
		rrq = append(append(rrq, s...), 0)
	}
	if _, err := u.WriteToUDPAddrPort(rrq, server); err != nil {
		return res, err
	}
	buf, oob := make([]byte, 1<<17), make([]byte, 128)
	var tid netip.AddrPort
	var next uint64 = 1 // next block wanted, not wrapped
	nacked := uint64(0) // the gap position last ACKed
	ack := make([]byte, 4)
	sendAck := func() error {
		binary.BigEndian.PutUint16(ack, 4)
		binary.BigEndian.PutUint16(ack[2:], uint16(next-1))
		_, err := u.WriteToUDPAddrPort(ack, tid)
		return err
	}
	var start time.Time
	// handle takes one read: a datagram, or a GSO message of seg-byte
	// packets.
	handle := func(b []byte, seg int, from netip.AddrPort) (done bool, err error) {
		if tid.IsValid() && from != tid {
			return false, nil
		}
		res.reads++
		doAck := false
		for off := 0; off < len(b); off += seg {
			p := b[off:min(off+seg, len(b))]
			if len(p) < 4 {
				return false, fmt.Errorf("runt packet of %d bytes", len(p))
			}
			switch binary.BigEndian.Uint16(p) {
			case 6: // OACK
				tid, next, doAck = from, 1, true
			case 5:
				return false, fmt.Errorf("server error %d: %s", binary.BigEndian.Uint16(p[2:]), p[4:])
			case 3:
				tid = from
				if start.IsZero() {
					start = time.Now()
				}
				if binary.BigEndian.Uint16(p[2:]) != uint16(next) {
					if nacked != next {
						nacked, doAck = next, true
					}
					continue
				}
				res.bytes += int64(len(p) - 4)
				next++
				if len(p)-4 < blksize {
					done = true
				}
				if (next-1)%uint64(win) == 0 || done {
					doAck = true
				}
			}
		}
		if doAck {
			if err := sendAck(); err != nil {
				return false, err
			}
		}
		return done, nil
	}
	var batch *ipv4.PacketConn
	var msgs []ipv4.Message
	if mode == sinkBatch {
		batch = ipv4.NewPacketConn(u)
		msgs = make([]ipv4.Message, win)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 2048)}
		}
	}
	end := time.Now().Add(2 * time.Minute)
	for time.Now().Before(end) {
		_ = u.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		done := false
		var err error
		if mode == sinkBatch {
			var n int
			n, err = batch.ReadBatch(msgs, 0)
			for i := 0; i < n && err == nil && !done; i++ {
				m := msgs[i]
				done, err = handle(m.Buffers[0][:m.N], m.N, m.Addr.(*net.UDPAddr).AddrPort())
			}
		} else {
			var n, oobn int
			var from netip.AddrPort
			n, oobn, _, from, err = u.ReadMsgUDPAddrPort(buf, oob)
			if err == nil {
				seg := n
				if s := udpgro.SegmentSize(oob[:oobn]); mode == sinkGRO && s > 0 {
					seg = s
				}
				done, err = handle(buf[:n], seg, from)
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if tid.IsValid() {
				if err := sendAck(); err != nil {
					return res, err
				}
			}
			continue
		}
		if err != nil {
			return res, err
		}
		if done {
			res.dur = time.Since(start)
			if res.bytes != size {
				return res, fmt.Errorf("got %d bytes, want %d", res.bytes, size)
			}
			return res, nil
		}
	}
	return res, fmt.Errorf("deadline after %d bytes", res.bytes)
}

// TestSenderCeiling measures what pxekit's sender puts through namespace
// loopback when the receiver costs nearly nothing: tftpd serves a file to
// a Go sink that counts and ACKs, at windowsize 64. The physical limit's
// sendmmsg row is measured again in the same turns, so the ratio is within
// one run.
func TestSenderCeiling(t *testing.T) {
	l := newLab(t)
	var pxekit tftpServer
	for _, s := range availableServers(t) {
		if s.name == "pxekit" {
			pxekit = s
		}
	}
	if pxekit.argv == nil {
		t.Fatal("pxekit's tftpd not built")
	}
	noGSO := pxekit
	noGSO.name = "pxekit -no-gso"
	noGSO.argv = func(dir string) []string { return append(pxekit.argv(dir), "-no-gso") }
	mib := envInt("BENCH_CEILING_MIB", 128)
	size := int64(mib) << 20
	makeFile(t, l.dir, "ceiling", int(size))
	loop := &lab{pair: &netlab.Pair{Server: l.pair.Server, Client: l.pair.Server}, dir: l.dir, out: l.out}
	const win = 64
	type row struct {
		name string
		s    series
		cpu  []time.Duration
	}
	rows := map[string]*row{}
	order := []string{}
	get := func(name string) *row {
		r := rows[name]
		if r == nil {
			r = &row{name: name, s: series{bytes: size}}
			rows[name] = r
			order = append(order, name)
		}
		return r
	}
	runs := envInt("BENCH_CEILING_RUNS", 3)
	for run := 0; run < runs; run++ {
		// The limits table's sendmmsg row, same path, same turn.
		mbps := blast(t, l.pair.Server, l.pair.Server, "127.0.0.1:7003", netip.MustParseAddrPort("127.0.0.1:7003"), true, 2*time.Second)
		r := get("Go sender, sendmmsg 32/call → Go sink (limits table row)")
		r.s.add(time.Duration(float64(size)/mbps*float64(time.Second)), nil)
		for _, srv := range []tftpServer{pxekit, noGSO} {
			for _, mode := range []sinkMode{sinkRead, sinkBatch, sinkGRO} {
				r := get(fmt.Sprintf("%s → %s", srv.name, mode))
				p, err := loop.start(t, srv)
				if err != nil {
					t.Error(err)
					continue
				}
				sampler := startNSSampler(l.pair.Server.Name)
				res, err := tftpSink(l.pair.Server, netip.MustParseAddrPort("127.0.0.1:69"), "ceiling", size, win, mode)
				cpu, _ := sampler.stop()
				p.stop()
				if err != nil {
					t.Errorf("%s run %d: %v", r.name, run, err)
				}
				r.s.add(res.dur, err)
				r.cpu = append(r.cpu, cpu)
			}
		}
	}
	section := fmt.Sprintf("Physical limit: server-side sender ceiling (namespace loopback, %d MiB, windowsize %d, blksize %d)", mib, win, blksize)
	results.printf(section, "| sender → receiver | median MB/s | runs (MB/s) | server CPU ms/MB | ratio to the sendmmsg row |\n|---|---|---|---|---|\n")
	base := rows[order[0]].s.mbps()
	for _, name := range order {
		r := rows[name]
		var runsMB []string
		for _, x := range r.s.samples {
			if x.err != nil || x.dur == 0 {
				runsMB = append(runsMB, "FAIL")
				continue
			}
			runsMB = append(runsMB, fmt.Sprintf("%.0f", float64(size)/x.dur.Seconds()/1e6))
		}
		cpu := "–"
		if len(r.cpu) > 0 {
			var c time.Duration
			for _, x := range r.cpu {
				c += x
			}
			cpu = fmt.Sprintf("%.2f", float64((c/time.Duration(len(r.cpu))).Microseconds())/1000/(float64(size)/1e6))
		}
		results.printf(section, "| %s | %.0f | %s | %s | %.2f× |\n", name, r.s.mbps(), strings.Join(runsMB, " "), cpu, r.s.mbps()/base)
	}
	results.printf(section, "\nThe TFTP rows include the protocol: one ACK round trip per window of 64 blocks. Server CPU\nis tftpd's user+system time (the sink runs in the test process, outside the count).\nTarget (issue 19): pxekit's sender ≥ 1.5× the sendmmsg row.\n")
	fmt.Println(results.sections[section].String())
}
