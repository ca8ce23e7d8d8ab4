package tftpserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	pintftp "github.com/pin/tftp/v3"
	"github.com/pxekit/pxekit/internal/faultnet"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/udpgro"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

func TestSegmentRun(t *testing.T) {
	sizes := func(ns ...int) [][]byte {
		var p [][]byte
		for _, n := range ns {
			p = append(p, make([]byte, n))
		}
		return p
	}
	repeat := func(n, size int, tail ...int) []int {
		var s []int
		for range n {
			s = append(s, size)
		}
		return append(s, tail...)
	}
	for _, tc := range []struct {
		name string
		pkts [][]byte
		want []int // run ends from index 0 on
	}{
		{"one", sizes(1472), []int{1}},
		{"equal", sizes(repeat(16, 1472)...), []int{16}},
		{"short last joins", sizes(repeat(16, 1472, 100)...), []int{17}},
		{"short ends the run", sizes(1472, 1472, 100, 1472), []int{3, 4}},
		{"larger starts a run", sizes(100, 1472, 1472), []int{1, 3}},
		// 44 × 1472 = 64768 ≤ 65507 < 45 × 1472.
		{"64 KiB bound", sizes(repeat(64, 1472)...), []int{44, 64}},
		{"short tail within 64 KiB", sizes(repeat(44, 1472, 4)...), []int{45}},
		{"short tail beyond 64 KiB", sizes(repeat(44, 1472, 800)...), []int{44, 45}},
		// blksize 8: 12-byte packets, UDP_MAX_SEGMENTS per message.
		{"segment bound", sizes(repeat(130, 12, 5)...), []int{64, 128, 131}},
		{"blksize 65464", sizes(65468, 65468, 20), []int{1, 3}},
		{"blksize 65464, longer tail", sizes(65468, 65468, 40), []int{1, 2, 3}},
		{"total bound at the tail", sizes(32000, 32000, 2000), []int{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for i := 0; i < len(tc.pkts); {
				i = segmentRun(tc.pkts, i)
				got = append(got, i)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("segmentRun ends = %v, want %v", got, tc.want)
			}
		})
	}
}

// groClient downloads over loopback with UDP_GRO on its socket, so that a
// UDP GSO message from the server arrives whole, with its segment size:
// it sees how the server sent each window.
type groClient struct {
	t  *testing.T
	pc *net.UDPConn
}

// groResult is what a groClient download saw.
type groResult struct {
	data      []byte
	reads     int // datagrams read (a GSO message counts once)
	segmented int // reads that carried more than one DATA packet
	maxSegs   int // most DATA packets in one read
	// windows counts windows begun (a DATA packet carrying the first block
	// of a window), leadAlone those whose first block came in a read of
	// its own.
	windows, leadAlone int
}

func newGROClient(t *testing.T) *groClient {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if err := udpgro.Enable(pc); err != nil {
		t.Skipf("kernel without UDP_GRO: %v", err)
	}
	_ = pc.SetReadBuffer(4 << 20)
	return &groClient{t: t, pc: pc}
}

// fetch downloads name with blksize bs and windowsize win from server,
// ACKing each window (and the last block), re-ACKing after 500 ms of
// silence, for at most 30 s.
func (c *groClient) fetch(server netip.AddrPort, name string, bs, win int) (groResult, error) {
	var res groResult
	rrq := appendRequest(nil, OpRRQ, name, "octet", Option{"blksize", strconv.Itoa(bs)}, Option{"windowsize", strconv.Itoa(win)})
	if _, err := c.pc.WriteToUDPAddrPort(rrq, server); err != nil {
		return res, err
	}
	buf, oob := make([]byte, 1<<17), make([]byte, 256)
	var tid netip.AddrPort
	var next uint64 = 1 // next block wanted (not wrapped)
	ack := func() error {
		_, err := c.pc.WriteToUDPAddrPort(appendACK(nil, uint16(next-1)), tid)
		return err
	}
	end := time.Now().Add(30 * time.Second)
	for time.Now().Before(end) {
		_ = c.pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, oobn, _, from, err := c.pc.ReadMsgUDPAddrPort(buf, oob)
		if errors.Is(err, errDeadline) {
			if tid.IsValid() {
				if err := ack(); err != nil {
					return res, err
				}
			}
			continue
		}
		if err != nil {
			return res, err
		}
		if tid.IsValid() && from != tid {
			continue
		}
		res.reads++
		seg := udpgro.SegmentSize(oob[:oobn])
		if seg == 0 || seg > n {
			seg = n
		}
		segs := (n + seg - 1) / seg
		if segs > 1 {
			res.segmented++
		}
		res.maxSegs = max(res.maxSegs, segs)
		last, done := false, false
		for off := 0; off < n; off += seg {
			p, err := parsePacket(buf[off:min(off+seg, n)])
			if err != nil {
				return res, fmt.Errorf("segment at %d of %d: %v", off, n, err)
			}
			switch p.op {
			case OpOACK:
				tid = from
				next = 1
				last = true
			case OpERROR:
				return res, &Error{Code: p.code, Message: p.msg}
			case OpDATA:
				tid = from
				if p.block != uint16(next) {
					continue // a retransmission, or out of order: the timer re-ACKs
				}
				if (next-1)%uint64(win) == 0 {
					res.windows++
					if segs == 1 {
						res.leadAlone++
					}
				}
				res.data = append(res.data, p.data...)
				next++
				if len(p.data) < bs {
					done = true
				}
				if (next-1)%uint64(win) == 0 || done {
					last = true
				}
			}
		}
		if last {
			if err := ack(); err != nil {
				return res, err
			}
		}
		if done {
			return res, nil
		}
	}
	return res, fmt.Errorf("deadline after %d bytes", len(res.data))
}

