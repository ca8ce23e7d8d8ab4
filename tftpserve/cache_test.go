package tftpserve

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// barrierWriter is a ResponseWriter whose ServeContent holds on, like a
// running transfer, until every concurrent transfer has started. It keeps
// the bytes it was given and tells memory from file system content.
type barrierWriter struct {
	memWriter
	fromMemory bool
	started    *sync.WaitGroup
	release    chan struct{}
	memory     *memoryGauge
}

// memoryGauge adds up the cached content that transfers hold at once.
type memoryGauge struct {
	mu        sync.Mutex
	now, peak int64
}

func (g *memoryGauge) add(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now += n
	g.peak = max(g.peak, g.now)
}

func (w *barrierWriter) ServeContent(ra io.ReaderAt, size int64) error {
	_, w.fromMemory = ra.(*bytes.Reader)
	if w.fromMemory {
		w.memory.add(size)
		defer w.memory.add(-size)
	}
	w.started.Done()
	<-w.release
	return w.memWriter.ServeContent(ra, size)
}

// TestCacheCapAcrossConcurrentTransfers: transfers of different files that
// run at the same time hold their copies, so the cap must count them. With
// MaxBytes 1 MiB and six concurrent transfers of six 300 KiB files, at most
// three copies fit; the others are served from the file system, and every
// transfer gets its own file's bytes.
func TestCacheCapAcrossConcurrentTransfers(t *testing.T) {
	const n, size, limit = 6, 300 << 10, 1 << 20
	fsys := fstest.MapFS{}
	for i := range n {
		fsys[fmt.Sprint("f", i)] = &fstest.MapFile{Data: randBytes(size, int64(i))}
	}
	c := NewCache(fsys)
	c.MaxBytes = limit
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	gauge := &memoryGauge{}
	writers := make([]*barrierWriter, n)
	var done sync.WaitGroup
	for i := range n {
		writers[i] = &barrierWriter{started: &started, release: release, memory: gauge}
		done.Add(1)
		go func() {
			defer done.Done()
			c.ServeTFTP(writers[i], &Request{Path: fmt.Sprint("f", i)})
		}()
	}
	waitOrFail(t, &started, "transfers to start")
	held := c.Bytes()
	close(release)
	waitOrFail(t, &done, "transfers to finish")

	inMemory := 0
	for i, w := range writers {
		if w.err != nil || !bytes.Equal(w.buf.Bytes(), fsys[fmt.Sprint("f", i)].Data) {
			t.Errorf("transfer %d: %d bytes, err %v", i, w.buf.Len(), w.err)
		}
		if w.fromMemory {
			inMemory++
		}
	}
	t.Logf("%d of %d served from memory, peak %d bytes, cache held %d while they ran, loads %d", inMemory, n, gauge.peak, held, c.Loads())
	if gauge.peak > limit || held > limit {
		t.Fatalf("running transfers held %d bytes of cached content (cache accounts %d), cap %d", gauge.peak, held, limit)
	}
	if inMemory == 0 {
		t.Fatal("nothing was served from memory")
	}
	// Once the transfers are over, the cached files fit and new ones can
	// take the place of old ones.
	for i := range n {
		if b, err := c.Get(fmt.Sprint("f", i)); err != nil || !bytes.Equal(b, fsys[fmt.Sprint("f", i)].Data) {
			t.Fatalf("Get f%d after the transfers: %v", i, err)
		}
		if c.Bytes() > limit {
			t.Fatalf("cache holds %d bytes, cap %d", c.Bytes(), limit)
		}
	}
}

// TestCacheConcurrentGets: concurrent loads reserve their bytes first, so
// loads in progress never take the cache over its cap; a Get that finds no
// room says so, and the file is loaded once room is back.
func TestCacheConcurrentGets(t *testing.T) {
	const n, size, limit = 8, 200 << 10, 1 << 20
	fsys := fstest.MapFS{}
	for i := range n {
		fsys[fmt.Sprint("f", i)] = &fstest.MapFile{Data: randBytes(size, int64(100+i))}
	}
	gate := &gatedFS{fsys: fsys, open: make(chan struct{})}
	c := NewCache(gate)
	c.MaxBytes = limit
	var done sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			b, err := c.Get(fmt.Sprint("f", i))
			if err == nil && !bytes.Equal(b, fsys[fmt.Sprint("f", i)].Data) {
				err = fmt.Errorf("wrong bytes")
			}
			errs[i] = err
		}()
	}
	// Let the loads pile up, then check what they reserved.
	deadline := time.Now().Add(10 * time.Second)
	for gate.waiting() < n && time.Now().Before(deadline) && c.Bytes() < limit-size {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if held := c.Bytes(); held > limit {
		t.Fatalf("loads in progress hold %d bytes, cap %d", held, limit)
	}
	close(gate.open)
	waitOrFail(t, &done, "Gets to return")
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case err != errNoRoom:
			t.Errorf("Get f%d: %v", i, err)
		}
	}
	if ok == 0 || ok > limit/size {
		t.Fatalf("%d loads succeeded, want 1…%d", ok, limit/size)
	}
	if c.Bytes() > limit {
		t.Fatalf("cache holds %d bytes, cap %d", c.Bytes(), limit)
	}
}

// gatedFS holds every Open until open is closed.
type gatedFS struct {
	fsys fstest.MapFS
	open chan struct{}
	mu   sync.Mutex
	n    int
}

func (g *gatedFS) Open(name string) (fs.File, error) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	<-g.open
	return g.fsys.Open(name)
}

func (g *gatedFS) Stat(name string) (fs.FileInfo, error) { return g.fsys.Stat(name) }

func (g *gatedFS) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
