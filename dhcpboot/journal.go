package dhcpboot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pxekit/pxekit/internal/regfile"
)

// Lease persistence: the lease file is a journal. Each change appends one
// record, written to the file before the reply that depends on it is sent
// and, in the default [SyncBeforeAck] mode, made durable (fsync) first;
// records that arrive while a write is in flight go out together in the
// next write (group commit), by one writer goroutine that then sends the
// replies of the whole group. When the file holds more than compactFactor
// records per live lease (and at least compactMin records), it is
// rewritten with the live leases only, to a temporary file that is synced
// and renamed over it, so a crash at any point leaves either file whole.
const (
	compactFactor = 4
	compactMin    = 1024
)

// LeaseSync says when a lease file record is made durable (fsync) with
// respect to the reply that depends on it. In every mode the record is in
// the file (written to the kernel) before the reply goes, so a crash of
// the server process never loses a lease a client was told it has.
type LeaseSync uint8

// Lease file durability modes.
const (
	// SyncBeforeAck (the default) syncs each group of records before any
	// of their replies goes, as ISC dhcpd does (with delayed-ack, grouped):
	// not even a power loss loses an acknowledged lease. Each group costs
	// one fsync, so the ACK rate is bounded by the disk's fsync latency
	// times the group size.
	SyncBeforeAck LeaseSync = iota
	// WriteBeforeAck sends the replies once their records are written, and
	// syncs afterwards, at most and at least every 100 ms while records
	// keep coming, and 100 ms after the last one. This is Kea's
	// memfile default (records appended without an fsync each): a power
	// loss or kernel crash can lose the leases of the last moments, which
	// clients keep (they renew or rebind them later); a crash of the
	// process loses none.
	WriteBeforeAck
)

// writeBehindSync bounds how long a written record waits for its fsync in
// WriteBeforeAck mode while records keep coming.
const writeBehindSync = 100 * time.Millisecond

// leaseJournal appends lease records to a file.
type leaseJournal struct {
	path string
	warn func(msg string, args ...any)
	mode LeaseSync

	mu      sync.Mutex
	open    *commitBatch  // records not yet being written
	writing bool          // a writer (drain) is running
	kick    chan struct{} // add signals a writer waiting to sync (WriteBeforeAck)

	// Held by the writer only.
	f          *os.File
	live       *leaseSet // what the file holds
	records    int       // records in the file
	nextCheck  int       // records count at which compaction is considered
	broken     bool      // a write failed: rewrite the file before appending
	dirty      bool      // written records not yet synced (WriteBeforeAck)
	lastSync   time.Time // when the file was last synced
	rewrites   int       // full rewrites, for tests
	beforeSync func()    // test hook, called before each fsync
}

// commitBatch is records written (and synced) together.
type commitBatch struct {
	recs     []leaseRecord
	done     chan struct{} // closed when written (or failed)
	finished bool          // done is closed; under the journal's mu
	err      error
	after    []func(error) // run by the writer once written (or failed)
}

