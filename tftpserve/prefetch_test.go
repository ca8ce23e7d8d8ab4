package tftpserve

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fdContent is content served with ServeContent that looks like a file
// (it has Fd, so the transfer stages its reads) and records the offset of
// every ReadAt.
type fdContent struct {
	r    *bytes.Reader
	mu   sync.Mutex
	offs []int64
	read chan struct{} // gets a value (if there is room) after each ReadAt
}

func newFDContent(b []byte) *fdContent {
	return &fdContent{r: bytes.NewReader(b), read: make(chan struct{}, 1)}
}

// serveFDContent starts a server that serves content, as a file, for
// every request, and reports its transfers to info.
func serveFDContent(t *testing.T, content []byte) (fc *fdContent, info *infoLog, addr netip.AddrPort) {
	fc, info = newFDContent(content), newInfoLog()
	srv := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		_ = w.ServeContent(fc, int64(len(content)))
	}), OnTransfer: info.hook}
	return fc, info, startServer(t, srv, "udp4")
}

func (c *fdContent) Fd() uintptr { return ^uintptr(0) }

func (c *fdContent) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.offs = append(c.offs, off)
	c.mu.Unlock()
	select {
	case c.read <- struct{}{}:
	default:
	}
	return c.r.ReadAt(p, off)
}

func (c *fdContent) offsets() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.offs...)
}

// hasRead reports whether a ReadAt covered offset off.
func (c *fdContent) hasRead(off int64, stage int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.offs {
		if o <= off && off < o+int64(stage) {
			return true
		}
	}
	return false
}

// TestWindowReadAheadWhileWaiting: after sending a window, the transfer
// reads the next window's blocks from the file while it waits for the
// ACK, so that the file read is not between the ACK and the next window
// (on loopback it was a fifth of that time), and the read covers the whole
// next window up to 64 blocks of 1468 bytes. The client here checks, for
// every window, that the first and the last block of the next one were
// read before it sends its ACK (waiting up to 5 s for the read, so that a
// loaded machine does not fail the test), then that the whole content
// arrived intact.
func TestWindowReadAheadWhileWaiting(t *testing.T) {
	for _, tc := range []struct{ bs, window int }{{512, 4}, {1468, 16}, {1468, 64}} {
		t.Run(fmt.Sprintf("blksize%d/window%d", tc.bs, tc.window), func(t *testing.T) {
			bs, window := tc.bs, tc.window
			content := randBytes(bs*window*4+100, 7)
			fc, info, addr := serveFDContent(t, content)
			c := newTestClient(t, addr)
			_ = c.pc.(*net.UDPConn).SetReadBuffer(4 << 20)
			c.rrq("f", "octet", Option{"blksize", strconv.Itoa(bs)}, Option{"windowsize", strconv.Itoa(window)})
			c.expect(OpOACK)
			c.ack(0)
			var got []byte
			var block uint16
			// The stage the server takes for its only transfer.
			stage := stageLen(fc, int64(len(content)), window, bs, 1 < runtime.GOMAXPROCS(0))
			for {
				p := c.expect(OpDATA)
				if p.block != block+1 {
					continue // a retransmission (the machine is slow to ACK): ignored
				}
				block = p.block
				got = append(got, p.data...)
				if len(p.data) < bs {
					c.ack(block)
					break
				}
				if int(block)%window != 0 {
					continue
				}
				first := int64(block) * int64(bs) // offsets of the next window's first and last blocks
				last := min(first+int64(window-1)*int64(bs), int64(len(content)-1))
				deadline := time.After(5 * time.Second)
				for !fc.hasRead(first, stage) || !fc.hasRead(last, stage) {
					select {
					case <-fc.read:
					case <-time.After(time.Millisecond):
					case <-deadline:
						t.Fatalf("window ending at block %d: the next window (offsets %d to %d) was not read before the ACK (reads at %v, stage %d bytes)", block, first, last, fc.offsets(), stage)
					}
				}
				c.ack(block)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("got %d bytes, want %d, content differs", len(got), len(content))
			}
			if ti := info.next(t); ti.Outcome != OutcomeOK {
				t.Fatalf("transfer: outcome %s, err %v; want ok", ti.Outcome, ti.Err)
			}
		})
	}
}
