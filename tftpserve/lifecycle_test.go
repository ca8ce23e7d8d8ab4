package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

// transferLines returns the "tftp transfer" lines logged so far.
func transferLines(s *syncbuf.Buffer) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.Contains(l, `msg="tftp transfer"`) {
			out = append(out, l)
		}
	}
	return out
}

func textLogger(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// pinFetch downloads name with pin/tftp's client and returns what it got
// and the error it reported.
func pinFetch(addr, name string) ([]byte, error) {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		return nil, err
	}
	c.RequestTSize(true)
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), err
}

// TestStreamSizeMismatchFails: a streaming handler that announces a size
// with SetSize and writes less (or more) must not end in a clean
// end-of-file: the client gets an ERROR and the transfer is a failure.
func TestStreamSizeMismatchFails(t *testing.T) {
	for _, tc := range []struct {
		name          string
		announced, wr int
	}{
		{"short", 100000, 10000},
		{"short by a block boundary", 4096, 2048},
		{"long", 10000, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := newInfoLog()
			var logBuf syncbuf.Buffer
			data := randBytes(tc.wr, 3)
			srv := &Server{
				Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
					w.SetSize(int64(tc.announced))
					_, _ = w.Write(data)
				}),
				OnTransfer: logs.hook,
				Logger:     textLogger(&logBuf),
			}
			addr := startServer(t, srv, "udp4")
			got, err := pinFetch(addr.String(), "f")
			if err == nil {
				t.Fatalf("client saw a clean end of file after %d of %d announced bytes", len(got), tc.announced)
			}
			info := logs.next(t)
			if info.Outcome != OutcomeFailed || info.Err == nil || !strings.Contains(info.Err.Error(), "size") {
				t.Fatalf("reported %v (%v), want failed with a size error", info.Outcome, info.Err)
			}
			if lines := transferLines(&logBuf); len(lines) != 1 || !strings.Contains(lines[0], "outcome=failed") {
				t.Fatalf("log lines %q", lines)
			}
		})
	}
	// An exact size still works, including a multiple of the block size.
	for _, n := range []int{0, 1, 512, 1024, 5000} {
		data := randBytes(n, 4)
		srv := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
			w.SetSize(int64(n))
			for b := data; len(b) > 0; b = b[min(len(b), 700):] {
				if _, err := w.Write(b[:min(len(b), 700)]); err != nil {
					return
				}
			}
		})}
		addr := startServer(t, srv, "udp4")
		got, err := pinFetch(addr.String(), "f")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("exact size %d: %v, %d bytes", n, err, len(got))
		}
	}
}

// TestStreamCutByShutdownFails: a streaming handler whose request context
// is cancelled by a forced Shutdown stops writing; the client must get an
// ERROR, not a short block that looks like the end of the file.
func TestStreamCutByShutdownFails(t *testing.T) {
	const announced, written = 204800, 28672
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single-port=%v", single), func(t *testing.T) {
			logs := newInfoLog()
			wrote := make(chan struct{})
			srv := &Server{
				SinglePort: single,
				Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
					w.SetSize(announced)
					if _, err := w.Write(randBytes(written, 5)); err != nil {
						return
					}
					close(wrote)
					<-r.Context().Done() // a generator that stops when told
				}),
				OnTransfer: logs.hook,
			}
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = srv.Serve(pc) }()
			type result struct {
				n   int
				err error
			}
			resc := make(chan result, 1)
			go func() {
				got, err := pinFetch(pc.LocalAddr().String(), "f")
				resc <- result{len(got), err}
			}()
			select {
			case <-wrote:
			case <-time.After(10 * time.Second):
				t.Fatal("handler never got its bytes out")
			}
			// The grace lets the client acknowledge what was written; then the
			// context ends the handler.
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown: %v", err)
			}
			var res result
			select {
			case res = <-resc:
			case <-time.After(10 * time.Second):
				t.Fatal("client hangs")
			}
			if res.err == nil {
				t.Fatalf("client saw a clean end of file after %d of %d announced bytes", res.n, announced)
			}
			if info := logs.next(t); info.Outcome != OutcomeCanceled {
				t.Fatalf("reported %v (%v), want canceled", info.Outcome, info.Err)
			}
		})
	}
}

