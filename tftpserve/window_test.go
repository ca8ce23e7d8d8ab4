package tftpserve

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

// ringClientResult is what a ringClient download saw.
type ringClientResult struct {
	data  []byte
	drops int // DATA packets the simulated receive ring had no room for
	acks  int
}

// ringDownload runs a download like U-Boot's TFTP client behind a NIC
// whose receive ring holds ring packets (net/tftp.c): it asks windowsize
// want, ACKs when the block it reached is the next window boundary, ACKs
// the last in-order block once per gap on any unexpected block (moving the
// boundary to that block + windowsize), and re-ACKs after timeout of
// silence. The ring empties when the client sends an ACK (it has caught
// up) or after a pause in arrivals; DATA arriving while it holds ring
// packets is dropped, as the NIC would.
func ringDownload(t *testing.T, c *testClient, name string, want, ring int, deadline time.Duration) (ringClientResult, error) {
	t.Helper()
	const blksize = 1468
	const drainGap = 20 * time.Millisecond // a pause this long lets the ring empty
	var res ringClientResult
	c.rrq(name, "octet", Option{"blksize", strconv.Itoa(blksize)}, Option{"windowsize", strconv.Itoa(want)})
	window := int64(1)
	var cur, nextAck int64
	lastNack := int64(-1)
	held := 0
	var lastArrival time.Time
	ack := func() {
		c.ack(uint16(cur))
		res.acks++
		held = 0
	}
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		p, from, ok := c.recv(300 * time.Millisecond)
		if !ok {
			if c.tid.IsValid() {
				ack()
			}
			continue
		}
		if now := time.Now(); now.Sub(lastArrival) >= drainGap {
			held = 0
		}
		lastArrival = time.Now()
		if from != c.tid {
			continue
		}
		switch p.op {
		case OpOACK:
			if cur > 0 {
				continue
			}
			for _, o := range p.options {
				if lower(o.Name) == "windowsize" {
					window, _ = strconv.ParseInt(o.Value, 10, 64)
				}
			}
			nextAck = window
			ack()
		case OpDATA:
			if held >= ring {
				res.drops++
				continue
			}
			held++
			k := cur + int64(uint16(p.block-uint16(cur)))
			if k != cur+1 {
				if lastNack != cur {
					lastNack = cur
					nextAck = cur + window
					ack()
				}
				continue
			}
			cur = k
			res.data = append(res.data, p.data...)
			if len(p.data) < blksize {
				ack()
				return res, nil
			}
			if cur == nextAck {
				nextAck += window
				ack()
			}
		case OpERROR:
			return res, &Error{Code: p.code, Message: p.msg}
		}
	}
	return res, fmt.Errorf("deadline after %d blocks, %d drops", cur, res.drops)
}

// TestWindowShrinksToClientRing: a client that asks windowsize 64 but whose
// NIC ring holds 31 packets (U-Boot on small boards) loses the rest of
// every 64-packet window. The server must notice that the ACKs cover only
// part of each window, send smaller windows, and still deliver the file
// byte-exact; the record and the log show the smallest window used.
func TestWindowShrinksToClientRing(t *testing.T) {
	data := randBytes(1468*1000+100, 14)
	logs := newInfoLog()
	var logBuf syncbuf.Buffer
	srv := &Server{Handler: FS(fstest.MapFS{"u-boot.itb": {Data: data}}), OnTransfer: logs.hook,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
	c := newTestClient(t, startServer(t, srv, "udp4"))
	res, err := ringDownload(t, c, "u-boot.itb", 64, 31, 60*time.Second)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if !bytes.Equal(res.data, data) {
		t.Fatalf("got %d bytes, want %d", len(res.data), len(data))
	}
	info := logs.next(t)
	t.Logf("drops %d, acks %d, server: windowsize %d, smallest %d, packets %d, retransmits %d, %v",
		res.drops, res.acks, info.WindowSize, info.MinWindowSize, info.Packets, info.Retransmits, info.Duration)
	blocks := len(data)/1468 + 1
	// Before the server adapts, each 64-block window loses 33 blocks: more
	// drops than blocks in all. Finding the ring costs a few windows.
	if res.drops > blocks/4 {
		t.Errorf("the client's ring overflowed %d times for %d blocks: the window did not adapt", res.drops, blocks)
	}
	if info.Outcome != OutcomeOK || info.WindowSize != 64 || info.MinWindowSize < 1 || info.MinWindowSize > 31 {
		t.Errorf("record: outcome %s windowsize %d smallest %d, want ok, 64 and at most 31", info.Outcome, info.WindowSize, info.MinWindowSize)
	}
	if want := "windowsize_min=" + strconv.Itoa(info.MinWindowSize); !strings.Contains(logBuf.String(), want) {
		t.Errorf("log line lacks %s:\n%s", want, logBuf.String())
	}
}

// TestWindowKeptForGoodClients: a client that takes every window keeps the
// negotiated window for the whole transfer.
func TestWindowKeptForGoodClients(t *testing.T) {
	data := randBytes(1468*500+7, 15)
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook}
	c := newTestClient(t, startServer(t, srv, "udp4"))
	res, err := ringDownload(t, c, "f", 16, 1000, 60*time.Second)
	if err != nil || !bytes.Equal(res.data, data) {
		t.Fatalf("download: %v (%d bytes)", err, len(res.data))
	}
	if info := logs.next(t); info.WindowSize != 16 || info.MinWindowSize != 16 {
		t.Fatalf("windowsize %d smallest %d, want 16 and 16", info.WindowSize, info.MinWindowSize)
	}
}
