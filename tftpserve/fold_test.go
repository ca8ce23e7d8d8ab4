package tftpserve

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// countingFS counts directory reads. It offers only Open, so every
// directory listing goes through ReadDir on an opened directory.
type countingFS struct {
	fsys     fs.FS
	readDirs *atomic.Int64
}

func (c countingFS) Open(name string) (fs.File, error) {
	f, err := c.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if d, ok := f.(fs.ReadDirFile); ok {
		return countingDir{d, c.readDirs}, nil
	}
	return f, nil
}

type countingDir struct {
	fs.ReadDirFile
	n *atomic.Int64
}

func (d countingDir) ReadDir(n int) ([]fs.DirEntry, error) {
	d.n.Add(1)
	return d.ReadDirFile.ReadDir(n)
}

// foldTree writes files (name → content) under a new directory and dates
// every directory an hour back, as a tree that was copied in and left
// alone.
func foldTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chtimes(p, old, old)
		}
		return err
	})
	return root
}

// bigFoldDir opens, with FoldCase, a directory of n empty files named
// File00000.bin and so on.
func bigFoldDir(t testing.TB, n int) *Dir {
	t.Helper()
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("File%05d.bin", i)] = ""
	}
	d, err := OpenDir(foldTree(t, files))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.FoldCase = true
	return d
}

func readName(t *testing.T, d *Dir, name string) (string, error) {
	t.Helper()
	f, err := d.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

// TestFoldCaseIndex: case-folded names are found, a file added after the
// directory was indexed is found, and a removed one is not.
func TestFoldCaseIndex(t *testing.T) {
	root := foldTree(t, map[string]string{
		"Boot/BCD": "bcd", "Boot/x64/WDSNBP.COM": "wds", "pxelinux.0": "pxe", "dup/ab": "lower", "dup/AB": "upper",
	})
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.FoldCase = true
	for name, want := range map[string]string{
		"boot/bcd": "bcd", "BOOT/X64/wdsnbp.com": "wds", "PXELINUX.0": "pxe", "pxelinux.0": "pxe",
		"dup/ab": "lower", "dup/AB": "upper", "DUP/Ab": "upper", // exact spellings win; else the first in order
	} {
		if got, err := readName(t, d, name); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
	if _, err := readName(t, d, "boot/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing name: %v", err)
	}
	// Changes after the index was built.
	if err := os.WriteFile(filepath.Join(root, "Boot", "NewFile.EFI"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readName(t, d, "boot/newfile.efi"); err != nil || got != "new" {
		t.Errorf("file added after indexing: %q %v", got, err)
	}
	if err := os.Remove(filepath.Join(root, "pxelinux.0")); err != nil {
		t.Fatal(err)
	}
	if _, err := readName(t, d, "PXELINUX.0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file: %v", err)
	}
	if err := os.Rename(filepath.Join(root, "Boot", "x64"), filepath.Join(root, "Boot", "X86_64")); err != nil {
		t.Fatal(err)
	}
	if got, err := readName(t, d, "boot/x86_64/wdsnbp.com"); err != nil || got != "wds" {
		t.Errorf("renamed directory: %q %v", got, err)
	}
	if _, err := readName(t, d, "boot/x64/wdsnbp.com"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old directory name: %v", err)
	}
}

// TestFoldCaseReadsDirectoryOnce: looking up missing names in a large
// directory reads it once, not once per request.
func TestFoldCaseReadsDirectoryOnce(t *testing.T) {
	d := bigFoldDir(t, 2000)
	var reads atomic.Int64
	d.fold = newFoldIndex(countingFS{d.FS(), &reads})
	const lookups = 200
	for i := range lookups {
		if _, err := d.Open(fmt.Sprintf("missing%d.bin", i)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing name: %v", err)
		}
	}
	if f, err := d.Open("FILE01234.BIN"); err != nil {
		t.Fatalf("folded name: %v", err)
	} else {
		f.Close()
	}
	if n := reads.Load(); n > 2 {
		t.Fatalf("%d directory reads for %d lookups in one unchanged directory", n, lookups+1)
	}
}

// BenchmarkFoldCaseMissing is the cost of a request for a missing name
// with FoldCase in a directory of 10 000 files.
func BenchmarkFoldCaseMissing(b *testing.B) {
	d := bigFoldDir(b, 10000)
	for b.Loop() {
		if _, err := d.Open("Missing.bin"); !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
	}
}
