package ipxescript

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// partsShape renders parts as L"lit" and E[...] for comparisons that
// ignore positions.
func partsShape(parts []WordPart) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch p := p.(type) {
		case *Lit:
			fmt.Fprintf(&b, "L%q", p.Value)
		case *Expansion:
			b.WriteString("E[" + partsShape(p.Parts) + "]")
		default:
			fmt.Fprintf(&b, "?%T", p)
		}
	}
	return b.String()
}

// hasPos reports whether any node under n has a valid position.
func hasPos(n Node) bool {
	for m := range Preorder(n) {
		switch m := m.(type) {
		case *Lit:
			if m.ValuePos.IsValid() {
				return true
			}
		case *Expansion:
			if m.Dollar.IsValid() || m.Rbrace.IsValid() {
				return true
			}
		}
	}
	return false
}

func TestParseWord(t *testing.T) {
	tests := []struct {
		text  string
		shape string
		err   string // substring of the error; "" when it parses
		off   int    // error offset
	}{
		{text: "chain", shape: `L"chain"`},
		{text: "http://${next-server}/boot.ipxe", shape: `L"http://" E[L"next-server"] L"/boot.ipxe"`},
		{text: "${net0/mac:hexhyp}", shape: `E[L"net0/mac:hexhyp"]`},
		{text: "${}", shape: `E[]`},
		{text: "${a${b}}", shape: `E[L"a" E[L"b"]]`},
		{text: "x${y", shape: `L"x${y"`},                    // unclosed: literal
		{text: "${a${b}", shape: `L"${a" E[L"b"]`},          // outer unclosed
		{text: "}${", shape: `L"}${"`},                      // lone braces
		{text: "$", shape: `L"$"`},                          // lone dollar
		{text: ":label", shape: `L":label"`},                // an argument here
		{text: "a\\", shape: `L"a\\"`},                      // backslash inside a token
		{text: "--name=${x}", shape: `L"--name=" E[L"x"]`},  // option value
		{text: "\xff\xfe", shape: `L"\xff\xfe"`},            // bytes, not runes
		{text: "a#b", shape: `L"a#b"`},                      // "#" only starts a comment at a token's start
		{text: "", err: "empty word", off: 0},               // needs ${}
		{text: "a b", err: "contains whitespace", off: 1},   // two tokens
		{text: "ab\tc", err: "contains whitespace", off: 2}, //
		{text: "a\nb", err: "contains whitespace", off: 1},  //
		{text: "a\x00b", err: "NUL", off: 1},                //
		{text: "#x", err: "comment", off: 0},                //
		{text: "||", err: "operator", off: 0},               //
		{text: "&&", err: "operator", off: 0},               //
		{text: ";", err: "operator", off: 0},                //
		{text: strings.Repeat("${", MaxExpansionDepth+1) + strings.Repeat("}", MaxExpansionDepth+1), err: "nested deeper", off: 0},
	}
	for _, tt := range tests {
		name := tt.text
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			w, err := ParseWord(tt.text)
			if tt.err != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err) || pe.Pos.Offset() != tt.off {
					t.Fatalf("ParseWord(%q) = %v, %v; want a *ParseError at offset %d containing %q", tt.text, w, err, tt.off, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWord(%q): %v", tt.text, err)
			}
			if got := partsShape(w.Parts()); got != tt.shape {
				t.Errorf("ParseWord(%q) = %s, want %s", tt.text, got, tt.shape)
			}
			if w.Text() != tt.text {
				t.Errorf("Text() = %q, want %q", w.Text(), tt.text)
			}
			if hasPos(&w) || w.Pos().IsValid() {
				t.Errorf("ParseWord(%q) has positions; a made word has none", tt.text)
			}
		})
	}
}

