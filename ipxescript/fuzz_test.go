package ipxescript

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
	dir := filepath.Join("..", "..", "shared", "corpus", "ipxe")
	if d := os.Getenv("PXEKIT_SHARED"); d != "" {
		dir = filepath.Join(d, "corpus", "ipxe")
	}
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
		if file.Header != again.Header && !(len(src) < 7 && again.Header != HeaderNone) {
			t.Fatalf("header %v became %v", file.Header, again.Header)
		}
		var out2 bytes.Buffer
		if err := Fprint(&out2, again); err != nil || !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatalf("not idempotent:\n%q\n%q", out.Bytes(), out2.Bytes())
		}
	})
}
