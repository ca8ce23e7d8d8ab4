// Package kernelcmdline writes Linux kernel command-line arguments so that
// Linux reads each back as exactly the name and value given. Every boot
// loader configuration in pxekit (iPXE scripts, PXELINUX/extlinux and GRUB
// configs) uses it, so one value has one set of rules wherever it goes.
//
// The loaders join their arguments with spaces and Linux splits the
// result again (parse_args in kernel/params.c with next_arg in
// lib/cmdline.c), so "hostname=a b;c" reaches Linux as two arguments,
// "hostname=a" and "b;c". Linux's rules:
//
//   - arguments are separated by its isspace() (lib/ctype.c): tab, LF, VT,
//     FF, CR, space and the byte 0xA0 (so UTF-8 "à", C3 A0, splits too);
//   - a '"' toggles quoting wherever it appears; inside quotes spaces do
//     not separate; there is no escape character;
//   - the first '=' separates the parameter name from its value; a value
//     that starts with '"' loses it, and the argument's last byte too when
//     that is '"'.
//
// So a value may hold any byte but '"' and NUL: "name=value", or
// `name="value"` when the value holds a space. What cannot be represented
// is refused with an *Error, never passed on changed.
//
// The kernel passes parameters it does not know to init (as environment
// variables when they have a value); /proc/cmdline keeps the quotes. Linux
// truncates the whole command line at COMMAND_LINE_SIZE (2048 bytes on
// x86), which Join does not check: loaders differ in what they add.
package kernelcmdline

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors wrapped by *Error.
var (
	// ErrQuote: the value holds a double quote. Linux toggles its quote
	// state at every '"' and has no escape, so a '"' in a value can change
	// how the rest of the command line splits.
	ErrQuote = errors.New(`contains a double quote (the Linux command line has no escape for it)`)
	// ErrName: the parameter name is empty or holds a space (Linux's
	// isspace, 0xA0 included), "=", a double quote or a control byte.
	ErrName = errors.New(`parameter name is empty or holds a space, "=", a double quote or a control byte`)
	// ErrNUL: the value holds a NUL byte, which ends a C string.
	ErrNUL = errors.New("contains a NUL byte")
)

// Error says why a name and value cannot be one Linux kernel argument.
type Error struct {
	Name, Value string
	Err         error // ErrName, ErrQuote or ErrNUL (or a caller's equivalent)
}

// Error describes the problem without echoing a huge value.
func (e *Error) Error() string {
	n, v := e.Name, e.Value
	if len(n) > 40 {
		n = n[:40] + "..."
	}
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("kernelcmdline: argument %q=%q: %v", n, v, e.Err)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

// IsSpace reports whether Linux splits arguments at c: isspace() of the
// kernel's lib/ctype.c (tab, LF, VT, FF, CR, space and 0xA0).
func IsSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0 }

// ValidName reports whether name can be a parameter name: not empty, no
// space (IsSpace), "=", '"' or control byte.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if IsSpace(c) || c < ' ' || c == 0x7f || c == '=' || c == '"' {
			return false
		}
	}
	return true
}

// Quote returns name=value written as exactly one Linux kernel
// command-line argument that Linux reads back as that name and value:
// "name=value", or `name="value"` when value holds a space (IsSpace).
// What cannot be represented is refused with an *Error: a value holding
// '"' (ErrQuote; Linux has no escape) or NUL (ErrNUL), a name ValidName
// refuses (ErrName).
func Quote(name, value string) (string, error) {
	if !ValidName(name) {
		return "", &Error{Name: name, Value: value, Err: ErrName}
	}
	if strings.IndexByte(value, 0) >= 0 {
		return "", &Error{Name: name, Value: value, Err: ErrNUL}
	}
	if strings.IndexByte(value, '"') >= 0 {
		return "", &Error{Name: name, Value: value, Err: ErrQuote}
	}
	for i := 0; i < len(value); i++ {
		if IsSpace(value[i]) {
			return name + `="` + value + `"`, nil
		}
	}
	return name + "=" + value, nil
}

// Param quotes one element of a command line as a user writes it in a
// list: "name=value" (split at the first "=", as Linux does) through
// Quote, or a bare parameter "name" (checked with ValidName).
func Param(s string) (string, error) {
	name, value, hasValue := strings.Cut(s, "=")
	if hasValue {
		return Quote(name, value)
	}
	if !ValidName(name) {
		return "", &Error{Name: name, Err: ErrName}
	}
	return name, nil
}

// Join quotes every element with Param and joins them with single
// spaces: the command line Linux splits back into exactly these
// parameters. The first element that cannot be represented is refused,
// with its index.
func Join(params []string) (string, error) {
	var b strings.Builder
	for i, p := range params {
		q, err := Param(p)
		if err != nil {
			return "", fmt.Errorf("kernelcmdline: parameter %d: %w", i, err)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(q)
	}
	return b.String(), nil
}
