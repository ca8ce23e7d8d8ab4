package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxekit/pxekit/internal/faultnet"
)

// batchedServer is a single-port server with BatchedLockstep on.
func batchedServer(files fstest.MapFS, logs *infoLog) *Server {
	srv := &Server{Handler: FS(files), SinglePort: true, BatchedLockstep: true}
	if logs != nil {
		srv.OnTransfer = logs.hook
	}
	return srv
}

// loopStarted returns how many data phases the send loops of srv's
// listening sockets have taken over.
func loopStarted(srv *Server) int64 {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var n int64
	for sc := range srv.conns {
		if sc.loop != nil {
			sc.loop.mu.Lock()
			n += sc.loop.started
			sc.loop.mu.Unlock()
		}
	}
	return n
}

// lockstepRest fetches the rest of a 512-byte lock-step transfer whose
// block 1 is got, and ACKs the end.
func lockstepRest(c *testClient, got []byte) []byte {
	for blk := uint16(1); ; blk++ {
		c.ack(blk)
		p := c.expect(OpDATA)
		got = append(got, p.data...)
		if len(p.data) < 512 {
			c.ack(blk + 1)
			return got
		}
	}
}

func requireLoop(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("BatchedLockstep needs recvmmsg (Linux)")
	}
}

// TestBatchedLockstepConcurrent: many lock-step transfers at once, mixed
// with windowed ones, each byte-exact and reported OK; the lock-step ones
// ran in the socket loop, the windowed ones on their goroutines.
func TestBatchedLockstepConcurrent(t *testing.T) {
	requireLoop(t)
	files := fstest.MapFS{}
	const n = 40
	for i := range n {
		files["f"+strconv.Itoa(i)] = &fstest.MapFile{Data: randBytes(50000+i*1468, int64(i))}
	}
	files["empty"] = &fstest.MapFile{}
	files["exact"] = &fstest.MapFile{Data: randBytes(1468*20, 99)} // ends with an empty block
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			logs := newInfoLog()
			srv := batchedServer(files, logs)
			addr := startServer(t, srv, network)
			names := []string{"empty", "exact"}
			for i := range n {
				names = append(names, "f"+strconv.Itoa(i))
			}
			var wg sync.WaitGroup
			errs := make(chan error, len(names))
			lockstep := 0
			for i, name := range names {
				win := 1
				if i%10 == 9 {
					win = 4
				} else {
					lockstep++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := newTestClient(t, addr)
					res, err := c.fetch(name, fetchOpts{window: win, timeout: time.Second, deadline: 90 * time.Second},
						Option{"blksize", "1468"}, Option{"windowsize", strconv.Itoa(win)}, Option{"tsize", "0"})
					if err == nil && !bytes.Equal(res.data, files[name].Data) {
						err = fmt.Errorf("%s: %d bytes, content differs", name, len(res.data))
					}
					if err == nil && c.tid != addr {
						err = fmt.Errorf("%s answered from %v, not %v", name, c.tid, addr)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			for range names {
				info := logs.next(t)
				want := int64(len(files[info.Filename].Data))
				if info.Outcome != OutcomeOK || info.Bytes != want || info.Size != want {
					t.Errorf("%s: %+v, want ok with %d bytes", info.Filename, info, want)
				}
			}
			if got := loopStarted(srv); got != int64(lockstep) {
				t.Errorf("the loop ran %d data phases, want %d (the lock-step ones)", got, lockstep)
			}
			srv.mu.Lock()
			for sc := range srv.conns {
				sc.loop.mu.Lock()
				if sc.loop.raw != nil && sc.loop.rawSent == 0 {
					t.Error("no packet went by the raw sendmmsg")
				}
				sc.loop.mu.Unlock()
			}
			srv.mu.Unlock()
		})
	}
}

