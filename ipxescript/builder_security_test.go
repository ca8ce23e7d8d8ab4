package ipxescript

import (
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/pxekit/pxekit/kernelcmdline"
	"strings"
	"testing"
)

// echoSettings are set when echoOf runs a script, so that a value that
// formed an expansion would show a setting's value (or lose its text to an
// unset one) in the output.
var echoSettings = map[string]string{"net0/mac:hex": "52:54:00:12:34:56", "password": "SECRET", "x": "X", "{": "BRACE"}

// echoOf builds "echo <arg>", runs it through the Runner with
// echoSettings and returns what echo printed, or the builder's error.
func echoOf(t *testing.T, arg Arg) (string, []byte, error) {
	t.Helper()
	script, err := NewBuilder().Cmd("echo", arg).Script()
	if err != nil {
		return "", nil, err
	}
	f, err := Parse(script, "built")
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, script)
	}
	s := &Settings{}
	for k, v := range echoSettings {
		if err := s.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	res, err := (&Runner{Settings: s, Out: &out}).Run(f)
	if err != nil || res.Failed != nil {
		t.Fatalf("run: %v %+v\n%s", err, res.Failed, script)
	}
	return strings.TrimSuffix(out.String(), "\n"), script, nil
}

// A Value must never contribute a byte to a "${" formed across the joins
// of a Concat, nor sit inside an expansion opened by the parts around it:
// iPXE rescans the whole token after every expansion (expand_settings in
// src/core/settings.c), so the joined text is what counts.
func TestConcatCrossJoinExpansion(t *testing.T) {
	tests := []struct {
		name string
		arg  Arg
	}{
		{"value $ + value {", Concat(Value("$"), Value("{net0/mac}"))},
		{"raw $ + value {", Concat(Raw("x$"), Value("{password}"))},
		{"value $ + raw {", Concat(Value("a$"), Raw("{password}"))},
		{"value $ + raw { + value", Concat(Value("$"), Raw("{"), Value("net0/mac}"))},
		{"empty values between", Concat(Value("$"), Value(""), Raw(""), Value("{x}"))},
		{"text $ + text {", Concat(Text("a $"), Text("{password} b"))},
		{"raw $ + raw { around value", Concat(Raw("$"), Raw("{"), Value("password"), Raw("}"))},
		{"raw $ + raw { before value }", Concat(Raw("$"), Raw("{"), Value("password}"))},
		{"nested concat", Concat(Concat(Raw("u"), Value("$")), Concat(Value("{x}")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, script, err := echoOf(t, tt.arg)
			if err == nil {
				t.Fatalf("accepted; the Runner (like iPXE) prints %q\n%s", out, script)
			}
			var qe *QuoteError
			if !errors.As(err, &qe) || !errors.Is(err, ErrJoinExpansion) {
				t.Fatalf("error %v (%T) is not a *QuoteError wrapping ErrJoinExpansion", err, err)
			}
		})
	}
	// The same check applies to option values.
	_, err := NewBuilder().Cmd("imgfetch", Opt("name", Concat(Value("$"), Value("{x}"))), Raw("u")).Script()
	if !errors.Is(err, ErrJoinExpansion) {
		t.Errorf("option value: %v, want ErrJoinExpansion", err)
	}
	// Raw text joined to Raw text is trusted, but a "${" it leaves open is
	// refused even when nothing but Raw text is in the token.
	if _, err := NewBuilder().Cmd("echo", Concat(Raw("$"), Raw("{x"))).Script(); err == nil {
		t.Error("Raw $ + Raw {x accepted")
	}
	if out, _, err := echoOf(t, Concat(Raw("$"), Raw("{x}"))); err != nil || out != "X" {
		t.Errorf("Raw $ + Raw {x}: %q, %v", out, err)
	}
}

// What the cross-join check must keep accepting: a "$" or "{" that does not
// meet its partner, and trusted Raw expansions next to values.
func TestConcatJoinAccepted(t *testing.T) {
	tests := []struct {
		arg  Arg
		want string
	}{
		{Concat(Value("a$"), Raw("b{")), "a$b{"},
		{Concat(Raw("{"), Value("$")), "{$"},
		{Concat(Value("$"), Raw("${x}")), "$X"},
		{Concat(Raw("${x}"), Value("a$")), "Xa$"},
		{Concat(Value("{"), Value("}$")), "{}$"},
		{Concat(Raw("$"), Value("x{")), "$x{"},
		{Concat(Value("x}"), Raw("${x}")), "x}X"},
		{Concat(Raw("${x}"), Value("{x}")), "X{x}"},
		{Concat(Raw("http://h/?m="), Setting("net0/mac:hexhyp"), Raw("&v="), Value("a b&$")), "http://h/?m=52-54-00-12-34-56&v=a b&$"},
	}
	for _, tt := range tests {
		out, script, err := echoOf(t, tt.arg)
		if err != nil || out != tt.want {
			t.Errorf("got %q, %v; want %q\n%s", out, err, tt.want, script)
		}
	}
}

// iPXE commands take at most MAX_ARGUMENTS (255) positional arguments
// (src/include/ipxe/parseopt.h; parse_options fails with ERANGE above
// it): a long Text must not be written as more words than that.
func TestTextOverArgumentLimit(t *testing.T) {
	words := make([]string, 300)
	for i := range words {
		words[i] = "w"
	}
	text := strings.Join(words, " ")
	for _, cmd := range []string{"echo", "set"} {
		b := NewBuilder()
		if cmd == "set" {
			b.Cmd("set", Raw("msg"), Text(text))
		} else {
			b.Cmd("echo", Text(text))
		}
		script, err := b.Script()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		f, err := Parse(script, "built")
		if err != nil {
			t.Fatal(err)
		}
		c := f.Lines[len(f.Lines)-1].Cmds[0]
		if n := len(c.Words) - 1; n > maxArgumentsForTest {
			t.Errorf("%s: %d positional arguments (iPXE allows %d)", cmd, n, maxArgumentsForTest)
		}
		s := &Settings{}
		var out strings.Builder
		if _, err := (&Runner{Settings: s, Out: &out}).Run(f); err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSuffix(out.String(), "\n")
		if cmd == "set" {
			got, _ = s.Get("msg")
		}
		if got != text {
			t.Errorf("%s: got %d bytes, want the 599-byte text", cmd, len(got))
		}
	}
	// More positional arguments than iPXE accepts is refused.
	args := make([]Arg, 256)
	for i := range args {
		args[i] = Raw("w")
	}
	if _, err := NewBuilder().Cmd("echo", args...).Script(); err == nil {
		t.Error("echo with 256 arguments accepted")
	}
	if _, err := NewBuilder().Cmd("echo", args[:255]...).Script(); err != nil {
		t.Errorf("echo with 255 arguments: %v", err)
	}
}

const maxArgumentsForTest = 255

// URIValue cannot carry NUL: iPXE's uri_decode turns %00 into a C string
// terminator and the rest of the URL is lost.
func TestURIValueNUL(t *testing.T) {
	_, err := NewBuilder().Cmd("chain", Concat(Raw("http://h/?a="), URIValue("a\x00b"), Raw("&c=d"))).Script()
	if !errors.Is(err, ErrNUL) {
		t.Fatalf("URIValue with NUL: %v, want ErrNUL", err)
	}
	var qe *QuoteError
	if !errors.As(err, &qe) || qe.Offset != 1 {
		t.Fatalf("want *QuoteError at byte 1, got %#v", err)
	}
	_, err = NewBuilder().Cmd("imgfetch", Opt("name", URIValue("\x00")), Raw("u")).Script()
	if !errors.Is(err, ErrNUL) {
		t.Fatalf("URIValue with NUL in an option: %v, want ErrNUL", err)
	}
}

// URIBase64 is the alternative for old iPXE: only base64url characters,
// which no iPXE escapes or decodes, and it carries NUL.
func TestURIBase64(t *testing.T) {
	for _, v := range append([]string{"a\x00b&c=d;e+f/g", "\xff\x80", "-", "?"}, hostile...) {
		out, script, err := echoOf(t, Concat(Raw("http://h/?d="), URIBase64(v)))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		enc := strings.TrimPrefix(out, "http://h/?d=")
		if strings.Trim(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("%q: %q has characters outside base64url\n%s", v, enc, script)
		}
		if dec, err := base64.RawURLEncoding.DecodeString(enc); err != nil || string(dec) != v {
			t.Errorf("%q: decodes to %q, %v", v, dec, err)
		}
	}
}

// linuxArg is one argument as Linux's parse_args/next_arg
// (lib/cmdline.c) sees it: val is nil for "param" without "=".
type linuxArg struct {
	param string
	val   *string
}

// linuxSplit is kernelcmdline.Split in the shape these tests compare.
func linuxSplit(cmdline string) []linuxArg {
	var out []linuxArg
	for _, a := range kernelcmdline.Split(cmdline) {
		la := linuxArg{param: a.Name}
		if a.HasValue {
			v := a.Value
			la.val = &v
		}
		out = append(out, la)
	}
	return out
}

func sameLinuxArgs(a, b []linuxArg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].param != b[i].param || (a[i].val == nil) != (b[i].val == nil) || (a[i].val != nil && *a[i].val != *b[i].val) {
			return false
		}
	}
	return true
}