// noChecksumListen opens UDP sockets with SO_NO_CHECK, on which Linux
// refuses UDP GSO messages (EINVAL) but sends plain datagrams.
func noChecksumListen(network, address string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setNoCheck(fd) }); err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), network, address)
}

// TestWindowsLeaveSegmented: with GSO (the default) the first block of
// every window reaches a UDP_GRO client alone (see segmenter.write) and
// the rest of the window as one message per 64 KiB (or 64 blocks), the
// short last block included; with DisableGSO, or on a socket where the
// kernel refuses GSO, every block comes alone. The content is byte-exact
// every way, at blksize 8, 1468 and 65464.
func TestWindowsLeaveSegmented(t *testing.T) {
	if !gsoAvailable(mustUDP(t)) {
		t.Skip("kernel without UDP_SEGMENT (Linux < 4.18)")
	}
	files := fstest.MapFS{}
	sizes := map[int]int{8: 8*700 + 3, 1468: 1468*150 + 77, 65464: 65464*3 + 10}
	for bs, n := range sizes {
		files["f"+strconv.Itoa(bs)] = &fstest.MapFile{Data: randBytes(n, int64(bs))}
	}
	for _, mode := range []string{"gso", "disabled", "refused", "single-port", "single-port-refused"} {
		for _, tc := range []struct{ bs, win, wantMax int }{
			{8, 64, 63}, {1468, 16, 15}, {1468, 64, 44},
			// The final 14-byte block rides with the block before it.
			{65464, 4, 2},
		} {
			t.Run(fmt.Sprintf("%s/blksize%d/window%d", mode, tc.bs, tc.win), func(t *testing.T) {
				srv := &Server{Handler: FS(files), MaxWindowBytes: 1 << 20, SinglePort: mode == "single-port" || mode == "single-port-refused"}
				listen := net.ListenPacket
				switch mode {
				case "disabled":
					srv.DisableGSO = true
				case "refused":
					srv.ListenPacket = noChecksumListen
				case "single-port-refused":
					listen = noChecksumListen
				}
				pc, err := listen("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- srv.Serve(pc) }()
				defer func() {
					srv.Close()
					<-done
				}()
				name := "f" + strconv.Itoa(tc.bs)
				res, err := newGROClient(t).fetch(addrPortOf(pc.LocalAddr()), name, tc.bs, tc.win)
				if err != nil {
					t.Fatalf("fetch %s: %v (%d bytes)", name, err, len(res.data))
				}
				if !bytes.Equal(res.data, files[name].Data) {
					t.Fatalf("fetch %s: got %d bytes, want %d, content differs", name, len(res.data), len(files[name].Data))
				}
				want := tc.wantMax
				if mode != "gso" && mode != "single-port" {
					want = 1
				}
				if res.maxSegs != want {
					t.Errorf("most blocks in one datagram read = %d (%d reads, %d segmented), want %d", res.maxSegs, res.reads, res.segmented, want)
				}
				if res.windows == 0 || res.leadAlone != res.windows {
					t.Errorf("windows whose first block came alone = %d of %d, want all", res.leadAlone, res.windows)
				}
			})
		}
	}
}

func mustUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestGSORefusalRemembered: a per-transfer socket whose kernel refuses the
// segmented send falls back to sendmmsg for that window and stays there.
func TestGSORefusalRemembered(t *testing.T) {
	pc, err := noChecksumListen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := mustUDP(t)
	_ = sink.SetReadBuffer(1 << 20)
	l := newSockLink(context.Background(), pc, addrPortOf(sink.LocalAddr()))
	defer l.close()
	if !gsoAvailable(l.udp) {
		t.Skip("kernel without UDP_SEGMENT")
	}
	l.gso = true
	var pkts [][]byte
	for i := range 5 {
		pkts = append(pkts, bytes.Repeat([]byte{byte(i)}, 600))
	}
	for round := range 2 {
		if err := l.sendBatch(pkts); err != nil {
			t.Fatalf("round %d: sendBatch: %v", round, err)
		}
		if l.gso {
			t.Fatalf("round %d: GSO still on after the kernel refused it", round)
		}
		buf := make([]byte, 2048)
		for i, want := range pkts {
			_ = sink.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := sink.ReadFrom(buf)
			if err != nil {
				t.Fatalf("round %d packet %d: %v", round, i, err)
			}
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("round %d packet %d: got %d bytes of %d, want %d of %d", round, i, n, buf[0], len(want), want[0])
			}
		}
	}
}

