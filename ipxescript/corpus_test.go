package ipxescript

import (
	"bytes"
	"errors"
	stdflag "flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/internal/shared"
)

type corpusFile struct {
	name string
	src  []byte
}

// scriptsDir holds the project's own iPXE scripts, written to reach every
// path of the parser and the printer. NAME.ipxe prints as NAME.printed when
// that file exists, and unchanged otherwise (TestScriptsPrint).
const scriptsDir = "testdata/scripts"

// ownScripts returns the scripts in scriptsDir; there must be some.
func ownScripts(t testing.TB) []corpusFile {
	t.Helper()
	files := readScripts(t, scriptsDir, "")
	if len(files) == 0 {
		t.Fatalf("no scripts in %s", scriptsDir)
	}
	return files
}

// sharedCorpus returns the optional third-party corpus
// (../shared/corpus/ipxe), or nil when it is not there. It fails only when
// $PXEKIT_SHARED asks for the material and it is missing.
func sharedCorpus(t testing.TB) []corpusFile {
	t.Helper()
	d, ok := shared.Optional(t, "corpus", "ipxe")
	if !ok {
		return nil
	}
	return readScripts(t, d, "corpus/")
}

// loadCorpus returns the project's own scripts, and the shared corpus
// after them when it is present.
func loadCorpus(t testing.TB) []corpusFile {
	t.Helper()
	return append(ownScripts(t), sharedCorpus(t)...)
}

// readScripts reads dir/*.ipxe in name order, naming each prefix+base.
func readScripts(t testing.TB, dir, prefix string) []corpusFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.ipxe"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []corpusFile
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusFile{prefix + filepath.Base(n), b})
	}
	return out
}

// naiveTokens is an independent reading of iPXE's line handling
// (process_script in src/image/script.c, split_command in src/core/exec.c)
// written with the strings package: each logical line gives its label (as ":name") and
// its tokens up to the first one that starts with "#". Lines with nothing
// left are omitted. It shares no code with the parser.
func naiveTokens(src string) [][]string {
	var out [][]string
	isSp := func(r rune) bool { return strings.ContainsRune(" \t\n\v\f\r", r) }
	phys := strings.Split(src, "\n")
	if strings.HasSuffix(src, "\n") {
		phys = phys[:len(phys)-1]
	}
	var acc []byte
	for _, p := range phys {
		acc = append(acc, p...)
		if n := len(acc); n > 0 && acc[n-1] == '\r' {
			acc = acc[:n-1]
		}
		if n := len(acc); n > 0 && acc[n-1] == '\\' {
			acc = acc[:n-1]
			continue
		}
		line := string(acc)
		acc = acc[:0]
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		fields := strings.FieldsFunc(line, isSp)
		var toks []string
		for i, f := range fields {
			if i == 0 && strings.HasPrefix(f, ":") {
				toks = append(toks, f)
				continue
			}
			if strings.HasPrefix(f, "#") {
				break
			}
			toks = append(toks, f)
		}
		if len(toks) > 0 {
			out = append(out, toks)
		}
	}
	return out
}

// shape is the parser's view of a file for comparisons: per non-blank line,
// label, operators and word texts, and comment.
func shape(f *File) []string {
	var out []string
	for _, l := range f.Lines {
		if l.IsBlank() {
			continue
		}
		var b strings.Builder
		if l.Label != nil {
			b.WriteString(":" + l.Label.Name + " ")
		}
		for _, c := range l.Cmds {
			b.WriteString("[" + c.Op.String() + "]")
			for _, w := range c.Words {
				b.WriteString(" <" + w.Text() + ">")
			}
		}
		if l.Comment != nil {
			b.WriteString(" #=" + strings.TrimRight(l.Comment.Text, " \t\r\v\f"))
		}
		out = append(out, b.String())
	}
	return out
}

func dryRun(t *testing.T, f *File, fail bool) [][]string {
	t.Helper()
	r := &Runner{MaxSteps: 2000}
	if fail {
		r.Command = func([]string) error { return errors.New("fails") }
		r.Prompt = func(string) error { return nil }
		r.Read = func(s string) (string, error) { return "x-" + s, nil }
	}
	res, err := r.Run(f)
	if err != nil && !errors.Is(err, ErrStepLimit) {
		t.Fatalf("dry run: %v", err)
	}
	out := res.Argv()
	for i, s := range res.Steps {
		if s.Err != nil {
			out[i] = append(out[i], "=> "+s.Err.Error())
		}
	}
	return out
}

func TestCorpus(t *testing.T) {
	for _, cf := range loadCorpus(t) {
		t.Run(cf.name, func(t *testing.T) {
			f, err := Parse(cf.src, cf.name)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var out bytes.Buffer
			if err := Fprint(&out, f); err != nil {
				t.Fatalf("print: %v", err)
			}
			g, err := Parse(out.Bytes(), cf.name)
			if err != nil {
				t.Fatalf("reparse printed: %v\n%s", err, out.Bytes())
			}
			if !reflect.DeepEqual(shape(f), shape(g)) {
				diffLines(t, "shape", shape(f), shape(g))
			}
			if a, b := naiveTokens(string(cf.src)), naiveTokens(out.String()); !reflect.DeepEqual(a, b) {
				t.Errorf("independent tokenizer sees different tokens after printing")
				diffTokens(t, a, b)
			}
			if g.Header != f.Header {
				t.Errorf("header %v became %v", f.Header, g.Header)
			}
			var again bytes.Buffer
			if err := Fprint(&again, g); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Errorf("printing is not idempotent")
			}
			for _, fail := range []bool{false, true} {
				if a, b := dryRun(t, f, fail), dryRun(t, g, fail); !reflect.DeepEqual(a, b) {
					t.Errorf("dry run (commands fail=%v) differs: %q vs %q", fail, a, b)
				}
			}
		})
	}
}