// TestBatchedLockstepDuplicateACKs: duplicated and reordered ACKs (and a
// client that sends each ACK three times) do not make the loop send any
// block twice: only the timer retransmits.
func TestBatchedLockstepDuplicateACKs(t *testing.T) {
	requireLoop(t)
	data := randBytes(1468*300+5, 11)
	files := fstest.MapFS{"f": {Data: data}}
	blocks := int64(len(data)/1468 + 1)
	t.Run("client", func(t *testing.T) {
		logs := newInfoLog()
		srv := batchedServer(files, logs)
		srv.MinRetransmit, srv.Timeout = time.Second, 2*time.Second
		addr := startServer(t, srv, "udp4")
		c := newTestClient(t, addr)
		res, err := c.fetch("f", fetchOpts{dupAcks: 2, timeout: 3 * time.Second}, Option{"blksize", "1468"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.data, data) {
			t.Fatal("content differs")
		}
		info := logs.next(t)
		if res.dataPkts != int(blocks) || res.dupData != 0 || info.Packets != blocks || info.Retransmits != 0 {
			t.Fatalf("client got %d DATA (%d duplicates), server sent %d packets, %d retransmits, for %d blocks",
				res.dataPkts, res.dupData, info.Packets, info.Retransmits, blocks)
		}
		if loopStarted(srv) != 1 {
			t.Fatal("the data phase did not run in the loop")
		}
	})
	t.Run("relay", func(t *testing.T) {
		logs := newInfoLog()
		srv := batchedServer(files, logs)
		srv.MinRetransmit, srv.Timeout = time.Second, 2*time.Second
		res, info, dups := fetchDuplicatedACKs(t, srv, logs, data, fetchOpts{timeout: 3 * time.Second}, Option{"blksize", "1468"})
		if info.Packets != blocks || info.Retransmits != 0 || res.dupData != 0 {
			t.Fatalf("%d duplicated ACKs made the server send %d packets (%d retransmits) for %d blocks", dups, info.Packets, info.Retransmits, blocks)
		}
	})
}

// TestBatchedLockstepLoss: through loss, duplication and reordering in
// both directions the loop's timer retransmits and every transfer arrives
// byte-exact (or fails cleanly on both sides at 20 % loss).
func TestBatchedLockstepLoss(t *testing.T) {
	requireLoop(t)
	for _, loss := range []float64{0.01, 0.05, 0.20} {
		t.Run(fmt.Sprintf("loss%.0f%%", loss*100), func(t *testing.T) {
			t.Parallel()
			size := 200_000
			if loss >= 0.2 {
				size = 40_000
			}
			data := randBytes(size, int64(loss*1000))
			logs := newInfoLog()
			srv := batchedServer(fstest.MapFS{"f": {Data: data}}, logs)
			srv.Timeout = 500 * time.Millisecond
			addr := startServer(t, srv, "udp4")
			rates := faultnet.Rates{Loss: loss, Duplicate: 0.05, Reorder: 0.05}
			relay := relayTo(t, addr, 7000+int64(loss*100), rates, rates)
			c := newTestClient(t, relay.Addr())
			res, err := c.fetch("f", fetchOpts{timeout: 200 * time.Millisecond, deadline: 90 * time.Second},
				Option{"blksize", "1468"}, Option{"tsize", "0"})
			info := logs.next(t)
			up, down := relay.Stats()
			t.Logf("%v: server sent %d packets, %d retransmits; relay up %+v down %+v", info.Outcome, info.Packets, info.Retransmits, up, down)
			if loopStarted(srv) == 0 && info.Packets > 0 {
				t.Fatal("the data phase did not run in the loop")
			}
			if !lossyFetchDelivered(t, err, info, res.data, data) {
				return
			}
			if info.Outcome != OutcomeOK || info.Bytes != int64(size) {
				t.Fatalf("server reported %+v", info)
			}
			if down.Dropped > 0 && info.Retransmits == 0 {
				t.Fatalf("the relay dropped %d DATA but the server retransmitted none", down.Dropped)
			}
		})
	}
}

// TestBatchedLockstepSilentClient: a client that stops ACKing mid-transfer
// gets retransmissions, then ERROR 0, and the transfer ends as a timeout
// within its bound; Retransmits counts the resent blocks.
func TestBatchedLockstepSilentClient(t *testing.T) {
	requireLoop(t)
	logs := newInfoLog()
	srv := batchedServer(fstest.MapFS{"f": {Data: randBytes(50000, 1)}}, logs)
	srv.Timeout, srv.Retries = 100*time.Millisecond, 2
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	start := time.Now()
	c.rrq("f", "octet", Option{"blksize", "1024"})
	c.expect(OpOACK)
	c.ack(0)
	c.expect(OpDATA)
	c.ack(1)
	c.expect(OpDATA)
	// Go silent. The server resends block 2, then gives up with ERROR 0.
	resent, sawError := 0, false
	for time.Since(start) < 10*time.Second && !sawError {
		p, _, ok := c.recv(time.Second)
		switch {
		case !ok:
		case p.op == OpERROR:
			sawError = true
		case p.op == OpDATA && p.block == 2:
			resent++
		default:
			t.Fatalf("unexpected %v block %d", p.op, p.block)
		}
	}
	info := logs.next(t)
	if info.Outcome != OutcomeTimeout || !errors.Is(info.Err, ErrTimeout) || !sawError || resent == 0 {
		t.Fatalf("got %+v (error seen %v, block 2 resent %d times)", info, sawError, resent)
	}
	if info.Retransmits != int64(resent) || info.Packets != int64(2+resent) || info.Bytes != 1024 {
		t.Fatalf("packets %d, retransmits %d, bytes %d; client saw block 2 resent %d times", info.Packets, info.Retransmits, info.Bytes, resent)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v, bound is about 1s", d)
	}
	if loopStarted(srv) != 1 {
		t.Fatal("the data phase did not run in the loop")
	}
}

// TestBatchedLockstepClientError: an ERROR from the client mid-transfer
// aborts it at once: reported as aborted with the client's code, nothing
// more sent.
func TestBatchedLockstepClientError(t *testing.T) {
	requireLoop(t)
	logs := newInfoLog()
	srv := batchedServer(fstest.MapFS{"f": {Data: randBytes(50000, 1)}}, logs)
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	c.rrq("f", "octet")
	for blk := uint16(1); blk <= 3; blk++ {
		if p := c.expect(OpDATA); p.block != blk {
			t.Fatalf("got block %d, want %d", p.block, blk)
		}
		if blk < 3 {
			c.ack(blk)
		}
	}
	c.sendTo(c.tid, appendError(nil, CodeDiskFull, "no room"))
	info := logs.next(t)
	if info.Outcome != OutcomeAborted || info.ErrorCode != CodeDiskFull || !errors.Is(info.Err, ErrClientAborted) || info.Bytes != 1024 {
		t.Fatalf("got %+v", info)
	}
	if p, _, ok := c.recv(300 * time.Millisecond); ok {
		t.Fatalf("server sent %v block %d after the client's ERROR", p.op, p.block)
	}
	if loopStarted(srv) != 1 {
		t.Fatal("the data phase did not run in the loop")
	}
}

// TestBatchedLockstepStranger: in the loop's data phase an ACK from a port
// with no transfer gets ERROR 5 and the transfer goes on.
func TestBatchedLockstepStranger(t *testing.T) {
	requireLoop(t)
	data := randBytes(3000, 2)
	logs := newInfoLog()
	srv := batchedServer(fstest.MapFS{"f": {Data: data}}, logs)
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	c.rrq("f", "octet")
	got := c.expect(OpDATA).data
	stranger := newTestClient(t, addr)
	stranger.sendTo(addr, appendACK(nil, 1))
	if p := stranger.expect(OpERROR); p.code != CodeUnknownTID {
		t.Fatalf("stranger got code %d", p.code)
	}
	got = lockstepRest(c, got)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if info := logs.next(t); info.Outcome != OutcomeOK {
		t.Fatalf("got %+v", info)
	}
}

// TestBatchedLockstepShutdown: Shutdown waits for loop transfers to
// finish; when its context ends first, each running transfer's client gets
// ERROR 0 and the transfer is reported canceled before Shutdown returns.
func TestBatchedLockstepShutdown(t *testing.T) {
	requireLoop(t)
	data := randBytes(100000, 1)
	files := fstest.MapFS{"f": {Data: data}}
	t.Run("waits", func(t *testing.T) {
		logs := newInfoLog()
		srv := batchedServer(files, logs)
		srv.MinRetransmit, srv.Timeout = time.Second, 2*time.Second
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(pc) }()
		c := newTestClient(t, addrPortOf(pc.LocalAddr()))
		c.rrq("f", "octet")
		got := append([]byte(nil), c.expect(OpDATA).data...)
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(context.Background()) }()
		got = lockstepRest(c, got)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return after the transfer ended")
		}
		if !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
		if info := logs.next(t); info.Outcome != OutcomeOK {
			t.Fatalf("got %+v", info)
		}
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	})
	t.Run("aborts", func(t *testing.T) {
		logs := newInfoLog()
		srv := batchedServer(files, logs)
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(pc) }()
		var clients []*testClient
		for range 3 {
			c := newTestClient(t, addrPortOf(pc.LocalAddr()))
			c.rrq("f", "octet")
			c.expect(OpDATA)
			c.ack(1)
			c.expect(OpDATA) // and never ACK
			clients = append(clients, c)
		}
		if n := loopStarted(srv); n != 3 {
			t.Fatalf("the loop ran %d data phases, want 3", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Shutdown took %v", d)
		}
		for range clients {
			if info := logs.next(t); info.Outcome != OutcomeCanceled || info.Bytes != 512 {
				t.Fatalf("got %+v", info)
			}
		}
		for _, c := range clients {
			sawError := false
			for !sawError {
				p, _, ok := c.recv(2 * time.Second)
				if !ok {
					t.Fatal("no ERROR after Shutdown")
				}
				sawError = p.op == OpERROR
			}
		}
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	})
}

