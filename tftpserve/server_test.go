package tftpserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// infoLog collects TransferInfo reports.
type infoLog struct {
	mu    sync.Mutex
	infos []TransferInfo
	ch    chan TransferInfo
}

func newInfoLog() *infoLog { return &infoLog{ch: make(chan TransferInfo, 1000)} }

func (l *infoLog) hook(i TransferInfo) {
	l.mu.Lock()
	l.infos = append(l.infos, i)
	l.mu.Unlock()
	l.ch <- i
}

func (l *infoLog) next(t testing.TB) TransferInfo {
	t.Helper()
	select {
	case i := <-l.ch:
		return i
	case <-time.After(10 * time.Second):
		t.Fatal("no transfer report")
	}
	return TransferInfo{}
}

func TestTransferSizesAndWindows(t *testing.T) {
	sizes := []int{0, 1, 511, 512, 513, 1468 * 3, 1 << 20}
	files := fstest.MapFS{}
	for _, n := range sizes {
		files["f"+strconv.Itoa(n)] = &fstest.MapFile{Data: randBytes(n, int64(n))}
	}
	for _, network := range []string{"udp4", "udp6"} {
		logs := newInfoLog()
		// A high retransmission floor: a loaded test machine must not cause
		// spurious retransmissions, which the test counts.
		srv := &Server{Handler: FS(files), OnTransfer: logs.hook, MinRetransmit: time.Second, Timeout: 2 * time.Second}
		addr := startServer(t, srv, network)
		for _, n := range sizes {
			for _, tc := range []struct {
				name string
				opts []Option
				win  int
				bs   int
			}{
				{"plain", nil, 1, 512},
				{"blksize1468", []Option{{"blksize", "1468"}, {"tsize", "0"}}, 1, 1468},
				{"win4", []Option{{"blksize", "1468"}, {"windowsize", "4"}}, 4, 1468},
				{"win16-512", []Option{{"BLKSIZE", "512"}, {"WindowSize", "16"}, {"tsize", "0"}}, 16, 512},
				{"blk8", []Option{{"blksize", "8"}}, 1, 8},
			} {
				if tc.bs == 8 && n > 4096 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d/%s", network, n, tc.name), func(t *testing.T) {
					c := newTestClient(t, addr)
					res, err := c.fetch("f"+strconv.Itoa(n), fetchOpts{window: tc.win}, tc.opts...)
					if err != nil {
						t.Fatal(err)
					}
					want := files["f"+strconv.Itoa(n)].Data
					if sha256.Sum256(res.data) != sha256.Sum256(want) {
						t.Fatalf("got %d bytes, want %d (sha256 differs)", len(res.data), len(want))
					}
					if tc.opts == nil && res.oack != nil {
						t.Fatalf("OACK %v sent to a client that asked for no options", res.oack)
					}
					info := logs.next(t)
					if info.Outcome != OutcomeOK || info.Bytes != int64(n) || info.BlockSize != tc.bs || info.WindowSize != tc.win {
						t.Fatalf("info %+v", info)
					}
					if wantPkts := int64(n/tc.bs + 1); info.Packets != wantPkts || info.Retransmits != 0 {
						t.Fatalf("packets %d retransmits %d, want %d and 0", info.Packets, info.Retransmits, wantPkts)
					}
				})
			}
		}
	}
}

