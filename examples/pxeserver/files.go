package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// errNotRegular is returned for a FIFO, device, socket or directory where
// a file is to be served: reading one could block forever or never end.
var errNotRegular = errors.New("not a regular file")

// maxScript bounds an iPXE script read into memory (-script, machine
// scripts under the HTTP root).
const maxScript = 16 << 20

// openFunc is os.OpenFile or (*os.Root).OpenFile.
type openFunc func(name string, flag int, perm fs.FileMode) (*os.File, error)

// openRegular opens name for reading without blocking on a FIFO or device
// (non-blocking open, then fstat on what was opened, so that the file
// cannot be swapped between check and use) and refuses anything but a
// regular file with an error wrapping errNotRegular.
func openRegular(open openFunc, name string) (*os.File, fs.FileInfo, error) {
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
		return nil, nil, &fs.PathError{Op: "open", Path: name, Err: errNotRegular}
	}
	return f, fi, nil
}

// readRegular reads the regular file name whole; it must not be larger
// than maxScript.
func readRegular(open openFunc, name string) ([]byte, error) {
	f, _, err := openRegular(open, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxScript+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxScript {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, maxScript>>20)
	}
	return b, nil
}
