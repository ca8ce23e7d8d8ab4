package tftpserve

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pxekit/pxekit/internal/regfile"
)

// Dir serves the regular files under a directory. Files are opened through
// an os.Root, so no request can leave the directory: ".." segments and
// absolute names are refused by CleanPath before Dir sees them, and symbolic
// links that point outside the root fail to open. Directories, devices and
// FIFOs are refused with an access violation.
type Dir struct {
	root *os.Root
	fold *foldIndex
	// FoldCase retries a missing name case-insensitively, segment by
	// segment (for trees copied from Windows servers).
	FoldCase bool
}

// OpenDir opens dir as a Dir. Close releases it.
func OpenDir(dir string) (*Dir, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftpserve: open root: %w", err)
	}
	return &Dir{root: r, fold: newFoldIndex(r.FS())}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.root.Close() }

// FS returns the directory as an fs.FS confined to the root (for NewCache).
func (d *Dir) FS() fs.FS { return d.root.FS() }

// Open opens a regular file by its cleaned path.
func (d *Dir) Open(name string) (*os.File, error) {
	if !fs.ValidPath(name) || strings.ContainsAny(name, "\\\x00") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrInvalidPath}
	}
	f, err := d.open(name)
	if errors.Is(err, fs.ErrNotExist) && d.FoldCase {
		if real, ferr := d.fold.lookup(name); ferr == nil {
			f, err = d.open(real)
		}
	}
	return f, err
}

func (d *Dir) open(name string) (*os.File, error) {
	f, _, err := regfile.Open(d.root.OpenFile, name)
	if errors.Is(err, regfile.ErrNotRegular) {
		// A client is told "access violation", as for any file it may not read.
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f, err
}

// ServeTFTP serves r.Path from the directory.
func (d *Dir) ServeTFTP(w ResponseWriter, r *Request) {
	f, err := d.Open(r.Path)
	if err != nil {
		w.WriteError(fsError(err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		w.WriteError(err)
		return
	}
	_ = w.ServeContent(f, fi.Size())
}

// fsError maps file system errors to what the client is told: missing
// files are "not found", everything else (escapes, permissions, loops,
// directories) is an access violation.
func fsError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return &Error{Code: CodeAccess, Message: "access violation"}
}

// Case folding ------------------------------------------------------------
//
// Reading a directory to find a name case-insensitively costs a system call
// per few dozen entries: in a directory of 10 000 files, 50 ms of CPU for
// each request of a missing name, which lets any client keep the server's
// cores busy. So each directory is read once into an index of its names by
// folded spelling, and the index is used while the directory's modification
// time is unchanged (a file created, removed or renamed in it changes the
// time; one stat call per path segment checks it). A directory modified
// less than foldRacy before it was read may change again within the same
// time stamp, so its index is not trusted and it is read again next time.

// Limits of the fold index.
const (
	maxFoldEntries = 10000 // names read from one directory
	maxFoldDirs    = 1024  // directories indexed; beyond, the index starts over
	foldRacy       = 2 * time.Second
)

// foldIndex finds the real spelling of names case-insensitively.
type foldIndex struct {
	fsys fs.FS
	mu   sync.Mutex
	dirs map[string]*foldDir // by real path
}

// foldDir is the index of one directory.
type foldDir struct {
	mod, read time.Time           // the directory's modification time, when it was read
	names     map[string][]string // folded name → real names, in directory order
}

func newFoldIndex(fsys fs.FS) *foldIndex {
	return &foldIndex{fsys: fsys, dirs: map[string]*foldDir{}}
}

// lookup returns the real path of name, comparing each segment
// case-insensitively; an exact spelling wins over other ones.
func (x *foldIndex) lookup(name string) (string, error) {
	dir := "."
	for _, seg := range strings.Split(name, "/") {
		d, err := x.dir(dir)
		if err != nil {
			return "", err
		}
		names := d.names[strings.ToLower(seg)]
		if len(names) == 0 {
			return "", fs.ErrNotExist
		}
		found := names[0]
		if slices.Contains(names, seg) {
			found = seg
		}
		dir = path.Join(dir, found)
	}
	return dir, nil
}

// dir returns the index of directory dir, reading it when it changed.
func (x *foldIndex) dir(dir string) (*foldDir, error) {
	fi, err := fs.Stat(x.fsys, dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fs.ErrNotExist
	}
	x.mu.Lock()
	d := x.dirs[dir]
	x.mu.Unlock()
	if d != nil && d.mod.Equal(fi.ModTime()) && d.read.Sub(d.mod) >= foldRacy {
		return d, nil
	}
	d = &foldDir{mod: fi.ModTime(), read: time.Now(), names: map[string][]string{}}
	f, err := x.fsys.Open(dir)
	if err != nil {
		return nil, err
	}
	rd, ok := f.(fs.ReadDirFile)
	if !ok {
		f.Close()
		return nil, fs.ErrNotExist
	}
	entries, err := rd.ReadDir(maxFoldEntries)
	f.Close()
	if err != nil && err != io.EOF {
		return nil, err
	}
	for _, e := range entries {
		k := strings.ToLower(e.Name())
		d.names[k] = append(d.names[k], e.Name())
	}
	x.mu.Lock()
	if len(x.dirs) >= maxFoldDirs {
		clear(x.dirs)
	}
	x.dirs[dir] = d
	x.mu.Unlock()
	return d, nil
}

// FS serves files from any fs.FS, such as an embed.FS. Files that implement
// io.ReaderAt are served by offset; others are streamed with their size.
func FS(fsys fs.FS) Handler {
	return fsHandler{fsys}
}

type fsHandler struct{ fsys fs.FS }

func (h fsHandler) ServeTFTP(w ResponseWriter, r *Request) {
	if !fs.ValidPath(r.Path) {
		w.WriteError(ErrAccessDenied)
		return
	}
	f, err := h.fsys.Open(r.Path)
	if err != nil {
		w.WriteError(fsError(err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		w.WriteError(fsError(err))
		return
	}
	if !fi.Mode().IsRegular() {
		w.WriteError(ErrAccessDenied)
		return
	}
	if ra, ok := f.(io.ReaderAt); ok {
		_ = w.ServeContent(ra, fi.Size())
		return
	}
	w.SetSize(fi.Size())
	_, _ = w.ReadFrom(struct{ io.Reader }{f})
}