func TestOACKContents(t *testing.T) {
	data := randBytes(3000, 1)
	stream := HandlerFunc(func(w ResponseWriter, r *Request) { // size unknown
		_, _ = w.Write(data)
	})
	for _, tc := range []struct {
		name    string
		h       Handler
		opts    []Option
		tune    func(*Request, *Limits)
		maxWin  int
		want    []Option // nil: no OACK
		wantErr ErrorCode
	}{
		{"only asked", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"tsize", "0"}}, nil, 0, []Option{{"tsize", "3000"}}, 0},
		{"client spelling and order", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"WINDOWSIZE", "8"}, {"TSize", "0"}, {"BlkSize", "1000"}, {"timeout", "3"}}, nil, 0,
			[]Option{{"WINDOWSIZE", "8"}, {"TSize", "3000"}, {"BlkSize", "1000"}, {"timeout", "3"}}, 0},
		{"unknown omitted", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"multicast", ""}, {"rollover", "0"}, {"blksize", "600"}}, nil, 0, []Option{{"blksize", "600"}}, 0},
		{"only unknown: plain", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"utimeout", "1000"}}, nil, 0, nil, 0},
		{"tsize unknown omitted", stream, []Option{{"tsize", "0"}, {"blksize", "1024"}}, nil, 0, []Option{{"blksize", "1024"}}, 0},
		{"tsize unknown alone: plain", stream, []Option{{"tsize", "0"}}, nil, 0, nil, 0},
		{"blksize capped", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"blksize", "65464"}}, func(_ *Request, l *Limits) { l.BlockSize = 1432 }, 0, []Option{{"blksize", "1432"}}, 0},
		{"windowsize capped by server", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"windowsize", "65535"}}, nil, 8, []Option{{"windowsize", "8"}}, 0},
		{"timeout above cap omitted", ContentFunc(func(*Request) ([]byte, error) { return data, nil }),
			[]Option{{"timeout", "9"}, {"tsize", "0"}}, func(_ *Request, l *Limits) { l.MaxTimeout = 5 }, 0, []Option{{"tsize", "3000"}}, 0},
		{"blksize 0", nil, []Option{{"blksize", "0"}}, nil, 0, nil, CodeOptionRefused},
		{"blksize 7", nil, []Option{{"blksize", "7"}}, nil, 0, nil, CodeOptionRefused},
		{"blksize 65465", nil, []Option{{"blksize", "65465"}}, nil, 0, nil, CodeOptionRefused},
		{"blksize abc", nil, []Option{{"blksize", "abc"}}, nil, 0, nil, CodeOptionRefused},
		{"blksize -512", nil, []Option{{"blksize", "-512"}}, nil, 0, nil, CodeOptionRefused},
		{"blksize empty", nil, []Option{{"blksize", ""}}, nil, 0, nil, CodeOptionRefused},
		{"windowsize 0", nil, []Option{{"windowsize", "0"}}, nil, 0, nil, CodeOptionRefused},
		{"windowsize 65536", nil, []Option{{"windowsize", "65536"}}, nil, 0, nil, CodeOptionRefused},
		{"timeout 0", nil, []Option{{"timeout", "0"}}, nil, 0, nil, CodeOptionRefused},
		{"timeout 256", nil, []Option{{"timeout", "256"}}, nil, 0, nil, CodeOptionRefused},
		{"tsize x", nil, []Option{{"tsize", "x"}}, nil, 0, nil, CodeOptionRefused},
		{"duplicate blksize", nil, []Option{{"blksize", "512"}, {"BLKSIZE", "1024"}}, nil, 0, nil, CodeOptionRefused},
		{"huge number", nil, []Option{{"blksize", "99999999999999999999"}}, nil, 0, nil, CodeOptionRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			if h == nil {
				h = ContentFunc(func(*Request) ([]byte, error) { return data, nil })
			}
			srv := &Server{Handler: h, Tune: tc.tune, MaxWindowSize: tc.maxWin}
			addr := startServer(t, srv, "udp4")
			c := newTestClient(t, addr)
			c.rrq("x", "octet", tc.opts...)
			p, _, ok := c.recv(3 * time.Second)
			if !ok {
				t.Fatal("no answer")
			}
			if tc.wantErr != 0 || p.op == OpERROR {
				if p.op != OpERROR || p.code != tc.wantErr {
					t.Fatalf("got %v code %d %q, want ERROR %d", p.op, p.code, p.msg, tc.wantErr)
				}
				return
			}
			if tc.want == nil {
				if p.op != OpDATA || p.block != 1 {
					t.Fatalf("got %v, want DATA 1 (no OACK)", p.op)
				}
				return
			}
			if p.op != OpOACK {
				t.Fatalf("got %v, want OACK", p.op)
			}
			if fmt.Sprint(p.options) != fmt.Sprint(tc.want) {
				t.Fatalf("OACK %v, want %v", p.options, tc.want)
			}
			c.sendTo(c.tid, appendError(nil, CodeOptionRefused, "done"))
		})
	}
}

