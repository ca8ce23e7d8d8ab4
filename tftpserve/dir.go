package tftpserve

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Dir serves the regular files under a directory. Files are opened through
// an os.Root, so no request can leave the directory: ".." segments and
// absolute names are refused by CleanPath before Dir sees them, and symbolic
// links that point outside the root fail to open. Directories, devices and
// FIFOs are refused with an access violation.
type Dir struct {
	root *os.Root
	// FoldCase retries a missing name case-insensitively, segment by
	// segment (for trees copied from Windows servers).
	FoldCase bool
}

// OpenDir opens dir as a Dir. Close releases it.
func OpenDir(dir string) (*Dir, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftp: open root: %w", err)
	}
	return &Dir{root: r}, nil
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
		if real, ferr := foldPath(d.root.FS(), name); ferr == nil {
			f, err = d.open(real)
		}
	}
	return f, err
}

func (d *Dir) open(name string) (*os.File, error) {
	f, err := d.root.OpenFile(name, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f, nil
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

// foldPath finds the real spelling of name in fsys, comparing each
// segment case-insensitively. Directories with more than maxFoldEntries
// entries are not searched.
func foldPath(fsys fs.FS, name string) (string, error) {
	const maxFoldEntries = 10000
	dir := "."
	for _, seg := range strings.Split(name, "/") {
		f, err := fsys.Open(dir)
		if err != nil {
			return "", err
		}
		rd, ok := f.(fs.ReadDirFile)
		if !ok {
			f.Close()
			return "", fs.ErrNotExist
		}
		entries, err := rd.ReadDir(maxFoldEntries)
		f.Close()
		if err != nil && err != io.EOF {
			return "", err
		}
		found := ""
		for _, e := range entries {
			if e.Name() == seg {
				found = seg
				break
			}
			if found == "" && strings.EqualFold(e.Name(), seg) {
				found = e.Name()
			}
		}
		if found == "" {
			return "", fs.ErrNotExist
		}
		dir = path.Join(dir, found)
	}
	return dir, nil
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
