package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/faultnet"
)

// atLeastTwoProcs makes the server see "few transfers" (fewer than
// GOMAXPROCS) for a test's single transfer, whatever -cpu the test runs
// with.
func atLeastTwoProcs(t *testing.T) {
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

// TestLockstepReadAheadWhileFew: a lock-step transfer of a file, alone on
// the server, reads the file in stages of many blocks, not one read (one
// system call) per block on the way from each ACK to the next DATA; and
// the content arrives intact.
func TestLockstepReadAheadWhileFew(t *testing.T) {
	atLeastTwoProcs(t)
	const bs, blocks = 512, 300
	content := randBytes(bs*blocks+100, 11)
	fc, info, addr := serveFDContent(t, content)
	c := newTestClient(t, addr)
	res, err := c.fetch("f", fetchOpts{window: 1, timeout: 500 * time.Millisecond, deadline: 60 * time.Second})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if !bytes.Equal(res.data, content) {
		t.Fatalf("got %d bytes, want %d; content differs", len(res.data), len(content))
	}
	if ti := info.next(t); ti.Outcome != OutcomeOK {
		t.Fatalf("transfer: outcome %s, err %v; want ok", ti.Outcome, ti.Err)
	}
	if reads := len(fc.offsets()); reads > (blocks+1)/20 {
		t.Fatalf("%d file reads for %d blocks, want at most %d (a read-ahead stage)", reads, blocks+1, (blocks+1)/20)
	}
}

// TestFastLockstepLostACKs: a lock-step transfer of a file alone on the
// server (read-ahead stage, busy-polling and raw receives on), through a
// relay that drops ACKs: the server retransmits the block whose ACK was
// lost, from its ring slot, although the stage has moved on, and the file
// arrives intact.
func TestFastLockstepLostACKs(t *testing.T) {
	atLeastTwoProcs(t)
	dir := t.TempDir()
	content := randBytes(1468*400+7, 12)
	if err := os.WriteFile(filepath.Join(dir, "f"), content, 0o644); err != nil {
		t.Fatalf("os.WriteFile: %v", err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatalf("OpenDir(dir): %v", err)
	}
	info := newInfoLog()
	srv := &Server{Handler: d, OnTransfer: info.hook, MinRetransmit: 20 * time.Millisecond, Timeout: 500 * time.Millisecond}
	addr := startServer(t, srv, "udp4")
	relay := relayTo(t, addr, 19, faultnet.Rates{Loss: 0.05}, faultnet.Rates{})
	c := newTestClient(t, relay.Addr())
	res, err := c.fetch("f", fetchOpts{window: 1, timeout: 200 * time.Millisecond, deadline: 120 * time.Second}, Option{"blksize", "1468"})
	ti := info.next(t)
	up, _ := relay.Stats()
	if !lossyFetchDelivered(t, err, ti, res.data, content) {
		t.Fatalf("transfer failed: %v (server: %v %v)", err, ti.Outcome, ti.Err)
	}
	if up.Dropped == 0 || ti.Retransmits == 0 {
		t.Fatalf("relay dropped %d ACKs, server retransmitted %d blocks: want both > 0", up.Dropped, ti.Retransmits)
	}
}

// TestFastLockstepShutdown: Shutdown ends a fast lock-step transfer whose
// client answers every block at once (the server may catch each ACK by
// busy-polling and never park on the poller) promptly, and tells the
// client.
func TestFastLockstepShutdown(t *testing.T) {
	atLeastTwoProcs(t)
	info := newInfoLog()
	srv := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		_ = w.ServeContent(zeros{}, 1<<40)
	}), OnTransfer: info.hook}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(pc) }()
	c := newTestClient(t, addrPortOf(pc.LocalAddr()))
	c.rrq("f", "octet")
	got := make(chan packet, 1)
	blocks := make(chan uint16, 1)
	go func() {
		for {
			_ = c.pc.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, from, err := c.pc.ReadFrom(c.buf)
			if err != nil {
				got <- packet{}
				return
			}
			p, err := parsePacket(c.buf[:n])
			if err != nil {
				continue
			}
			if p.op != OpDATA {
				got <- p
				return
			}
			if p.block == 1000 {
				blocks <- p.block
			}
			_, _ = c.pc.WriteTo(appendACK(nil, p.block), from)
		}
	}()
	select {
	case <-blocks:
	case <-time.After(30 * time.Second):
		t.Fatal("the transfer did not reach block 1000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	select {
	case p := <-got:
		if p.op != OpERROR || p.msg != "server shutting down" {
			t.Fatalf("client got %v %q, want ERROR \"server shutting down\"", p.op, p.msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client was not told")
	}
	if ti := info.next(t); ti.Outcome != OutcomeCanceled {
		t.Fatalf("transfer: outcome %s, want %s", ti.Outcome, OutcomeCanceled)
	}
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

// zeros is endless content of zero bytes.
type zeros struct{}

func (zeros) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}

// TestRecvCanceledWhileWaiting: a transfer socket's receive, parked on the
// poller (the raw receive on Linux), returns the context's error soon
// after the context ends, long before its deadline.
func TestRecvCanceledWhileWaiting(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := newSockLink(ctx, pc, netip.MustParseAddrPort("127.0.0.1:9"))
	defer l.close()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err = l.recv(ctx, make([]byte, 64), time.Now().Add(time.Minute))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("recv: %v, want %v", err, context.Canceled)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("recv returned after %v", d)
	}
}