// TestEDK2Sequence replays what OVMF's PXE does (captures/ovmf-pxe-tftp-*):
// a size probe answered with ERROR 8, then the real read with windowsize 4.
func TestEDK2Sequence(t *testing.T) {
	data := randBytes(1468*40+100, 7)
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"ipxe.efi": {Data: data}}), OnTransfer: logs.hook}
	addr := startServer(t, srv, "udp4")

	c := newTestClient(t, addr)
	c.rrq("ipxe.efi", "octet", Option{"tsize", "0"}, Option{"blksize", "1468"}, Option{"windowsize", "4"})
	p := c.expect(OpOACK)
	want := []Option{{"tsize", strconv.Itoa(len(data))}, {"blksize", "1468"}, {"windowsize", "4"}}
	if fmt.Sprint(p.options) != fmt.Sprint(want) {
		t.Fatalf("probe OACK %v, want %v", p.options, want)
	}
	c.sendTo(c.tid, appendError(nil, CodeOptionRefused, "User aborted the transfer"))
	info := logs.next(t)
	if info.Outcome != OutcomeSizeProbe || info.Err != nil || info.ErrorCode != CodeOptionRefused {
		t.Fatalf("probe reported %+v, want a quiet size-probe", info)
	}
	// The server must not answer the client's ERROR.
	if q, _, ok := c.recv(200 * time.Millisecond); ok {
		t.Fatalf("server answered the abort with %v", q.op)
	}

	// Same client port, new request: EDK2 reuses its UDP child.
	c.tid = netip.AddrPort{}
	res, err := c.fetch("ipxe.efi", fetchOpts{window: 4}, Option{"blksize", "1468"}, Option{"windowsize", "4"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.data, data) {
		t.Fatal("content differs")
	}
	if fmt.Sprint(res.oack) != fmt.Sprint([]Option{{"blksize", "1468"}, {"windowsize", "4"}}) {
		t.Fatalf("read OACK %v", res.oack)
	}
	if info := logs.next(t); info.Outcome != OutcomeOK || info.WindowSize != 4 {
		t.Fatalf("read reported %+v", info)
	}

	// The probe's ERROR 8 is lost: the next request from the same port
	// supersedes the probe, which ends quietly (no ERROR reaches the client
	// from the old TID) and the read completes.
	c2 := newTestClient(t, addr)
	c2.rrq("ipxe.efi", "octet", Option{"tsize", "0"}, Option{"blksize", "1468"}, Option{"windowsize", "4"})
	c2.expect(OpOACK)
	probeTID := c2.tid
	c2.tid = netip.AddrPort{}
	c2.rrq("ipxe.efi", "octet", Option{"blksize", "1468"}, Option{"windowsize", "4"})
	var got []byte
	for blk := uint16(1); ; {
		p, from, ok := c2.recv(2 * time.Second)
		if !ok {
			t.Fatal("read stalled")
		}
		if from == probeTID {
			if p.op == OpERROR {
				t.Fatalf("superseded probe sent ERROR %d %q", p.code, p.msg)
			}
			continue // a late OACK retransmission is harmless
		}
		c2.tid = from
		if p.op == OpOACK {
			c2.ack(0)
			continue
		}
		if p.op != OpDATA || p.block != blk {
			continue
		}
		got = append(got, p.data...)
		if len(p.data) < 1468 {
			c2.ack(blk)
			break
		}
		if blk%4 == 0 {
			c2.ack(blk)
		}
		blk++
	}
	if !bytes.Equal(got, data) {
		t.Fatal("content differs after superseded probe")
	}
	for i := 0; i < 2; i++ {
		if info := logs.next(t); info.Outcome != OutcomeSizeProbe && info.Outcome != OutcomeOK {
			t.Fatalf("reported %+v", info)
		}
	}
}

