package bootcfg

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pxekit/pxekit/kernelcmdline"
)

// PXELinuxSpec is what BuildPXELinux writes: the entries to boot and the
// menu around them. Every string arrives at SYSLINUX and at U-Boot exactly
// as given, or BuildPXELinux refuses it (see [PXELinuxValueError]).
type PXELinuxSpec struct {
	// Default is the Name of the entry booted when nobody chooses; ""
	// writes no default line (both loaders then boot the first entry only
	// after a prompt or not at all: set it).
	Default string
	// Timeout is how long the menu or prompt waits, in tenths of a second
	// (both loaders' unit); 0 writes no timeout line. At most 36000.
	Timeout int
	// Prompt writes "prompt 1": SYSLINUX shows its boot: prompt.
	Prompt bool
	// MenuTitle is the menu's title; "" writes none. U-Boot shows its menu
	// whenever a file has a menu line.
	MenuTitle string
	// Entries are the labels, in order.
	Entries []PXELinuxEntry
}

// PXELinuxEntry is one label: a Linux kernel with its initrds, device
// tree and command line.
type PXELinuxEntry struct {
	// Name is the label: one word, unique in the file.
	Name string
	// MenuLabel is the text a menu shows for the entry; "" writes none.
	MenuLabel string
	// Kernel is the kernel's path (relative to the config file's
	// directory: the boot file's, or option 210's prefix) or URL, as the
	// loader fetches it. Written as a "linux" line.
	Kernel string
	// Initrd is the initrd's path; "" for none. One file: U-Boot (to
	// 2025 at least) fetches an initrd line as one name, so SYSLINUX's
	// "a,b" lists cannot be written (concatenate the cpio archives
	// instead: Linux unpacks them all).
	Initrd string
	// FDT is a device tree file (U-Boot's "fdt"); FDTDir a directory
	// U-Boot picks the board's file from ("fdtdir"). SYSLINUX ignores both.
	FDT, FDTDir string
	// Args is the kernel command line, each element one Linux argument
	// ("name=value" or "name"), quoted by kernelcmdline.Join.
	Args []string
	// IPAppend is the ipappend mask (1: ip=…, 2: BOOTIF=…); 0 writes none.
	IPAppend int
}

// ErrPXELinuxValue is wrapped by every PXELinuxValueError.
var ErrPXELinuxValue = errors.New("bootcfg: pxelinux: value cannot be written")

// PXELinuxValueError says which value of a PXELinuxSpec cannot be written
// so that both loaders read it back unchanged, and why.
type PXELinuxValueError struct {
	// Field names the value: "Entries[2].Args[0]", "Default"…
	Field string
	// Value is the value refused.
	Value string
	// Reason says why.
	Reason string
	// Err is an underlying error (a *kernelcmdline.Error), or nil.
	Err error
}

// Error describes the problem without echoing a huge value.
func (e *PXELinuxValueError) Error() string {
	v := e.Value
	if len(v) > 60 {
		v = v[:60] + "..."
	}
	if e.Err != nil {
		return fmt.Sprintf("bootcfg: pxelinux: %s %q: %s: %v", e.Field, v, e.Reason, e.Err)
	}
	return fmt.Sprintf("bootcfg: pxelinux: %s %q: %s", e.Field, v, e.Reason)
}

// Unwrap returns ErrPXELinuxValue and the underlying error.
func (e *PXELinuxValueError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrPXELinuxValue}
	}
	return []error{ErrPXELinuxValue, e.Err}
}

// pxlMaxTimeout bounds Timeout: an hour in tenths of a second.
const pxlMaxTimeout = 36000