func fmtLinuxArgs(as []linuxArg) string {
	var parts []string
	for _, a := range as {
		if a.val == nil {
			parts = append(parts, "["+a.param+"]")
		} else {
			parts = append(parts, "["+a.param+"="+*a.val+"]")
		}
	}
	return strings.Join(parts, " ")
}

// kernelCmdline runs script and returns the command line iPXE would give
// the kernel: the arguments after the image, joined with single spaces
// (concat_args in src/core/exec.c, used by src/hci/commands/image_cmd.c).
func kernelCmdline(t *testing.T, script []byte) string {
	t.Helper()
	f, err := Parse(script, "built")
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, script)
	}
	var cmdline string
	found := false
	r := &Runner{Command: func(argv []string) error {
		if argv[0] == "kernel" {
			spec, _ := LookupCommand("kernel")
			a, err := spec.ParseArgs(argv)
			if err != nil {
				t.Fatalf("kernel argv %q: %v", argv, err)
			}
			cmdline, found = strings.Join(a.Positional[1:], " "), true
		}
		return nil
	}}
	if _, err := r.Run(f); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no kernel command ran\n%s", script)
	}
	return cmdline
}

// BootKernel's arguments each arrive at Linux as exactly one argument.
func TestBootKernelOneLinuxArgumentEach(t *testing.T) {
	args := []string{"auto=true", "quiet", "hostname=web 01", "x=a\tb;c||d", "console=ttyS0,115200n8", "empty="}
	b := NewBuilder()
	b.BootKernel(Raw("http://h/linux"), nil, args...)
	script, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}
	got := linuxSplit(kernelCmdline(t, script))
	str := func(s string) *string { return &s }
	want := []linuxArg{{"auto", str("true")}, {"quiet", nil}, {"hostname", str("web 01")},
		{"x", str("a\tb;c||d")}, {"console", str("ttyS0,115200n8")}, {"empty", str("")}}
	if !sameLinuxArgs(got, want) {
		t.Errorf("Linux sees %s, want %s\n%s", fmtLinuxArgs(got), fmtLinuxArgs(want), script)
	}
}

