package ipxescript

import (
	"errors"
	"fmt"
	"strings"
)

// The kernel command line is a second language. iPXE joins the arguments
// of "kernel" (imgselect) and the other image commands with single spaces
// (concat_args, src/core/exec.c, called from src/hci/commands/image_cmd.c)
// and Linux splits the result again (parse_args in kernel/params.c with
// next_arg in lib/cmdline.c), so one iPXE argument "hostname=a b;c" reaches
// Linux as two, "hostname=a" and "b;c". Linux's rules:
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
// `name="value"` when the value holds a space.

// Sentinel errors wrapped by *KernelArgError.
var (
	// ErrKernelQuote: the value holds a double quote. Linux toggles its
	// quote state at every '"' and has no escape, so a '"' in a value can
	// change how the rest of the command line splits.
	ErrKernelQuote = errors.New(`contains a double quote (the Linux command line has no escape for it)`)
	// ErrKernelName: the parameter name is empty or holds a space
	// (Linux's isspace, 0xA0 included), "=", a double quote or a control
	// byte.
	ErrKernelName = errors.New(`parameter name is empty or holds a space, "=", a double quote or a control byte`)
)

// KernelArgError says why a name and value cannot be one Linux kernel
// argument.
type KernelArgError struct {
	Name, Value string
	Err         error // ErrKernelName, ErrKernelQuote or ErrNUL
}

// Error describes the problem without echoing a huge value.
func (e *KernelArgError) Error() string {
	n, v := e.Name, e.Value
	if len(n) > 40 {
		n = n[:40] + "..."
	}
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("ipxescript: kernel argument %q=%q: %v", n, v, e.Err)
}

// Unwrap returns ErrKernelName, ErrKernelQuote or ErrNUL.
func (e *KernelArgError) Unwrap() error { return e.Err }

// linuxSpace is isspace() of the kernel's lib/ctype.c.
func linuxSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0 }

// checkKernelName checks a parameter name for QuoteKernelArg.
func checkKernelName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if linuxSpace(c) || c < ' ' || c == 0x7f || c == '=' || c == '"' {
			return false
		}
	}
	return true
}

// QuoteKernelArg returns name=value written as exactly one Linux kernel
// command-line argument that Linux reads back as that name and value:
// "name=value", or `name="value"` when value holds a space (Linux's
// isspace: tab, LF, VT, FF, CR, space, 0xA0). What cannot be represented
// is refused with a *KernelArgError: a value holding '"' (ErrKernelQuote;
// Linux has no escape) or NUL (ErrNUL), a name that is empty or holds a
// space, "=", '"' or a control byte (ErrKernelName).
//
// The kernel passes parameters it does not know to init (as environment
// variables when they have a value); /proc/cmdline keeps the quotes.
// Linux truncates the whole command line at COMMAND_LINE_SIZE (2048 bytes
// on x86).
func QuoteKernelArg(name, value string) (string, error) {
	if !checkKernelName(name) {
		return "", &KernelArgError{Name: name, Value: value, Err: ErrKernelName}
	}
	if strings.IndexByte(value, 0) >= 0 {
		return "", &KernelArgError{Name: name, Value: value, Err: ErrNUL}
	}
	if strings.IndexByte(value, '"') >= 0 {
		return "", &KernelArgError{Name: name, Value: value, Err: ErrKernelQuote}
	}
	for i := 0; i < len(value); i++ {
		if linuxSpace(value[i]) {
			return name + `="` + value + `"`, nil
		}
	}
	return name + "=" + value, nil
}

// KernelArg is name=value as one argument of a kernel command line
// ("kernel", "imgargs", ...): QuoteKernelArg for Linux, then a Value for
// iPXE, so the pair survives both splits. A pair QuoteKernelArg refuses
// makes Script fail with its *KernelArgError.
//
//	b.Cmd("kernel", Raw("http://10.0.0.1/vmlinuz"), KernelArg("hostname", host))
func KernelArg(name, value string) Arg {
	s, err := QuoteKernelArg(name, value)
	if err != nil {
		return Arg{parts: []argPart{{kind: partValue, err: err}}}
	}
	return Value(s)
}

// kernelParam is one element of BootKernel's args: "name=value", split at
// the first "=" as Linux does, or a bare parameter "name".
func kernelParam(s string) Arg {
	name, value, hasValue := strings.Cut(s, "=")
	if hasValue {
		return KernelArg(name, value)
	}
	if !checkKernelName(name) {
		return Arg{parts: []argPart{{kind: partValue, err: &KernelArgError{Name: name, Err: ErrKernelName}}}}
	}
	return Value(name)
}