// BuildPXELinux writes spec as a configuration file tree (format it with
// [PXELinux.Format]). The first value that cannot be written is refused
// with a *PXELinuxValueError:
//
//   - any value: a control byte (line breaks end the directive; the
//     others are read differently by the two loaders), a leading '#'
//     (U-Boot reads a comment), a leading or trailing blank;
//   - Name, Default, Kernel, Initrd, FDT, FDTDir: a blank (SYSLINUX reads
//     one word), or empty; Kernel: '#' (U-Boot's FIT configuration
//     separator); Initrd: ',' (the list separator); Default: no entry
//     has that name; Name: used twice;
//   - MenuLabel: '^' (SYSLINUX's menu hides it, marking a hot key);
//   - Args: what kernelcmdline.Param refuses ('"', a bad name), "initrd="
//     anywhere (both loaders take initrds from it), a single quote, a backslash, "${",
//     "$(" or a final '$' (U-Boot expands or removes them), a bare "--"
//     (Linux gives what follows to init), an argument line that is
//     exactly "-" (SYSLINUX reads "no arguments");
//   - Kernel: "initrd=" (SYSLINUX searches its command line, which starts
//     with BOOT_IMAGE=<kernel>, for it);
//   - Timeout outside 0…36000, IPAppend outside 0…65535;
//   - a line longer than PXELinuxMaxLine.
func BuildPXELinux(spec PXELinuxSpec) (*PXELinux, error) {
	f := &PXELinux{}
	names := map[string]bool{}
	for i, e := range spec.Entries {
		field := fmt.Sprintf("Entries[%d]", i)
		if err := pxlWord1(field+".Name", e.Name); err != nil {
			return nil, err
		}
		if names[e.Name] {
			return nil, &PXELinuxValueError{Field: field + ".Name", Value: e.Name, Reason: "two entries have this name"}
		}
		names[e.Name] = true
		l, err := pxlEntry(field, e)
		if err != nil {
			return nil, err
		}
		f.Labels = append(f.Labels, l)
	}
	if spec.Default != "" {
		if err := pxlWord1("Default", spec.Default); err != nil {
			return nil, err
		}
		if !names[spec.Default] {
			return nil, &PXELinuxValueError{Field: "Default", Value: spec.Default, Reason: "no entry has this name"}
		}
		f.Global = append(f.Global, PXELinuxDirective{Keyword: "default", Value: spec.Default})
	}
	if spec.Prompt {
		f.Global = append(f.Global, PXELinuxDirective{Keyword: "prompt", Value: "1"})
	}
	if spec.Timeout < 0 || spec.Timeout > pxlMaxTimeout {
		return nil, &PXELinuxValueError{Field: "Timeout", Value: strconv.Itoa(spec.Timeout), Reason: "outside 0…36000 tenths of a second"}
	}
	if spec.Timeout > 0 {
		f.Global = append(f.Global, PXELinuxDirective{Keyword: "timeout", Value: strconv.Itoa(spec.Timeout)})
	}
	if spec.MenuTitle != "" {
		if err := pxlText("MenuTitle", spec.MenuTitle); err != nil {
			return nil, err
		}
		f.Global = append(f.Global, PXELinuxDirective{Keyword: "menu title", Value: spec.MenuTitle})
	}
	if _, err := f.Format(); err != nil { // line lengths
		return nil, &PXELinuxValueError{Field: "(file)", Reason: err.Error()}
	}
	return f, nil
}

