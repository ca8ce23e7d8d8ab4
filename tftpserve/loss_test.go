package tftpserve

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxekit/pxekit/internal/faultnet"
)

// relayTo starts a faultnet relay in front of a server.
func relayTo(t *testing.T, server netip.AddrPort, seed int64, up, down faultnet.Rates) *faultnet.Relay {
	t.Helper()
	r, err := faultnet.StartRelay(faultnet.RelayConfig{Listen: "127.0.0.1:0", Upstream: server, Seed: seed, Up: up, Down: down})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestLossDuplicationReordering: through 1 %, 5 % and 20 % loss with
// duplicates and reordering in both directions, every transfer either
// arrives byte-exact or ends with a clear error within its bound.
func TestLossDuplicationReordering(t *testing.T) {
	for _, loss := range []float64{0.01, 0.05, 0.20} {
		for _, win := range []int{1, 4, 16} {
			for _, edk2 := range []bool{false, true} {
				if edk2 && win == 1 {
					continue
				}
				name := fmt.Sprintf("loss%.0f%%/window%d/edk2=%v", loss*100, win, edk2)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					size := 300_000
					if loss >= 0.2 {
						size = 60_000
					}
					data := randBytes(size, int64(win))
					logs := newInfoLog()
					srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook, Timeout: 500 * time.Millisecond}
					addr := startServer(t, srv, "udp4")
					rates := faultnet.Rates{Loss: loss, Duplicate: 0.05, Reorder: 0.05}
					relay := relayTo(t, addr, int64(win)*1000+int64(loss*100), rates, rates)
					c := newTestClient(t, relay.Addr())
					start := time.Now()
					res, err := c.fetch("f", fetchOpts{window: win, timeout: 200 * time.Millisecond, deadline: 60 * time.Second, edk2: edk2},
						Option{"blksize", "1468"}, Option{"windowsize", fmt.Sprint(win)}, Option{"tsize", "0"})
					elapsed := time.Since(start)
					info := logs.next(t)
					up, down := relay.Stats()
					t.Logf("%v in %v: server sent %d packets, %d retransmits; relay up %+v down %+v", info.Outcome, elapsed.Round(time.Millisecond), info.Packets, info.Retransmits, up, down)
					if !lossyFetchDelivered(t, err, info, res.data, data) {
						return
					}
					if down.Dropped+up.Dropped == 0 && loss >= 0.05 {
						t.Fatal("the relay dropped nothing: the test tested nothing")
					}
				})
			}
		}
	}
}

// TestDuplicatedACKsThroughRelay: with half the client's ACKs duplicated
// and reordered by the network, the server sends each block once.
func TestDuplicatedACKsThroughRelay(t *testing.T) {
	data := randBytes(1468*300+5, 11)
	for _, win := range []int{1, 4, 16} {
		t.Run(fmt.Sprint("window", win), func(t *testing.T) {
			logs := newInfoLog()
			srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), OnTransfer: logs.hook, MinRetransmit: time.Second, Timeout: 2 * time.Second}
			res, info, dups := fetchDuplicatedACKs(t, srv, logs, data, fetchOpts{window: win, timeout: 3 * time.Second},
				Option{"blksize", "1468"}, Option{"windowsize", fmt.Sprint(win)})
			blocks := int64(len(data)/1468 + 1)
			if info.Packets != blocks || info.Retransmits != 0 || res.dupData != 0 {
				t.Fatalf("%d duplicated ACKs made the server send %d packets (%d retransmits) for %d blocks", dups, info.Packets, info.Retransmits, blocks)
			}
		})
	}
}

// fetchDuplicatedACKs fetches "f" from srv through a relay that duplicates
// half the client's ACKs and reorders a fifth, checks the content and that
// the relay did duplicate, and returns the fetch, the server's report and
// how many ACKs were duplicated.
func fetchDuplicatedACKs(t *testing.T, srv *Server, logs *infoLog, data []byte, fo fetchOpts, opts ...Option) (fetchResult, TransferInfo, uint64) {
	t.Helper()
	addr := startServer(t, srv, "udp4")
	relay := relayTo(t, addr, 5, faultnet.Rates{Duplicate: 0.5, Reorder: 0.2}, faultnet.Rates{})
	c := newTestClient(t, relay.Addr())
	res, err := c.fetch("f", fo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.data, data) {
		t.Fatal("content differs")
	}
	up, _ := relay.Stats()
	info := logs.next(t)
	if up.Duplicated == 0 {
		t.Fatal("no ACK was duplicated")
	}
	return res, info, up.Duplicated
}

// TestLossyClientGivesUpCleanly: a client behind a link that loses
// everything after the OACK gets no hang: the server ends with ErrTimeout
// within Retries × Timeout plus the backoff ramp.
func TestLossyClientGivesUpCleanly(t *testing.T) {
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: randBytes(100000, 1)}}), OnTransfer: logs.hook, Timeout: 200 * time.Millisecond, Retries: 3}
	addr := startServer(t, srv, "udp4")
	relay := relayTo(t, addr, 1, faultnet.Rates{}, faultnet.Rates{Loss: 1})
	c := newTestClient(t, relay.Addr())
	start := time.Now()
	c.rrq("f", "octet")
	info := logs.next(t)
	if info.Outcome != OutcomeTimeout || !errors.Is(info.Err, ErrTimeout) {
		t.Fatalf("%+v", info)
	}
	// The RTO starts at the 200 ms ceiling: 4 timeouts before giving up.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// lossyFetchDelivered checks a fetch over a lossy path: either the client
// got exactly want, or both sides report the failure (a clean failure,
// logged; it returns false). A client failure the server reports as a
// success, or corrupted data, fails t.
func lossyFetchDelivered(t *testing.T, err error, info TransferInfo, got, want []byte) bool {
	t.Helper()
	if err != nil {
		if info.Outcome == OutcomeOK || info.Err == nil {
			t.Fatalf("client failed (%v) but server reported %+v", err, info)
		}
		t.Logf("clean failure: client %v, server %v", err, info.Err)
		return false
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("corrupted: got %d bytes, want %d", len(got), len(want))
	}
	return true
}
