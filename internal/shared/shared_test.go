package shared

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

func TestOptional(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "captures"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PXEKIT_SHARED", dir)
	if p, ok := Optional(t, "captures"); !ok || p != filepath.Join(dir, "captures") {
		t.Fatalf("Optional = %s %v", p, ok)
	}
}

// fakeTB records how Optional ended the test: Fatal and Skip stop it like
// testing's do (here by panicking out of Path).
type fakeTB struct {
	testing.TB
	how, msg string
}

type stopped struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.how, f.msg = "fatal", fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.how, f.msg = "skip", fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Skip(args ...any)  { f.Skipf("%s", fmt.Sprint(args...)) }

func callPath(elem ...string) (f *fakeTB) {
	f = &fakeTB{}
	defer func() {
		if r := recover(); r != nil && r != (stopped{}) {
			panic(r)
		}
	}()
	if _, ok := Optional(f, elem...); ok {
		f.how = "ok"
	} else {
		f.how = "absent"
	}
	return f
}

// Missing optional material is reported absent, with CI set too (a fresh
// clone has no ../shared): never a skip. It fails only when PXEKIT_SHARED
// asks for it.
func TestOptionalMissing(t *testing.T) {
	empty := t.TempDir()
	t.Chdir(empty) // no go.mod above: Dir fails, like a checkout without shared
	t.Setenv("CI", "true")
	t.Setenv("PXEKIT_SHARED", "")
	if f := callPath("corpus", "ipxe"); f.how != "absent" {
		t.Errorf("without PXEKIT_SHARED: %s %q, want it reported absent (no skip, no failure)", f.how, f.msg)
	}
	t.Setenv("PXEKIT_SHARED", filepath.Join(empty, "nope"))
	if f := callPath("corpus", "ipxe"); f.how != "fatal" || !strings.Contains(f.msg, "PXEKIT_SHARED is set") {
		t.Errorf("with PXEKIT_SHARED: %s %q, want a failure", f.how, f.msg)
	}
	if err := os.MkdirAll(filepath.Join(empty, "corpus", "ipxe"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PXEKIT_SHARED", empty)
	if f := callPath("corpus", "ipxe"); f.how != "ok" {
		t.Errorf("present: %s %q", f.how, f.msg)
	}
}