// TestDuplicateACKsDoNotDoubleTraffic: a client that sends every ACK three
// times must get each DATA block exactly once (RFC 1123 4.2.3.1).
func TestDuplicateACKsDoNotDoubleTraffic(t *testing.T) {
	data := randBytes(512*200+17, 3)
	for _, win := range []int{1, 4} {
		t.Run("window"+strconv.Itoa(win), func(t *testing.T) {
			logs := newInfoLog()
			srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook, MinRetransmit: time.Second, Timeout: 2 * time.Second}
			addr := startServer(t, srv, "udp4")
			c := newTestClient(t, addr)
			res, err := c.fetch("f", fetchOpts{window: win, dupAcks: 2, timeout: 2 * time.Second}, Option{"windowsize", strconv.Itoa(win)})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.data, data) {
				t.Fatal("content differs")
			}
			blocks := len(data)/512 + 1
			if res.dataPkts != blocks || res.dupData != 0 {
				t.Fatalf("received %d DATA packets (%d duplicates) for %d blocks", res.dataPkts, res.dupData, blocks)
			}
			if info := logs.next(t); info.Packets != int64(blocks) || info.Retransmits != 0 {
				t.Fatalf("server sent %d packets, %d retransmits", info.Packets, info.Retransmits)
			}
		})
	}
}

// TestUnknownTID: a packet from a foreign port gets ERROR 5 and the
// transfer goes on. In single-port mode the listening port is every
// transfer's TID: DATA, ACK and OACK from a port with no transfer get
// ERROR 5 there. An ERROR from a stranger is never answered.
func TestUnknownTID(t *testing.T) {
	data := randBytes(2000, 4)
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single-port=%v", single), func(t *testing.T) {
			// Exact packet sequences below: no retransmission on a loaded machine.
			srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), SinglePort: single, MinRetransmit: time.Second, Timeout: 2 * time.Second}
			addr := startServer(t, srv, "udp4")
			c := newTestClient(t, addr)
			c.rrq("f", "octet")
			p := c.expect(OpDATA)
			for _, pkt := range [][]byte{appendACK(nil, 1), append(appendDataHeader(nil, 1), 'x'), appendOACK(nil, []Option{{"blksize", "512"}})} {
				stranger := newTestClient(t, addr)
				stranger.sendTo(c.tid, pkt)
				q, from, ok := stranger.recv(3 * time.Second)
				if !ok || q.op != OpERROR || q.code != CodeUnknownTID || from != c.tid {
					t.Fatalf("stranger's % x got %v code %d from %v (answer %v), want ERROR 5 from %v", pkt[:2], q.op, q.code, from, ok, c.tid)
				}
			}
			stranger := newTestClient(t, addr)
			stranger.sendTo(c.tid, appendError(nil, CodeUndefined, "x"))
			if q, _, ok := stranger.recv(300 * time.Millisecond); ok {
				t.Fatalf("stranger's ERROR answered with %v", q.op)
			}
			got := append([]byte(nil), p.data...)
			for blk := uint16(1); len(p.data) == 512; blk++ {
				c.ack(blk)
				p = c.expect(OpDATA)
				got = append(got, p.data...)
			}
			c.ack(p.block)
			if !bytes.Equal(got, data) {
				t.Fatal("content differs")
			}
		})
	}
}

func TestWriteRefusedAndBadPackets(t *testing.T) {
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: []byte("x")}})}
	addr := startServer(t, srv, "udp4")
	for _, tc := range []struct {
		name string
		pkt  []byte
		want ErrorCode // 0xffff: silence
	}{
		{"WRQ", appendRequest(nil, OpWRQ, "f", "octet"), CodeAccess},
		{"mail mode", appendRequest(nil, OpRRQ, "f", "mail"), CodeIllegalOp},
		{"bogus mode", appendRequest(nil, OpRRQ, "f", "binary"), CodeIllegalOp},
		{"no mode NUL", []byte("\x00\x01f\x00octet"), CodeIllegalOp},
		{"no filename NUL", []byte("\x00\x01f"), CodeIllegalOp},
		{"option without value", []byte("\x00\x01f\x00octet\x00blksize\x00"), CodeIllegalOp},
		{"value without NUL", []byte("\x00\x01f\x00octet\x00blksize\x001024"), CodeIllegalOp},
		{"oversized request", append(appendRequest(nil, OpRRQ, "f", "octet"), make([]byte, 2000)...), CodeIllegalOp},
		{"unknown opcode", []byte{0, 9, 1, 2}, CodeIllegalOp},
		{"one byte", []byte{0}, 0xffff},
		{"stray ACK", appendACK(nil, 5), 0xffff},
		{"stray DATA", append(appendDataHeader(nil, 1), 'x'), 0xffff},
		{"stray ERROR", appendError(nil, 0, "x"), 0xffff},
		{"empty name", appendRequest(nil, OpRRQ, "", "octet"), CodeAccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, addr)
			c.sendTo(addr, tc.pkt)
			p, _, ok := c.recv(300 * time.Millisecond)
			if tc.want == 0xffff {
				if ok {
					t.Fatalf("got %v, want silence", p.op)
				}
				return
			}
			if !ok || p.op != OpERROR || p.code != tc.want {
				t.Fatalf("got %v code %d %q (answer %v), want ERROR %d", p.op, p.code, p.msg, ok, tc.want)
			}
		})
	}
	// Trailing NUL padding after the mode is accepted (old boot ROMs).
	c := newTestClient(t, addr)
	c.sendTo(addr, append(appendRequest(nil, OpRRQ, "f", "octet"), 0, 0, 0, 0))
	if p := c.expect(OpDATA); string(p.data) != "x" {
		t.Fatalf("got %q", p.data)
	}
	c.ack(1)
}