// pxlEntry builds one label.
func pxlEntry(field string, e PXELinuxEntry) (PXELinuxLabel, error) {
	l := PXELinuxLabel{Name: e.Name}
	add := func(kw, v string) { l.Directives = append(l.Directives, PXELinuxDirective{Keyword: kw, Value: v}) }
	if e.MenuLabel != "" {
		if err := pxlText(field+".MenuLabel", e.MenuLabel); err != nil {
			return l, err
		}
		if strings.Contains(e.MenuLabel, "^") {
			return l, &PXELinuxValueError{Field: field + ".MenuLabel", Value: e.MenuLabel, Reason: "'^' marks a hot key in SYSLINUX's menu and is not shown"}
		}
		add("menu label", e.MenuLabel)
	}
	if err := pxlWord1(field+".Kernel", e.Kernel); err != nil {
		return l, err
	}
	if strings.Contains(e.Kernel, "#") {
		return l, &PXELinuxValueError{Field: field + ".Kernel", Value: e.Kernel, Reason: "'#' separates a FIT configuration in U-Boot"}
	}
	if strings.Contains(e.Kernel, "initrd=") {
		return l, &PXELinuxValueError{Field: field + ".Kernel", Value: e.Kernel, Reason: `holds "initrd=", which SYSLINUX searches the kernel's command line (BOOT_IMAGE=<kernel> …) for`}
	}
	add("linux", e.Kernel)
	if e.Initrd != "" {
		if err := pxlWord1(field+".Initrd", e.Initrd); err != nil {
			return l, err
		}
		if strings.Contains(e.Initrd, ",") {
			return l, &PXELinuxValueError{Field: field + ".Initrd", Value: e.Initrd, Reason: "',' separates initrds in SYSLINUX (U-Boot reads one name)"}
		}
		add("initrd", e.Initrd)
	}
	for _, p := range []struct{ keyword, field, value string }{{"fdt", ".FDT", e.FDT}, {"fdtdir", ".FDTDir", e.FDTDir}} {
		if p.value == "" {
			continue
		}
		if err := pxlWord1(field+p.field, p.value); err != nil {
			return l, err
		}
		add(p.keyword, p.value)
	}
	if len(e.Args) > 0 {
		line, err := pxlArgs(field, e.Args)
		if err != nil {
			return l, err
		}
		add("append", line)
	}
	if e.IPAppend < 0 || e.IPAppend > 0xffff {
		return l, &PXELinuxValueError{Field: field + ".IPAppend", Value: strconv.Itoa(e.IPAppend), Reason: "outside 0…65535"}
	}
	if e.IPAppend > 0 {
		add("ipappend", strconv.Itoa(e.IPAppend))
	}
	return l, nil
}

// pxlArgs writes the kernel arguments as one append value.
func pxlArgs(field string, args []string) (string, error) {
	for j, a := range args {
		f := fmt.Sprintf("%s.Args[%d]", field, j)
		if err := pxlControl(f, a); err != nil {
			return "", err
		}
		if _, err := kernelcmdline.Param(a); err != nil {
			return "", &PXELinuxValueError{Field: f, Value: a, Reason: "not one Linux argument", Err: err}
		}
		var reason string
		switch {
		case a == "--":
			reason = `"--" ends Linux's parameters (what follows goes to init)`
		case strings.Contains(a, "initrd="):
			reason = `holds "initrd=", which both loaders search the whole append line for (use Initrd)`
		case strings.ContainsAny(a, `\'`):
			reason = `holds '\' or a single quote, which U-Boot removes from append lines`
		case strings.Contains(a, "${") || strings.Contains(a, "$(") || strings.HasSuffix(a, "$"):
			reason = `holds "${", "$(" or a final '$', which U-Boot expands or drops`
		}
		if reason != "" {
			return "", &PXELinuxValueError{Field: f, Value: a, Reason: reason}
		}
	}
	line, err := kernelcmdline.Join(args)
	if err != nil {
		return "", &PXELinuxValueError{Field: field + ".Args", Value: strings.Join(args, " "), Reason: "not Linux arguments", Err: err}
	}
	switch {
	case line == "-":
		return "", &PXELinuxValueError{Field: field + ".Args", Value: line, Reason: `an append line "-" means no arguments to SYSLINUX`}
	case line == "" || pxlBlank(line[0]) || line[0] == '#':
		// Param refuses empty names; a first argument starting with '#'
		// or a blank is caught here.
		return "", &PXELinuxValueError{Field: field + ".Args[0]", Value: args[0], Reason: "an append line cannot start with '#' or a blank"}
	}
	return line, nil
}

// pxlControl refuses control bytes (line breaks end a directive; the
// other control bytes are blanks to one loader and not the other).
func pxlControl(field, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f {
			why := "the loaders disagree on whether it is a blank"
			if c == '\n' || c == '\r' || c == 0 {
				why = "a line break ends the directive"
			}
			return &PXELinuxValueError{Field: field, Value: v, Reason: fmt.Sprintf("control byte %q at %d (%s)", c, i, why)}
		}
	}
	return nil
}

