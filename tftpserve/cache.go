package tftpserve

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"
)

// Defaults of a Cache.
const (
	DefaultCacheMaxFileSize = 256 << 20
	DefaultCacheMaxBytes    = 1 << 30
)

// Cache serves files from an fs.FS out of memory. Each file is read once
// and the single copy is shared by every concurrent transfer; readers that
// arrive while it loads wait for that one load. Before serving, the cache
// compares the file's size and modification time with the cached copy (at
// most once per CheckInterval) and reloads a changed file; transfers already
// running keep the copy they started with.
//
// Files larger than MaxFileSize are served straight from the file system.
// When the cached bytes exceed MaxBytes, the least recently used files are
// dropped.
type Cache struct {
	fsys fs.FS
	// MaxFileSize is the largest file kept in memory; 0 means
	// DefaultCacheMaxFileSize.
	MaxFileSize int64
	// MaxBytes bounds the memory held; 0 means DefaultCacheMaxBytes.
	MaxBytes int64
	// CheckInterval is how long a file is trusted without looking at it
	// again; 0 checks on every request (one stat call).
	CheckInterval time.Duration

	mu      sync.Mutex
	entries map[string]*cacheEntry
	loading map[string]*loadCall
	lru     list.List // of *cacheEntry, most recent first
	total   int64
	loads   int64
}

type cacheEntry struct {
	name    string
	data    []byte
	size    int64
	mod     time.Time
	checked time.Time
	elem    *list.Element
}

// NewCache returns a cache over fsys. Use Dir.FS to cache a directory
// opened through os.Root.
func NewCache(fsys fs.FS) *Cache {
	return &Cache{fsys: fsys, entries: map[string]*cacheEntry{}, loading: map[string]*loadCall{}}
}

// Loads returns how many times a file was read into memory (for tests and
// metrics).
func (c *Cache) Loads() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// errTooBig marks a file served without caching.
var errTooBig = errors.New("file larger than the cache's MaxFileSize")

// Get returns the current content of name, loading it if needed. The
// returned slice is shared and must not be modified.
func (c *Cache) Get(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrInvalidPath}
	}
	c.mu.Lock()
	e := c.entries[name]
	if e != nil && c.CheckInterval > 0 && time.Since(e.checked) < c.CheckInterval {
		c.lru.MoveToFront(e.elem)
		data := e.data
		c.mu.Unlock()
		return data, nil
	}
	c.mu.Unlock()

	fi, err := fs.Stat(c.fsys, name)
	if err != nil {
		c.drop(name)
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	if fi.Size() > c.maxFileSize() {
		c.drop(name)
		return nil, errTooBig
	}

	c.mu.Lock()
	if e := c.entries[name]; e != nil && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		e.checked = time.Now()
		c.lru.MoveToFront(e.elem)
		c.mu.Unlock()
		return e.data, nil
	}
	// One load per file at a time: readers that arrive while it loads wait
	// for it and share its result. Other files are not held up.
	if call := c.loading[name]; call != nil {
		c.mu.Unlock()
		<-call.done
		return call.data, call.err
	}
	call := &loadCall{done: make(chan struct{})}
	c.loading[name] = call
	c.mu.Unlock()

	data, err := c.load(name, fi)

	c.mu.Lock()
	delete(c.loading, name)
	if err == nil {
		c.removeLocked(name)
		e := &cacheEntry{name: name, data: data, size: int64(len(data)), mod: fi.ModTime(), checked: time.Now()}
		e.elem = c.lru.PushFront(e)
		c.entries[name] = e
		c.total += int64(len(data))
		c.loads++
		for c.total > c.maxBytes() && c.lru.Len() > 1 {
			old := c.lru.Back().Value.(*cacheEntry)
			c.removeLocked(old.name)
		}
	}
	c.mu.Unlock()
	call.data, call.err = data, err
	close(call.done)
	return data, err
}

// loadCall is a load in progress.
type loadCall struct {
	done chan struct{}
	data []byte
	err  error
}

// load reads a file whose stat result is fi; a file that changes while it
// is read is read again (up to three times).
func (c *Cache) load(name string, fi fs.FileInfo) ([]byte, error) {
	for try := 0; ; try++ {
		f, err := c.fsys.Open(name)
		if err != nil {
			return nil, err
		}
		// One byte more than the size tells a file that grew; reading into
		// a buffer of exactly the right size keeps one copy in memory (a
		// growing buffer would double it while it reads the end).
		data := make([]byte, fi.Size()+1)
		n, err := io.ReadFull(f, data)
		f.Close()
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, err
		}
		data = data[:n:n]
		after, err := fs.Stat(c.fsys, name)
		if err != nil {
			return nil, err
		}
		if int64(len(data)) == after.Size() && after.Size() == fi.Size() && after.ModTime().Equal(fi.ModTime()) {
			return data, nil
		}
		if try == 2 {
			return nil, fmt.Errorf("tftp: %s keeps changing while read", name)
		}
		fi = after
		if fi.Size() > c.maxFileSize() {
			return nil, errTooBig
		}
	}
}

func (c *Cache) drop(name string) {
	c.mu.Lock()
	c.removeLocked(name)
	c.mu.Unlock()
}

func (c *Cache) removeLocked(name string) {
	if e := c.entries[name]; e != nil {
		c.lru.Remove(e.elem)
		delete(c.entries, name)
		c.total -= int64(len(e.data))
	}
}

func (c *Cache) maxFileSize() int64 {
	if c.MaxFileSize > 0 {
		return c.MaxFileSize
	}
	return DefaultCacheMaxFileSize
}

func (c *Cache) maxBytes() int64 {
	if c.MaxBytes > 0 {
		return c.MaxBytes
	}
	return DefaultCacheMaxBytes
}

// ServeTFTP serves r.Path from memory (or from the file system when it is
// too big to cache).
func (c *Cache) ServeTFTP(w ResponseWriter, r *Request) {
	data, err := c.Get(r.Path)
	if errors.Is(err, errTooBig) {
		FS(c.fsys).ServeTFTP(w, r)
		return
	}
	if err != nil {
		w.WriteError(fsError(err))
		return
	}
	_ = w.ServeContent(bytes.NewReader(data), int64(len(data)))
}

// ContentFunc serves content generated per request, such as a
// pxelinux.cfg/01-<mac> file or an iPXE script. A returned error is sent as
// with ResponseWriter.WriteError; the content's length is sent as tsize.
type ContentFunc func(r *Request) ([]byte, error)

// ServeTFTP calls f and sends what it returns.
func (f ContentFunc) ServeTFTP(w ResponseWriter, r *Request) {
	b, err := f(r)
	if err != nil {
		w.WriteError(err)
		return
	}
	_ = w.ServeContent(bytes.NewReader(b), int64(len(b)))
}