func TestLitWord(t *testing.T) {
	tests := []struct {
		s     string
		text  string // printed text of the word
		err   error
		shape string
	}{
		{s: "web01.example.com", text: "web01.example.com", shape: `L"web01.example.com"`},
		{s: "", text: "${}", shape: `E[]`},
		{s: "a$", text: "a$", shape: `L"a$"`},
		{s: "${x", text: "${x", shape: `L"${x"`}, // no "}": stays literal in iPXE
		{s: "}{", text: "}{", shape: `L"}{"`},
		{s: "-x", text: "-x", shape: `L"-x"`},
		{s: "é", text: "é", shape: `L"é"`},
		{s: "a b", err: ErrToken},
		{s: "\t", err: ErrToken},
		{s: "#x", err: ErrToken},
		{s: "||", err: ErrToken},
		{s: ";", err: ErrToken},
		{s: "a\x00", err: ErrNUL},
		{s: "${x}", err: ErrExpansion},
		{s: "a${b}c", err: ErrExpansion},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			w, err := LitWord(tt.s)
			if tt.err != nil {
				var qe *QuoteError
				if !errors.Is(err, tt.err) || !errors.As(err, &qe) {
					t.Fatalf("LitWord(%q) = %v, %v; want a *QuoteError wrapping %v", tt.s, w, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LitWord(%q): %v", tt.s, err)
			}
			if w.Text() != tt.text || partsShape(w.Parts()) != tt.shape {
				t.Fatalf("LitWord(%q) = %q %s, want %q %s", tt.s, w.Text(), partsShape(w.Parts()), tt.text, tt.shape)
			}
			// What iPXE sees: the word as the argument of echo, in the
			// Runner, whose expansion follows iPXE's expand_settings.
			f := &File{Lines: []Line{{Cmds: []Cmd{{Words: []Word{NewWord(&Lit{Value: "echo"}), w}}}}}}
			var out bytes.Buffer
			if err := Fprint(&out, f); err != nil {
				t.Fatal(err)
			}
			g, err := Parse(out.Bytes(), "lit")
			if err != nil {
				t.Fatal(err)
			}
			res, err := (&Runner{}).Run(g)
			if err != nil || len(res.Steps) != 1 || !reflect.DeepEqual(res.Steps[0].Argv, []string{"echo", tt.s}) {
				t.Fatalf("script %q runs %+v (%v), want argv [echo %q]", out.Bytes(), res.Steps, err, tt.s)
			}
		})
	}
}

// preorderOf collects Preorder's nodes.
func preorderOf(n Node) []Node {
	var out []Node
	for m := range Preorder(n) {
		out = append(out, m)
	}
	return out
}

// TestPreorderMatchesWalk: Preorder visits the nodes Walk visits, in the
// same order, on scripts of every shape.
func TestPreorderMatchesWalk(t *testing.T) {
	srcs := append([]string{}, fuzzSeeds...)
	srcs = append(srcs, string(syntheticScript(16<<10)), ":a\n", "# only\n", "\n\n", "a ${b${c}}d ${e \\\n f # g\n")
	for _, src := range srcs {
		f, err := Parse([]byte(src), "p")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		var walked []Node
		Walk(f, func(n Node) bool {
			if n != nil {
				walked = append(walked, n)
			}
			return true
		})
		if got := preorderOf(f); !reflect.DeepEqual(got, walked) {
			t.Errorf("%q: Preorder visited %d nodes, Walk %d, or in another order", src[:min(len(src), 40)], len(got), len(walked))
		}
	}
}