// failingBatch refuses every batch after the first ok messages.
type failingBatch struct {
	ok   int
	sent []ipv4.Message
}

func (f *failingBatch) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	if f.ok == 0 {
		return -1, syscall.EIO
	}
	n := min(f.ok, len(ms))
	f.ok -= n
	f.sent = append(f.sent, ms[:n]...)
	return n, nil
}

// TestSegmenterCountsSentPackets: when the kernel takes some messages of a
// window and refuses the next, write reports exactly the packets that went,
// so the fallback sends the rest once.
func TestSegmenterCountsSentPackets(t *testing.T) {
	var pkts [][]byte
	for range 50 {
		pkts = append(pkts, make([]byte, 1472))
	}
	pkts = append(pkts, make([]byte, 10))
	var g segmenter
	fb := &failingBatch{ok: 2}
	n, err := g.write(fb, pkts, &net.UDPAddr{}, nil)
	if err == nil || n != 45 {
		t.Fatalf("write = %d, %v; want 45 packets (the lead packet and the first run) and an error", n, err)
	}
	fb = &failingBatch{ok: 5}
	n, err = g.write(fb, pkts, &net.UDPAddr{}, []byte{1, 2, 3, 4})
	if err != nil || n != len(pkts) || len(fb.sent) != 3 {
		t.Fatalf("write = %d, %v in %d messages; want %d packets in 3", n, err, len(fb.sent), len(pkts))
	}
	if got := fb.sent[0]; len(got.Buffers) != 1 || !bytes.Equal(got.OOB, []byte{1, 2, 3, 4}) {
		t.Errorf("lead message: %d packets, control data %v; want 1 packet and the source address control message alone", len(got.Buffers), got.OOB)
	}
	if got := fb.sent[1].OOB[:4]; !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Errorf("second message's control data starts %v, want the source address control message first", got)
	}
}

