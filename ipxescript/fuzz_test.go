package ipxescript

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pxekit/pxekit/internal/shared"
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
}

func addCorpusSeeds(f *testing.F) {
	d, err := shared.Dir()
	if err != nil {
		return
	}
	dir := filepath.Join(d, "corpus", "ipxe")
	names, _ := filepath.Glob(filepath.Join(dir, "*.ipxe"))
	for i, n := range names {
		if i%8 != 0 { // a sample keeps the seed corpus quick to run
			continue
		}
		if b, err := os.ReadFile(n); err == nil {
			f.Add(b)
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
			if !fd.Pos.IsValid() || fd.Pos.Offset > len(src) || fd.Code == "" || fd.Message == "" {
				t.Fatalf("bad finding %+v", fd)
			}
		}
		r := &Runner{MaxSteps: 300, Read: func(string) (string, error) { return "x", nil }}
		_, _ = r.Run(file)
	})
}
