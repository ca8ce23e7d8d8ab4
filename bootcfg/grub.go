package bootcfg

// GRUB 2 configuration (grub.cfg) as safe data.
//
// How GRUB reads a grub.cfg (grub-core/normal/main.c read_config_file with
// grub_file_getline, then the lexer grub-core/script/yylex.l):
//
//   - every carriage return in the file is dropped, even inside quotes
//     (grub_file_getline skips '\r'), and the text is C strings, so a NUL
//     ends it;
//   - outside quotes, words are separated by space and tab, a newline or ";"
//     ends a command, "{", "}", "|", "&", "<", ">" are operators, "#"
//     starts a comment, "\x" is the byte x, and "$name" or "${name}" is
//     expanded;
//   - inside single quotes every byte but "'" is literal, newlines included
//     (TestAAVMFGRUB echoes one through Debian's GRUB 2.06);
//   - inside double quotes "$" expands and "\" escapes "$", "\", '"' and a
//     newline.
//
// So every value is written single-quoted, with "'" written as '\''
// (close, escaped quote, open): GRUB reads it back byte for byte. Only NUL
// and CR cannot be written at all.
//
// The kernel command line is a second language. GRUB's linux (and
// linuxefi) joins its arguments for Linux with grub_create_loader_cmdline
// (grub-core/lib/cmdline.c): each argument is copied with a backslash
// inserted before every "\", "'" and '"', and wrapped in double quotes when
// it holds an ASCII space; arguments are separated by one space. Linux has
// no escape character, so a backslash GRUB inserts reaches the kernel: an
// argument holding "\" or "'" cannot be passed unchanged through GRUB, nor
// one whose value holds another Linux space (tab, LF, VT, FF, CR, 0xA0)
// but no ASCII space, because GRUB does not quote it and Linux splits there.
// GRUBKernelArgs refuses those.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pxekit/pxekit/kernelcmdline"
)

// Errors the GRUB functions report, wrapped in an error that starts with
// "bootcfg: grub: " and names the item and field that holds the value
// (kernel arguments also come as a *kernelcmdline.Error).
var (
	// ErrGRUBNUL: a value holds a NUL byte, which ends GRUB's C strings.
	ErrGRUBNUL = errors.New("contains a NUL byte")
	// ErrGRUBCR: a value holds a carriage return, which GRUB drops from
	// every line of a config file, even inside quotes (grub_file_getline).
	ErrGRUBCR = errors.New("contains a carriage return (GRUB drops every CR from a config file)")
	// ErrGRUBControl: a menu title, entry ID or class holds a control
	// byte (a newline would break the menu's display and the "set
	// default" match).
	ErrGRUBControl = errors.New("menu text contains a control byte")
	// ErrGRUBDash: a menu title or ID starts with "-", which menuentry's
	// option parser (grub-core/lib/arg.c) would take for an option.
	ErrGRUBDash = errors.New(`menu title or ID starts with "-" (menuentry would read it as an option)`)
	// ErrGRUBKernelArg: GRUB's linux command would change the argument on
	// its way to Linux: it inserts a backslash before "\" and "'", and does
	// not quote a value whose only Linux spaces are not ASCII spaces.
	ErrGRUBKernelArg = errors.New(`contains "\" or "'", or a tab, newline or other Linux space without an ASCII space (GRUB's linux command would change it)`)
	// ErrGRUBName: a command, variable or module name is not a plain GRUB
	// name (letters, digits, "_", not starting with a digit; modules may
	// also hold "-" and ".").
	ErrGRUBName = errors.New("not a plain GRUB name")
	// ErrGRUBEntry: a menu entry is incomplete or contradictory.
	ErrGRUBEntry = errors.New("invalid menu entry")
)

// GRUBQuote writes s as one GRUB word that GRUB reads back as exactly s,
// with no expansion: single-quoted, each "'" written as '\”. It refuses
// a NUL (ErrGRUBNUL) or a carriage return (ErrGRUBCR), which no grub.cfg
// can carry.
func GRUBQuote(s string) (string, error) {
	q, err := grubQuote(s)
	if err != nil {
		return "", fmt.Errorf("bootcfg: grub: %w", err)
	}
	return q, nil
}

func grubQuote(s string) (string, error) {
	if err := grubValueOK(s); err != nil {
		return "", err
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

func grubValueOK(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return ErrGRUBNUL
	}
	if strings.IndexByte(s, '\r') >= 0 {
		return ErrGRUBCR
	}
	return nil
}

// grubMenuTextOK checks text shown in or matched by the menu: no control
// bytes at all.
func grubMenuTextOK(s string) error {
	if err := grubValueOK(s); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return ErrGRUBControl
		}
	}
	return nil
}