// TestGSOInterop: real clients get every file byte-exact from a server
// with GSO on and with it off: atftp at windowsize 16 and 64 (blksize 8,
// 1468 and 65464; the last block short, empty, or the only one), curl and
// pin/tftp's client in lock-step (which never segments).
func TestGSOInterop(t *testing.T) {
	atftp := netlab.RequireTool(t, "atftp")
	curl := netlab.RequireTool(t, "curl")
	dir := t.TempDir()
	sums := map[string][sha256.Size]byte{}
	for _, n := range []int{5, 8*1000 + 3, 8 * 64 * 4, 1468*300 + 77, 1468 * 128, 65464*3 + 10} {
		name := "g" + strconv.Itoa(n)
		b := randBytes(n, int64(n))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sums[name] = sha256.Sum256(b)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	out := t.TempDir()
	for _, gso := range []bool{true, false} {
		addr := startServer(t, &Server{Handler: d, DisableGSO: !gso}, "udp4")
		host, port := hostPort(addr.String())
		for name := range sums {
			for _, bs := range []int{8, 1468, 65464} {
				for _, win := range []int{16, 64} {
					t.Run(fmt.Sprintf("gso=%v/atftp/blksize%d/window%d/%s", gso, bs, win, name), func(t *testing.T) {
						local := filepath.Join(out, fmt.Sprintf("%v-%d-%d-%s", gso, bs, win, name))
						runClient(t, 60*time.Second, atftp, "--option", "blksize "+strconv.Itoa(bs), "--option", "windowsize "+strconv.Itoa(win),
							"-g", "-r", name, "-l", local, host, port)
						checkFile(t, local, sums[name])
					})
				}
			}
			for _, bs := range []int{1468, 65464} {
				t.Run(fmt.Sprintf("gso=%v/curl/blksize%d/%s", gso, bs, name), func(t *testing.T) {
					local := filepath.Join(out, fmt.Sprintf("%v-curl-%d-%s", gso, bs, name))
					runClient(t, 60*time.Second, curl, "-sS", "--max-time", "50", "--tftp-blksize", strconv.Itoa(bs), "-o", local, "tftp://"+addr.String()+"/"+name)
					checkFile(t, local, sums[name])
				})
			}
			if name == "g"+strconv.Itoa(1468*300+77) {
				// Through a relay that loses 2 % each way (fixed seed): the
				// server resends whole windows (GSO messages) after its
				// timer, and atftp still gets every byte.
				for _, win := range []int{16, 64} {
					t.Run(fmt.Sprintf("gso=%v/atftp-lossy/window%d/%s", gso, win, name), func(t *testing.T) {
						rates := faultnet.Rates{Loss: 0.02}
						relay := relayTo(t, addr, int64(win), rates, rates)
						rhost, rport := hostPort(relay.Addr().String())
						local := filepath.Join(out, fmt.Sprintf("%v-lossy-%d-%s", gso, win, name))
						runClient(t, 90*time.Second, atftp, "--option", "blksize 1468", "--option", "windowsize "+strconv.Itoa(win),
							"-g", "-r", name, "-l", local, rhost, rport)
						checkFile(t, local, sums[name])
						if up, down := relay.Stats(); up.Dropped+down.Dropped == 0 {
							t.Fatal("the relay dropped nothing: no retransmission was tested")
						}
					})
				}
			}
			t.Run(fmt.Sprintf("gso=%v/pin/%s", gso, name), func(t *testing.T) {
				c, err := pintftp.NewClient(addr.String())
				if err != nil {
					t.Fatal(err)
				}
				c.SetBlockSize(1468)
				c.SetTimeout(2 * time.Second)
				wt, err := c.Receive(name, "octet")
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := wt.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				if sha256.Sum256(buf.Bytes()) != sums[name] {
					t.Fatalf("pin client: got %d bytes, sha256 differs", buf.Len())
				}
			})
		}
	}
}

// TestGSOWindowRetransmission: through a relay that loses, duplicates and
// reorders packets (fixed seeds), windows of 16 and 64 blocks sent as GSO
// messages, and sent again whole after a timeout, arrive byte-exact, as
// they do with GSO off; the server did retransmit.
func TestGSOWindowRetransmission(t *testing.T) {
	data := randBytes(1468*700+321, 7)
	for _, gso := range []bool{true, false} {
		for _, win := range []int{16, 64} {
			t.Run(fmt.Sprintf("gso=%v/window%d", gso, win), func(t *testing.T) {
				t.Parallel()
				logs := newInfoLog()
				srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook, Timeout: 500 * time.Millisecond, DisableGSO: !gso}
				addr := startServer(t, srv, "udp4")
				rates := faultnet.Rates{Loss: 0.03, Duplicate: 0.02, Reorder: 0.02}
				relay := relayTo(t, addr, int64(win)*7+3, rates, rates)
				c := newTestClient(t, relay.Addr())
				res, err := c.fetch("f", fetchOpts{window: win, timeout: 200 * time.Millisecond, deadline: 90 * time.Second},
					Option{"blksize", "1468"}, Option{"windowsize", strconv.Itoa(win)}, Option{"tsize", "0"})
				info := logs.next(t)
				if err != nil {
					t.Fatalf("fetch: %v; server: %+v", err, info)
				}
				if !bytes.Equal(res.data, data) {
					t.Fatalf("got %d bytes, want %d, content differs", len(res.data), len(data))
				}
				if info.Retransmits == 0 {
					t.Fatalf("the server retransmitted nothing through a lossy relay: %+v", info)
				}
				t.Logf("%d packets, %d retransmits, window down to %d", info.Packets, info.Retransmits, info.MinWindowSize)
			})
		}
	}
}

// setNoCheck sets SO_NO_CHECK (no UDP checksum on send).
func setNoCheck(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
}
