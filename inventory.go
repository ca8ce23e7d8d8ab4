package pxekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/internal/regfile"
	"github.com/pxekit/pxekit/ipxescript"
)

// Validate checks a machine as an inventory loads it: a MAC or a UUID
// (canonical form), a known Boot kind, Kernel set when Initrds or Cmdline
// are, every Cmdline element one Linux argument ("name=value" split at the
// first "=", or a bare "name", as ipxescript.QuoteKernelArg accepts it), a
// Script that iPXE would run (it starts with #!ipxe, parses and does not
// end inside a continuation) and not given together with a kernel, and
// nothing to boot when Boot is BootLocal. Boot BootPXELinux and BootGRUB
// need a Kernel and take no Script, and their configuration file must
// build (bootcfg's quoting rules; PXELINUX: at most one initrd; GRUB:
// paths on the TFTP root, no URLs); SecureBoot is for BootGRUB only. A
// Template is for BootIPXE, not given with a Script, names only known
// placeholders, and parses once filled with sample values (a value iPXE
// cannot receive as one argument, such as a Name holding "${...}", is
// refused here); Files names and paths are clean relative paths.
func (m *Machine) Validate() error {
	if len(m.MAC) == 0 && m.UUID == "" {
		return errors.New("pxekit: machine: a mac or a uuid is required")
	}
	if m.UUID != "" {
		if u, err := archdetect.ParseUUID(m.UUID); err != nil || u != m.UUID {
			return fmt.Errorf("pxekit: machine: uuid %q: want the canonical lower-case form", m.UUID)
		}
	}
	switch m.Boot {
	case BootIPXE:
	case BootLocal:
		if m.Kernel != "" || len(m.Initrds) > 0 || len(m.Cmdline) > 0 || m.Script != "" || m.Template != "" {
			return errors.New("pxekit: machine: boot local takes no kernel, initrds, cmdline, script or template")
		}
	case BootPXELinux, BootGRUB:
		if m.Kernel == "" || m.Script != "" || m.Template != "" {
			return fmt.Errorf("pxekit: machine: boot %s needs a kernel and takes no script or template", m.Boot)
		}
	default:
		return fmt.Errorf("pxekit: machine: boot %q: want %q (BootIPXE), %q (BootLocal), %q (BootPXELinux) or %q (BootGRUB)",
			m.Boot, BootIPXE, BootLocal, BootPXELinux, BootGRUB)
	}
	if m.SecureBoot && m.Boot != BootGRUB {
		return fmt.Errorf("pxekit: machine: secure_boot is for boot %s (shim, then GRUB), not boot %q", BootGRUB, m.Boot)
	}
	if m.Kernel == "" && (len(m.Initrds) > 0 || len(m.Cmdline) > 0) {
		return errors.New("pxekit: machine: initrds and cmdline need a kernel")
	}
	if m.Script != "" && m.Kernel != "" {
		return errors.New("pxekit: machine: give a script or a kernel, not both")
	}
	if err := checkLocation("kernel", m.Kernel); err != nil {
		return err
	}
	for i, s := range m.Initrds {
		if err := checkLocation("initrds["+strconv.Itoa(i)+"]", s); err != nil {
			return err
		}
		if s == "" {
			return fmt.Errorf("pxekit: machine: initrds[%d] is empty", i)
		}
	}
	for i, a := range m.Cmdline {
		name, value, _ := strings.Cut(a, "=")
		// A bare parameter is checked as name=""; only its name can fail.
		if _, err := ipxescript.QuoteKernelArg(name, value); err != nil {
			return fmt.Errorf("pxekit: machine: cmdline[%d]: %w", i, err)
		}
	}
	if m.Script != "" {
		if err := checkScript([]byte(m.Script), "script"); err != nil {
			return fmt.Errorf("pxekit: machine: script: %w", err)
		}
	}
	if m.Template != "" {
		if m.Script != "" {
			return errors.New("pxekit: machine: give a script or a template, not both")
		}
		if _, err := fillTemplate(*m, sampleVars(*m)); err != nil {
			return fmt.Errorf("pxekit: machine: %w", err)
		}
	}
	if err := checkMachineFiles(m.Files); err != nil {
		return err
	}
	switch m.Boot {
	case BootPXELinux:
		_, err := pxelinuxConfig(*m)
		return err
	case BootGRUB:
		_, err := grubConfig(*m)
		return err
	}
	return nil
}