func TestClientTimeoutIsBounded(t *testing.T) {
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: randBytes(5000, 1)}}), OnTransfer: logs.hook,
		Timeout: 100 * time.Millisecond, Retries: 2}
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	start := time.Now()
	c.rrq("f", "octet", Option{"blksize", "1024"})
	c.expect(OpOACK)
	c.ack(0)
	// Go silent. The server retransmits, then gives up with ERROR 0.
	var sawError bool
	for time.Since(start) < 5*time.Second && !sawError {
		if p, _, ok := c.recv(time.Second); ok && p.op == OpERROR {
			sawError = true
		}
	}
	info := logs.next(t)
	if info.Outcome != OutcomeTimeout || !errors.Is(info.Err, ErrTimeout) || info.Retransmits == 0 || !sawError {
		t.Fatalf("got %+v (error seen %v)", info, sawError)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v, bound is about 1s", d)
	}
}

func TestShutdown(t *testing.T) {
	data := randBytes(100000, 1)
	t.Run("waits for running transfers", func(t *testing.T) {
		srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), MinRetransmit: time.Second, Timeout: 2 * time.Second}
		pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(pc) }()
		c := newTestClient(t, addrPortOf(pc.LocalAddr()))
		c.rrq("f", "octet")
		first := c.expect(OpDATA)
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(context.Background()) }()
		time.Sleep(50 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned %v during a transfer", err)
		default:
		}
		got := append([]byte(nil), first.data...)
		c.ack(1)
		for blk := uint16(2); ; blk++ {
			p := c.expect(OpDATA)
			got = append(got, p.data...)
			c.ack(blk)
			if len(p.data) < 512 {
				break
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	})
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("context ends it/single-port=%v", single), func(t *testing.T) {
			logs := newInfoLog()
			srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), SinglePort: single, OnTransfer: logs.hook}
			pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(pc) }()
			c := newTestClient(t, addrPortOf(pc.LocalAddr()))
			c.rrq("f", "octet")
			c.expect(OpDATA) // and never ACK
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Shutdown took %v", d)
			}
			if info := logs.next(t); info.Outcome != OutcomeCanceled {
				t.Fatalf("outcome %v", info.Outcome)
			}
			if err := <-errc; !errors.Is(err, ErrServerClosed) {
				t.Fatalf("Serve: %v", err)
			}
			if err := srv.Serve(pc); !errors.Is(err, ErrServerClosed) {
				t.Fatalf("Serve after Shutdown: %v", err)
			}
		})
	}
}

