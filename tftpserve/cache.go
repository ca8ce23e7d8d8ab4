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
// MaxBytes bounds the memory the cache holds at any moment: cached files,
// files that running transfers still send after they left the cache, and
// loads in progress, which reserve their bytes before they read. To make
// room, the least recently used files that no transfer is sending are
// dropped; when that is not enough (the cap is taken by files in use), the
// request is served straight from the file system instead of waiting, so a
// boot storm of large files costs disk reads rather than memory or time.
type Cache struct {
	fsys fs.FS
	// MaxFileSize is the largest file kept in memory; 0 means
	// DefaultCacheMaxFileSize.
	MaxFileSize int64
	// MaxBytes bounds the memory held, files being sent and loads in
	// progress included (see Bytes); 0 means DefaultCacheMaxBytes.
	MaxBytes int64
	// CheckInterval is how long a file is trusted without looking at it
	// again; 0 checks on every request (one stat call).
	CheckInterval time.Duration

	mu        sync.Mutex
	entries   map[string]*cacheEntry
	loadCalls map[string]*loadCall
	lru       list.List // of *cacheEntry, most recent first
	total     int64     // bytes of the cached entries
	pinned    int64     // bytes of entries dropped from the cache but still sent
	loading   int64     // bytes reserved by loads in progress
	loads     int64
}

type cacheEntry struct {
	name    string
	data    []byte
	size    int64
	mod     time.Time
	checked time.Time
	elem    *list.Element // nil once dropped from the cache
	refs    int           // transfers sending data (ServeTFTP)
}

// NewCache returns a cache over fsys. Use Dir.FS to cache a directory
// opened through os.Root.
func NewCache(fsys fs.FS) *Cache {
	return &Cache{fsys: fsys, entries: map[string]*cacheEntry{}, loadCalls: map[string]*loadCall{}}
}

// Loads returns how many times a file was read into memory (for tests and
// metrics).
func (c *Cache) Loads() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// errTooBig marks a file served without caching.
var errTooBig = errors.New("tftpserve: file larger than the cache's MaxFileSize or MaxBytes")

// errNoRoom marks a file not cached because MaxBytes is taken by files in
// use and loads in progress.
var errNoRoom = errors.New("tftpserve: no room in the cache: MaxBytes is taken by files in use")

// Bytes returns the memory the cache accounts for: cached files, files
// that transfers still send after they left the cache, and loads in
// progress. It never exceeds MaxBytes. Slices returned by Get are not
// counted once their file has left the cache.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total + c.pinned + c.loading
}

// Get returns the current content of name, loading it if needed. The
// returned slice is shared and must not be modified. Files it does not
// keep in memory (larger than MaxFileSize, or no room within MaxBytes
// while other files are in use) return an error; ServeTFTP serves those
// from the file system.
func (c *Cache) Get(name string) ([]byte, error) {
	e, err := c.get(name, false)
	if err != nil {
		return nil, err
	}
	return e.data, nil
}

// get returns the entry for the current content of name; with pin, the
// entry is counted as in use until release.
func (c *Cache) get(name string, pin bool) (*cacheEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrInvalidPath}
	}
	c.mu.Lock()
	e := c.entries[name]
	if e != nil && c.CheckInterval > 0 && time.Since(e.checked) < c.CheckInterval {
		c.lru.MoveToFront(e.elem)
		c.useLocked(e, pin)
		c.mu.Unlock()
		return e, nil
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
	if fi.Size() > c.maxFileSize() || fi.Size() > c.maxBytes() {
		c.drop(name)
		return nil, errTooBig
	}

	c.mu.Lock()
	if e := c.entries[name]; e != nil && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		e.checked = time.Now()
		c.lru.MoveToFront(e.elem)
		c.useLocked(e, pin)
		c.mu.Unlock()
		return e, nil
	}
	// One load per file at a time: readers that arrive while it loads wait
	// for it and share its result. Other files are not held up.
	if call := c.loadCalls[name]; call != nil {
		c.mu.Unlock()
		<-call.done
		if call.err != nil {
			return nil, call.err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if e := call.entry; !pin || e.elem != nil || e.refs > 0 {
			c.useLocked(e, pin)
			return e, nil
		}
		return nil, errNoRoom // dropped already: its bytes are no longer counted
	}
	// Reserve the bytes before reading, so that concurrent loads of
	// different files cannot take the cache over its cap together.
	c.removeLocked(name) // the old version, if any
	reserved := fi.Size()
	if !c.makeRoomLocked(reserved) {
		c.mu.Unlock()
		return nil, errNoRoom
	}
	c.loading += reserved
	call := &loadCall{done: make(chan struct{})}
	c.loadCalls[name] = call
	c.mu.Unlock()

	data, err := c.load(name, fi)

	c.mu.Lock()
	delete(c.loadCalls, name)
	c.loading -= reserved
	e = nil
	if err == nil && !c.makeRoomLocked(int64(len(data))) { // the file changed size while read
		err = errNoRoom
	}
	if err == nil {
		e = &cacheEntry{name: name, data: data, size: int64(len(data)), mod: fi.ModTime(), checked: time.Now()}
		e.elem = c.lru.PushFront(e)
		c.entries[name] = e
		c.total += e.size
		c.loads++
		c.useLocked(e, pin)
	}
	c.mu.Unlock()
	call.entry, call.err = e, err
	close(call.done)
	return e, err
}

// makeRoomLocked drops least recently used entries that no transfer is
// sending until n more bytes fit within MaxBytes; false if they cannot.
func (c *Cache) makeRoomLocked(n int64) bool {
	for el := c.lru.Back(); c.total+c.pinned+c.loading+n > c.maxBytes(); {
		for el != nil && el.Value.(*cacheEntry).refs > 0 {
			el = el.Prev()
		}
		if el == nil {
			return false
		}
		prev := el.Prev()
		c.removeLocked(el.Value.(*cacheEntry).name)
		el = prev
	}
	return true
}

// useLocked counts one more transfer sending e.
func (c *Cache) useLocked(e *cacheEntry, pin bool) {
	if pin {
		e.refs++
	}
}

// release ends a use counted by get with pin.
func (c *Cache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.refs--; e.refs == 0 && e.elem == nil {
		c.pinned -= e.size
	}
}

// loadCall is a load in progress.
type loadCall struct {
	done  chan struct{}
	entry *cacheEntry
	err   error
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
			return nil, fmt.Errorf("tftpserve: %s keeps changing while read", name)
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
		e.elem = nil
		delete(c.entries, name)
		c.total -= e.size
		if e.refs > 0 {
			c.pinned += e.size // still held by the transfers sending it
		}
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
	e, err := c.get(r.Path, true)
	if errors.Is(err, errTooBig) || errors.Is(err, errNoRoom) {
		FS(c.fsys).ServeTFTP(w, r)
		return
	}
	if err != nil {
		w.WriteError(fsError(err))
		return
	}
	defer c.release(e)
	_ = w.ServeContent(bytes.NewReader(e.data), e.size)
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