// GRUBKernelArgs returns the words to give GRUB's linux command so that
// Linux receives exactly params, one argument per element ("name=value",
// split at the first "=", or a bare "name"; the forms
// kernelcmdline.Param takes). Each word is the unquoted argument (GRUB adds
// the double quotes itself when it holds a space), to be written with
// GRUBQuote. What cannot arrive unchanged is refused with a
// *kernelcmdline.Error wrapping kernelcmdline.ErrName, ErrQuote, ErrNUL,
// ErrGRUBCR or ErrGRUBKernelArg, with the element's index.
func GRUBKernelArgs(params []string) ([]string, error) {
	out, err := grubKernelArgs(params)
	if err != nil {
		return nil, fmt.Errorf("bootcfg: grub: %w", err)
	}
	return out, nil
}

func grubKernelArgs(params []string) ([]string, error) {
	out := make([]string, len(params))
	for i, p := range params {
		if err := grubKernelArg(p); err != nil {
			return nil, fmt.Errorf("kernel argument %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

func grubKernelArg(p string) error {
	name, value, hasValue := strings.Cut(p, "=")
	if !kernelcmdline.ValidName(name) {
		return &kernelcmdline.Error{Name: name, Value: value, Err: kernelcmdline.ErrName}
	}
	// GRUB escapes these in the name as well as in the value.
	if strings.ContainsAny(p, `\'`) {
		return &kernelcmdline.Error{Name: name, Value: value, Err: ErrGRUBKernelArg}
	}
	if !hasValue {
		return nil
	}
	// kernelcmdline checks what Linux itself cannot take (NUL, '"').
	if _, err := kernelcmdline.Quote(name, value); err != nil {
		return err
	}
	if strings.IndexByte(value, '\r') >= 0 {
		return &kernelcmdline.Error{Name: name, Value: value, Err: ErrGRUBCR}
	}
	if strings.IndexByte(value, ' ') < 0 {
		for i := 0; i < len(value); i++ {
			if kernelcmdline.IsSpace(value[i]) {
				return &kernelcmdline.Error{Name: name, Value: value, Err: ErrGRUBKernelArg}
			}
		}
	}
	return nil
}

// GRUBCommand is one command line: a plain command name (such as "echo",
// "insmod", "search") and its arguments, each written with GRUBQuote so
// GRUB passes it literally. The command's own option parsing still applies
// to arguments starting with "-".
type GRUBCommand struct {
	Name string
	Args []string
}

// GRUBEntry is one menuentry. Its body runs, in order: Commands, then
// linux (or linuxefi) Kernel with Args, initrd (or initrdefi) Initrds,
// or chainloader Chainload. GRUB boots the loaded image when the body ends.
type GRUBEntry struct {
	// Title is the text shown in the menu (required; no control bytes,
	// not starting with "-").
	Title string
	// ID is written as --id: what "set default" names, stable when titles
	// change. Optional; same rules as Title.
	ID string
	// Classes are --class values (theme icons). Optional.
	Classes []string
	// Commands run first in the entry (e.g. echo, insmod, set).
	Commands []GRUBCommand
	// Kernel is the Linux kernel's path as GRUB opens it: "/vmlinuz"
	// (relative to $root, the boot server for netboot GRUB),
	// "(http,host)/vmlinuz" or "(tftp,10.0.0.1)/vmlinuz".
	Kernel string
	// Args is the kernel command line, one Linux argument per element
	// (see GRUBKernelArgs).
	Args []string
	// Initrds are the initrd images, loaded by one initrd command in order.
	Initrds []string
	// EFI writes linuxefi and initrdefi instead of linux and initrd: the
	// EFI handover commands of older Fedora, RHEL and Ubuntu GRUBs. Debian's
	// and upstream's linux handle EFI (and Secure Boot through shim)
	// themselves.
	EFI bool
	// Chainload is an EFI or boot-sector image for chainloader, instead of
	// a kernel.
	Chainload string
}

// GRUBBuilder writes a grub.cfg: commands (insmod, set default, set
// timeout, echo, ...) and menu entries, in the order they were added.
// Every caller value is single-quoted (GRUBQuote), so hostnames, URLs,
// titles and kernel arguments holding spaces, quotes, "$", ";", "`", "}"
// or newlines arrive literally; what GRUB cannot carry unchanged is
// refused by Bytes. The zero value is ready to use.
type GRUBBuilder struct {
	lines []grubItem
}

type grubItem struct {
	cmd   *GRUBCommand
	set   [2]string // name, value when cmd and entry are nil
	entry *GRUBEntry
}

// Insmod loads GRUB modules (insmod name), one command each. Debian's
// signed netboot GRUB has the modules it supports built in and refuses to
// load others under Secure Boot.
func (b *GRUBBuilder) Insmod(modules ...string) {
	for _, m := range modules {
		b.Cmd("insmod", m)
	}
}

// Set writes "set name='value'".
func (b *GRUBBuilder) Set(name, value string) {
	b.lines = append(b.lines, grubItem{set: [2]string{name, value}})
}

// SetDefault names the entry GRUB boots when the timeout ends: an entry's
// ID or title (or its index, "0" for the first).
func (b *GRUBBuilder) SetDefault(entry string) { b.Set("default", entry) }

// SetTimeout sets how many seconds the menu waits: 0 boots the default
// at once, -1 waits for a key forever.
func (b *GRUBBuilder) SetTimeout(seconds int) { b.Set("timeout", strconv.Itoa(seconds)) }

// Cmd adds a global command line, such as Cmd("echo", "booting", host).
func (b *GRUBBuilder) Cmd(name string, args ...string) {
	b.lines = append(b.lines, grubItem{cmd: &GRUBCommand{Name: name, Args: args}})
}

// Entry adds a menu entry.
func (b *GRUBBuilder) Entry(e GRUBEntry) {
	b.lines = append(b.lines, grubItem{entry: &e})
}

// Bytes returns the grub.cfg, or the first error: the item's position and
// what was refused.
func (b *GRUBBuilder) Bytes() ([]byte, error) {
	var w strings.Builder
	for i, it := range b.lines {
		var err error
		switch {
		case it.entry != nil:
			err = writeGRUBEntry(&w, it.entry)
		case it.cmd != nil:
			err = writeGRUBCommand(&w, "", *it.cmd)
		default:
			err = writeGRUBSet(&w, it.set[0], it.set[1])
		}
		if err != nil {
			return nil, fmt.Errorf("bootcfg: grub: item %d: %w", i, err)
		}
	}
	return []byte(w.String()), nil
}

// grubKeywords are the words GRUB's lexer reads as reserved words
// (grub-core/script/yylex.l) or that a command may not be called.
var grubKeywords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true,
	"for": true, "in": true, "do": true, "done": true, "while": true,
	"until": true, "function": true, "menuentry": true, "submenu": true,
	"case": true, "esac": true, "select": true, "time": true,
}

// grubName reports whether s is a plain GRUB name: [A-Za-z_][A-Za-z0-9_]*,
// with extra also allowed after the first byte.
func grubName(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0):
		default:
			return false
		}
	}
	return true
}