func TestSinglePortAndConcurrency(t *testing.T) {
	files := fstest.MapFS{}
	for i := 0; i < 6; i++ {
		files["f"+strconv.Itoa(i)] = &fstest.MapFile{Data: randBytes(200000+i*777, int64(i))}
	}
	for _, tc := range []struct {
		single  bool
		network string
	}{{false, "udp4"}, {true, "udp4"}, {true, "udp6"}} {
		single := tc.single
		t.Run(fmt.Sprintf("single-port=%v/%s", single, tc.network), func(t *testing.T) {
			logs := newInfoLog()
			srv := &Server{Handler: FS(files), SinglePort: single, OnTransfer: logs.hook}
			addr := startServer(t, srv, tc.network)
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for i := 0; i < 6; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					c := newTestClient(t, addr)
					win := []int{1, 4, 16}[i%3]
					res, err := c.fetch("f"+strconv.Itoa(i), fetchOpts{window: win}, Option{"blksize", "1468"}, Option{"windowsize", strconv.Itoa(win)})
					if err == nil && !bytes.Equal(res.data, files["f"+strconv.Itoa(i)].Data) {
						err = fmt.Errorf("f%d: content differs", i)
					}
					if single && err == nil && c.tid != addr {
						err = fmt.Errorf("single-port transfer answered from %v, not %v", c.tid, addr)
					}
					if !single && err == nil && c.tid == addr {
						err = errors.New("transfer answered from the server port")
					}
					errs <- err
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestQueueAndTransferTimeout(t *testing.T) {
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: randBytes(5000, 1)}}), OnTransfer: logs.hook,
		MaxTransfers: 1, QueueTimeout: 300 * time.Millisecond, TransferTimeout: 700 * time.Millisecond}
	addr := startServer(t, srv, "udp4")
	a := newTestClient(t, addr)
	a.rrq("f", "octet")
	a.expect(OpDATA) // holds the only slot; never ACKs
	b := newTestClient(t, addr)
	b.rrq("f", "octet")
	start := time.Now()
	if p := b.expect(OpERROR); p.code != CodeUndefined || p.msg != "server busy" {
		t.Fatalf("queued request got %d %q", p.code, p.msg)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("refused after %v, before the queue timeout", d)
	}
	// The stuck transfer hits TransferTimeout; then the slot is free.
	if info := logs.next(t); info.Outcome != OutcomeFailed || !errors.Is(info.Err, ErrTransferTimeLimit) {
		t.Fatalf("stuck transfer: %+v", info)
	}
	c := newTestClient(t, addr)
	if res, err := c.fetch("f", fetchOpts{}); err != nil || len(res.data) != 5000 {
		t.Fatalf("after the slot freed: %v", err)
	}
}

func TestPerClientLimit(t *testing.T) {
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: randBytes(5000, 1)}}), MaxClientTransfers: 2}
	addr := startServer(t, srv, "udp4")
	var cs []*testClient
	for i := 0; i < 2; i++ {
		c := newTestClient(t, addr)
		c.rrq("f", "octet")
		c.expect(OpDATA)
		cs = append(cs, c)
	}
	c := newTestClient(t, addr)
	c.rrq("f", "octet")
	if p := c.expect(OpERROR); p.code != CodeUndefined {
		t.Fatalf("code %d", p.code)
	}
	for _, c := range cs {
		c.sendTo(c.tid, appendError(nil, 0, "bye"))
	}
}

func TestTuneHookAndMTU(t *testing.T) {
	seenc := make(chan Request, 1)
	srv := &Server{
		Handler: ContentFunc(func(r *Request) ([]byte, error) { return []byte(r.Path), nil }),
		Tune: func(r *Request, l *Limits) {
			seenc <- *r
			l.BlockSize, l.WindowSize = 1024, 2
		},
	}
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	c.rrq(`\boot\x.efi`, "octet", Option{"blksize", "1468"}, Option{"windowsize", "4"})
	p := c.expect(OpOACK)
	if fmt.Sprint(p.options) != fmt.Sprint([]Option{{"blksize", "1024"}, {"windowsize", "2"}}) {
		t.Fatalf("OACK %v", p.options)
	}
	c.ack(0)
	if d := c.expect(OpDATA); string(d.data) != "boot/x.efi" {
		t.Fatalf("data %q", d.data)
	}
	c.ack(1)
	seen := <-seenc
	if seen.Filename != `\boot\x.efi` || seen.Path != "boot/x.efi" || seen.RemoteAddr != addrPortOf(c.pc.LocalAddr()) {
		t.Fatalf("Tune saw %+v", seen)
	}
	// The MTU clamp: a fake 1500-byte interface gives 1468 (IPv4) and
	// 1448 (IPv6).
	var m mtuCache
	m.byIdx, m.byAddr, m.at = map[int]int{7: 1500}, map[netip.Addr]int{}, time.Now()
	srv2 := &Server{}
	srv2.mtus.byIdx, srv2.mtus.byAddr, srv2.mtus.at = map[int]int{}, map[netip.Addr]int{netip.MustParseAddr("10.0.0.1"): 1500, netip.MustParseAddr("fd00::1"): 1500}, time.Now()
	for _, tc := range []struct {
		local, remote string
		want          int
	}{{"10.0.0.1", "10.0.0.2", 1468}, {"fd00::1", "fd00::2", 1448}} {
		lim := srv2.limits(&Request{LocalAddr: netip.MustParseAddr(tc.local), RemoteAddr: netip.AddrPortFrom(netip.MustParseAddr(tc.remote), 1000)}, 0)
		if lim.BlockSize != tc.want {
			t.Errorf("%s: blksize cap %d, want %d", tc.local, lim.BlockSize, tc.want)
		}
	}
	if got := m.mtu(7, netip.Addr{}, netip.Addr{}); got != 1500 {
		t.Errorf("mtu by index %d", got)
	}
}