// openJournal reads the lease file at path (a missing file is empty),
// skipping and reporting bad lines through warn, and rewrites it with the
// leases read (keeping the old file as path~ when it had bad lines). It
// fails when path is not a regular file, cannot be read, or its directory
// cannot be written.
func openJournal(path string, mode LeaseSync, warn func(msg string, args ...any)) (*leaseJournal, []Lease, error) {
	j := &leaseJournal{path: path, mode: mode, warn: warn, live: newLeaseSet(), kick: make(chan struct{}, 1)}
	// Opening a FIFO (or a device) for reading could block forever.
	f, _, err := regfile.Open(os.OpenFile, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, nil, fmt.Errorf("dhcpboot: lease file: %w", err)
	default:
		defer f.Close()
		nbad := 0
		ls, err := ReadLeases(f, func(line int, err error) {
			nbad++
			warn("dhcpboot: lease file: skipping a line it cannot read", "at", fmt.Sprintf("%s:%d", path, line), "err", err)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("dhcpboot: lease file %s: %w", path, err)
		}
		for _, l := range ls {
			j.live.apply(leaseRecord{Lease: l})
		}
		if nbad > 0 {
			keep := path + "~"
			os.Remove(keep)
			if err := os.Link(path, keep); err != nil {
				warn("dhcpboot: lease file: cannot keep a copy of the file with bad lines", "file", path, "err", err)
			} else {
				warn("dhcpboot: lease file had lines it could not read; kept a copy", "file", path, "bad_lines", nbad, "copy", keep)
			}
		}
	}
	if err := j.rewrite(); err != nil {
		return nil, nil, fmt.Errorf("dhcpboot: lease file %s cannot be written: %w", path, err)
	}
	return j, j.live.sorted(), nil
}

// add queues records and returns their batch, for wait or then. Records
// are written in the order add is called.
func (j *leaseJournal) add(recs ...leaseRecord) *commitBatch {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.open == nil {
		j.open = &commitBatch{done: make(chan struct{})}
	}
	j.open.recs = append(j.open.recs, recs...)
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return j.open
}

// then arranges for f (when not nil) to run once b's records are in the
// file (durable in SyncBeforeAck mode), with the write's error, on the
// writer's goroutine; it starts a writer with start when none is running.
// When b is already written, f runs at once on the caller's goroutine.
func (j *leaseJournal) then(b *commitBatch, f func(error), start func(func())) {
	j.mu.Lock()
	if b.finished {
		err := b.err
		j.mu.Unlock()
		if f != nil {
			f(err)
		}
		return
	}
	if f != nil {
		b.after = append(b.after, f)
	}
	if j.writing {
		j.mu.Unlock()
		return
	}
	j.writing = true
	j.mu.Unlock()
	start(j.drain)
}

// wait returns when b's records are in the file (durable in SyncBeforeAck
// mode), or failed to be.
func (j *leaseJournal) wait(b *commitBatch) error {
	j.then(b, nil, func(f func()) { go f() })
	<-b.done
	return b.err
}

// drain is the writer: it writes the queued records group by group, runs
// each group's callbacks (which send the replies), and returns when none
// are left, after a last sync in WriteBeforeAck mode.
func (j *leaseJournal) drain() {
	for {
		j.mu.Lock()
		w := j.open
		j.open = nil
		if w == nil {
			if j.dirty {
				// Records written, not yet synced: sync while still the
				// writer (nobody else touches the file meanwhile), at
				// most every writeBehindSync, writing what comes first.
				wait := writeBehindSync - time.Since(j.lastSync)
				j.mu.Unlock()
				if wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-j.kick:
						t.Stop()
						continue
					case <-t.C:
					}
				}
				j.syncDirty()
				continue
			}
			j.writing = false
			j.mu.Unlock()
			return
		}
		j.mu.Unlock()
		err := j.write(w.recs)
		j.mu.Lock()
		w.err, w.finished = err, true
		after := w.after
		w.after = nil
		j.mu.Unlock()
		close(w.done)
		for _, f := range after {
			f(err)
		}
		if j.dirty && time.Since(j.lastSync) >= writeBehindSync {
			j.syncDirty()
		}
	}
}

// syncDirty syncs records written in WriteBeforeAck mode. Called by the
// writer only. A failure is logged: the replies have gone, and the file is
// rewritten before the next append.
func (j *leaseJournal) syncDirty() {
	j.dirty = false
	if err := j.sync(); err != nil {
		j.broken = true
		j.warn("dhcpboot: cannot sync the lease file", "file", j.path, "err", err)
	}
}

// write appends recs and syncs the file. Called by the writer only.
func (j *leaseJournal) write(recs []leaseRecord) error {
	if j.broken {
		if err := j.rewrite(); err != nil {
			return err
		}
	}
	var b []byte
	for _, r := range recs {
		b = appendRecord(b, r)
	}
	_, err := j.f.Write(b)
	if err == nil {
		if j.mode == WriteBeforeAck {
			j.dirty = true
		} else {
			err = j.sync()
		}
	}
	if err != nil {
		// The file may end in part of a record: start a new one next time.
		j.broken = true
		return fmt.Errorf("dhcpboot: lease file %s: %w", j.path, err)
	}
	for _, r := range recs {
		j.live.apply(r)
	}
	j.records += len(recs)
	if j.records >= j.nextCheck && j.records >= compactFactor*len(j.live.byMAC) {
		if err := j.rewrite(); err != nil {
			// The records are durable; compaction waits for more of them.
			j.nextCheck = 2 * j.records
			j.warn("dhcpboot: cannot compact the lease file", "file", j.path, "err", err)
		}
	}
	return nil
}

func (j *leaseJournal) sync() error {
	if j.beforeSync != nil {
		j.beforeSync()
	}
	j.lastSync = time.Now()
	return j.f.Sync()
}

// rewrite replaces the file with the live leases (temporary file, fsync,
// rename, fsync of the directory) and reopens it for appending.
func (j *leaseJournal) rewrite() error {
	dir := filepath.Dir(j.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(j.path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = WriteLeases(tmp, j.live.sorted())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), j.path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		j.broken = true
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.broken, j.dirty, j.rewrites = f, false, false, j.rewrites+1
	j.records = len(j.live.byMAC)
	j.nextCheck = max(compactMin, compactFactor*j.records)
	return nil
}
