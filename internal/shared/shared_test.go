package shared

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirFindsSharedBesideRepo(t *testing.T) {
	t.Setenv("PXEKIT_SHARED", "")
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	// This package is two levels below the repository root.
	wd, _ := os.Getwd()
	want := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(wd))), "shared")
	if d != want {
		t.Fatalf("Dir() = %s, want %s", d, want)
	}
}

func TestDirOverride(t *testing.T) {
	t.Setenv("PXEKIT_SHARED", "/somewhere/else")
	if d, _ := Dir(); d != "/somewhere/else" {
		t.Fatalf("Dir() = %s", d)
	}
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "captures"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PXEKIT_SHARED", dir)
	if p := Path(t, "captures"); p != filepath.Join(dir, "captures") {
		t.Fatalf("Path = %s", p)
	}
}