// TestDuplicateRRQIgnored: a copy of the RRQ that arrives after the client's
// first ACK (the network duplicated it) must not restart or end the
// running transfer (RFC 1350: the transfer is identified by its TIDs).
func TestDuplicateRRQIgnored(t *testing.T) {
	data := randBytes(512*20+100, 8)
	for _, single := range []bool{false, true} {
		for _, opts := range [][]Option{nil, {{"blksize", "1024"}, {"windowsize", "2"}}} {
			t.Run(fmt.Sprintf("single-port=%v/options=%v", single, opts), func(t *testing.T) {
				logs := newInfoLog()
				// No retransmissions on a loaded machine: exact sequences below.
				srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), SinglePort: single, OnTransfer: logs.hook,
					MinRetransmit: 2 * time.Second, Timeout: 3 * time.Second}
				addr := startServer(t, srv, "udp4")
				c := newTestClient(t, addr)
				stranger := newTestClient(t, addr)
				c.rrq("f", "octet", opts...)
				blksize, window := 512, 1
				if opts != nil {
					c.expect(OpOACK)
					blksize, window = 1024, 2
					c.ack(0)
				}
				var got []byte
				next := uint16(1)
				dupSent := false
				for {
					p, from, ok := c.recv(5 * time.Second)
					if !ok {
						t.Fatalf("transfer stalled after %d bytes", len(got))
					}
					if !c.tid.IsValid() {
						c.tid = from // single-port: the server's port
					}
					if from != c.tid {
						t.Fatalf("%v block %d from %v: a second transfer started (first from %v)", p.op, p.block, from, c.tid)
					}
					if p.op != OpDATA || p.block != next {
						t.Fatalf("got %v block %d (code %d %q), want DATA %d", p.op, p.block, p.code, p.msg, next)
					}
					if next > uint16(window) && !dupSent {
						// The server has heard the client's first ACK (this DATA
						// answers it): now the network delivers a copy of the RRQ.
						c.rrq("f", "octet", opts...)
						dupSent = true
						// The server reads its port in order: once it answers a
						// packet sent after the copy, it has handled the copy,
						// while the transfer still runs (it waits for our ACK).
						stranger.sendTo(addr, []byte{0, 9})
						if q := stranger.expect(OpERROR); q.code != CodeIllegalOp {
							t.Fatalf("probe answered with code %d", q.code)
						}
					}
					got = append(got, p.data...)
					last := len(p.data) < blksize
					if last || int(next)%window == 0 {
						c.ack(next)
					}
					next++
					if last {
						break
					}
				}
				if !bytes.Equal(got, data) {
					t.Fatal("content differs")
				}
				if info := logs.next(t); info.Outcome != OutcomeOK {
					t.Fatalf("reported %+v", info)
				}
				if p, from, ok := c.recv(300 * time.Millisecond); ok {
					t.Fatalf("after the end: %v block %d from %v", p.op, p.block, from)
				}
				select {
				case info := <-logs.ch:
					t.Fatalf("a second transfer was reported: %+v", info)
				default:
				}
			})
		}
	}
}

