package tftpserve

import (
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// TestOnProgress: a transfer that takes a while reports its progress
// while it runs — first at the start (nothing acknowledged yet, the
// negotiated options and size known), then growing acknowledged bytes at
// most once per ProgressInterval — and a size probe, which sends no data,
// reports none.
func TestOnProgress(t *testing.T) {
	const blocks = 30
	data := randBytes(512*blocks+100, 3)
	var mu sync.Mutex
	var seen []TransferInfo
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook,
		ProgressInterval: 20 * time.Millisecond, MinRetransmit: time.Second, Timeout: 2 * time.Second,
		OnProgress: func(i TransferInfo) {
			mu.Lock()
			seen = append(seen, i)
			mu.Unlock()
		}}
	addr := startServer(t, srv, "udp4")

	// A size probe: OACK, then the client's ERROR 8.
	probe := newTestClient(t, addr)
	probe.rrq("f", "octet", Option{"tsize", "0"})
	probe.expect(OpOACK)
	probe.sendTo(probe.tid, appendError(nil, CodeOptionRefused, "size only"))
	if info := logs.next(t); info.Outcome != OutcomeSizeProbe {
		t.Fatalf("probe: OnTransfer got %+v, want a size probe", info)
	}
	mu.Lock()
	if len(seen) != 0 {
		t.Errorf("size probe: OnProgress called %d times (%+v), want none", len(seen), seen)
	}
	mu.Unlock()

	// A slow lock-step client: 5 ms before each ACK, so the transfer
	// lasts about 150 ms and crosses several 20 ms intervals.
	c := newTestClient(t, addr)
	c.rrq("f", "octet", Option{"tsize", "0"})
	c.expect(OpOACK)
	c.ack(0)
	var got int
	for blk := uint16(1); ; blk++ {
		p := c.expect(OpDATA)
		if p.block != blk {
			t.Fatalf("DATA block %d, want %d", p.block, blk)
		}
		got += len(p.data)
		time.Sleep(5 * time.Millisecond)
		c.ack(blk)
		if len(p.data) < 512 {
			break
		}
	}
	end := logs.next(t)
	if end.Outcome != OutcomeOK || end.Bytes != int64(len(data)) || got != len(data) {
		t.Fatalf("OnTransfer got %+v (client read %d bytes), want ok with %d bytes", end, got, len(data))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 {
		t.Fatalf("OnProgress called %d times during a ~150 ms transfer with a 20 ms interval, want at least 3: %+v", len(seen), seen)
	}
	first := seen[0]
	if first.Bytes != 0 || first.Size != int64(len(data)) || first.Filename != "f" || first.Path != "f" || first.BlockSize != 512 || first.Outcome != "" {
		t.Errorf("first OnProgress = %+v, want 0 bytes of %d, file f, blksize 512, no outcome", first, len(data))
	}
	for i := 1; i < len(seen); i++ {
		prev, cur := seen[i-1], seen[i]
		if cur.Bytes <= prev.Bytes || cur.Bytes >= int64(len(data)) || cur.Bytes%512 != 0 {
			t.Errorf("OnProgress #%d: %d bytes after %d: want more, a whole number of blocks, short of %d", i, cur.Bytes, prev.Bytes, len(data))
		}
		if gap := cur.Duration - prev.Duration; gap < 20*time.Millisecond {
			t.Errorf("OnProgress #%d came %v after the one before, want at least the 20 ms ProgressInterval", i, gap)
		}
		if cur.Client != first.Client || !cur.Start.Equal(first.Start) {
			t.Errorf("OnProgress #%d is of another transfer: %+v", i, cur)
		}
	}
}
