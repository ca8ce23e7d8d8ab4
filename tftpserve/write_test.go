package tftpserve

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// memStore is a WriteHandler keeping uploads in memory.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
	limit int64
}

func (m *memStore) ReceiveTFTP(r *Request, body io.Reader) error {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, m.limit+1))
	if err != nil {
		return err
	}
	if n > m.limit {
		return &Error{Code: CodeDiskFull, Message: "too big"}
	}
	m.mu.Lock()
	m.files[r.Path] = buf.Bytes()
	m.mu.Unlock()
	return nil
}

func (m *memStore) get(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[name]
}

func TestWriteRequests(t *testing.T) {
	store := &memStore{files: map[string][]byte{}, limit: 1 << 20}
	logs := newInfoLog()
	addr := startServer(t, &Server{WriteHandler: store, OnTransfer: logs.hook}, "udp4")
	host, port := hostPort(addr.String())
	dir := t.TempDir()
	for _, n := range []int{0, 511, 512, 513, 1468 * 3, 200_000} {
		data := randBytes(n, int64(n)+99)
		src := filepath.Join(dir, "src"+strconv.Itoa(n))
		os.WriteFile(src, data, 0o644)
		clients := map[string][]string{}
		if p, err := exec.LookPath("atftp"); err == nil {
			clients["atftp"] = []string{p, "--option", "blksize 1468", "--option", "tsize " + strconv.Itoa(n), "-p", "-l", src, "-r", "atftp" + strconv.Itoa(n), host, port}
			clients["atftp-window"] = []string{p, "--option", "blksize 1024", "--option", "windowsize 8", "-p", "-l", src, "-r", "atftp-window" + strconv.Itoa(n), host, port}
		}
		// curl sends nothing for an empty upload: it has no case for n = 0
		// (a skip there would be a permanent entry in make test's skip list).
		if p, err := exec.LookPath("curl"); err == nil && n > 0 {
			clients["curl"] = []string{p, "-sS", "--tftp-blksize", "1468", "-T", src, "tftp://" + addr.String() + "/curl" + strconv.Itoa(n)}
		}
		if p, err := exec.LookPath("tftp"); err == nil {
			clients["tftp"] = []string{p, "-m", "octet", host, port, "-c", "put", src, "tftp" + strconv.Itoa(n)}
		}
		if p, err := exec.LookPath("busybox"); err == nil {
			clients["busybox"] = []string{p, "tftp", "-p", "-l", src, "-r", "busybox" + strconv.Itoa(n), host, port}
		}
		if len(clients) == 0 {
			t.Skip("no TFTP client installed")
		}
		for name, argv := range clients {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				runClient(t, 30*time.Second, argv[0], argv[1:]...)
				remote := name + strconv.Itoa(n)
				var info TransferInfo
				for info.Path != remote {
					info = logs.next(t)
				}
				if info.Outcome != OutcomeOK || !info.Write || info.Bytes != int64(n) {
					t.Fatalf("%+v", info)
				}
				if got := store.get(remote); sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("stored %d bytes, want %d", len(got), n)
				}
			})
		}
	}
}

func TestWriteRefusals(t *testing.T) {
	store := &memStore{files: map[string][]byte{}, limit: 1000}
	addr := startServer(t, &Server{WriteHandler: store}, "udp4")
	// Too big: the handler's ERROR 3 reaches the client.
	c := newTestClient(t, addr)
	c.sendTo(addr, appendRequest(nil, OpWRQ, "f", "octet", Option{"blksize", "512"}, Option{"tsize", "5000"}))
	p := c.expect(OpOACK)
	if fmt.Sprint(p.options) != fmt.Sprint([]Option{{"blksize", "512"}, {"tsize", "5000"}}) {
		t.Fatalf("OACK %v", p.options)
	}
	var code ErrorCode
	for blk := uint16(1); blk < 20; blk++ {
		c.sendTo(c.tid, append(appendDataHeader(nil, blk), make([]byte, 512)...))
		q, _, ok := c.recv(2 * time.Second)
		if !ok {
			t.Fatal("no answer")
		}
		if q.op == OpERROR {
			code = q.code
			break
		}
		if q.op != OpACK || q.block != blk {
			t.Fatalf("got %v %d", q.op, q.block)
		}
	}
	if code != CodeDiskFull {
		t.Fatalf("code %d, want 3", code)
	}
	// netascii writes and bad names are refused.
	for _, tc := range []struct {
		name, mode string
		want       ErrorCode
	}{{"f", "netascii", CodeIllegalOp}, {"../x", "octet", CodeAccess}} {
		c := newTestClient(t, addr)
		c.sendTo(addr, appendRequest(nil, OpWRQ, tc.name, tc.mode))
		if q := c.expect(OpERROR); q.code != tc.want {
			t.Fatalf("%s %s: code %d", tc.name, tc.mode, q.code)
		}
	}
	// Duplicate and out-of-order DATA: re-ACKed, stored once, in order.
	c = newTestClient(t, addr)
	c.sendTo(addr, appendRequest(nil, OpWRQ, "dup", "octet"))
	if q := c.expect(OpACK); q.block != 0 {
		t.Fatalf("ACK %d", q.block)
	}
	blk1 := append(appendDataHeader(nil, 1), bytes.Repeat([]byte{'a'}, 512)...)
	blk2 := append(appendDataHeader(nil, 2), []byte("end")...)
	c.sendTo(c.tid, blk1)
	c.expect(OpACK)
	c.sendTo(c.tid, blk1) // duplicate
	if q := c.expect(OpACK); q.block != 1 {
		t.Fatalf("dup ACK %d", q.block)
	}
	c.sendTo(c.tid, blk2)
	if q := c.expect(OpACK); q.block != 2 {
		t.Fatalf("final ACK %d", q.block)
	}
	c.sendTo(c.tid, blk2) // final ACK lost: dally re-ACKs
	if q := c.expect(OpACK); q.block != 2 {
		t.Fatalf("dally ACK %d", q.block)
	}
	if got := store.get("dup"); string(got) != string(bytes.Repeat([]byte{'a'}, 512))+"end" {
		t.Fatalf("stored %q", got)
	}
}