// TestForcedShutdownTellsEveryClient: 20 transfers in flight when the
// Shutdown grace ends: every client gets ERROR 0 "server shutting down"
// and every transfer is reported and logged as canceled before Shutdown
// returns (a daemon exits right after it).
func TestForcedShutdownTellsEveryClient(t *testing.T) {
	const clients = 20
	data := randBytes(4<<20, 9)
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single-port=%v", single), func(t *testing.T) {
			logs := newInfoLog()
			var logBuf syncbuf.Buffer
			srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: data}}), SinglePort: single, OnTransfer: logs.hook, Logger: textLogger(&logBuf)}
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(pc) }()
			addr := addrPortOf(pc.LocalAddr())

			started := make(chan struct{}, clients)
			ended := make(chan packet, clients)
			for i := 0; i < clients; i++ {
				c := newTestClient(t, addr)
				go func() {
					// ACK every block until an ERROR comes: a slow lockstep
					// download of 4 MiB, in flight at Shutdown.
					c.rrq("f", "octet")
					first := true
					for {
						_ = c.pc.SetReadDeadline(time.Now().Add(15 * time.Second))
						n, from, err := c.pc.ReadFrom(c.buf)
						if err != nil {
							ended <- packet{}
							return
						}
						p, err := parsePacket(c.buf[:n])
						if err != nil {
							continue
						}
						switch p.op {
						case OpDATA:
							if first {
								first = false
								started <- struct{}{}
							}
							_, _ = c.pc.WriteTo(appendACK(nil, p.block), from)
						case OpERROR:
							ended <- p
							return
						}
					}
				}()
			}
			for i := 0; i < clients; i++ {
				select {
				case <-started:
				case <-time.After(20 * time.Second):
					t.Fatalf("only %d of %d transfers started", i, clients)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown: %v", err)
			}
			// Reports and log lines are complete when Shutdown returns.
			logs.mu.Lock()
			reported := len(logs.infos)
			var outcomes []Outcome
			for _, i := range logs.infos {
				if i.Outcome != OutcomeCanceled {
					outcomes = append(outcomes, i.Outcome)
				}
			}
			logs.mu.Unlock()
			lines := transferLines(&logBuf)
			told := 0
			for i := 0; i < clients; i++ {
				select {
				case p := <-ended:
					if p.op == OpERROR && p.code == CodeUndefined && p.msg == "server shutting down" {
						told++
					}
				case <-time.After(20 * time.Second):
					t.Fatal("a client hangs")
				}
			}
			if reported != clients || len(outcomes) != 0 || len(lines) != clients || told != clients {
				t.Fatalf("at Shutdown's return: %d/%d reported (other outcomes %v), %d log lines; %d/%d clients told",
					reported, clients, outcomes, len(lines), told, clients)
			}
			for _, l := range lines {
				if !strings.Contains(l, "outcome=canceled") || !strings.Contains(l, "level=WARN") {
					t.Fatalf("log line %q", l)
				}
			}
			if err := <-errc; !errors.Is(err, ErrServerClosed) {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}

// TestRefusalLogText: a refusal is logged with its error once, not with
// the code's meaning repeated ("file not found: file not found").
func TestRefusalLogText(t *testing.T) {
	var logBuf syncbuf.Buffer
	logs := newInfoLog()
	srv := &Server{Handler: FS(fstest.MapFS{"f": {Data: []byte("x")}}), Logger: textLogger(&logBuf), OnTransfer: logs.hook}
	addr := startServer(t, srv, "udp4")
	c := newTestClient(t, addr)
	c.rrq("missing", "octet")
	if p := c.expect(OpERROR); p.code != CodeNotFound || p.msg != "file not found" {
		t.Fatalf("got code %d %q", p.code, p.msg)
	}
	logs.next(t)
	lines := transferLines(&logBuf)
	if len(lines) != 1 || !strings.HasSuffix(lines[0], `err="tftpserve: file not found"`) {
		t.Fatalf("log lines %q, want one ending in err=\"tftpserve: file not found\"", lines)
	}
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{ErrNotFound, "tftpserve: file not found"},
		{ErrAccessDenied, "tftpserve: access violation"},
		{&Error{Code: CodeAccess, Message: "access violation: invalid file name"}, "tftpserve: access violation: invalid file name"},
		{&Error{Code: CodeDiskFull}, "tftpserve: disk full"},
		{&Error{Code: CodeOptionRefused, Message: "bad blksize"}, "tftpserve: option refused: bad blksize"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", *tc.err, got, tc.want)
		}
	}
}
