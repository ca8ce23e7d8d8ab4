package tftpserve

import (
	"errors"
	"fmt"
	"testing"
	"testing/fstest"
	"time"
)

// TestTimeoutOptionCap: a timeout option above the server's cap is left out
// of the OACK (RFC 2349 allows no other value, and U-Boot aborts on one);
// within the cap it is echoed. The zero Server has a cap.
func TestTimeoutOptionCap(t *testing.T) {
	data := randBytes(3000, 1)
	for _, tc := range []struct {
		name       string
		maxTimeout int
		asked      string
		want       []Option
	}{
		{"default cap drops 255", 0, "255", []Option{{"tsize", "3000"}}},
		{"default cap keeps U-Boot's 5", 0, "5", []Option{{"timeout", "5"}, {"tsize", "3000"}}},
		{"default cap keeps 10", 0, "10", []Option{{"timeout", "10"}, {"tsize", "3000"}}},
		{"configured cap drops 5", 3, "5", []Option{{"tsize", "3000"}}},
		{"configured cap keeps 3", 3, "3", []Option{{"timeout", "3"}, {"tsize", "3000"}}},
		{"negative cap never grants", -1, "1", []Option{{"tsize", "3000"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &Server{Handler: ContentFunc(func(*Request) ([]byte, error) { return data, nil }), MaxTimeout: tc.maxTimeout}
			c := newTestClient(t, startServer(t, srv, "udp4"))
			c.rrq("x", "octet", Option{"timeout", tc.asked}, Option{"tsize", "0"})
			p := c.expect(OpOACK)
			if fmt.Sprint(p.options) != fmt.Sprint(tc.want) {
				t.Fatalf("OACK %v, want %v", p.options, tc.want)
			}
			c.sendTo(c.tid, appendError(nil, CodeOptionRefused, "done"))
		})
	}
}

// TestUnackedHugeTimeoutFreesSlot: an RRQ asking timeout=255 that is never
// ACKed must not hold the only slot for 255 s × retries; the server gives
// up on its own timeout and the next client is served.
func TestUnackedHugeTimeoutFreesSlot(t *testing.T) {
	logs := newInfoLog()
	data := randBytes(5000, 2)
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook,
		MaxTransfers: 1, QueueTimeout: 100 * time.Millisecond, Timeout: 200 * time.Millisecond, Retries: 2}
	addr := startServer(t, srv, "udp4")
	a := newTestClient(t, addr)
	a.rrq("f", "octet", Option{"timeout", "255"}, Option{"blksize", "1024"})
	a.expect(OpOACK) // never ACKed
	// Retries+1 timeouts of 200 ms: about 0.6 s. Allow 15 s on a loaded machine.
	deadline := time.Now().Add(15 * time.Second)
	for {
		b := newTestClient(t, addr)
		res, err := b.fetch("f", fetchOpts{deadline: 5 * time.Second})
		if err == nil {
			if string(res.data) != string(data) {
				t.Fatalf("got %d bytes, want %d", len(res.data), len(data))
			}
			break
		}
		var te *Error
		if !errors.As(err, &te) || te.Message != "server busy" {
			t.Fatalf("second client: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the unacknowledged transfer still holds the only slot after 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if info := logs.next(t); info.Outcome != OutcomeTimeout {
		t.Fatalf("abandoned transfer: %+v", info)
	}
}

// TestTransferTimeLimit: a client that ACKs just often enough to survive
// the retransmission timer is cut off at TransferTimeout with an ERROR, is
// reported as failed with ErrTransferTimeLimit, and its slot is freed.
func TestTransferTimeLimit(t *testing.T) {
	logs := newInfoLog()
	data := randBytes(512*200, 3)
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook,
		MaxTransfers: 1, QueueTimeout: 100 * time.Millisecond, Timeout: 5 * time.Second,
		TransferTimeout: time.Second}
	addr := startServer(t, srv, "udp4")
	a := newTestClient(t, addr)
	start := time.Now()
	a.rrq("f", "octet")
	var errPkt packet
	for got := uint16(0); time.Since(start) < 20*time.Second; {
		p, _, ok := a.recv(5 * time.Second)
		if !ok {
			t.Fatal("server went silent instead of sending an ERROR")
		}
		if p.op == OpERROR {
			errPkt = p
			break
		}
		if p.op == OpDATA && p.block == got+1 {
			got++
			time.Sleep(150 * time.Millisecond) // slow, but well inside the retransmission timeout
			a.ack(got)
		}
	}
	elapsed := time.Since(start)
	if errPkt.op != OpERROR || errPkt.msg != "transfer time limit reached" {
		t.Fatalf("client got %v %q, want ERROR \"transfer time limit reached\"", errPkt.op, errPkt.msg)
	}
	if elapsed < 900*time.Millisecond || elapsed > 10*time.Second {
		t.Fatalf("cut off after %v, limit 1s", elapsed)
	}
	info := logs.next(t)
	if info.Outcome != OutcomeFailed || !errors.Is(info.Err, ErrTransferTimeLimit) {
		t.Fatalf("report: outcome %s err %v, want failed with ErrTransferTimeLimit", info.Outcome, info.Err)
	}
	b := newTestClient(t, addr)
	if res, err := b.fetch("f", fetchOpts{window: 1}); err != nil || string(res.data) != string(data) {
		t.Fatalf("after the limit freed the slot: %v (%d bytes)", err, len(res.data))
	}
}

// TestDefaultTransferTimeLimit: the zero Server bounds every transfer by
// DefaultTransferTimeout; a negative TransferTimeout removes the bound.
func TestDefaultTransferTimeLimit(t *testing.T) {
	for _, tc := range []struct {
		limit time.Duration
		want  time.Duration // 0: no deadline
	}{{0, DefaultTransferTimeout}, {time.Hour, time.Hour}, {-1, 0}} {
		deadlines := make(chan time.Duration, 1)
		srv := &Server{TransferTimeout: tc.limit, Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
			d, ok := r.Context().Deadline()
			if !ok {
				deadlines <- 0
			} else {
				deadlines <- time.Until(d)
			}
			w.WriteError(ErrNotFound)
		})}
		c := newTestClient(t, startServer(t, srv, "udp4"))
		c.rrq("f", "octet")
		c.expect(OpERROR)
		got := <-deadlines
		if tc.want == 0 && got != 0 || tc.want != 0 && (got <= tc.want-time.Minute || got > tc.want) {
			t.Errorf("TransferTimeout %v: handler's deadline in %v, want about %v", tc.limit, got, tc.want)
		}
	}
}
