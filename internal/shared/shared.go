// Package shared finds optional reference material for tests: the directory
// "shared" beside the repository checkout, or the directory $PXEKIT_SHARED
// names. It holds extra material that is not part of the repository (the
// large third-party iPXE script corpus in corpus/ipxe); tests that use it add
// coverage and are never the only test of anything. The packet captures the
// tests decode are the project's own: see internal/pcaptest, which finds
// them from the repository root ([Root]).
package shared

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared reference directory: $PXEKIT_SHARED when set,
// otherwise ../shared beside the repository root (see [Root]).
func Dir() (string, error) {
	if d := os.Getenv("PXEKIT_SHARED"); d != "" {
		return d, nil
	}
	root, err := Root()
	if err != nil {
		return "", fmt.Errorf("%w; set PXEKIT_SHARED", err)
	}
	return filepath.Join(filepath.Dir(root), "shared"), nil
}

// Root returns the repository root: the first directory holding go.mod
// from the working directory up (go test runs in the package's directory).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("shared: repository root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}

// Optional returns the path of elem inside the shared directory and true
// when it is there, or "" and false when it is not: the material is
// optional, so its absence never skips or fails a test. Only when
// $PXEKIT_SHARED is set, which asks for the material, does a missing path
// fail t.
func Optional(t testing.TB, elem ...string) (string, bool) {
	t.Helper()
	d, err := Dir()
	if err == nil {
		p := filepath.Join(append([]string{d}, elem...)...)
		if _, err = os.Stat(p); err == nil {
			return p, true
		}
	}
	if os.Getenv("PXEKIT_SHARED") != "" {
		t.Fatalf("shared: optional reference material missing although PXEKIT_SHARED is set: %v", err)
	}
	return "", false
}