func TestPreorder(t *testing.T) {
	f, err := Parse([]byte(":top echo a ${b} || goto top # c\n"), "p")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for n := range Preorder(f) {
		kinds = append(kinds, strings.TrimPrefix(fmt.Sprintf("%T", n), "*ipxescript."))
	}
	want := "File Line Label Cmd Word Lit Word Lit Word Expansion Lit Cmd Word Lit Word Lit Comment"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("order:\n got %s\nwant %s", got, want)
	}

	t.Run("break", func(t *testing.T) {
		n := 0
		for range Preorder(f) {
			n++
			if n == 3 {
				break
			}
		}
		if n != 3 {
			t.Fatalf("visited %d after break", n)
		}
	})

	t.Run("nil", func(t *testing.T) {
		var nilWord *Word
		if got := preorderOf(nil); len(got) != 0 {
			t.Errorf("Preorder(nil) yields %d nodes", len(got))
		}
		if got := preorderOf(nilWord); len(got) != 0 {
			t.Errorf("Preorder((*Word)(nil)) yields %d nodes", len(got))
		}
		hand := &File{Lines: []Line{{Cmds: []Cmd{{Words: []Word{NewWord(nil, (*Lit)(nil), (*Expansion)(nil))}}}}}}
		if got := len(preorderOf(hand)); got != 4 { // File, Line, Cmd, Word: no nils
			t.Errorf("hand-built tree with nil entries: %d nodes, want 4", got)
		}
	})

	t.Run("replace while iterating", func(t *testing.T) {
		g, err := Parse([]byte("chain http://old/x\n"), "p")
		if err != nil {
			t.Fatal(err)
		}
		var lits []string
		for n := range Preorder(g) {
			switch n := n.(type) {
			case *Cmd:
				w, err := ParseWord("http://${host}/x")
				if err != nil {
					t.Fatal(err)
				}
				n.Words[1] = w
			case *Lit:
				lits = append(lits, n.Value)
			}
		}
		if want := []string{"chain", "http://", "host", "/x"}; !reflect.DeepEqual(lits, want) {
			t.Errorf("visited literals %q, want the new word's %q", lits, want)
		}
	})

	t.Run("deep", func(t *testing.T) {
		// A hand-built tree far deeper than Parse allows: Preorder keeps
		// its own stack, so it neither overflows nor recurses.
		const depth = 200000
		var parts []WordPart = []WordPart{&Lit{Value: "x"}}
		for range depth {
			parts = []WordPart{&Expansion{Parts: parts}}
		}
		n := 0
		w := NewWord(parts...)
		for range Preorder(&w) {
			n++
		}
		if n != depth+2 {
			t.Errorf("visited %d nodes, want %d", n, depth+2)
		}
	})
}

// FuzzParseWord checks that ParseWord reads back every word the printer
// writes: for each word of a parsed and printed script, ParseWord of its
// text succeeds with the same parts; and that whatever ParseWord accepts
// has that exact text and is the same single token when parsed in a line.
func FuzzParseWord(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("chain http://${a${b}}/${c x${ } ${}"))
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, "fuzz")
		if err == nil {
			var out bytes.Buffer
			if err := Fprint(&out, file); err != nil {
				t.Fatalf("print: %v", err)
			}
			printed, err := Parse(out.Bytes(), "fuzz")
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			for n := range Preorder(printed) {
				w, ok := n.(*Word)
				if !ok {
					continue
				}
				text := w.Text()
				got, err := ParseWord(text)
				if err != nil {
					t.Fatalf("ParseWord(%q) of a printed word: %v", text, err)
				}
				if a, b := partsShape(got.Parts()), partsShape(w.Parts()); a != b || got.Text() != text {
					t.Fatalf("ParseWord(%q) = %s, the parser read %s", text, a, b)
				}
			}
		}
		// The input as one word.
		text := string(src)
		w, err := ParseWord(text)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Offset() < 0 || pe.Pos.Offset() > len(text) {
				t.Fatalf("ParseWord(%q) error %v is not a *ParseError inside the text", text, err)
			}
			if tokenProblem(text) == "" && !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("ParseWord refused the token %q: %v", text, err)
			}
			return
		}
		if w.Text() != text {
			t.Fatalf("ParseWord(%q).Text() = %q", text, w.Text())
		}
		line, err := Parse([]byte("echo "+text+" .\n"), "fuzz") // " ." keeps a final "\" off the line end
		if err != nil {
			t.Fatalf("echo %q: %v", text, err)
		}
		if c := line.Lines[0].Cmds; len(c) != 1 || len(c[0].Words) != 3 || partsShape(c[0].Words[1].Parts()) != partsShape(w.Parts()) {
			t.Fatalf("in a line, %q is not the one word %s", text, partsShape(w.Parts()))
		}
	})
}