func TestStreamingHandlerAndNetascii(t *testing.T) {
	text := "line1\nline2\r\nbare\rend"
	srv := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		if r.Path == "stream" {
			w.SetSize(int64(len(text) * 300))
			for i := 0; i < 300; i++ {
				if _, err := io.WriteString(w, text); err != nil {
					return
				}
			}
			return
		}
		_, _ = w.ReadFrom(bytes.NewReader([]byte(text)))
	})}
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	res, err := c.fetch("stream", fetchOpts{window: 4}, Option{"tsize", "0"}, Option{"windowsize", "4"})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.data) != string(bytes.Repeat([]byte(text), 300)) || fmt.Sprint(res.oack) != fmt.Sprint([]Option{{"tsize", strconv.Itoa(len(text) * 300)}, {"windowsize", "4"}}) {
		t.Fatalf("stream: %d bytes, OACK %v", len(res.data), res.oack)
	}
	c = newTestClient(t, addr)
	c.rrq("text", "NetASCII", Option{"tsize", "0"})
	p := c.expect(OpDATA) // no tsize for netascii: plain transfer
	c.ack(1)
	if want := "line1\r\nline2\r\x00\r\nbare\r\x00end"; string(p.data) != want {
		t.Fatalf("netascii %q, want %q", p.data, want)
	}
}

func TestHandlerPanicAndNil(t *testing.T) {
	srv := &Server{Handler: HandlerFunc(func(ResponseWriter, *Request) { panic("boom") })}
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	c.rrq("x", "octet")
	if p := c.expect(OpERROR); p.code != CodeUndefined {
		t.Fatalf("code %d", p.code)
	}
	addr2 := startServer(t, &Server{}, "udp4")
	c = newTestClient(t, addr2)
	c.rrq("x", "octet")
	if p := c.expect(OpERROR); p.code != CodeNotFound {
		t.Fatalf("nil handler: code %d", p.code)
	}
}

// TestRollover sends more than 65535 blocks at blksize 512 (33.6 MB): block
// numbers wrap to 0 and the content arrives intact.
func TestRollover(t *testing.T) {
	if testing.Short() {
		t.Skip("33 MB transfer")
	}
	n := 512*65536 + 1000
	data := randBytes(n, 9)
	logs := newInfoLog()
	srv := &Server{Handler: ContentFunc(func(*Request) ([]byte, error) { return data, nil }), OnTransfer: logs.hook}
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	res, err := c.fetch("big", fetchOpts{window: 64, deadline: 90 * time.Second}, Option{"blksize", "512"}, Option{"windowsize", "64"})
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(res.data) != sha256.Sum256(data) {
		t.Fatalf("got %d bytes, want %d", len(res.data), n)
	}
	if info := logs.next(t); info.Outcome != OutcomeOK || info.Packets < 65537 {
		t.Fatalf("%+v", info)
	}
}

// patternReader is deterministic content of any size without memory.
type patternReader struct{ size int64 }