// checkLocation refuses a kernel or initrd location holding NUL or
// another control byte, which no URL or path carries.
func checkLocation(what, s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return fmt.Errorf("pxekit: machine: %s %q: control byte at offset %d", what, s, i)
		}
	}
	return nil
}

// machineIndex finds machines by MAC, then UUID. It is not changed after
// it is built.
type machineIndex struct {
	byMAC  map[string]*Machine
	byUUID map[string]*Machine
	n      int
}

func newMachineIndex() *machineIndex {
	return &machineIndex{byMAC: map[string]*Machine{}, byUUID: map[string]*Machine{}}
}

// add validates m and adds it, refusing a MAC or UUID already taken.
func (x *machineIndex) add(m Machine) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if len(m.MAC) > 0 && x.byMAC[string(m.MAC)] != nil {
		return fmt.Errorf("pxekit: machine: mac %s already belongs to %s", m.MAC, x.byMAC[string(m.MAC)].Name)
	}
	if m.UUID != "" && x.byUUID[m.UUID] != nil {
		return fmt.Errorf("pxekit: machine: uuid %s already belongs to %s", m.UUID, x.byUUID[m.UUID].Name)
	}
	m = cloneMachine(m)
	if len(m.MAC) > 0 {
		x.byMAC[string(m.MAC)] = &m
	}
	if m.UUID != "" {
		x.byUUID[m.UUID] = &m
	}
	x.n++
	return nil
}

// lookup finds key's machine: by MAC, else by UUID (in any case and
// hyphenation archdetect.ParseUUID reads). The answer is a copy.
func (x *machineIndex) lookup(key MachineKey) (Machine, bool) {
	m := x.byMAC[string(key.MAC)]
	if m == nil && key.UUID != "" {
		m = x.byUUID[key.UUID]
		if m == nil {
			if u, err := archdetect.ParseUUID(key.UUID); err == nil {
				m = x.byUUID[u]
			}
		}
	}
	if m == nil {
		return Machine{}, false
	}
	return cloneMachine(*m), true
}

// cloneMachine copies m's slices, so that neither the caller nor the
// inventory can change the other's copy.
func cloneMachine(m Machine) Machine {
	m.MAC = slices.Clone(m.MAC)
	m.Initrds = slices.Clone(m.Initrds)
	m.Cmdline = slices.Clone(m.Cmdline)
	m.Files = maps.Clone(m.Files)
	return m
}

// MapInventory is an Inventory held in memory: a fixed list of machines,
// for tests and for programs that keep their machines elsewhere and build
// a new MapInventory when the list changes. Safe for concurrent use.
type MapInventory struct {
	x *machineIndex
}

// NewMapInventory validates the machines (Machine.Validate) and indexes
// them. Two machines with the same MAC or UUID are an error.
func NewMapInventory(machines ...Machine) (*MapInventory, error) {
	x := newMachineIndex()
	for i, m := range machines {
		if err := x.add(m); err != nil {
			return nil, fmt.Errorf("machines[%d] %s: %w", i, m.Name, err)
		}
	}
	return &MapInventory{x: x}, nil
}

// Machine looks the machine up by MAC, then by UUID. It never fails.
func (mi *MapInventory) Machine(_ context.Context, key MachineKey) (Machine, bool, error) {
	m, ok := mi.x.lookup(key)
	return m, ok, nil
}

// Len returns the number of machines.
func (mi *MapInventory) Len() int { return mi.x.n }

// Defaults of DirInventory.
const (
	DefaultInventoryInterval = 2 * time.Second
	// MaxMachineFile bounds one machine file.
	MaxMachineFile = 1 << 20
)

// InventoryFileError is a machine file that could not be used; the file
// is skipped and the other machines keep working.
type InventoryFileError struct {
	File string // the file's name in the directory
	Err  error
}

// Error names the file and the problem.
func (e *InventoryFileError) Error() string {
	return "pxekit: inventory: " + e.File + ": " + strings.TrimPrefix(e.Err.Error(), "pxekit: ")
}

