package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// hostileTree builds parent/{secret, root/{ok.txt, sub/in.txt, links…}}.
func hostileTree(t *testing.T) string {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(parent, "secret"), []byte("SECRET"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "ok.txt"), []byte("ok"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sub", "in.txt"), []byte("in"), 0o644))
	must(os.Symlink("/etc", filepath.Join(root, "out")))
	must(os.Symlink("/etc/hostname", filepath.Join(root, "outfile")))
	must(os.Symlink("ok.txt", filepath.Join(root, "inlink")))
	must(os.Symlink("../../secret", filepath.Join(root, "sub", "uplink")))
	must(os.Symlink(filepath.Join(root, "ok.txt"), filepath.Join(root, "abslink")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	return root
}

// TestHostileNames sends 40+ hostile names to a Dir-backed server: each is
// refused with the right code (or served, for the controls), nothing leaks
// from outside the root and nothing hangs.
func TestHostileNames(t *testing.T) {
	root := hostileTree(t)
	dir, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	addr := startServer(t, &Server{Handler: dir}, "udp4")
	const served = ErrorCode(0xffff)
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name string
		want ErrorCode
	}{
		{"../secret", CodeAccess},
		{"../../etc/passwd", CodeAccess},
		{`..\secret`, CodeAccess},
		{`..\..\..\etc\passwd`, CodeAccess},
		{"sub/../../secret", CodeAccess},
		{"sub/../ok.txt", CodeAccess},
		{"sub/../../../../../../etc/passwd", CodeAccess},
		{"/../secret", CodeAccess},
		{`\..\secret`, CodeAccess},
		{"/..", CodeAccess},
		{"../", CodeAccess},
		{`..\`, CodeAccess},
		{"sub/..", CodeAccess},
		{"a/b/../../..", CodeAccess},
		{"..//secret", CodeAccess},
		{`.\..\secret`, CodeAccess},
		{"sub/in.txt/..", CodeAccess},
		{"/etc/passwd", CodeNotFound},
		{"/proc/self/environ", CodeNotFound},
		{`C:\Windows\system.ini`, CodeNotFound},
		{`\\server\share\x`, CodeNotFound},
		{"....//secret", CodeNotFound},
		{"...", CodeNotFound},
		{"..%2fsecret", CodeNotFound},
		{"%2e%2e/secret", CodeNotFound},
		{"..;/secret", CodeNotFound},
		{".. /secret", CodeNotFound},
		{"~root/.ssh/id_rsa", CodeNotFound},
		{"OK.TXT", CodeNotFound},
		{"out", CodeAccess},
		{"out/passwd", CodeAccess},
		{"outfile", CodeAccess},
		{"sub/uplink", CodeAccess},
		{"abslink", CodeAccess},
		{"sub", CodeAccess},
		{"fifo", CodeAccess},
		{".", CodeAccess},
		{"", CodeAccess},
		{"/", CodeAccess},
		{"//", CodeAccess},
		{"a\x01b", CodeAccess},
		{"sub/\x7f", CodeAccess},
		{"a\tb", CodeAccess},
		{long, CodeAccess},
		{strings.Repeat("a/", 500), CodeNotFound},
		{strings.Repeat("b", 1100), CodeIllegalOp}, // request over 1024 bytes
		{"ok.txt", served},
		{"/ok.txt", served},
		{`\ok.txt`, served},
		{"./ok.txt", served},
		{"ok.txt/", served},
		{`sub\in.txt`, served},
		{"sub//in.txt", served},
		{"inlink", served},
	} {
		t.Run(strings.NewReplacer("/", "⁄", "\x00", "NUL").Replace(tc.name[:min(len(tc.name), 40)]), func(t *testing.T) {
			c := newTestClient(t, addr)
			c.rrq(tc.name, "octet")
			p, _, ok := c.recv(3 * time.Second)
			if !ok {
				t.Fatal("no answer")
			}
			if tc.want == served {
				if p.op != OpDATA || (string(p.data) != "ok" && string(p.data) != "in") {
					t.Fatalf("got %v %q (code %d %q), want the file", p.op, p.data, p.code, p.msg)
				}
				c.ack(1)
				return
			}
			if p.op != OpERROR || p.code != tc.want {
				t.Fatalf("got %v %q code %d %q, want ERROR %d", p.op, p.data, p.code, p.msg, tc.want)
			}
			if strings.Contains(p.msg, "SECRET") || strings.Contains(p.msg, root) {
				t.Fatalf("error message leaks: %q", p.msg)
			}
		})
	}
	// Names Go callers could pass that never come off the wire.
	for _, name := range []string{"ok.txt\x00.png", `sub\in.txt`, "../secret", "/ok.txt"} {
		if f, err := dir.Open(name); err == nil {
			f.Close()
			t.Errorf("Dir.Open(%q) succeeded", name)
		}
	}
}

func TestDirFoldCase(t *testing.T) {
	root := hostileTree(t)
	dir, _ := OpenDir(root)
	defer dir.Close()
	dir.FoldCase = true
	for name, want := range map[string]string{"OK.TXT": "ok", "SUB/In.Txt": "in", "ok.txt": "ok"} {
		f, err := dir.Open(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != want {
			t.Fatalf("%s: %q", name, b)
		}
	}
	if _, err := dir.Open("OUT/passwd"); err == nil {
		t.Fatal("fold case followed a symlink out of the root")
	}
	if _, err := OpenDir(filepath.Join(root, "missing")); err == nil {
		t.Fatal("OpenDir of a missing directory succeeded")
	}
}

// memWriter is a ResponseWriter that collects what a handler sends.
type memWriter struct {
	size   int64
	buf    bytes.Buffer
	err    error
	served bool
}

func (w *memWriter) SetSize(n int64)                     { w.size = n }
func (w *memWriter) Write(p []byte) (int, error)         { return w.buf.Write(p) }
func (w *memWriter) ReadFrom(r io.Reader) (int64, error) { return w.buf.ReadFrom(r) }
func (w *memWriter) WriteError(err error)                { w.err = err }
func (w *memWriter) ServeContent(ra io.ReaderAt, size int64) error {
	w.served = true
	_, err := w.buf.ReadFrom(io.NewSectionReader(ra, 0, size))
	return err
}

func serveMem(h Handler, path string) *memWriter {
	w := &memWriter{size: -1}
	h.ServeTFTP(w, &Request{Filename: path, Path: path, Mode: "octet"})
	return w
}

func TestFSHandler(t *testing.T) {
	fsys := fstest.MapFS{"a/b.txt": {Data: []byte("hello")}, "d": {Mode: fs.ModeDir}}
	h := FS(fsys)
	if w := serveMem(h, "a/b.txt"); w.buf.String() != "hello" || w.err != nil {
		t.Fatalf("%q %v", w.buf.String(), w.err)
	}
	// A file without ReadAt is streamed with its size.
	h2 := FS(noReaderAt{fsys})
	if w := serveMem(h2, "a/b.txt"); w.buf.String() != "hello" || w.size != 5 || w.served {
		t.Fatalf("stream: %q size %d", w.buf.String(), w.size)
	}
	for _, p := range []string{"missing", "d", "../x"} {
		if w := serveMem(h, p); w.err == nil {
			t.Fatalf("%s: no error", p)
		}
	}
	if code, _ := errorPacket(serveMem(h, "missing").err); code != CodeNotFound {
		t.Fatalf("missing: code %d", code)
	}
	if code, _ := errorPacket(serveMem(h, "d").err); code != CodeAccess {
		t.Fatalf("dir: code %d", code)
	}
}

type noReaderAt struct{ fsys fs.FS }

func (n noReaderAt) Open(name string) (fs.File, error) {
	f, err := n.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return struct {
		fs.File
	}{f}, nil
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code ErrorCode
	}{
		{fs.ErrNotExist, CodeNotFound},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, CodeAccess},
		{ErrInvalidPath, CodeAccess},
		{&Error{Code: CodeDiskFull, Message: "big"}, CodeDiskFull},
		{errors.New("database down"), CodeUndefined},
	} {
		code, msg := errorPacket(tc.err)
		if code != tc.code || strings.Contains(msg, "database") {
			t.Errorf("%v: code %d msg %q", tc.err, code, msg)
		}
	}
}

func TestCache(t *testing.T) {
	dirPath := t.TempDir()
	p := filepath.Join(dirPath, "f")
	if err := os.WriteFile(p, []byte("version one"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, _ := OpenDir(dirPath)
	defer dir.Close()
	c := NewCache(dir.FS())

	// Many concurrent readers share one load and one copy.
	var wg sync.WaitGroup
	ptrs := make([]*byte, 20)
	for i := range ptrs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b, err := c.Get("f")
			if err != nil || string(b) != "version one" {
				t.Errorf("%q %v", b, err)
				return
			}
			ptrs[i] = &b[0]
		}(i)
	}
	wg.Wait()
	if c.Loads() != 1 {
		t.Fatalf("%d loads, want 1", c.Loads())
	}
	for _, q := range ptrs {
		if q != ptrs[0] {
			t.Fatal("readers got different copies")
		}
	}
	// A change is noticed on the next request.
	if err := os.WriteFile(p, []byte("version two!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := serveMem(c, "f"); w.buf.String() != "version two!" {
		t.Fatalf("after change: %q", w.buf.String())
	}
	// Same size, new mtime.
	if err := os.WriteFile(p, []byte("version 3..."), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(p, future, future)
	if w := serveMem(c, "f"); w.buf.String() != "version 3..." {
		t.Fatalf("after same-size change: %q", w.buf.String())
	}
	if c.Loads() != 3 {
		t.Fatalf("%d loads, want 3", c.Loads())
	}
	// Removal is noticed; missing files are "not found".
	os.Remove(p)
	if code, _ := errorPacket(serveMem(c, "f").err); code != CodeNotFound {
		t.Fatalf("removed: code %d", code)
	}
	// Big files bypass the cache; eviction keeps the total bounded.
	os.WriteFile(filepath.Join(dirPath, "big"), make([]byte, 100), 0o644)
	os.WriteFile(filepath.Join(dirPath, "a"), make([]byte, 40), 0o644)
	os.WriteFile(filepath.Join(dirPath, "b"), make([]byte, 40), 0o644)
	c2 := NewCache(dir.FS())
	c2.MaxFileSize, c2.MaxBytes = 50, 60
	if w := serveMem(c2, "big"); w.buf.Len() != 100 || c2.Loads() != 0 {
		t.Fatalf("big: %d bytes, %d loads", w.buf.Len(), c2.Loads())
	}
	serveMem(c2, "a")
	serveMem(c2, "b")
	if c2.total > 60 || len(c2.entries) != 1 {
		t.Fatalf("total %d entries %d", c2.total, len(c2.entries))
	}
	// CheckInterval: trusted without a stat.
	c3 := NewCache(dir.FS())
	c3.CheckInterval = time.Hour
	serveMem(c3, "a")
	os.WriteFile(filepath.Join(dirPath, "a"), make([]byte, 41), 0o644)
	if w := serveMem(c3, "a"); w.buf.Len() != 40 {
		t.Fatalf("interval: %d", w.buf.Len())
	}
}

func TestServeMux(t *testing.T) {
	m := NewServeMux()
	text := func(s string) Handler {
		return ContentFunc(func(r *Request) ([]byte, error) { return []byte(s + ":" + r.Path), nil })
	}
	m.Handle("ipxe.efi", text("exact"))
	m.Handle("/pxelinux.cfg/", text("cfg"))
	m.Handle("boot/", StripPrefix("/boot", text("boot")))
	m.Handle("boot/efi/", text("efi"))
	m.HandleFunc("fail", func(w ResponseWriter, r *Request) { w.WriteError(ErrAccessDenied) })
	for path, want := range map[string]string{
		"ipxe.efi":             "exact:ipxe.efi",
		"pxelinux.cfg/01-aa":   "cfg:pxelinux.cfg/01-aa",
		"boot/x/y":             "boot:x/y",
		"boot/efi/grub.efi":    "efi:boot/efi/grub.efi",
		"ipxe.efi2":            "",
		"pxelinux.cfgX":        "",
		"IPXE.EFI":             "",
		"pxelinux.cfg/default": "cfg:pxelinux.cfg/default",
	} {
		w := serveMem(m, path)
		if want == "" {
			if code, _ := errorPacket(w.err); code != CodeNotFound {
				t.Errorf("%s: got %q err %v, want not found", path, w.buf.String(), w.err)
			}
			continue
		}
		if w.buf.String() != want {
			t.Errorf("%s: got %q, want %q", path, w.buf.String(), want)
		}
	}
	if code, _ := errorPacket(serveMem(m, "fail").err); code != CodeAccess {
		t.Error("fail")
	}
	m.FoldCase = true
	m2 := &ServeMux{FoldCase: true, NotFound: text("fallback")}
	m2.Handle("IPXE.efi", text("x"))
	m2.Handle("", text("all"))
	if w := serveMem(m2, "ipxe.EFI"); w.buf.String() != "x:ipxe.EFI" {
		t.Errorf("fold: %q", w.buf.String())
	}
	if w := serveMem(m2, "other"); w.buf.String() != "all:other" {
		t.Errorf("catch-all: %q", w.buf.String())
	}
	for _, bad := range []func(){
		func() { m.Handle("ipxe.efi", text("again")) },
		func() { m.Handle("x", nil) },
		func() { m.Handle("../x", text("x")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Handle did not panic")
				}
			}()
			bad()
		}()
	}
}

func TestRequestHelpers(t *testing.T) {
	r := &Request{Options: []Option{{"BlkSize", "1432"}}}
	if v, ok := r.Option("blksize"); !ok || v != "1432" {
		t.Fatal(v, ok)
	}
	if _, ok := r.Option("tsize"); ok {
		t.Fatal("tsize")
	}
	if r.Context() != context.Background() {
		t.Fatal("context")
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"boot/x":                             "boot/x",
		"/boot/x":                            "boot/x",
		"//boot//x/":                         "boot/x",
		`boot\x64\wds.com`:                   "boot/x64/wds.com",
		"./a/./b":                            "a/b",
		"...":                                "...",
		"..":                                 "",
		"a/../b":                             "",
		`a\..\b`:                             "",
		"":                                   "",
		"/":                                  "",
		"a\x00b":                             "",
		"a\nb":                               "",
		strings.Repeat("x", MaxPathLength+1): "",
	} {
		got, err := CleanPath(in)
		if want == "" {
			if err == nil || !errors.Is(err, ErrInvalidPath) {
				t.Errorf("CleanPath(%q) = %q, %v; want ErrInvalidPath", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestCacheLoadsOneCopy: loading a file allocates about its size once, not
// the doubled buffer a growing reader would leave behind.
func TestCacheLoadsOneCopy(t *testing.T) {
	const size = 4 << 20
	fsys := fstest.MapFS{"big": {Data: bytes.Repeat([]byte{7}, size)}}
	c := NewCache(fsys)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	data, err := c.Get("big")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("c.Get(\"big\"): %v", err)
	}
	if len(data) != size {
		t.Fatalf("len(data) = %d, want %d", len(data), size)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated >= uint64(size+size/4) {
		t.Fatalf("load allocated %d bytes for a %d-byte file: allocated = %v, want < %v", allocated, size, allocated, uint64(size+size/4))
	}
}