// TestBatchedLockstepBurstOfACKs: the ACKs of hundreds of lock-step
// clients that arrive while the socket's reader is busy all wait in the
// listening socket's receive buffer, none dropped: every client gets its
// next block without a retransmission. (With the kernel's default 208 KiB
// buffer, the reader busy with a batch loses part of a 200-client storm's
// ACKs; atftp re-ACKs a repeated block only once, so two losses in a row
// failed its transfer in the storm benchmark.)
func TestBatchedLockstepBurstOfACKs(t *testing.T) {
	requireLoop(t)
	const clients, copies = 400, 3
	logs := newInfoLog()
	srv := batchedServer(fstest.MapFS{"f": {Data: randBytes(5000, 3)}}, logs)
	srv.MinRetransmit, srv.Timeout = 20*time.Second, 20*time.Second
	addr := startServer(t, srv, "udp4")
	cs := make([]*testClient, clients)
	for i := range cs {
		cs[i] = newTestClient(t, addr)
		cs[i].rrq("f", "octet")
		cs[i].expect(OpDATA)
	}
	if n := loopStarted(srv); n != clients {
		t.Fatalf("the loop ran %d data phases, want %d", n, clients)
	}
	// Stall the reader, as a long batch would, and let every client's ACK
	// (sent three times: duplicates are legal) queue up.
	var lp *sendLoop
	srv.mu.Lock()
	for sc := range srv.conns {
		lp = sc.loop
	}
	srv.mu.Unlock()
	lp.mu.Lock()
	for _, c := range cs {
		for range copies {
			c.ack(1)
		}
	}
	time.Sleep(100 * time.Millisecond)
	lp.mu.Unlock()
	missing := 0
	for _, c := range cs {
		p, _, ok := c.recv(5 * time.Second)
		if !ok || p.op != OpDATA || p.block != 2 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d clients got no block 2: their ACKs were dropped", missing, clients)
	}
}

