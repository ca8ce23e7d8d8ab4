package qemulab

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Debian's UEFI Secure Boot firmware (package ovmf), used when
// Options.SecureBoot is set.
const (
	// SecureBootCode is OVMF built with SMM and Secure Boot.
	SecureBootCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	// SecureBootVars has Microsoft's keys enrolled and Secure Boot on.
	SecureBootVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// RequireFile returns the last (in sort order) file matching the glob
// pattern. When none does it skips the test, or fails it when CI is set
// (make test installs pkgs, the Debian packages named in the message).
func RequireFile(t testing.TB, pattern, pkgs string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		msg := fmt.Sprintf("%s not found (Debian package %s; scripts/install-deps.sh installs it)", pattern, pkgs)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	slices.Sort(m)
	return m[len(m)-1]
}

// DebianKernel returns the newest /boot/vmlinuz-* (linux-image-amd64,
// signed by Debian) and busybox, or "" when either is missing.
func DebianKernel() (kernel, busybox string) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	slices.Sort(ks)
	for _, bb := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if st, err := os.Stat(bb); err == nil && st.Mode().IsRegular() && len(ks) > 0 {
			return ks[len(ks)-1], bb
		}
	}
	return "", ""
}

// CPIOFile is one entry of a newc cpio archive.
type CPIOFile struct {
	Name  string
	Mode  uint32 // file type and permissions
	Data  []byte
	Major uint32 // device nodes
	Minor uint32
}

// NewcCPIO writes the files as a newc ("070701") cpio archive, the format
// Linux unpacks as an initramfs.
func NewcCPIO(files []CPIOFile) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	write := func(ino int, f CPIOFile) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, f.Mode, 0, 0, 1, 0, len(f.Data), 0, 0, f.Major, f.Minor, len(f.Name)+1, 0)
		b.WriteString(f.Name)
		b.WriteByte(0)
		pad()
		b.Write(f.Data)
		pad()
	}
	for i, f := range files {
		write(i+1, f)
	}
	write(0, CPIOFile{Name: "TRAILER!!!"})
	return b.Bytes()
}

// BusyboxInitramfs builds an initramfs whose /init (busybox sh) runs
// script with /proc mounted, then powers the machine off. A dynamically
// linked busybox (Debian's package busybox; busybox-static conflicts with
// it) comes with its ELF interpreter and libraries.
func BusyboxInitramfs(busybox, script string) ([]byte, error) {
	files := []CPIOFile{
		{Name: "bin", Mode: 0o040755},
		{Name: "dev", Mode: 0o040755},
		{Name: "proc", Mode: 0o040755},
		{Name: "dev/console", Mode: 0o020600, Major: 5, Minor: 1},
	}
	dirs := map[string]bool{"bin": true}
	add := func(dst, src string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		var parents []string
		for d := filepath.Dir(dst); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for _, d := range slices.Backward(parents) {
			files = append(files, CPIOFile{Name: d, Mode: 0o040755})
		}
		files = append(files, CPIOFile{Name: dst, Mode: 0o100755, Data: b})
		return nil
	}
	if err := add("bin/busybox", busybox); err != nil {
		return nil, err
	}
	libs, err := elfDependencies(busybox)
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		if err := add(strings.TrimPrefix(l, "/"), l); err != nil {
			return nil, err
		}
	}
	init := "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n" + script + "\n/bin/busybox poweroff -f\n"
	files = append(files,
		CPIOFile{Name: "bin/sh", Mode: 0o120777, Data: []byte("busybox")},
		CPIOFile{Name: "init", Mode: 0o100755, Data: []byte(init)})
	return NewcCPIO(files), nil
}

// elfDependencies returns the ELF interpreter and the shared libraries
// (found in Debian's amd64 library directories) a program needs; none for
// a static one.
func elfDependencies(prog string) ([]string, error) {
	f, err := elf.Open(prog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, err
			}
			out = append(out, strings.TrimRight(string(b), "\x00"))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		found := ""
		for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib"} {
			if _, err := os.Stat(filepath.Join(dir, l)); err == nil {
				found = filepath.Join(dir, l)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s needs %s, not found", prog, l)
		}
		out = append(out, found)
	}
	return out, nil
}

// CmdlineScript is a BusyboxInitramfs script that prints marker+"-START",
// /proc/cmdline as od -tx1 lines (so that no byte of it is lost on the
// console), then marker+"-END". CmdlineFromConsole reads it back. It
// first lowers the console log level, so that no kernel message lands
// among those lines.
func CmdlineScript(marker string) string {
	return "echo 1 > /proc/sys/kernel/printk\n" +
		"echo " + marker + "-START\n" +
		"/bin/busybox od -An -v -tx1 /proc/cmdline\n" +
		"echo " + marker + "-END"
}

// CmdlineFromConsole decodes the /proc/cmdline dump CmdlineScript(marker)
// printed among the console lines.
func CmdlineFromConsole(lines []string, marker string) (string, error) {
	start := slices.Index(lines, marker+"-START")
	end := slices.Index(lines, marker+"-END")
	if start < 0 || end < start {
		return "", errors.New("qemulab: no /proc/cmdline dump between the markers on the console")
	}
	var b []byte
	for _, l := range lines[start+1 : end] {
		for _, f := range strings.Fields(l) {
			x, err := hex.DecodeString(f)
			if err != nil || len(x) != 1 {
				return "", fmt.Errorf("qemulab: console line %q is not an od -tx1 line", l)
			}
			b = append(b, x...)
		}
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// Files makes a directory of boot files under the lab's Dir for the
// servers to serve: each file of copies (name → source path) copied, each
// of contents written. It returns the directory.
func (l *Lab) Files(t testing.TB, copies map[string]string, contents map[string][]byte) string {
	t.Helper()
	root := filepath.Join(l.Dir, "files")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range copies {
		if err := CopyFile(filepath.Join(root, name), src); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range contents {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