func TestQuoteKernelArg(t *testing.T) {
	tests := []struct {
		name, value, want string
		err               error
	}{
		{"hostname", "web01", "hostname=web01", nil},
		{"hostname", "web 01", `hostname="web 01"`, nil},
		{"x", "a\tb;c", "x=\"a\tb;c\"", nil},
		{"x", "à", "x=\"à\"", nil}, // UTF-8 C3 A0: Linux's isspace includes 0xA0
		{"x", "", "x=", nil},
		{"x", "a=b c", `x="a=b c"`, nil},
		{"x", "\n", "x=\"\n\"", nil},
		{"x", `say "hi"`, "", ErrKernelQuote},
		{"x", `"`, "", ErrKernelQuote},
		{"x", "a\x00", "", ErrNUL},
		{"", "v", "", ErrKernelName},
		{"a b", "v", "", ErrKernelName},
		{"a=b", "v", "", ErrKernelName},
		{`a"`, "v", "", ErrKernelName},
		{"a\x01", "v", "", ErrKernelName},
		{"a\xa0", "v", "", ErrKernelName},
	}
	for _, tt := range tests {
		got, err := QuoteKernelArg(tt.name, tt.value)
		if tt.err != nil {
			var ke *KernelArgError
			if !errors.Is(err, tt.err) || !errors.As(err, &ke) {
				t.Errorf("QuoteKernelArg(%q, %q) = %q, %v; want %v", tt.name, tt.value, got, err, tt.err)
			}
			if _, err := NewBuilder().Cmd("kernel", Raw("u"), KernelArg(tt.name, tt.value)).Script(); !errors.Is(err, tt.err) {
				t.Errorf("KernelArg(%q, %q) in a builder: %v, want %v", tt.name, tt.value, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("QuoteKernelArg(%q, %q) = %q, %v; want %q", tt.name, tt.value, got, err, tt.want)
		}
		split := linuxSplit("a " + got + " b")
		if len(split) != 3 || split[1].param != tt.name || split[1].val == nil || *split[1].val != tt.value {
			t.Errorf("%q: Linux sees %s", got, fmtLinuxArgs(split))
		}
	}
}

func TestBootKernelRefusesWhatLinuxCannotRead(t *testing.T) {
	for _, tt := range []struct {
		arg string
		err error
	}{
		{`x=say "hi"`, ErrKernelQuote},
		{"a b", ErrKernelName},
		{"=v", ErrKernelName},
		{"", ErrKernelName},
		{"x=a\x00", ErrNUL},
	} {
		b := NewBuilder()
		b.BootKernel(Raw("u"), nil, "quiet", tt.arg)
		if _, err := b.Script(); !errors.Is(err, tt.err) {
			t.Errorf("BootKernel(%q): %v, want %v", tt.arg, err, tt.err)
		}
	}
}

// Every hostile value that Linux can represent survives both splits: the
// builder's quoting for iPXE and Linux's own (linuxSplit).
func TestHostileKernelArgs(t *testing.T) {
	b := NewBuilder()
	var want []linuxArg
	for i, v := range hostile {
		if strings.ContainsAny(v, "\"\x00") || strings.Contains(v, "${") {
			continue // ErrKernelQuote, ErrNUL, ErrExpansion: see TestQuoteKernelArg
		}
		name := fmt.Sprintf("k%d", i)
		b.Cmd("kernel", Raw("http://h/linux"), Raw("quiet"), KernelArg(name, v), Raw("x=1"))
		v := v
		want = append(want, linuxArg{name, &v})
	}
	script, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(script, "built")
	if err != nil {
		t.Fatal(err)
	}
	var got []linuxArg
	r := &Runner{Command: func(argv []string) error {
		spec, _ := LookupCommand("kernel")
		a, err := spec.ParseArgs(argv)
		if err != nil {
			return err
		}
		args := linuxSplit(strings.Join(a.Positional[1:], " "))
		if len(args) != 3 || args[0].param != "quiet" || args[2].param != "x" {
			t.Errorf("Linux sees %s", fmtLinuxArgs(args))
			return nil
		}
		got = append(got, args[1])
		return nil
	}}
	if res, err := r.Run(f); err != nil || res.Failed != nil {
		t.Fatalf("run: %v %+v", err, res.Failed)
	}
	if !sameLinuxArgs(got, want) {
		t.Errorf("Linux sees\n%s\nwant\n%s", fmtLinuxArgs(got), fmtLinuxArgs(want))
	}
	if len(want) < 40 {
		t.Errorf("only %d hostile values tried", len(want))
	}
}