func diffLines(t *testing.T, what string, a, b []string) {
	t.Helper()
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			t.Errorf("%s line %d:\n  before: %q\n  after:  %q", what, i, x, y)
			return
		}
	}
}

func diffTokens(t *testing.T, a, b [][]string) {
	t.Helper()
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y []string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if !reflect.DeepEqual(x, y) {
			t.Errorf("logical line %d:\n  before: %q\n  after:  %q", i, x, y)
			return
		}
	}
}

// TestCorpusLint: lint never reports a syntax problem on the own scripts
// and the corpus (every file parses, unknown commands are findings), and every finding has a
// position inside the file, a code and a message.
func TestCorpusLint(t *testing.T) {
	codes := map[string]int{}
	for _, cf := range loadCorpus(t) {
		f, err := Parse(cf.src, cf.name)
		if err != nil {
			t.Fatalf("%s: %v", cf.name, err)
		}
		for _, fd := range Lint(f) {
			codes[fd.Code]++
			if !fd.Pos.IsValid() || fd.Pos.Offset() > len(cf.src) || fd.Code == "" || fd.Message == "" {
				t.Errorf("%s: bad finding %+v", cf.name, fd)
			}
		}
	}
	t.Logf("findings by code: %v", codes)
	if codes[CodeUnknownCommand] == 0 {
		t.Error("the scripts have misspelt commands (chian, isseq); lint found none")
	}
}

// BenchmarkParsePrintCorpus measures parse + print throughput over the
// whole third-party corpus (bytes of input per second).
func BenchmarkParsePrintCorpus(b *testing.B) { benchParsePrint(b, benchCorpus(b)) }

// BenchmarkLintCorpus measures Lint over the parsed third-party corpus.
func BenchmarkLintCorpus(b *testing.B) { benchLint(b, benchCorpus(b)) }

// benchCorpus returns the third-party corpus, which bench/'s figures are
// for; without it, the project's own scripts (and says so).
func benchCorpus(b *testing.B) []corpusFile {
	if files := sharedCorpus(b); files != nil {
		return files
	}
	b.Log("third-party corpus not present: measuring the project's own scripts")
	return ownScripts(b)
}

var updateGolden = stdflag.Bool("update", false, "rewrite testdata/scripts/*.printed from the printer's output")

// TestScriptsPrint: each own script prints exactly as its golden file
// NAME.printed says, or unchanged when it has none (it is canonical
// already). -update rewrites the golden files.
func TestScriptsPrint(t *testing.T) {
	for _, cf := range ownScripts(t) {
		t.Run(cf.name, func(t *testing.T) {
			got, err := Format(cf.src, cf.name)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(scriptsDir, strings.TrimSuffix(cf.name, ".ipxe")+".printed")
			if *updateGolden {
				if bytes.Equal(got, cf.src) {
					err = os.Remove(golden)
					if errors.Is(err, fs.ErrNotExist) {
						err = nil
					}
				} else {
					err = os.WriteFile(golden, got, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if errors.Is(err, fs.ErrNotExist) {
				want, err = cf.src, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("printed:\n%q\nwant (%s):\n%q", got, golden, want)
			}
			checkPrintOptions(t, cf)
		})
	}
}

// checkPrintOptions: other indentations and a parse without comments (read
// through ParseReader) keep every command of the script.
func checkPrintOptions(t *testing.T, cf corpusFile) {
	t.Helper()
	f, err := Parse(cf.src, cf.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, spaces := range []uint{0, 2} {
		var out bytes.Buffer
		if err := NewPrinter(Indent(spaces)).Print(&out, f); err != nil {
			t.Fatalf("Indent(%d): %v", spaces, err)
		}
		g, err := Parse(out.Bytes(), cf.name)
		if err != nil {
			t.Fatalf("Indent(%d): reparse: %v", spaces, err)
		}
		if !reflect.DeepEqual(shape(f), shape(g)) {
			diffLines(t, fmt.Sprintf("Indent(%d)", spaces), shape(f), shape(g))
		}
	}
	bare, err := ParseReader(bytes.NewReader(cf.src), cf.name, KeepComments(false))
	if err != nil {
		t.Fatal(err)
	}
	withoutComments := func(f *File) []string {
		var out []string
		for _, s := range shape(f) {
			if s, _, _ = strings.Cut(s, " #="); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if a, b := withoutComments(f), withoutComments(bare); !reflect.DeepEqual(a, b) {
		diffLines(t, "KeepComments(false)", a, b)
	}
	for n := range Preorder(bare) {
		if _, ok := n.(*Comment); ok {
			t.Fatalf("KeepComments(false) kept a comment")
		}
	}
}