func (p patternReader) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for ; n < len(b) && off+int64(n) < p.size; n++ {
		x := uint64(off+int64(n)) * 0x9E3779B97F4A7C15
		b[n] = byte(x >> 56)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// TestRollover1468 sends more than 65535 blocks of 1468 bytes (96 MB) to
// a windowed client; block numbers wrap to 0 and every byte is checked.
func TestRollover1468(t *testing.T) {
	if testing.Short() {
		t.Skip("96 MB transfer")
	}
	size := int64(1468)*65536 + 3000
	content := patternReader{size}
	srv := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) { _ = w.ServeContent(content, size) })}
	addr := startServer(t, srv, "udp4")
	want := sha256.New()
	if _, err := io.Copy(want, io.NewSectionReader(content, 0, size)); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	var n int64
	c := newTestClient(t, addr)
	_, err := c.fetch("big", fetchOpts{window: 64, deadline: 120 * time.Second, sink: func(b []byte) { got.Write(b); n += int64(len(b)) }},
		Option{"blksize", "1468"}, Option{"windowsize", "64"}, Option{"tsize", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes, want %d (sha256 differs)", n, size)
	}
}

// TestNoGoroutineLeak runs hostile and normal traffic, then checks that the
// server's goroutines are all gone after Shutdown.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: randBytes(3000, 1)}}), Timeout: 50 * time.Millisecond, Retries: 1}
		pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(pc) }()
		addr := addrPortOf(pc.LocalAddr())
		c := newTestClient(t, addr)
		for _, pkt := range [][]byte{
			appendRequest(nil, OpRRQ, "../etc/passwd", "octet"),
			appendRequest(nil, OpRRQ, "f", "octet", Option{"blksize", "x"}),
			appendRequest(nil, OpRRQ, "f", "octet"), // abandoned: times out
			{0, 1},
			appendRequest(nil, OpWRQ, "f", "octet"),
		} {
			c.sendTo(addr, pkt)
		}
		res, err := newTestClient(t, addr).fetch("f", fetchOpts{})
		if err != nil || len(res.data) != 3000 {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		<-errc

		// Writes: one abandoned after its first block, one refused by a
		// handler that returns early; then Shutdown cuts them off.
		wsrv := &Server{Timeout: 50 * time.Millisecond, Retries: 1, WriteHandler: WriteHandlerFunc(func(r *Request, body io.Reader) error {
			if r.Path == "early" {
				return ErrAccessDenied
			}
			_, err := io.Copy(io.Discard, body)
			return err
		})}
		wpc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
		go func() { errc <- wsrv.Serve(wpc) }()
		waddr := addrPortOf(wpc.LocalAddr())
		for _, name := range []string{"abandoned", "early"} {
			wc := newTestClient(t, waddr)
			wc.sendTo(waddr, appendRequest(nil, OpWRQ, name, "octet"))
			wc.expect(OpACK)
			wc.sendTo(wc.tid, append(appendDataHeader(nil, 1), make([]byte, 512)...))
		}
		time.Sleep(100 * time.Millisecond)
		ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		_ = wsrv.Shutdown(ctx2)
		<-errc
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestBootStorm: many clients from one address fetch the same file at
// once through the shared cache; all succeed, the file is loaded once.
func TestBootStorm(t *testing.T) {
	data := randBytes(100_000, 8)
	cache := NewCache(fstest.MapFS{"boot.efi": {Data: data}})
	logs := newInfoLog()
	addr := startServer(t, &Server{Handler: cache, OnTransfer: logs.hook}, "udp4")
	const n = 64
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			c := newTestClient(t, addr)
			win := []int{1, 4, 16}[i%3]
			res, err := c.fetch("boot.efi", fetchOpts{window: win, deadline: 60 * time.Second},
				Option{"blksize", "1468"}, Option{"windowsize", strconv.Itoa(win)}, Option{"tsize", "0"})
			if err == nil && !bytes.Equal(res.data, data) {
				err = fmt.Errorf("client %d: content differs", i)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < n; i++ {
		if info := logs.next(t); info.Outcome != OutcomeOK {
			t.Errorf("%+v", info)
		}
	}
	if cache.Loads() != 1 {
		t.Fatalf("%d loads, want 1", cache.Loads())
	}
}
