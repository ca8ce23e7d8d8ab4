package pxekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pxekit/pxekit/internal/syncbuf"
	"github.com/pxekit/pxekit/ipxescript"
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestParseMachineYAML(t *testing.T) {
	const uuid = "4c4c4544-0035-4810-8056-b4c04f4e3232"
	tests := []struct {
		name string
		in   string
		want Machine
		err  string // fragment of the error; "" = success
	}{
		{"full", "name: web01\nmac: 52:54:00:12:34:56\nuuid: " + uuid + "\nboot: ipxe\nkernel: http://10.0.0.1/linux\ninitrds: [http://10.0.0.1/initrd.gz]\ncmdline: [console=ttyS0, \"hostname=web 01\", quiet]\n",
			Machine{Name: "web01", MAC: mustMAC("52:54:00:12:34:56"), UUID: uuid, Kernel: "http://10.0.0.1/linux", Initrds: []string{"http://10.0.0.1/initrd.gz"}, Cmdline: []string{"console=ttyS0", "hostname=web 01", "quiet"}}, ""},
		{"uuid only, upper case, braces", "uuid: '{4C4C4544-0035-4810-8056-B4C04F4E3232}'\n", Machine{UUID: uuid}, ""},
		{"mac with dashes", "mac: 52-54-00-12-34-56\n", Machine{MAC: mustMAC("52:54:00:12:34:56")}, ""},
		{"all-digit mac", "mac: 11:22:33:44:55:66\n", Machine{MAC: mustMAC("11:22:33:44:55:66")}, ""},
		{"boot local", "mac: 52:54:00:12:34:56\nboot: local\n", Machine{MAC: mustMAC("52:54:00:12:34:56"), Boot: BootLocal}, ""},
		{"script", "mac: 52:54:00:12:34:56\nscript: |\n  #!ipxe\n  sanboot iscsi:10.0.0.1::::iqn.2026-01.lab:web01\n",
			Machine{MAC: mustMAC("52:54:00:12:34:56"), Script: "#!ipxe\nsanboot iscsi:10.0.0.1::::iqn.2026-01.lab:web01\n"}, ""},
		{"value with = kept", "mac: 52:54:00:12:34:56\nkernel: k\ncmdline: [\"ip=dhcp:a=b\"]\n", Machine{MAC: mustMAC("52:54:00:12:34:56"), Kernel: "k", Cmdline: []string{"ip=dhcp:a=b"}}, ""},

		{"unknown key", "mac: 52:54:00:12:34:56\nkernal: x\n", Machine{}, `line 2: unknown key "kernal"`},
		{"duplicate key", "mac: 52:54:00:12:34:56\nmac: 52:54:00:12:34:57\n", Machine{}, `line 2: key "mac" given twice (first on line 1)`},
		{"no identity", "name: x\n", Machine{}, "a mac or a uuid is required"},
		{"null document", "~\n", Machine{}, "a mac or a uuid is required"},
		{"empty", "", Machine{}, "empty file"},
		{"comment only", "# nothing\n", Machine{}, "empty file"},
		{"not a mapping", "- a\n- b\n", Machine{}, "cannot unmarshal !!seq into a machine"},
		{"two documents", "mac: 52:54:00:12:34:56\n---\nmac: 52:54:00:12:34:57\n", Machine{}, "more than one YAML document"},
		{"bad mac", "mac: 52:54:00:12:34\n", Machine{}, `mac "52:54:00:12:34"`},
		{"bad uuid", "uuid: 1234\n", Machine{}, `uuid "1234"`},
		{"cmdline quote", "mac: 52:54:00:12:34:56\nkernel: k\ncmdline: ['a=say \"hi\"']\n", Machine{}, "cmdline[0]: kernelcmdline: argument"},
		{"cmdline space in name", "mac: 52:54:00:12:34:56\nkernel: k\ncmdline: [quiet, \"a b=c\"]\n", Machine{}, "cmdline[1]"},
		{"cmdline empty name", "mac: 52:54:00:12:34:56\nkernel: k\ncmdline: [\"=c\"]\n", Machine{}, "parameter name is empty"},
		{"cmdline empty element", "mac: 52:54:00:12:34:56\nkernel: k\ncmdline: [\"\"]\n", Machine{}, "parameter name is empty"},
		{"cmdline NUL", "mac: 52:54:00:12:34:56\nkernel: k\ncmdline: [\"a=\\0\"]\n", Machine{}, "NUL"},
		{"cmdline without kernel", "mac: 52:54:00:12:34:56\ncmdline: [quiet]\n", Machine{}, "need a kernel"},
		{"initrd without kernel", "mac: 52:54:00:12:34:56\ninitrds: [i]\n", Machine{}, "need a kernel"},
		{"empty initrd", "mac: 52:54:00:12:34:56\nkernel: k\ninitrds: [\"\"]\n", Machine{}, "initrds[0] is empty"},
		{"kernel with newline", "mac: 52:54:00:12:34:56\nkernel: \"k\\nboot\"\n", Machine{}, "control byte"},
		{"script without header", "mac: 52:54:00:12:34:56\nscript: \"chain http://x/\"\n", Machine{}, "does not start with #!ipxe"},
		{"script ends in continuation", "mac: 52:54:00:12:34:56\nscript: \"#!ipxe\\necho \\\\\"\n", Machine{}, "continuation"},
		{"script and kernel", "mac: 52:54:00:12:34:56\nkernel: k\nscript: \"#!ipxe\\n\"\n", Machine{}, "not both"},
		{"boot local with kernel", "mac: 52:54:00:12:34:56\nboot: local\nkernel: k\n", Machine{}, "boot local takes no kernel"},
		{"unknown boot", "mac: 52:54:00:12:34:56\nboot: sanboot\n", Machine{}, `boot "sanboot"`},
		{"grub without a kernel", "mac: 52:54:00:12:34:56\nboot: grub\n", Machine{}, "boot grub needs a kernel"},
		{"too large", "mac: 52:54:00:12:34:56\n#" + strings.Repeat("x", MaxMachineFile), Machine{}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMachineYAML([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "pxekit: ") {
					t.Fatalf("ParseMachineYAML(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseMachineYAML(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestMachineYAMLKeys: the file format's keys are Machine's JSON keys.
func TestMachineYAMLKeys(t *testing.T) {
	keys := func(typ reflect.Type, tag string) []string {
		var k []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
			k = append(k, name)
		}
		slices.Sort(k)
		return k
	}
	j, y := keys(reflect.TypeFor[Machine](), "json"), keys(reflect.TypeFor[machineYAML](), "yaml")
	if !slices.Equal(j, y) {
		t.Errorf("machine file keys %v, Machine's JSON keys %v", y, j)
	}
}

// TestValidate covers what YAML cannot express: Machine values built in Go.
func TestValidate(t *testing.T) {
	mac := mustMAC("52:54:00:12:34:56")
	tests := []struct {
		name string
		m    Machine
		err  error  // errors.Is target, or nil
		frag string // fragment, "" = success
	}{
		{"mac only", Machine{MAC: mac}, nil, ""},
		{"uuid not canonical", Machine{UUID: "4C4C4544-0035-4810-8056-B4C04F4E3232"}, nil, "canonical"},
		{"boot ipxe spelled out", Machine{MAC: mac, Boot: "ipxe"}, nil, `boot "ipxe"`},
		{"kernel arg with quote", Machine{MAC: mac, Kernel: "k", Cmdline: []string{`a="b"`}}, ipxescript.ErrKernelQuote, "cmdline[0]"},
		{"kernel arg name with 0xA0", Machine{MAC: mac, Kernel: "k", Cmdline: []string{"a\xa0b=c"}}, ipxescript.ErrKernelName, "cmdline[0]"},
		{"value with 0xA0 is quoted, fine", Machine{MAC: mac, Kernel: "k", Cmdline: []string{"a=b\xa0c"}}, nil, ""},
		{"initrd with NUL", Machine{MAC: mac, Kernel: "k", Initrds: []string{"a\x00"}}, nil, "control byte"},
	}
	for _, tt := range tests {
		err := tt.m.Validate()
		if tt.frag == "" {
			if err != nil {
				t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.frag) || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("%s: Validate() = %v, want an error with %q (is %v)", tt.name, err, tt.frag, tt.err)
		}
	}
}

func TestMapInventory(t *testing.T) {
	a := Machine{Name: "a", MAC: mustMAC("52:54:00:00:00:01"), Kernel: "k", Cmdline: []string{"quiet"}}
	b := Machine{Name: "b", UUID: "4c4c4544-0035-4810-8056-b4c04f4e3232"}
	inv, err := NewMapInventory(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Len() != 2 {
		t.Errorf("Len() = %d, want 2", inv.Len())
	}
	tests := []struct {
		key  MachineKey
		want string // machine name, "" = not found
	}{
		{MachineKey{MAC: a.MAC}, "a"},
		{MachineKey{MAC: a.MAC, UUID: b.UUID}, "a"}, // MAC first
		{MachineKey{MAC: mustMAC("52:54:00:00:00:09"), UUID: b.UUID}, "b"},
		{MachineKey{UUID: "4C4C4544003548108056B4C04F4E3232"}, "b"},
		{MachineKey{MAC: mustMAC("52:54:00:00:00:09")}, ""},
		{MachineKey{}, ""},
	}
	for _, tt := range tests {
		m, ok, err := inv.Machine(context.Background(), tt.key)
		if err != nil || ok != (tt.want != "") || m.Name != tt.want {
			t.Errorf("Machine(%v, %q) = %q %v %v, want %q", tt.key.MAC, tt.key.UUID, m.Name, ok, err, tt.want)
		}
	}
	// The answer is a copy.
	m, _, _ := inv.Machine(context.Background(), MachineKey{MAC: a.MAC})
	m.Cmdline[0] = "changed"
	if m, _, _ := inv.Machine(context.Background(), MachineKey{MAC: a.MAC}); m.Cmdline[0] != "quiet" {
		t.Errorf("a caller changed the inventory's machine: cmdline %q", m.Cmdline)
	}

	for _, bad := range [][]Machine{
		{a, {Name: "dup", MAC: a.MAC}},
		{b, {Name: "dup", UUID: b.UUID}},
		{{Name: "none"}},
	} {
		if _, err := NewMapInventory(bad...); err == nil {
			t.Errorf("NewMapInventory(%+v) = nil error", bad)
		}
	}
}

// writeFiles writes name → content into dir, with an mtime in the future
// that moves on at each call, so that a change is seen however coarse the
// file system's clock is.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		// Written beside (a dotfile, which the inventory skips) and renamed
		// into place, as editors do: a watcher polling meanwhile never sees
		// the file empty or half written.
		p, tmp := filepath.Join(dir, name), filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		mtimeSeq++
		at := time.Now().Add(time.Duration(mtimeSeq) * time.Hour)
		if err := os.Chtimes(tmp, at, at); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
}

var mtimeSeq int

func errFiles(errs []error) []string {
	var files []string
	for _, err := range errs {
		var fe *InventoryFileError
		if !errors.As(err, &fe) {
			files = append(files, "not an InventoryFileError: "+err.Error())
			continue
		}
		files = append(files, fe.File)
	}
	return files
}

func TestDirInventory(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside.yaml")
	if err := os.WriteFile(outside, []byte("mac: 52:54:00:00:00:99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"a-web01.yaml":   "mac: 52:54:00:00:00:01\nkernel: http://x/linux\n",
		"b-db.yml":       "name: database\nuuid: 4c4c4544-0035-4810-8056-b4c04f4e3232\nboot: local\n",
		"c-broken.yaml":  "mac: [\n",
		"d-dup.yaml":     "mac: 52-54-00-00-00-01\n",
		"e-dupuuid.yaml": "uuid: 4C4C4544-0035-4810-8056-B4C04F4E3232\n",
		".hidden.yaml":   "this: is ignored\n",
		"notes.txt":      "not a machine\n",
		"f-toobig.yaml":  "mac: 52:54:00:00:00:05\n#" + strings.Repeat("x", MaxMachineFile),
		"g-badcmdl.yaml": "mac: 52:54:00:00:00:06\nkernel: k\ncmdline: ['x=\"']\n",
		"h-unknown.yaml": "mac: 52:54:00:00:00:08\nfile: {}\n",
		"z-last.yaml":    "mac: 52:54:00:00:00:07\n",
	})
	if err := syscall.Mkfifo(filepath.Join(dir, "i-fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "j-dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "k-escape.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a-web01.yaml", filepath.Join(dir, "l-link.yaml")); err != nil {
		t.Fatal(err)
	}

	inv := &DirInventory{Dir: dir}
	done := make(chan error, 1)
	go func() { done <- inv.Reload() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Reload blocked (on the FIFO?)")
	}
	wantBad := []string{"c-broken.yaml", "d-dup.yaml", "e-dupuuid.yaml", "f-toobig.yaml", "g-badcmdl.yaml", "h-unknown.yaml", "i-fifo.yaml", "j-dir.yaml", "k-escape.yaml", "l-link.yaml"}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || !slices.Equal(errFiles(joined.Unwrap()), wantBad) {
		t.Fatalf("Reload() = %v\nbad files %v, want %v", err, errFiles(joined.Unwrap()), wantBad)
	}
	if got := errFiles(inv.Errors()); !slices.Equal(got, wantBad) {
		t.Errorf("Errors() names %v, want %v", got, wantBad)
	}
	for _, e := range inv.Errors() {
		if !strings.HasPrefix(e.Error(), "pxekit: inventory: ") {
			t.Errorf("error %q lacks the package prefix", e)
		}
	}
	if inv.Len() != 3 {
		t.Errorf("Len() = %d, want 3 (a-web01, b-db, z-last)", inv.Len())
	}
	tests := []struct {
		key  MachineKey
		want string
	}{
		{MachineKey{MAC: mustMAC("52:54:00:00:00:01")}, "a-web01"},
		{MachineKey{UUID: "4c4c4544-0035-4810-8056-b4c04f4e3232"}, "database"},
		{MachineKey{MAC: mustMAC("52:54:00:00:00:07")}, "z-last"},
		{MachineKey{MAC: mustMAC("52:54:00:00:00:08")}, ""},
		{MachineKey{MAC: mustMAC("52:54:00:00:00:99")}, ""},
	}
	for _, tt := range tests {
		m, ok, err := inv.Machine(context.Background(), tt.key)
		if err != nil || ok != (tt.want != "") || m.Name != tt.want {
			t.Errorf("Machine(%v, %q) = %q %v %v, want %q", tt.key.MAC, tt.key.UUID, m.Name, ok, err, tt.want)
		}
	}
}

// TestDirInventoryLoad: the first Machine call loads; a missing directory
// is an error, and after a good load it keeps the last machines.
func TestDirInventoryLoad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.yaml": "mac: 52:54:00:00:00:01\n"})
	inv := &DirInventory{Dir: dir}
	if _, ok, err := inv.Machine(context.Background(), MachineKey{MAC: mustMAC("52:54:00:00:00:01")}); !ok || err != nil {
		t.Fatalf("first Machine() = %v %v, want the machine loaded", ok, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := inv.Reload(); err == nil {
		t.Errorf("Reload() of a removed directory = nil")
	}
	if _, ok, err := inv.Machine(context.Background(), MachineKey{MAC: mustMAC("52:54:00:00:00:01")}); !ok || err != nil {
		t.Errorf("Machine() after a failed reload = %v %v, want the last machines", ok, err)
	}
	for _, d := range []string{"", filepath.Join(dir, "missing")} {
		inv := &DirInventory{Dir: d}
		if _, _, err := inv.Machine(context.Background(), MachineKey{MAC: mustMAC("52:54:00:00:00:01")}); err == nil {
			t.Errorf("Machine() with Dir %q = nil error", d)
		}
		if err := inv.Watch(context.Background()); err == nil {
			t.Errorf("Watch() with Dir %q = nil error", d)
		}
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestDirInventoryWatch: edits, new files, removals and a file that turns
// bad are picked up by Watch; lookups keep working throughout.
func TestDirInventoryWatch(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": "mac: 52:54:00:00:00:01\nkernel: v1\n",
		"b.yaml": "mac: 52:54:00:00:00:02\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncbuf.Buffer
	inv := &DirInventory{Dir: dir, Interval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := inv.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	kernel := func(mac string) string {
		m, ok, err := inv.Machine(ctx, MachineKey{MAC: mustMAC(mac)})
		if err != nil {
			t.Fatalf("Machine(%s): %v", mac, err)
		}
		if !ok {
			return "(none)"
		}
		return m.Kernel
	}
	var readers sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					inv.Machine(ctx, MachineKey{MAC: mustMAC("52:54:00:00:00:02")})
				}
			}
		}()
	}
	steps := []struct {
		what string
		do   func()
		mac  string
		want string
		nbad int
	}{
		{"edit", func() { writeFiles(t, dir, map[string]string{"a.yaml": "mac: 52:54:00:00:00:01\nkernel: v2\n"}) }, "52:54:00:00:00:01", "v2", 0},
		{"new file", func() { writeFiles(t, dir, map[string]string{"c.yml": "mac: 52:54:00:00:00:03\nkernel: c\n"}) }, "52:54:00:00:00:03", "c", 0},
		{"removed file", func() { os.Remove(filepath.Join(dir, "c.yml")) }, "52:54:00:00:00:03", "(none)", 0},
		{"file turns bad", func() { writeFiles(t, dir, map[string]string{"a.yaml": "mac: 52:54:00:00:00:01\nkernel: [\n"}) }, "52:54:00:00:00:01", "(none)", 1},
		{"fixed", func() { writeFiles(t, dir, map[string]string{"a.yaml": "mac: 52:54:00:00:00:01\nkernel: v3\n"}) }, "52:54:00:00:00:01", "v3", 0},
	}
	for _, st := range steps {
		st.do()
		waitFor(t, st.what, func() bool { return kernel(st.mac) == st.want })
		if got := len(inv.Errors()); got != st.nbad {
			t.Errorf("%s: %d bad files (%v), want %d", st.what, got, inv.Errors(), st.nbad)
		}
		if kernel("52:54:00:00:00:02") != "" {
			t.Errorf("%s: machine b lost", st.what)
		}
	}
	if l := logs.String(); !strings.Contains(l, `level=WARN msg="inventory: file skipped"`) || !strings.Contains(l, `err="pxekit: inventory: a.yaml: machine: yaml: line 2`) {
		t.Errorf("log lacks the bad file:\n%s", l)
	}
	// The directory goes away: the last machines stay.
	// (Renamed away, not removed: RemoveAll deletes file by file, and a
	// poll in between rightly sees machines removed.)
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := kernel("52:54:00:00:00:01"); got != "v3" {
		t.Errorf("after the directory went away: kernel %q, want v3 kept", got)
	}
	waitFor(t, "the log to say the directory went away", func() bool {
		return strings.Contains(logs.String(), "inventory: cannot read the directory")
	})
	close(stop)
	readers.Wait()
}

// FuzzMachineYAML: no input panics ParseMachineYAML, and a machine it
// accepts, written back, reads the same.
func FuzzMachineYAML(f *testing.F) {
	for _, s := range []string{
		"name: web01\nmac: 52:54:00:12:34:56\nuuid: 4c4c4544-0035-4810-8056-b4c04f4e3232\nkernel: http://10.0.0.1/linux\ninitrds: [a, b]\ncmdline: [console=ttyS0, \"hostname=web 01\"]\n",
		"mac: 52:54:00:12:34:56\nscript: |\n  #!ipxe\n  exit\n",
		"uuid: 4C4C4544-0035-4810-8056-B4C04F4E3232\nboot: local\n",
		"a: &a [*a, *a]\n",
		"mac: !!binary AAEC\n",
		"? [a]\n: b\n",
		"---\n---\n",
		"mac: 52:54:00:12:34:56\nname: a;reboot\nkernel: k\ncmdline: [quiet]\ntemplate: |\n  #!ipxe\n  echo {{name}}\n  kernel {{kernel}} {{cmdline}}\nfiles:\n  preseed.cfg: machines/web01/preseed.cfg\n",
		"mac: 52:54:00:12:34:56\ntemplate: \"#!ipxe\\necho {{nope}}\\n\"\n",
		"mac: 52:54:00:12:34:56\nfiles: {../x: y}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMachineYAML(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pxekit: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted machine fails Validate: %v", err)
		}
		y := machineYAML{Name: m.Name, UUID: m.UUID, Boot: string(m.Boot), Kernel: m.Kernel, Initrds: m.Initrds, Cmdline: m.Cmdline, Script: m.Script,
			Template: m.Template, Files: m.Files}
		if len(m.MAC) > 0 {
			y.MAC = m.MAC.String()
		}
		out, err := yaml.Marshal(y)
		if err != nil {
			t.Fatalf("yaml.Marshal(%+v): %v", y, err)
		}
		back, err := ParseMachineYAML(out)
		if err != nil || fmt.Sprintf("%#v", back) != fmt.Sprintf("%#v", m) {
			t.Fatalf("round trip of %q:\n%s\n= %#v, %v\nwant %#v", b, out, back, err, m)
		}
	})
}

// TestParseMachineYAMLHostile: files of the largest size allowed, built
// to make a YAML decoder slow or hungry, get an error in bounded time.
// yaml's own check of repeated keys is quadratic: a file of 150 000
// "mac:" lines ran out of memory before the keys were checked first.
func TestParseMachineYAMLHostile(t *testing.T) {
	n := MaxMachineFile - 100
	tests := []struct {
		name, in, err string
	}{
		{"repeated keys", strings.Repeat("mac: 1\n", n/7), `key "mac" given twice`},
		{"nested sequences", "mac: " + strings.Repeat("[", n-10), "exceeded max depth"},
		{"nested mappings", strings.Repeat("a: {", n/4), "exceeded max depth"},
		{"alias bomb", "name: &a [x,x,x,x,x,x,x,x,x,x]\nkernel: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\ninitrds: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\ncmdline: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n", "cannot unmarshal"},
		{"many wrong values", "initrds: [" + strings.Repeat("[],", n/3-20) + "[]]\n", "; and 349"},
		{"alias as key", "mac: &k 52:54:00:00:00:01\n*k : x\n", "a key must be a plain name"},
		{"merge key", "x: &m {mac: 52:54:00:00:00:01}\n<<: *m\n", `unknown key "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := ParseMachineYAML([]byte(tt.in))
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.err) || len(err.Error()) > 1000 {
					t.Errorf("ParseMachineYAML(%d bytes) = %.300v, want an error of at most 1000 bytes with %q", len(tt.in), err, tt.err)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("ParseMachineYAML(%d bytes) did not return within 60 s", len(tt.in))
			}
		})
	}
}