// Unwrap returns the problem.
func (e *InventoryFileError) Unwrap() error { return e.Err }

// DirInventory is the file-backed Inventory: a directory of YAML files,
// one machine per *.yaml or *.yml file (names starting with "." are
// ignored, as editors' lock and swap files), with the keys of Machine's
// JSON form:
//
//	name: web01          # default: the file name without extension
//	mac: 52:54:00:12:34:56
//	uuid: 4c4c4544-0035-4810-8056-b4c04f4e3232
//	boot: ipxe           # or local (exit to the next boot device), pxelinux
//	                     # or grub (see BootPXELinux, BootGRUB)
//	secure_boot: false   # grub only: DHCP names shim, which loads GRUB
//	kernel: http://10.0.0.1/debian/linux
//	initrds: [http://10.0.0.1/debian/initrd.gz]
//	cmdline: [console=ttyS0, "hostname=web 01"]
//	# or instead of kernel, initrds and cmdline:
//	# script: |
//	#   #!ipxe
//	#   sanboot iscsi:10.0.0.1::::iqn.2026-01.lab:web01
//
// Unknown keys are errors. A file is read only if it is a regular file
// (FIFOs and devices are refused without blocking) inside Dir (os.Root:
// a symbolic link out of it is refused) of at most MaxMachineFile bytes.
// A bad file (unreadable, bad YAML, Machine.Validate fails, or a MAC or
// UUID that a file earlier in name order already claims) is skipped and
// reported; the other machines keep working.
//
// Reload reads the directory; Watch also reloads it whenever a file
// changes. A DirInventory that was never loaded loads on its first
// Machine call. Safe for concurrent use; lookups do not wait for a reload.
type DirInventory struct {
	// Dir is the directory of machine files.
	Dir string
	// Interval is how often Watch looks for changes (0 =
	// DefaultInventoryInterval).
	Interval time.Duration
	// Logger reports bad files and reloads (nil logs nothing).
	Logger *slog.Logger

	mu    sync.Mutex // serializes loads
	state atomic.Pointer[dirState]
}

// dirState is one load of the directory.
type dirState struct {
	x      *machineIndex
	stamps map[string]fileStamp // what was read, to notice changes
	errs   []error
}

// fileStamp tells a file changed: name, size, modification time and mode.
type fileStamp struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
}

func (d *DirInventory) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Machine looks the machine up by MAC, then by UUID, in the last load. It
// fails only when the directory was never read successfully.
func (d *DirInventory) Machine(_ context.Context, key MachineKey) (Machine, bool, error) {
	st := d.state.Load()
	if st == nil {
		if err := d.Reload(); err != nil && d.state.Load() == nil {
			return Machine{}, false, err
		}
		st = d.state.Load()
	}
	m, ok := st.x.lookup(key)
	return m, ok, nil
}

// Reload reads the directory again and swaps the new table in at once.
// It returns the bad files' *InventoryFileError values joined; the good
// files are in use even then. When the directory itself cannot be read,
// the previous table stays in use and that error is returned.
func (d *DirInventory) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.load()
	if err != nil {
		return err
	}
	d.state.Store(st)
	for _, e := range st.errs {
		d.logger().Warn("inventory: file skipped", "dir", d.Dir, "err", e)
	}
	d.logger().Info("inventory: loaded", "dir", d.Dir, "machines", st.x.n, "bad_files", len(st.errs))
	return errors.Join(st.errs...)
}

// Errors returns the problems of the last load: one *InventoryFileError
// per skipped file.
func (d *DirInventory) Errors() []error {
	if st := d.state.Load(); st != nil {
		return slices.Clone(st.errs)
	}
	return nil
}

// Len returns the number of machines of the last load.
func (d *DirInventory) Len() int {
	if st := d.state.Load(); st != nil {
		return st.x.n
	}
	return 0
}

