package main

import (
	"fmt"
	"io"

	"github.com/pxekit/pxekit/internal/regfile"
)

// maxScript bounds an iPXE script read into memory (-script, machine
// scripts under the HTTP root).
const maxScript = 16 << 20

// readRegular reads the regular file name whole; it must not be larger
// than maxScript.
func readRegular(open regfile.OpenFunc, name string) ([]byte, error) {
	f, _, err := regfile.Open(open, name)
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
