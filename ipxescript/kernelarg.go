package ipxescript

import (
	"errors"
	"strings"

	"github.com/pxekit/pxekit/kernelcmdline"
)

// The kernel command line is a second language: iPXE joins the arguments
// of "kernel" (imgselect) and the other image commands with single spaces
// (concat_args, src/core/exec.c, called from src/hci/commands/image_cmd.c)
// and Linux splits the result again, so one iPXE argument "hostname=a b;c"
// reaches Linux as two, "hostname=a" and "b;c". Package kernelcmdline holds
// Linux's rules and the quoting every pxekit boot-loader config shares;
// this file puts them in iPXE's terms.

// Sentinel errors wrapped by *KernelArgError (kernelcmdline's, so
// errors.Is works with either name).
var (
	// ErrKernelQuote: the value holds a double quote
	// (kernelcmdline.ErrQuote).
	ErrKernelQuote = kernelcmdline.ErrQuote
	// ErrKernelName: the parameter name is empty or holds a space (Linux's
	// isspace, 0xA0 included), "=", a double quote or a control byte
	// (kernelcmdline.ErrName).
	ErrKernelName = kernelcmdline.ErrName
)

// KernelArgError says why a name and value cannot be one Linux kernel
// argument; its Err is ErrKernelName, ErrKernelQuote or ErrNUL.
type KernelArgError = kernelcmdline.Error

// QuoteKernelArg returns name=value written as exactly one Linux kernel
// command-line argument that Linux reads back as that name and value
// (kernelcmdline.Quote): "name=value", or `name="value"` when value holds
// a space. What cannot be represented is refused with a *KernelArgError:
// a value holding '"' (ErrKernelQuote; Linux has no escape) or NUL
// (ErrNUL, this package's, as for every other value), a name that is empty
// or holds a space, "=", '"' or a control byte (ErrKernelName).
func QuoteKernelArg(name, value string) (string, error) {
	s, err := kernelcmdline.Quote(name, value)
	var ke *kernelcmdline.Error
	if errors.As(err, &ke) && ke.Err == kernelcmdline.ErrNUL {
		ke.Err = ErrNUL
	}
	return s, err
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
	if !kernelcmdline.ValidName(name) {
		return Arg{parts: []argPart{{kind: partValue, err: &KernelArgError{Name: name, Err: ErrKernelName}}}}
	}
	return Value(name)
}