// Watch loads the directory, then starts a goroutine that looks for
// changes every Interval (new, removed or modified files, by size,
// modification time and mode) and reloads, until ctx is done. It returns
// an error, and starts nothing, only when the directory cannot be read;
// bad files are logged and kept in Errors. A directory that goes away
// later keeps the last table in use. Call it once.
func (d *DirInventory) Watch(ctx context.Context) error {
	if err := d.Reload(); err != nil && d.state.Load() == nil {
		return err
	}
	interval := d.Interval
	if interval <= 0 {
		interval = DefaultInventoryInterval
	}
	go d.watch(ctx, interval)
	return nil
}

func (d *DirInventory) watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		changed, err := d.changed()
		if err != nil {
			if err.Error() != lastErr { // say it once, not every tick
				d.logger().Error("inventory: cannot read the directory; the last machines stay in use", "dir", d.Dir, "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		if !changed {
			continue
		}
		// Bad files are logged by Reload and kept in Errors; a directory
		// that went away between the look and the load is logged here.
		var fe *InventoryFileError
		if err := d.Reload(); err != nil && !errors.As(err, &fe) {
			d.logger().Error("inventory: reload failed; the last machines stay in use", "dir", d.Dir, "err", err)
		}
	}
}

// changed reports whether the directory's machine files differ from the
// last load.
func (d *DirInventory) changed() (bool, error) {
	root, names, err := d.list()
	if err != nil {
		return false, err
	}
	defer root.Close()
	st := d.state.Load()
	if st == nil || len(names) != len(st.stamps) {
		return true, nil
	}
	for _, name := range names {
		old, seen := st.stamps[name]
		if !seen || statStamp(root, name) != old {
			return true, nil
		}
	}
	return false, nil
}

func stampOf(fi fs.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}
}

// statStamp stamps a file by name (zero when it cannot be stat'ed, as a
// link to nowhere), so that a bad file is not read again until it changes.
func statStamp(root *os.Root, name string) fileStamp {
	fi, err := root.Stat(name)
	if err != nil {
		return fileStamp{}
	}
	return stampOf(fi)
}

// list opens Dir and returns its machine file names, sorted.
func (d *DirInventory) list() (*os.Root, []string, error) {
	if d.Dir == "" {
		return nil, nil, errors.New("pxekit: inventory: no directory given")
	}
	root, err := os.OpenRoot(d.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("pxekit: inventory: %w", err)
	}
	dir, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, nil, fmt.Errorf("pxekit: inventory: %w", err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		root.Close()
		return nil, nil, fmt.Errorf("pxekit: inventory: %s: %w", d.Dir, err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return root, names, nil
}

// load reads every machine file; d.mu is held.
func (d *DirInventory) load() (*dirState, error) {
	root, names, err := d.list()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	st := &dirState{x: newMachineIndex(), stamps: make(map[string]fileStamp, len(names))}
	for _, name := range names {
		fi, err := d.addFile(root, name, st.x)
		if fi != nil {
			st.stamps[name] = stampOf(fi)
		} else {
			st.stamps[name] = statStamp(root, name)
		}
		if err != nil {
			st.errs = append(st.errs, &InventoryFileError{File: name, Err: err})
		}
	}
	return st, nil
}

// addFile reads one machine file into x. It returns what fstat said of
// the file it read, when it got that far.
func (d *DirInventory) addFile(root *os.Root, name string, x *machineIndex) (fs.FileInfo, error) {
	f, fi, err := regfile.Open(root.OpenFile, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > MaxMachineFile {
		return fi, fmt.Errorf("larger than %d bytes", MaxMachineFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxMachineFile+1))
	if err != nil {
		return fi, err
	}
	if len(b) > MaxMachineFile {
		return fi, fmt.Errorf("larger than %d bytes", MaxMachineFile)
	}
	m, err := ParseMachineYAML(b)
	if err != nil {
		return fi, err
	}
	if m.Name == "" {
		m.Name = strings.TrimSuffix(name, path.Ext(name))
	}
	return fi, x.add(m)
}

// machineYAML is a machine file: Machine's JSON keys, with the MAC as text.
type machineYAML struct {
	Name    string   `yaml:"name,omitempty"`
	MAC     string   `yaml:"mac,omitempty"`
	UUID    string   `yaml:"uuid,omitempty"`
	Boot    string   `yaml:"boot,omitempty"`
	Kernel  string   `yaml:"kernel,omitempty"`
	Initrds []string `yaml:"initrds,omitempty"`
	Cmdline []string `yaml:"cmdline,omitempty"`
	Script  string   `yaml:"script,omitempty"`
	// Template is a script with placeholders.
	Template string            `yaml:"template,omitempty"`
	Files    map[string]string `yaml:"files,omitempty"`
	// SecureBoot is secure_boot.
	SecureBoot bool `yaml:"secure_boot,omitempty"`
}

// yamlError words yaml's errors for a machine file: one line, no Go type
// names.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("pxekit: machine: %w", err)
	}
	const most = 3 // a sequence of 100 000 wrong values is one problem
	var msgs []string
	for _, m := range te.Errors[:min(len(te.Errors), most)] {
		msgs = append(msgs, strings.Replace(m, "pxekit.machineYAML", "a machine (a mapping of keys)", 1))
	}
	if len(te.Errors) > most {
		msgs = append(msgs, fmt.Sprintf("and %d more", len(te.Errors)-most))
	}
	return errors.New("pxekit: machine: " + strings.Join(msgs, "; "))
}

// machineKeys are the keys of a machine file: machineYAML's tags.
var machineKeys = sync.OnceValue(func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeFor[machineYAML]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys[name] = true
	}
	return keys
})

