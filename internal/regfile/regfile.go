// Package regfile opens a file that a server is about to read, refusing
// anything but a regular file without blocking on it: a FIFO or device
// planted where a file is expected would otherwise hold the open (or the
// reads) forever.
package regfile

import (
	"errors"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the error [Open] returns for a FIFO, device,
// socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// OpenFunc is os.OpenFile or (*os.Root).OpenFile.
type OpenFunc func(name string, flag int, perm fs.FileMode) (*os.File, error)

// Open opens name for reading through open without blocking (O_NONBLOCK
// where the system has it; regular files ignore it), then checks what was
// opened with fstat, so that the file cannot be swapped between check and
// use. Anything but a regular file is closed and refused with an
// *fs.PathError wrapping ErrNotRegular.
func Open(open OpenFunc, name string) (*os.File, fs.FileInfo, error) {
	f, err := open(name, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	return f, fi, nil
}
