package ipxescript

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"#!ipxe\ndhcp || goto retry\n",
	":a echo ${x${y}} || goto a # c\n",
	"echo a \\\nb\\\nc\r\n",
	"# x \\\n\\\necho\n",
	"echo a\\\r\r\n",
	"a||b && ; || \x00 x\n",
	"item --gap -- ---- ${a:hex}\n",
	"\xef\xbb\xbf#!gpxe\n: \n:\t\n",
	"#!ipxe\necho a\n:b echo c \\",
	"#!ipxe\\\n\\\r\n",
}

// addCorpusSeeds adds the project's own scripts (testdata/scripts) as
// seeds, and a sample of the shared corpus when it is present.
func addCorpusSeeds(f *testing.F) {
	for _, cf := range ownScripts(f) {
		if len(cf.src) <= 8<<10 { // the fuzzer mutates small inputs best
			f.Add(cf.src)
		}
	}
	for i, cf := range sharedCorpus(f) {
		if i%8 == 0 { // a sample keeps the seed corpus quick to run
			f.Add(cf.src)
		}
	}
}

// FuzzParse checks that parsing never panics, that anything that parses
// prints, and that print∘parse keeps every token (by the parser and by an
// independent tokenizer), the header, and is idempotent.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, "fuzz")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Fprint(&out, file); err != nil {
			t.Fatalf("printing a parsed file failed: %v", err)
		}
		again, err := Parse(out.Bytes(), "fuzz")
		if err != nil {
			t.Fatalf("printed output does not parse: %v\n%q", err, out.Bytes())
		}
		if !reflect.DeepEqual(shape(file), shape(again)) {
			t.Fatalf("tree changed:\n%q\n%q\nsrc %q\nout %q", shape(file), shape(again), src, out.Bytes())
		}
		if a, b := naiveTokens(string(src)), naiveTokens(out.String()); !reflect.DeepEqual(a, b) {
			t.Fatalf("tokens changed:\n%q\n%q\nout %q", a, b, out.Bytes())
		}
		if file.Header != again.Header {
			t.Fatalf("header %v became %v", file.Header, again.Header)
		}
		var out2 bytes.Buffer
		if err := Fprint(&out2, again); err != nil || !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatalf("not idempotent:\n%q\n%q", out.Bytes(), out2.Bytes())
		}
	})
}

// FuzzQuote checks that any string the builder accepts comes back through
// the dry-run interpreter as one identical argument, and that the only
// strings it refuses are those Check refuses (NUL, "${...}").
func FuzzQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, false)
	}
	f.Add("${x}", true)
	f.Fuzz(func(t *testing.T, v string, b64 bool) {
		b := NewBuilder()
		if b64 {
			b.Encoding = Base64
		}
		b.Cmd("chain", Flag("autofree"), Value(v), Value(v))
		b.Cmd("imgfetch", Opt("name", Value(v)), Raw("u"))
		script, err := b.Script()
		if cerr := Check(v); cerr != nil {
			if err == nil {
				t.Fatalf("builder accepted %q that Check refuses (%v)", v, cerr)
			}
			return
		}
		if err != nil {
			t.Fatalf("builder refused %q: %v", v, err)
		}
		f, err := Parse(script, "q")
		if err != nil {
			t.Fatal(err)
		}
		res, err := (&Runner{}).Run(f)
		if err != nil || res.Failed != nil {
			t.Fatalf("run: %v %+v\n%s", err, res.Failed, script)
		}
		var chain, fetch []string
		for _, st := range res.Argv() {
			switch st[0] {
			case "chain":
				chain = st
			case "imgfetch":
				fetch = st
			}
		}
		spec, _ := LookupCommand("chain")
		a, err := spec.ParseArgs(chain)
		if err != nil || len(a.Positional) != 2 || a.Positional[0] != v || a.Positional[1] != v {
			t.Fatalf("chain argv %q (%v) for %q\n%s", chain, err, v, script)
		}
		spec, _ = LookupCommand("imgfetch")
		a, err = spec.ParseArgs(fetch)
		if name, _ := a.Get("name"); err != nil || name != v {
			t.Fatalf("imgfetch --name %q (%v) for %q", name, err, v)
		}
	})
}

// FuzzLintRun checks that Lint and a bounded dry run never panic or hang
// on anything that parses, and that every finding has a valid position.
func FuzzLintRun(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("#!ipxe\nset a:hex 24:7b:61:7d:24:7b:61:7d\necho ${a}\n"))
	f.Add([]byte("#!ipxe\nmenu\nitem --key 08 a A\nchoose --default b x && goto ${x}\n:a inc n 0x10 ; exit ${n}\n"))
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, "fuzz")
		if err != nil {
			return
		}
		for _, fd := range Lint(file) {
			if !fd.Pos.IsValid() || fd.Pos.Offset() > len(src) || fd.Code == "" || fd.Message == "" {
				t.Fatalf("bad finding %+v", fd)
			}
		}
		r := &Runner{MaxSteps: 300, Read: func(string) (string, error) { return "x", nil }}
		_, _ = r.Run(file)
	})
}

