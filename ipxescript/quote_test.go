package ipxescript

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var hostile = []string{
	"plain", "a b", "  lead", "trail  ", "a  b\t\tc", "#x", "a #b", "#", "||", "&&", ";", "a||b", "a ; b",
	`"q q"`, `'s'`, `\`, `a\`, "a\\\nb", "line1\nline2", "\r\n", "\r", "-x", "--", "--help", "-", "-h",
	"--name=x", strings.Repeat("x", 10240), strings.Repeat("ab c\n#", 2048), "café ☃", "\xff\xfe",
	"$", "${", "}", "a}b", "${x", "$${", "}${", "\t", "\x01\x7f\x1b[0m", ":label", "", " ", "%41",
	"http://example.com/a b?x=1&y=2#frag", "\v\f", "{}", "$x",
}

// argvOf runs script through the dry-run interpreter and returns the
// argv of every step and the final settings.
func argvOf(t *testing.T, script []byte) ([][]string, *Settings) {
	t.Helper()
	f, err := Parse(script, "built")
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, script)
	}
	s := &Settings{}
	res, err := (&Runner{Settings: s}).Run(f)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Failed != nil {
		t.Fatalf("script failed at %v: %v\n%s", res.Failed.Argv, res.Failed.Err, script)
	}
	return res.Argv(), s
}

// positional returns the positional arguments of the last step, parsed
// with the command's schema (so "--" and options are handled as iPXE
// does).
func positional(t *testing.T, argv []string) []string {
	t.Helper()
	spec, ok := LookupCommand(argv[0])
	if !ok {
		t.Fatalf("unknown %s", argv[0])
	}
	a, err := spec.ParseArgs(argv)
	if err != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	return a.Positional
}

func TestHostileValuesRoundTrip(t *testing.T) {
	for _, enc := range []Encoding{Hex, Base64} {
		for _, v := range hostile {
			b := NewBuilder()
			b.Encoding = enc
			b.Cmd("echo", Value(v))
			b.Cmd("echo", Text(v))
			b.Cmd("chain", Flag("autofree"), Value(v), Value(v))
			b.Cmd("iseq", Value(v), Value(v))
			b.Cmd("set", Raw("result"), Value(v))
			b.Cmd("imgfetch", Opt("name", Value(v)), Raw("http://x/y"))
			inConcat := !strings.Contains(v, "${") // refused inside a concatenation (TestQuoteErrors)
			if inConcat {
				b.Cmd("chain", Concat(Raw("http://x/?q="), Value(v), Raw("&z")))
			} else {
				b.Cmd("chain", Raw("http://x/?q="+QueryEscape(v)+"&z"))
			}
			b.Cmd("chain", Concat(Raw("http://x/?q="), URIValue(v)))
			script, err := b.Script()
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			steps, s := argvOf(t, script)
			last := func(name string, n int) []string {
				var found [][]string
				for _, st := range steps {
					if st[0] == name {
						found = append(found, st)
					}
				}
				return found[n]
			}
			if got := positional(t, last("echo", 0)); !reflect.DeepEqual(got, []string{v}) {
				t.Errorf("echo %q: positional %q\n%s", v, got, script)
			}
			if got := strings.Join(positional(t, last("echo", 1)), " "); got != v {
				t.Errorf("echo Text(%q): joined %q", v, got)
			}
			if got := positional(t, last("chain", 0)); !reflect.DeepEqual(got, []string{v, v}) {
				t.Errorf("chain %q: positional %q", v, got)
			}
			spec, _ := LookupCommand("imgfetch")
			a, err := spec.ParseArgs(last("imgfetch", 0))
			if name, _ := a.Get("name"); err != nil || name != v {
				t.Errorf("imgfetch --name %q: got %q (%v)", v, name, err)
			}
			if got := positional(t, last("chain", 1)); inConcat && !reflect.DeepEqual(got, []string{"http://x/?q=" + v + "&z"}) {
				t.Errorf("concat %q: got %q", v, got)
			}
			if got := positional(t, last("chain", 2)); len(got) != 1 || got[0] != "http://x/?q="+QueryEscape(v) {
				t.Errorf("uri %q: got %q", v, got)
			}
			// set joins with spaces and an empty value deletes: both as iPXE.
			if got, _ := s.Get("result"); got != v {
				t.Errorf("set result %q: got %q", v, got)
			}
		}
	}
}

func TestQuoteErrors(t *testing.T) {
	tests := []struct {
		v    string
		want error
		off  int
	}{
		{"a\x00b", ErrNUL, 1},
		{"${x}", ErrExpansion, 0},
		{"a${b:c}d", ErrExpansion, 1},
		{"${a${b}", ErrExpansion, 0},
	}
	for _, tt := range tests {
		_, err := Quote(tt.v, "_q")
		var qe *QuoteError
		if !errors.Is(err, tt.want) || !errors.As(err, &qe) || qe.Offset != tt.off {
			t.Errorf("Quote(%q) = %v, want %v at %d", tt.v, err, tt.want, tt.off)
		}
		b := NewBuilder().Cmd("echo", Value(tt.v))
		if _, err := b.Script(); !errors.Is(err, tt.want) {
			t.Errorf("builder with %q: %v", tt.v, err)
		}
	}
	if _, err := Quote("a b", "bad name"); !errors.Is(err, ErrSettingName) {
		t.Errorf("bad setting name: %v", err)
	}
	// "${" inside a concatenation could meet a later "}": refused.
	if _, err := NewBuilder().Cmd("chain", Concat(Value("${x"), Raw("}"))).Script(); !errors.Is(err, ErrExpansion) {
		t.Errorf("concat ${: %v", err)
	}
}

func TestQuoteForms(t *testing.T) {
	tests := []struct{ v, setup, word string }{
		{"plain", "", "plain"},
		{"", "", "${}"},
		{"a b", "set _q:hex 61:20:62", "${_q:string}"},
		{"#", "set _q:hex 23", "${_q:string}"},
		{"-x", "", "-x"},
	}
	for _, tt := range tests {
		q, err := Quote(tt.v, "_q")
		if err != nil || q.Setup != tt.setup || q.Word != tt.word {
			t.Errorf("Quote(%q) = %+v, %v", tt.v, q, err)
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	tests := []struct {
		name string
		b    *Builder
	}{
		{"unknown command", NewBuilder().Cmd("frobnicate")},
		{"unknown option", NewBuilder().Cmd("chain", Flag("bogus"), Raw("x"))},
		{"flag given a value", NewBuilder().Cmd("chain", Opt("autofree", Raw("1")), Raw("x"))},
		{"option without value", NewBuilder().Cmd("chain", Flag("name"), Raw("x"))},
		{"option after positional", NewBuilder().Cmd("chain", Raw("x"), Flag("autofree"))},
		{"too many args", NewBuilder().Cmd("goto", Raw("a"), Raw("b"))},
		{"too few args", NewBuilder().Cmd("iseq", Raw("a"))},
		{"raw with space", NewBuilder().Cmd("echo", Raw("a b"))},
		{"raw operator", NewBuilder().Cmd("echo", Raw("||"))},
		{"raw comment", NewBuilder().Cmd("echo", Raw("#x"))},
		{"raw unclosed", NewBuilder().Cmd("echo", Raw("${x"))},
		{"or first", NewBuilder().Or("echo")},
		{"bad label", NewBuilder().Label("a b")},
	}
	for _, tt := range tests {
		if _, err := tt.b.Script(); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestBuilderDashDash(t *testing.T) {
	tests := []struct {
		args []Arg
		want string
	}{
		{[]Arg{Raw("http://x")}, "chain http://x\n"},
		{[]Arg{Value("-x")}, "chain -- -x\n"},
		{[]Arg{Setting("next")}, "chain ${next}\n"}, // trusted script text
		{[]Arg{Raw("-x")}, "chain -- -x\n"},
		{[]Arg{Raw("a"), Value("-x")}, "chain a -x\n"},
		{[]Arg{Opt("name", Value("-n")), Raw("u")}, "chain --name=-n u\n"},
		{[]Arg{Opt("name", Raw("n")), Raw("u")}, "chain --name n u\n"},
		{[]Arg{Opt("timeout", Raw("5000")), Flag("autofree"), Flag("replace"), Raw("u")}, "chain --timeout 5000 --autofree --replace u\n"},
	}
	for _, tt := range tests {
		b := NewBuilder()
		b.header = ""
		got, err := b.Cmd("chain", tt.args...).Script()
		if err != nil || string(got) != tt.want {
			t.Errorf("got %q, %v; want %q", got, err, tt.want)
		}
	}
}