// TestSinglePortWrite: uploads with large blocks work in single-port mode.
func TestSinglePortWrite(t *testing.T) {
	store := &memStore{files: map[string][]byte{}, limit: 1 << 20}
	addr := startServer(t, &Server{WriteHandler: store, SinglePort: true}, "udp4")
	data := randBytes(1468*5+7, 3)
	c := newTestClient(t, addr)
	c.sendTo(addr, appendRequest(nil, OpWRQ, "up", "octet", Option{"blksize", "1468"}, Option{"windowsize", "2"}))
	if p := c.expect(OpOACK); c.tid != addr {
		t.Fatalf("OACK %v from %v", p.options, c.tid)
	}
	for i, blk := 0, uint16(1); ; blk++ {
		end := min(i+1468, len(data))
		c.sendTo(c.tid, append(appendDataHeader(nil, blk), data[i:end]...))
		i = end
		if blk%2 == 0 || end-i < 1468 && i == len(data) {
			p := c.expect(OpACK)
			if p.block != blk {
				t.Fatalf("ACK %d, want %d", p.block, blk)
			}
		}
		if i == len(data) {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := store.get("up"); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want %d", len(got), len(data))
	}
}

// TestSinglePortLargeDatagramsBatched: in single-port mode the listening
// socket reads many datagrams per call; a write's largest blocks (blksize
// 65464), sent four at a time while reads run beside it, arrive whole.
func TestSinglePortLargeDatagramsBatched(t *testing.T) {
	store := &memStore{files: map[string][]byte{}, limit: 1 << 20}
	rdata := randBytes(300_000, 9)
	srv := &Server{WriteHandler: store, Handler: FS(fstest.MapFS{"r": {Data: rdata}}), SinglePort: true, AllowFragmentation: true, MaxWindowBytes: 1 << 20}
	addr := startServer(t, srv, "udp4")
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			c := newTestClient(t, addr)
			res, err := c.fetch("r", fetchOpts{window: 16, timeout: time.Second, deadline: 30 * time.Second}, Option{"blksize", "1468"}, Option{"windowsize", "16"})
			if err == nil && !bytes.Equal(res.data, rdata) {
				err = fmt.Errorf("read: got %d bytes, want %d", len(res.data), len(rdata))
			}
			errs <- err
		}()
	}
	const bs = 65464
	data := randBytes(bs*6+11, 4)
	c := newTestClient(t, addr)
	_ = c.pc.(*net.UDPConn).SetReadBuffer(1 << 20)
	c.sendTo(addr, appendRequest(nil, OpWRQ, "up", "octet", Option{"blksize", strconv.Itoa(bs)}, Option{"windowsize", "4"}))
	if p := c.expect(OpOACK); c.tid != addr {
		t.Fatalf("OACK %v from %v, want from %v", p.options, c.tid, addr)
	}
	// Four blocks at a time; where the server's socket buffer overflowed
	// (four 64 KiB datagrams are more than its default holds when the
	// machine is busy), go on after the block it acknowledged.
	blocks := (len(data) + bs) / bs // the last one is short
	deadline := time.Now().Add(30 * time.Second)
	for acked := 0; acked < blocks; {
		if time.Now().After(deadline) {
			t.Fatalf("write: %d of %d blocks acknowledged at the deadline", acked, blocks)
		}
		end := min(acked+4, blocks)
		for b := acked + 1; b <= end; b++ {
			c.sendTo(c.tid, append(appendDataHeader(nil, uint16(b)), data[(b-1)*bs:min(b*bs, len(data))]...))
		}
		p, _, ok := c.recv(2 * time.Second)
		if !ok {
			continue // resend the window
		}
		if p.op != OpACK || int(p.block) < acked || int(p.block) > end {
			t.Fatalf("got %v block %d after sending blocks %d–%d", p.op, p.block, acked+1, end)
		}
		acked = int(p.block)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for !bytes.Equal(store.get("up"), data) {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d bytes, want %d", len(store.get("up")), len(data))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