// checkMachineKeys refuses unknown, repeated and non-scalar keys at the
// top of a machine file before yaml decodes it: yaml's own check of
// repeated keys takes time quadratic in their number.
func checkMachineKeys(top *yaml.Node) error {
	if top.Kind != yaml.MappingNode {
		return nil // decoding says what is wrong
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("pxekit: machine: line %d: a key must be a plain name", k.Line)
		}
		if !machineKeys()[k.Value] {
			return fmt.Errorf("pxekit: machine: line %d: unknown key %q", k.Line, k.Value)
		}
		if first, dup := seen[k.Value]; dup {
			return fmt.Errorf("pxekit: machine: line %d: key %q given twice (first on line %d)", k.Line, k.Value, first)
		}
		seen[k.Value] = k.Line
	}
	return nil
}

// ParseMachineYAML reads one machine in DirInventory's file format and
// validates it (Machine.Validate). The UUID is returned in canonical form
// and boot "ipxe" as BootIPXE; unknown keys, a second YAML document and
// input over MaxMachineFile bytes are errors.
func ParseMachineYAML(b []byte) (Machine, error) {
	if len(b) > MaxMachineFile {
		return Machine{}, fmt.Errorf("pxekit: machine: larger than %d bytes", MaxMachineFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return Machine{}, errors.New("pxekit: machine: empty file")
		}
		return Machine{}, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return Machine{}, errors.New("pxekit: machine: more than one YAML document (one machine per file)")
	}
	top := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		top = doc.Content[0]
	}
	if err := checkMachineKeys(top); err != nil {
		return Machine{}, err
	}
	var y machineYAML
	if err := top.Decode(&y); err != nil {
		return Machine{}, yamlError(err)
	}
	m := Machine{Name: y.Name, UUID: y.UUID, Boot: BootKind(y.Boot), Kernel: y.Kernel, Initrds: y.Initrds, Cmdline: y.Cmdline, Script: y.Script, SecureBoot: y.SecureBoot,
		Template: y.Template, Files: y.Files}
	if y.MAC != "" {
		mac, err := net.ParseMAC(y.MAC)
		if err != nil {
			return Machine{}, fmt.Errorf("pxekit: machine: mac %q: %w", y.MAC, err)
		}
		m.MAC = mac
	}
	if y.UUID != "" {
		u, err := archdetect.ParseUUID(y.UUID)
		if err != nil {
			return Machine{}, fmt.Errorf("pxekit: machine: uuid %q: %w", y.UUID, err)
		}
		m.UUID = u
	}
	if len(m.Initrds) == 0 {
		m.Initrds = nil // "initrds: []" reads as no initrds
	}
	if len(m.Cmdline) == 0 {
		m.Cmdline = nil
	}
	if len(m.Files) == 0 {
		m.Files = nil
	}
	if m.Boot == "ipxe" {
		m.Boot = BootIPXE
	}
	if err := m.Validate(); err != nil {
		return Machine{}, err
	}
	return m, nil
}