// TestSinglePortReceiveBuffer: a single-port listening socket gets room
// for a storm's ACKs (4 MiB, forced as root): with the default 208 KiB a
// 200-client lock-step storm lost ACKs in plain single-port mode too, and
// atftp, which re-ACKs a repeated block once, failed 10 of 200 transfers.
func TestSinglePortReceiveBuffer(t *testing.T) {
	requireLoop(t)
	if os.Geteuid() != 0 {
		t.Skip("SO_RCVBUFFORCE needs root; SO_RCVBUF is capped by net.core.rmem_max")
	}
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprint("batched=", batched), func(t *testing.T) {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &Server{SinglePort: true, BatchedLockstep: batched}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(pc) }()
			defer func() {
				srv.Close()
				<-errc
			}()
			// Serve sets the buffer before it reads: wait for a first answer.
			c := newTestClient(t, addrPortOf(pc.LocalAddr()))
			c.rrq("missing", "octet")
			c.expect(OpERROR)
			raw, err := pc.(*net.UDPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var size int
			raw.Control(func(fd uintptr) {
				size, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
			})
			if err != nil {
				t.Fatal(err)
			}
			if size/2 < singlePortRecvBuffer {
				t.Fatalf("receive buffer %d bytes, want at least %d", size/2, singlePortRecvBuffer)
			}
		})
	}
}

// TestBatchedLockstepReadAhead: transfers whose data phase the loop runs
// read their file loopReadAhead blocks at a time, not one pread per ACK,
// even when more transfers run than processors (no 128 KiB stage then).
func TestBatchedLockstepReadAhead(t *testing.T) {
	requireLoop(t)
	const blocks = 300
	content := randBytes(512*blocks+100, 13)
	fc, logs := newFDContent(content), newInfoLog()
	srv := batchedServer(nil, logs)
	srv.Handler = HandlerFunc(func(w ResponseWriter, r *Request) { _ = w.ServeContent(fc, int64(len(content))) })
	addr := startServer(t, srv, "udp4")
	// More transfers at once than processors: the last to start is not
	// one of the few that get the large stage.
	clients := make([]*testClient, runtime.GOMAXPROCS(0)+1)
	first := make([][]byte, len(clients))
	for i := range clients {
		clients[i] = newTestClient(t, addr)
		clients[i].rrq("f", "octet")
	}
	for i, c := range clients {
		first[i] = c.expect(OpDATA).data
	}
	for i, c := range clients {
		if got := lockstepRest(c, first[i]); !bytes.Equal(got, content) {
			t.Fatalf("client %d: content differs", i)
		}
	}
	for range clients {
		if info := logs.next(t); info.Outcome != OutcomeOK {
			t.Fatalf("got %+v", info)
		}
	}
	if n := loopStarted(srv); n != int64(len(clients)) {
		t.Fatalf("loop took %d data phases, want %d", n, len(clients))
	}
	// Four blocks per read or more on average (loopReadAhead is 5).
	if reads, most := len(fc.offsets()), len(clients)*(blocks+1)/4; reads > most {
		t.Fatalf("%d file reads for %d transfers of %d blocks, want at most %d", reads, len(clients), blocks+1, most)
	}
}