// pxlText checks free text (a menu title or label): no control byte, no
// blank or '#' first, no blank last.
func pxlText(field, v string) error {
	if err := pxlControl(field, v); err != nil {
		return err
	}
	switch {
	case v[0] == ' ' || v[len(v)-1] == ' ':
		return &PXELinuxValueError{Field: field, Value: v, Reason: "starts or ends with a blank (the loaders skip leading blanks)"}
	case v[0] == '#':
		return &PXELinuxValueError{Field: field, Value: v, Reason: "starts with '#', a comment to U-Boot"}
	}
	return nil
}

// pxlWord1 checks a value that must be one word: a name or a path.
func pxlWord1(field, v string) error {
	if v == "" {
		return &PXELinuxValueError{Field: field, Value: v, Reason: "empty"}
	}
	if err := pxlText(field, v); err != nil {
		return err
	}
	if strings.Contains(v, " ") {
		return &PXELinuxValueError{Field: field, Value: v, Reason: "holds a blank (SYSLINUX reads only the first word)"}
	}
	return nil
}

// Spec reads the typed values back from the file, as a PXELinuxSpec:
// default, prompt, timeout and menu title from the global directives, and
// per label its menu label, kernel (a "kernel" or "linux" line), initrds,
// fdt (or devicetree), fdtdir (or devicetreedir), append (split into
// Linux arguments by kernelcmdline.Split) and ipappend (or sysappend).
// When a keyword repeats, the last one counts (SYSLINUX's rule; U-Boot
// keeps the first initrd and fdt). Other directives are not part of a
// PXELinuxSpec and are left out. Numbers that are not decimal are errors.
func (f *PXELinux) Spec() (PXELinuxSpec, error) {
	var s PXELinuxSpec
	for _, d := range f.Global {
		switch d.Keyword {
		case "default":
			s.Default = d.Value
		case "prompt":
			n, err := pxlNumber("prompt", d.Value)
			if err != nil {
				return s, err
			}
			s.Prompt = n != 0
		case "timeout":
			n, err := pxlNumber("timeout", d.Value)
			if err != nil {
				return s, err
			}
			s.Timeout = n
		case "menu title":
			s.MenuTitle = d.Value
		}
	}
	for _, l := range f.Labels {
		e := PXELinuxEntry{Name: l.Name}
		for _, d := range l.Directives {
			switch d.Keyword {
			case "menu label":
				e.MenuLabel = d.Value
			case "kernel", "linux":
				e.Kernel = d.Value
			case "initrd":
				e.Initrd = d.Value
			case "fdt", "devicetree":
				e.FDT = d.Value
			case "fdtdir", "devicetreedir":
				e.FDTDir = d.Value
			case "append":
				e.Args = nil
				for _, a := range kernelcmdline.Split(d.Value) {
					arg := a.Name
					if a.HasValue {
						arg += "=" + a.Value
					}
					e.Args = append(e.Args, arg)
				}
			case "ipappend", "sysappend":
				n, err := pxlNumber(d.Keyword, d.Value)
				if err != nil {
					return s, err
				}
				e.IPAppend = n
			}
		}
		s.Entries = append(s.Entries, e)
	}
	return s, nil
}

// pxlNumber reads a decimal number value.
func pxlNumber(kw, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimRight(v, pxlSpace))
	if err != nil {
		return 0, fmt.Errorf("bootcfg: pxelinux: %s %q: not a decimal number", kw, v)
	}
	return n, nil
}

// Value returns the value of the label's last directive with keyword
// (SYSLINUX's rule when a keyword repeats), and whether there is one.
func (l *PXELinuxLabel) Value(keyword string) (string, bool) {
	for _, d := range slices.Backward(l.Directives) {
		if d.Keyword == keyword {
			return d.Value, true
		}
	}
	return "", false
}

// Label returns the label named name, or nil.
func (f *PXELinux) Label(name string) *PXELinuxLabel {
	i := slices.IndexFunc(f.Labels, func(l PXELinuxLabel) bool { return l.Name == name })
	if i < 0 {
		return nil
	}
	return &f.Labels[i]
}
