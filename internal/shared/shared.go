// Package shared finds the project's shared reference material for tests:
// the directory "shared" beside the repository checkout (spec/, captures/,
// corpus/ipxe/, reference/), or the directory $PXEKIT_SHARED names.
package shared

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared reference directory: $PXEKIT_SHARED when set,
// otherwise ../shared beside the repository root (the directory holding
// go.mod, found from the working directory up).
func Dir() (string, error) {
	if d := os.Getenv("PXEKIT_SHARED"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("shared: repository root (go.mod) not found; set PXEKIT_SHARED")
		}
		dir = parent
	}
}

// Path returns the path of elem inside the shared directory. When it does
// not exist the test is skipped with a message saying so, or fails when the
// environment variable CI is set: CI has the shared material and must use it.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	d, err := Dir()
	if err == nil {
		p := filepath.Join(append([]string{d}, elem...)...)
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("shared reference material missing: %v (set PXEKIT_SHARED to the shared directory)", err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