func writeGRUBSet(w *strings.Builder, name, value string) error {
	if !grubName(name, "") {
		return fmt.Errorf("%w: variable %q", ErrGRUBName, clip(name))
	}
	q, err := grubQuote(value)
	if err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	w.WriteString("set " + name + "=" + q + "\n")
	return nil
}

func writeGRUBCommand(w *strings.Builder, indent string, c GRUBCommand) error {
	if !grubName(c.Name, "") || grubKeywords[c.Name] {
		return fmt.Errorf("%w: command %q", ErrGRUBName, clip(c.Name))
	}
	if c.Name == "insmod" {
		for _, m := range c.Args {
			if !grubName(m, "-.") {
				return fmt.Errorf("%w: module %q", ErrGRUBName, clip(m))
			}
		}
	}
	w.WriteString(indent + c.Name)
	for j, a := range c.Args {
		q, err := grubQuote(a)
		if err != nil {
			return fmt.Errorf("%s argument %d: %w", c.Name, j, err)
		}
		w.WriteString(" " + q)
	}
	w.WriteString("\n")
	return nil
}

func writeGRUBEntry(w *strings.Builder, e *GRUBEntry) error {
	if e.Title == "" {
		return fmt.Errorf("%w: no title", ErrGRUBEntry)
	}
	if e.Kernel != "" && e.Chainload != "" {
		return fmt.Errorf("%w %q: both Kernel and Chainload", ErrGRUBEntry, clip(e.Title))
	}
	if e.Kernel == "" && (len(e.Args) > 0 || len(e.Initrds) > 0) {
		return fmt.Errorf("%w %q: Args or Initrds without Kernel", ErrGRUBEntry, clip(e.Title))
	}
	var head strings.Builder
	head.WriteString("menuentry")
	for _, f := range []struct{ what, opt, s string }{{"title", "", e.Title}, {"id", "--id ", e.ID}} {
		if f.s == "" {
			continue
		}
		if err := grubMenuTextOK(f.s); err != nil {
			return fmt.Errorf("entry %s %q: %w", f.what, clip(f.s), err)
		}
		if f.s[0] == '-' {
			return fmt.Errorf("entry %s %q: %w", f.what, clip(f.s), ErrGRUBDash)
		}
		q, _ := grubQuote(f.s)
		head.WriteString(" " + f.opt + q)
	}
	for _, c := range e.Classes {
		if err := grubMenuTextOK(c); err != nil {
			return fmt.Errorf("entry %q class %q: %w", clip(e.Title), clip(c), err)
		}
		q, _ := grubQuote(c)
		head.WriteString(" --class " + q)
	}
	w.WriteString(head.String() + " {\n")
	for _, c := range e.Commands {
		if err := writeGRUBCommand(w, "\t", c); err != nil {
			return fmt.Errorf("entry %q: %w", clip(e.Title), err)
		}
	}
	linux, initrd := "linux", "initrd"
	if e.EFI {
		linux, initrd = "linuxefi", "initrdefi"
	}
	if e.Kernel != "" {
		args, err := grubKernelArgs(e.Args)
		if err != nil {
			return fmt.Errorf("entry %q: %w", clip(e.Title), err)
		}
		if err := writeGRUBCommand(w, "\t", GRUBCommand{Name: linux, Args: append([]string{e.Kernel}, args...)}); err != nil {
			return fmt.Errorf("entry %q: %w", clip(e.Title), err)
		}
	}
	if len(e.Initrds) > 0 {
		for _, f := range e.Initrds {
			// grub_initrd_init (grub-core/loader/linux.c) reads a
			// "newc:name:" prefix as a name for the file in the cpio.
			if strings.HasPrefix(f, "newc:") {
				return fmt.Errorf("%w %q: initrd %q starts with \"newc:\" (GRUB reads it as a cpio name)", ErrGRUBEntry, clip(e.Title), clip(f))
			}
		}
		if err := writeGRUBCommand(w, "\t", GRUBCommand{Name: initrd, Args: e.Initrds}); err != nil {
			return fmt.Errorf("entry %q: %w", clip(e.Title), err)
		}
	}
	if e.Chainload != "" {
		if err := writeGRUBCommand(w, "\t", GRUBCommand{Name: "chainloader", Args: []string{e.Chainload}}); err != nil {
			return fmt.Errorf("entry %q: %w", clip(e.Title), err)
		}
	}
	w.WriteString("}\n")
	return nil
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// GRUBConfigNames returns the config files a netboot GRUB tries, in order,
// when "normal" runs without a file name and $prefix is on tftp
// (grub_net_search_config_file, grub-core/net/net.c, called from
// grub_cmd_normal in grub-core/normal/main.c; GRUB 2.04 and later). For
// the booting interface: "grub.cfg-" + the client UUID when GRUB got one
// from DHCP (net_<card>_clientuuid; "" skips it), "grub.cfg-01-" + the MAC
// in lowercase hex with "-", then the IPv4 address as 8 uppercase hex
// digits shortened one digit at a time down to 1 (or, for IPv6, the address
// with all 8 groups in lowercase hex and ":" as "-"), and last "grub.cfg".
// The first that opens wins. Each name is prefix + "/" + the file name;
// prefix "" gives bare names.
//
// Debian's and Ubuntu's signed grubnetx64.efi (grub-efi-amd64-signed) do not
// do this search: their embedded config, (memdisk)/grub.cfg with prefix
// "/grub" on the boot server, sources $prefix/x86_64-efi/grub.cfg when it
// exists and $prefix/grub.cfg otherwise (strings of
// /usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed, 2.06-13+deb12u2).
// Under OVMF, TestSecureBootShimGRUB saw it ask TFTP for
// grub/x86_64-efi/{command,fs,crypto,terminal}.lst and then grub/grub.cfg
// only ("[ -e ]" on tftp sends no request). A server gives such clients
// their own config by answering grub/grub.cfg per client, as
// tftpserve.ContentFunc can, or by a grub.cfg that sources a per-machine
// file.
func GRUBConfigNames(prefix, uuid string, mac net.HardwareAddr, ip netip.Addr) []string {
	var names []string
	add := func(suffix string) {
		n := "grub.cfg" + suffix
		if prefix != "" {
			n = strings.TrimSuffix(prefix, "/") + "/" + n
		}
		names = append(names, n)
	}
	if uuid != "" {
		add("-" + uuid)
	}
	if len(mac) > 0 {
		add("-01-" + strings.ReplaceAll(strings.ToLower(mac.String()), ":", "-"))
	}
	switch {
	case ip.Is4() || ip.Is4In6():
		a := ip.Unmap().As4()
		hex := fmt.Sprintf("%02X%02X%02X%02X", a[0], a[1], a[2], a[3])
		for n := len(hex); n > 0; n-- {
			add("-" + hex[:n])
		}
	case ip.Is6():
		a := ip.As16()
		groups := make([]string, 8)
		for i := range groups {
			groups[i] = strconv.FormatUint(uint64(a[2*i])<<8|uint64(a[2*i+1]), 16)
		}
		add("-" + strings.Join(groups, "-"))
	}
	add("")
	return names
}