// FuzzConcat checks that any sequence of Value, Text and Raw parts (Raw
// without "$": trusted text cannot form expansions here) either is refused
// with a *QuoteError or makes echo print exactly the concatenated text in
// the Runner, whose expansion follows iPXE's expand_settings; and that
// a concatenation holding no "${" and no NUL is never refused.
func FuzzConcat(f *testing.F) {
	f.Add([]byte{0, 0}, "$", "{net0/mac}", "", "")
	f.Add([]byte{1, 0}, "x$", "{password}", "", "")
	f.Add([]byte{0, 1}, "a$", "{password}", "", "")
	f.Add([]byte{0, 1, 0}, "$", "{", "net0/mac}", "")
	f.Add([]byte{2, 2}, "a $", "{x} b", "", "")
	f.Add([]byte{0, 0, 0, 0}, "$", "", "", "{x}")
	f.Add([]byte{1, 0, 1}, "{", "a b", "}", "")
	f.Add([]byte{2}, "w w w", "", "", "")
	f.Fuzz(func(t *testing.T, kinds []byte, p0, p1, p2, p3 string) {
		texts := []string{p0, p1, p2, p3}
		if len(kinds) == 0 || len(kinds) > len(texts) {
			return
		}
		var parts []Arg
		var want strings.Builder
		for i, k := range kinds {
			s := texts[i]
			switch k % 3 {
			case 0:
				parts = append(parts, Value(s))
			case 1:
				// Raw is trusted script text: keep it to bytes that are
				// valid in any position of a token and form no "${".
				s = strings.Map(func(r rune) rune {
					if r == '$' || r == '#' || r == '\\' || r == '|' || r == '&' || r == ';' || r <= ' ' || r == 0x7f || r == utf8.RuneError {
						return -1
					}
					return r
				}, s)
				parts = append(parts, Raw(s))
			default:
				parts = append(parts, Text(s))
			}
			want.WriteString(s)
		}
		arg := parts[0]
		if len(parts) > 1 {
			arg = Concat(parts...)
		}
		got, script, err := echoOf(t, arg)
		joined := want.String()
		if err != nil {
			var qe *QuoteError
			if !errors.As(err, &qe) {
				t.Fatalf("refused %q without a *QuoteError: %v", joined, err)
			}
			if !strings.Contains(joined, "${") && strings.IndexByte(joined, 0) < 0 {
				t.Fatalf("refused %q, which holds no ${ and no NUL: %v", joined, err)
			}
			return
		}
		if got != joined {
			t.Fatalf("echo printed %q, want %q\n%s", got, joined, script)
		}
	})
}

// FuzzKernelArg checks QuoteKernelArg against Linux's own splitting
// (linuxSplit, a transcription of next_arg in lib/cmdline.c): whatever it
// accepts is exactly one argument with the original name and value, even
// between other arguments; what it refuses holds a '"' or NUL in the value
// or a bad name, with a *KernelArgError.
func FuzzKernelArg(f *testing.F) {
	for _, s := range []string{"web01", "web 01", "a b;c", `"`, "a\"b c\"", "à", "\xa0", "", "=", "--", "\t\n", "a\x00"} {
		f.Add("hostname", s)
	}
	f.Add("", "v")
	f.Add("a b", "v")
	f.Add("--", "x")
	f.Fuzz(func(t *testing.T, name, value string) {
		got, err := QuoteKernelArg(name, value)
		if err != nil {
			var ke *KernelArgError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v is not a *KernelArgError", err)
			}
			badName := name == ""
			for i := 0; i < len(name); i++ { // bytes: 0xA0 is a Linux space even inside UTF-8
				c := name[i]
				badName = badName || c <= ' ' || c == 0x7f || c == 0xa0 || c == '=' || c == '"'
			}
			if !badName && !strings.ContainsAny(value, "\"\x00") {
				t.Fatalf("refused %q=%q: %v", name, value, err)
			}
			return
		}
		for _, cmdline := range []string{got, "  a=1 " + got + " b\t", `c="x y" ` + got + " d"} {
			args := linuxSplit(cmdline)
			want, i := 3, 1
			if cmdline == got {
				want, i = 1, 0
			}
			if len(args) != want || args[i].param != name || args[i].val == nil || *args[i].val != value {
				t.Fatalf("%q=%q written %q: Linux sees %s in %q", name, value, got, fmtLinuxArgs(args), cmdline)
			}
		}
	})
}
