package dhcpboot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/pxekit/pxekit/internal/regfile"
)

// Lease persistence: the lease file is a journal. Each change appends one
// record and is made durable (fsync) before the reply that depends on it is
// sent; records that arrive while a write is in flight go out together in
// the next write (group commit). When the file holds more than
// compactFactor records per live lease (and at least compactMin records),
// it is rewritten with the live leases only, to a temporary file that is
// synced and renamed over it, so a crash at any point leaves either file
// whole.
const (
	compactFactor = 4
	compactMin    = 1024
)

// leaseJournal appends lease records to a file.
type leaseJournal struct {
	path string
	warn func(msg string, args ...any)

	mu      sync.Mutex
	open    *commitBatch  // records not yet being written
	writing bool          // a writer holds the file
	idle    chan struct{} // closed when the current writer is done

	// Held by the writer only.
	f          *os.File
	live       *leaseSet // what the file holds
	records    int       // records in the file
	nextCheck  int       // records count at which compaction is considered
	broken     bool      // a write failed: rewrite the file before appending
	rewrites   int       // full rewrites, for tests
	beforeSync func()    // test hook, called before each fsync
}

// commitBatch is records written and synced together.
type commitBatch struct {
	recs []leaseRecord
	done chan struct{} // closed when written (or failed)
	err  error
}

// openJournal reads the lease file at path (a missing file is empty),
// skipping and reporting bad lines through warn, and rewrites it with the
// leases read (keeping the old file as path~ when it had bad lines). It
// fails when path is not a regular file, cannot be read, or its directory
// cannot be written.
func openJournal(path string, warn func(msg string, args ...any)) (*leaseJournal, []Lease, error) {
	j := &leaseJournal{path: path, warn: warn, live: newLeaseSet()}
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

// add queues records and returns their batch, for wait. Records are
// written in the order add is called.
func (j *leaseJournal) add(recs ...leaseRecord) *commitBatch {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.open == nil {
		j.open = &commitBatch{done: make(chan struct{})}
	}
	j.open.recs = append(j.open.recs, recs...)
	return j.open
}

// wait returns when b's records are durable in the file, or failed to be.
// The first waiter to find no write in flight writes every queued record.
func (j *leaseJournal) wait(b *commitBatch) error {
	for {
		select {
		case <-b.done:
			return b.err
		default:
		}
		j.mu.Lock()
		if j.writing {
			idle := j.idle
			j.mu.Unlock()
			select {
			case <-b.done:
			case <-idle:
			}
			continue
		}
		w := j.open
		j.open = nil
		j.writing, j.idle = true, make(chan struct{})
		j.mu.Unlock()
		if w != nil {
			w.err = j.write(w.recs)
			close(w.done)
		}
		j.mu.Lock()
		j.writing = false
		close(j.idle)
		j.mu.Unlock()
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
		err = j.sync()
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
	j.f, j.broken, j.rewrites = f, false, j.rewrites+1
	j.records = len(j.live.byMAC)
	j.nextCheck = max(compactMin, compactFactor*j.records)
	return nil
}
