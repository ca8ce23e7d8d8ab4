package ipxescript

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// nilTrees are hand-built trees holding a nil where a node belongs. Lines,
// commands and words are values, so only a word part (or the file) can be
// nil.
func nilTrees() []struct {
	name string
	f    *File
	want string // in the error
} {
	lit := func(s string) Word { return NewWord(&Lit{Value: s}) }
	echo := func(words ...Word) Cmd { return Cmd{Words: append([]Word{lit("echo")}, words...)} }
	line := func(cmds ...Cmd) Line { return Line{Cmds: cmds} }
	return []struct {
		name string
		f    *File
		want string
	}{
		{"nil file", nil, "nil *File"},
		{"nil part on the second line", &File{Header: HeaderIPXE, Lines: []Line{line(echo(lit("a"))), line(echo(NewWord(nil)))}}, "Word.Parts[0] is nil"},
		{"nil first word's part", &File{Lines: []Line{line(Cmd{Words: []Word{NewWord(nil), lit("a")}})}}, "Word.Parts[0] is nil"},
		{"nil part after operator", &File{Lines: []Line{line(echo(lit("a")), Cmd{Op: OpOr, Words: []Word{NewWord(nil)}})}}, "Word.Parts[0] is nil"},
		{"nil part", &File{Lines: []Line{line(echo(NewWord(&Lit{Value: "a"}, nil)))}}, "Word.Parts[1] is nil"},
		{"nil *Lit part", &File{Lines: []Line{line(echo(NewWord((*Lit)(nil))))}}, "Word.Parts[0] is nil"},
		{"nil *Expansion part", &File{Lines: []Line{line(echo(NewWord((*Expansion)(nil))))}}, "Word.Parts[0] is nil"},
		{"nil part in an expansion", &File{Lines: []Line{line(echo(NewWord(
			&Expansion{Parts: []WordPart{&Lit{Value: "a"}, &Expansion{Parts: []WordPart{nil}}}})))}}, "Expansion.Parts[0] is nil"},
		{"nil goto target", &File{Lines: []Line{line(Cmd{Words: []Word{lit("goto"), NewWord(nil)}})}}, "Word.Parts[0] is nil"},
		{"nil item name", &File{Lines: []Line{line(Cmd{Words: []Word{lit("item"), NewWord(nil)}})}}, "Word.Parts[0] is nil"},
	}
}

// TestNilNodes: a tree with nil nodes gets a *PrintError from Print, a
// nil-node finding from Lint, an ErrNilNode from Runner.Run, and Walk and
// Preorder skip the nil nodes; nothing panics.
func TestNilNodes(t *testing.T) {
	for _, tc := range nilTrees() {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Fprint(&out, tc.f)
			var pe *PrintError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
				t.Errorf("Print: %v (%T), wrote %q; want a *PrintError saying %q", err, err, out.Bytes(), tc.want)
			}
			fs := Lint(tc.f)
			if len(fs) != 1 || fs[0].Code != CodeNilNode || !strings.Contains(fs[0].Message, tc.want) {
				t.Errorf("Lint: %v, want one %s finding saying %q", fs, CodeNilNode, tc.want)
			}
			res, err := (&Runner{MaxSteps: 100}).Run(tc.f)
			if !errors.Is(err, ErrNilNode) || !strings.Contains(err.Error(), tc.want) || res == nil {
				t.Errorf("Run: %v, %v; want ErrNilNode saying %q", res, err, tc.want)
			}
			if tc.f != nil {
				_ = tc.f.Pos()
			}
			var walked, ranged int
			Walk(tc.f, func(n Node) bool {
				if n != nil {
					if isNilNode(n) {
						t.Errorf("Walk visits a nil %T", n)
					}
					walked++
				}
				return true
			})
			for n := range Preorder(tc.f) {
				if isNilNode(n) {
					t.Errorf("Preorder yields a nil %T", n)
				}
				ranged++
			}
			if walked != ranged {
				t.Errorf("Walk visits %d nodes, Preorder %d", walked, ranged)
			}
		})
	}
}
