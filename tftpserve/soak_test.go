package tftpserve

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxekit/pxekit/internal/faultnet"
)

// TestSoak: 100 transfers for each of windowsize 1, 8 and 16 through a
// network that loses 5 %, duplicates 2 % and reorders 5 % of the datagrams
// in both directions (deterministic seeds) all arrive byte-exact, and the
// server reports every one of them ok: nothing lost, nothing failed.
func TestSoak(t *testing.T) {
	const (
		transfers = 100
		workers   = 25
	)
	rates := faultnet.Rates{Loss: 0.05, Duplicate: 0.02, Reorder: 0.05}
	for _, win := range []int{1, 8, 16} {
		t.Run("window"+strconv.Itoa(win), func(t *testing.T) {
			t.Parallel()
			files := fstest.MapFS{}
			for i := 0; i < transfers; i++ {
				n := 8000 + (i*7919)%40000
				if i%10 == 0 {
					n = 1468 * (i%7 + 5) // ends with an empty block
				}
				files["f"+strconv.Itoa(i)] = &fstest.MapFile{Data: randBytes(n, int64(win*1000+i))}
			}
			logs := newInfoLog()
			// A retransmission ceiling of 200 ms keeps lost OACKs and final
			// ACKs cheap; with 10 retries a transfer still survives 2 s
			// without progress on a loaded machine.
			srv := &Server{Handler: FS(files), OnTransfer: logs.hook, Timeout: 200 * time.Millisecond, Retries: 10}
			addr := startServer(t, srv, "udp4")
			relay := relayTo(t, addr, int64(1000+win), rates, rates)

			start := time.Now()
			var mu sync.Mutex
			var failures []string
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < transfers; i += workers {
						name := "f" + strconv.Itoa(i)
						opts := []Option{{"blksize", "1468"}, {"tsize", "0"}, {"windowsize", strconv.Itoa(win)}}
						if win == 1 && i%4 == 0 {
							opts = nil // plain RFC 1350: 512-byte blocks, no OACK
						}
						c := newTestClient(t, relay.Addr())
						// After its final ACK the client dallies until it has
						// heard nothing for 1 s: five server retransmission
						// ceilings, so a lost final ACK is answered again even
						// when several of the server's retransmissions are lost
						// too (else the server, never told, reports a timeout).
						res, err := c.fetch(name, fetchOpts{window: win, timeout: 200 * time.Millisecond, deadline: 40 * time.Second, dally: time.Second}, opts...)
						if err == nil && !bytes.Equal(res.data, files[name].Data) {
							err = fmt.Errorf("got %d bytes, want %d (content differs)", len(res.data), len(files[name].Data))
						}
						if err != nil {
							mu.Lock()
							failures = append(failures, name+": "+err.Error())
							mu.Unlock()
						}
					}
				}(w)
			}
			wg.Wait()
			elapsed := time.Since(start)
			var packets, retransmits int64
			for i := 0; i < transfers; i++ {
				info := logs.next(t)
				packets += info.Packets
				retransmits += info.Retransmits
				if info.Outcome != OutcomeOK {
					failures = append(failures, fmt.Sprintf("server: %s %s: %v", info.Filename, info.Outcome, info.Err))
				}
			}
			up, down := relay.Stats()
			t.Logf("window %d: %d transfers in %v; server sent %d DATA, %d retransmitted; relay up %+v down %+v",
				win, transfers, elapsed.Round(time.Millisecond), packets, retransmits, up, down)
			if len(failures) > 0 {
				t.Fatalf("%d failures:\n%v", len(failures), failures)
			}
			if up.Dropped == 0 || down.Dropped == 0 || up.Duplicated == 0 || down.Reordered == 0 {
				t.Fatalf("the relay injected too few faults: up %+v down %+v", up, down)
			}
		})
	}
}
