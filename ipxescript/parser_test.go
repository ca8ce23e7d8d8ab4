package ipxescript

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // shape(f)
	}{
		{"plain", "#!ipxe\necho hello world\n", []string{" #=#!ipxe", "[] <echo> <hello> <world>"}},
		{"no quoting", `echo "a b" 'c' \d` + "\n", []string{`[] <echo> <"a> <b"> <'c'> <\d>`}},
		{"operators", "a || b && c ; d\n", []string{"[] <a>[||] <b>[&&] <c>[;] <d>"}},
		{"operators only as whole tokens", "a||b a&&b a;b\n", []string{"[] <a||b> <a&&b> <a;b>"}},
		{"trailing or", "iseq a b && goto x ||\n", []string{"[] <iseq> <a> <b>[&&] <goto> <x>[||]"}},
		{"leading operator", "|| echo x\n", []string{"[][||] <echo> <x>"}},
		{"comment token", "echo a#b # c  d  \n", []string{"[] <echo> <a#b> #=# c  d"}},
		{"comment glued", "echo a #c\n", []string{"[] <echo> <a> #=#c"}},
		{"comment only", "  # hi\n", []string{" #=# hi"}},
		{"crlf", "echo a\r\necho b\r\n", []string{"[] <echo> <a>", "[] <echo> <b>"}},
		{"only one cr removed", "echo a\r\r\n", []string{"[] <echo> <a>"}},
		{"continuation with space", "echo a \\\nb\n", []string{"[] <echo> <a> <b>"}},
		{"continuation joins token", "echo a\\\nb\n", []string{"[] <echo> <ab>"}},
		{"continuation crlf", "echo a\\\r\nb\r\n", []string{"[] <echo> <ab>"}},
		{"continuation into comment", "# x \\\necho hidden\necho shown\n", []string{" #=# x echo hidden", "[] <echo> <shown>"}},
		// iPXE tests the accumulated buffer, so "a\\" continues twice.
		{"double backslash then empty line", "echo a\\\\\n\necho b\n", []string{"[] <echo> <aecho> <b>"}},
		{"label", ":start\n", []string{":start "}},
		{"label with command", "  :retry dhcp || goto retry\n", []string{":retry [] <dhcp>[||] <goto> <retry>"}},
		{"empty label", ": echo x\n", []string{": [] <echo> <x>"}},
		{"label swallows hash", ":a#b\n", []string{":a#b "}},
		{"label not after continuation start", "echo \\\n:x\n", []string{"[] <echo> <:x>"}},
		{"tabs and vt", "echo\ta\vb\fc\n", []string{"[] <echo> <a> <b> <c>"}},
		{"nested expansion", "echo ${a${b}}x\n", []string{"[] <echo> <${a${b}}x>"}},
		{"nul truncates", "echo a\x00b c\necho d\n", []string{"[] <echo> <a>", "[] <echo> <d>"}},
		{"no final newline", "echo a", []string{"[] <echo> <a>"}},
		{"non-utf8", "echo \xff\xfe\n", []string{"[] <echo> <\xff\xfe>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.src), "t")
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(f); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("shape\n got %q\nwant %q", got, tt.want)
			}
			if got, want := shape(f), naiveShape(tt.src); len(want) != len(nonComment(got)) {
				t.Errorf("independent tokenizer: %q vs %q", want, got)
			}
		})
	}
}

func nonComment(s []string) []string {
	var out []string
	for _, x := range s {
		if !strings.HasPrefix(x, " #=") {
			out = append(out, x)
		}
	}
	return out
}

func naiveShape(src string) [][]string { return naiveTokens(src) }

func TestParseHeader(t *testing.T) {
	tests := []struct {
		src  string
		want Header
	}{
		{"#!ipxe\n", HeaderIPXE},
		{"#!gpxe\n", HeaderGPXE},
		{"#!ipxe\r\n", HeaderIPXE},
		{"#!ipxe extra\n", HeaderIPXE},
		{"#!ipxe", HeaderNone},    // shorter than 7 bytes
		{"#!ipxe2\n", HeaderNone}, // byte 6 is not whitespace
		{" #!ipxe\n", HeaderNone},
		{"\xef\xbb\xbf#!ipxe\n", HeaderNone},
		{"\n#!ipxe\n", HeaderNone},
		{"#!IPXE\n", HeaderNone},
	}
	for _, tt := range tests {
		f, err := Parse([]byte(tt.src), "t")
		if err != nil {
			t.Fatal(err)
		}
		if f.Header != tt.want {
			t.Errorf("%q: header %v, want %v", tt.src, f.Header, tt.want)
		}
	}
}

// A script that ends inside a backslash continuation is no syntax error:
// iPXE runs the lines before it (see TestTrailingBackslash).
func TestParseTrailingBackslash(t *testing.T) {
	for _, tt := range []struct{ src, at string }{
		{"echo a \\", "1:8"}, {"echo a \\\n", "1:8"}, {"echo a \\\r\n", "1:8"}, {"#!ipxe\necho \\\n\\\n", "3:1"},
	} {
		f, err := Parse([]byte(tt.src), "x.ipxe")
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		for i, l := range f.Lines {
			if last := i == len(f.Lines)-1; l.Unterminated.IsValid() != last || (last && l.Unterminated.String() != tt.at) {
				t.Errorf("%q: line %d Unterminated = %v, want %s on the last line only", tt.src, i+1, l.Unterminated, tt.at)
			}
		}
	}
}

func TestPositions(t *testing.T) {
	src := "#!ipxe\r\n:l1 echo ab${x/y:z}c \\\n  d ${a${b}} # note\n"
	f, err := Parse([]byte(src), "t")
	if err != nil {
		t.Fatal(err)
	}
	l := f.Lines[1]
	check := func(what string, got Pos, line, col int) {
		t.Helper()
		if got.Line() != line || got.Col() != col {
			t.Errorf("%s at %v, want %d:%d", what, got, line, col)
		}
		if got.IsValid() && src[got.Offset():][:1] == "" {
			t.Errorf("%s: offset out of range", what)
		}
	}
	check("line", l.Pos(), 2, 1)
	check("label", l.Label.Pos(), 2, 1)
	words := l.Cmds[0].Words
	check("echo", words[0].Pos(), 2, 5)
	check("word ab", words[1].Pos(), 2, 10)
	exp := words[1].Parts()[1].(*Expansion)
	check("expansion", exp.Pos(), 2, 12)
	check("rbrace", exp.Rbrace, 2, 19)
	if r, ok := exp.Ref(); !ok || r != (SettingRef{"x", "y", "z"}) {
		t.Errorf("ref = %+v %v", r, ok)
	}
	check("d after continuation", words[2].Pos(), 3, 3)
	if !words[2].Cont {
		t.Error("continuation before d not recorded")
	}
	outer := words[3].Parts()[0].(*Expansion)
	check("outer", outer.Pos(), 3, 5)
	check("inner", outer.Parts[1].Pos(), 3, 8)
	check("comment", l.Comment.Pos(), 3, 14)
	if src[l.Comment.Hash.Offset()] != '#' || src[exp.Dollar.Offset()] != '$' {
		t.Error("offsets do not point at the node")
	}
}

func TestWordParts(t *testing.T) {
	tests := []struct {
		word string
		want string // parts rendered as L(...)/E(...)
	}{
		{"abc", "L(abc)"},
		{"${a}", "E(L(a))"},
		{"${}", "E()"},
		{"$${a}", "L($)E(L(a))"},
		{"${a${b}}", "E(L(a)E(L(b)))"},
		{"${a${b}", "L(${a)E(L(b))"},
		{"${a", "L(${a)"},
		{"a}b", "L(a}b)"},
		{"${a}}", "E(L(a))L(})"},
		{"${${a}}", "E(E(L(a)))"},
		{"x${${a}", "L(x${)E(L(a))"},
		{"$", "L($)"},
		{"{}", "L({})"},
	}
	var render func([]WordPart) string
	render = func(ps []WordPart) string {
		var b strings.Builder
		for _, p := range ps {
			switch p := p.(type) {
			case *Lit:
				b.WriteString("L(" + p.Value + ")")
			case *Expansion:
				b.WriteString("E(" + render(p.Parts) + ")")
			}
		}
		return b.String()
	}
	for _, tt := range tests {
		f, err := Parse([]byte("echo "+tt.word+"\n"), "t")
		if err != nil {
			t.Fatal(err)
		}
		w := f.Lines[0].Cmds[0].Words[1]
		if got := render(w.Parts()); got != tt.want {
			t.Errorf("%s: parts %s, want %s", tt.word, got, tt.want)
		}
		if w.Text() != tt.word {
			t.Errorf("%s: text %q", tt.word, w.Text())
		}
	}
}

func TestWalk(t *testing.T) {
	f, err := Parse([]byte("#!ipxe\n:a echo ${x${y}} || goto a # c\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	Walk(f, func(n Node) bool {
		if n != nil {
			kinds = append(kinds, strings.TrimPrefix(reflect.TypeOf(n).String(), "*ipxescript."))
		}
		return true
	})
	want := "File Line Comment Line Label Cmd Word Lit Word Expansion Lit Expansion Lit Cmd Word Lit Word Lit Comment"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("walk order\n got %s\nwant %s", got, want)
	}
	// Returning false prunes children.
	n := 0
	Walk(f, func(node Node) bool {
		if node != nil {
			n++
		}
		_, isLine := node.(*Line)
		return !isLine
	})
	if n != 3 {
		t.Errorf("pruned walk visited %d nodes, want 3", n)
	}
}

// nested returns "echo " and a word of depth nested expansions:
// ${${${...a...}}}.
func nested(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("#!ipxe\necho ")
	b.WriteString(strings.Repeat("${", depth))
	b.WriteString("a")
	b.WriteString(strings.Repeat("}", depth))
	b.WriteString("\n")
	return b.Bytes()
}

func TestNestingDepth(t *testing.T) {
	// At the limit: parses, lints, prints and reparses to the same text.
	src := nested(MaxExpansionDepth)
	f, err := Parse(src, "deep.ipxe")
	if err != nil {
		t.Fatalf("depth %d: %v", MaxExpansionDepth, err)
	}
	Lint(f)
	out, err := Format(src, "deep.ipxe")
	if err != nil || !bytes.Equal(out, src) {
		t.Fatalf("depth %d: format: %v (same text: %v)", MaxExpansionDepth, err, bytes.Equal(out, src))
	}

	// One deeper, and far deeper (2 000 000 "${" once overflowed the stack
	// in Lint and in the printer): a clear error naming the position.
	for _, depth := range []int{MaxExpansionDepth + 1, 2_000_000} {
		_, err := Parse(nested(depth), "deep.ipxe")
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("depth %d: err %v, want a *ParseError", depth, err)
		}
		want := fmt.Sprintf("deep.ipxe:2:%d: settings expansions nested deeper than %d", 6+2*(depth-MaxExpansionDepth-1), MaxExpansionDepth)
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("depth %d: err %q, want it to start with %q", depth, err, want)
		}
	}

	// Unclosed "${" stay literal and do not count; only the closed ones do.
	deepOpen := []byte("echo " + strings.Repeat("${", 200_000) + "a}\n")
	f, err = Parse(deepOpen, "open.ipxe")
	if err != nil {
		t.Fatalf("unclosed: %v", err)
	}
	if got := f.Lines[0].Cmds[0].Words[1].Text(); len(got) != len(deepOpen)-len("echo \n") {
		t.Errorf("unclosed: word of %d bytes", len(got))
	}
	Lint(f)

	// Wide is fine: many expansions side by side, each shallow.
	wide := []byte("echo " + strings.Repeat("${a${b}}", 100_000) + "\n")
	if _, err := Parse(wide, "wide.ipxe"); err != nil {
		t.Errorf("wide: %v", err)
	}
}

// TestNestingDepthBuilt gives Lint and the printer a tree built by hand,
// nested far deeper than Parse allows: a finding and an error, not a
// stack overflow.
func TestNestingDepthBuilt(t *testing.T) {
	pos := NewPos(5, 1, 6)
	var part WordPart = &Lit{ValuePos: pos, Value: "a"}
	for i := 0; i < 2_000_000; i++ {
		part = &Expansion{Dollar: pos, Rbrace: pos, Parts: []WordPart{part}}
	}
	f := &File{Lines: []Line{{Start: NewPos(0, 1, 1), Cmds: []Cmd{{Words: []Word{
		NewWord(&Lit{ValuePos: NewPos(0, 1, 1), Value: "echo"}),
		NewWord(part),
	}}}}}}
	fs := Lint(f)
	if len(fs) != 1 || fs[0].Code != CodeTooDeep || fs[0].Pos != pos {
		t.Errorf("lint: %v", fs)
	}
	var pe *PrintError
	if err := Fprint(io.Discard, f); !errors.As(err, &pe) || !strings.Contains(err.Error(), "nested deeper than") {
		t.Errorf("print: %v", err)
	}
}

// TestSourceTooLarge: a source whose positions would not fit a Pos is
// refused with ErrSourceTooLarge: too many bytes or lines; a source at
// the limits parses, and its last position reads back.
func TestSourceTooLarge(t *testing.T) {
	for _, n := range []int{0, MaxSourceSize - 1} {
		if err := checkSize(n, "x"); err != nil {
			t.Errorf("checkSize(%d) = %v, want nil", n, err)
		}
	}
	for _, n := range []int{MaxSourceSize, 1 << 40} {
		if err := checkSize(n, "x"); !errors.Is(err, ErrSourceTooLarge) {
			t.Errorf("checkSize(%d) = %v, want ErrSourceTooLarge", n, err)
		}
	}
	long := func(n int) []byte { return []byte("echo " + strings.Repeat("a", n-len("echo "))) }
	for _, tt := range []struct {
		name string
		src  []byte
		ok   bool
	}{
		{"lines at the limit", append(bytes.Repeat([]byte("\n"), MaxLines-1), "echo b"...), true},
		{"one line too many", append(bytes.Repeat([]byte("\n"), MaxLines), "echo b"...), false},
		{"a long line", long(MaxSourceSize - 1), true},
		{"too many bytes", long(MaxSourceSize), false},
	} {
		f, err := Parse(tt.src, "big")
		if !tt.ok {
			if !errors.Is(err, ErrSourceTooLarge) {
				t.Errorf("%s: err = %v, want ErrSourceTooLarge", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		last := f.Lines[len(f.Lines)-1]
		p := last.Pos()
		if len(last.Cmds) > 0 {
			p = last.Cmds[0].Words[1].Pos()
		}
		wantLine := bytes.Count(tt.src, []byte("\n")) + 1
		if p.Line() != wantLine || p.Offset() > len(tt.src) || (len(last.Cmds) > 0 && p.Col() != 6) {
			t.Errorf("%s: last position %v (offset %d), want line %d", tt.name, p, p.Offset(), wantLine)
		}
	}
	if _, err := ParseWord(strings.Repeat("a", MaxSourceSize)); !errors.Is(err, ErrSourceTooLarge) {
		t.Errorf("ParseWord of MaxSourceSize bytes: err = %v, want ErrSourceTooLarge", err)
	}
}

// TestNewPos: NewPos packs and the accessors read back every field at
// and around its limits; out-of-range numbers give the invalid Pos.
func TestNewPos(t *testing.T) {
	for _, tt := range [][3]int{{0, 1, 1}, {MaxSourceSize - 1, MaxLines, MaxColumn}, {12345, 678, 90}, {1, MaxLines, 1}, {MaxSourceSize - 1, 1, MaxColumn}} {
		p := NewPos(tt[0], tt[1], tt[2])
		if !p.IsValid() || p.Offset() != tt[0] || p.Line() != tt[1] || p.Col() != tt[2] {
			t.Errorf("NewPos%v = %d/%d/%d valid %v", tt, p.Offset(), p.Line(), p.Col(), p.IsValid())
		}
		if got, want := p.String(), fmt.Sprintf("%d:%d", tt[1], tt[2]); got != want {
			t.Errorf("NewPos%v.String() = %q, want %q", tt, got, want)
		}
	}
	for _, tt := range [][3]int{{-1, 1, 1}, {MaxSourceSize, 1, 1}, {0, 0, 1}, {0, MaxLines + 1, 1}, {0, 1, 0}, {0, 1, MaxColumn + 1}} {
		if p := NewPos(tt[0], tt[1], tt[2]); p != (Pos{}) || p.String() != "-" {
			t.Errorf("NewPos%v = %v, want the invalid Pos", tt, p)
		}
	}
	if p := NewPos(5, 2, 3).advance(4); p != NewPos(9, 2, 7) {
		t.Errorf("advance: %v", p)
	}
	if p := (Pos{}).advance(4); p.IsValid() {
		t.Errorf("advance of the invalid Pos: %v", p)
	}
}

// TestTokenEnd checks the eight-bytes-at-a-time token scanner against the
// byte-at-a-time definition, for every start in lines of bytes chosen to
// put whitespace, control bytes, "$", "!" and high bytes at every offset
// of an eight-byte block.
func TestTokenEnd(t *testing.T) {
	alphabet := []byte{' ', '\t', '\n', '\v', '\f', '\r', 0x01, 0x1f, '!', '$', '{', 'a', 0x7f, 0x80, 0xff}
	state := uint32(13)
	for n := 0; n < 2000; n++ {
		buf := make([]byte, n%40)
		for i := range buf {
			state = state*1664525 + 1013904223
			buf[i] = alphabet[int(state>>16)%len(alphabet)]
			if state>>30 == 0 { // long runs of token bytes too
				buf[i] = 'x'
			}
		}
		for start := range buf {
			want, wantDollar := start, false
			for want < len(buf) && !isSpace(buf[want]) {
				wantDollar = wantDollar || buf[want] == '$'
				want++
			}
			got, class := tokenEnd(buf, start)
			if got != want || (class&classDollar != 0) != wantDollar {
				t.Fatalf("tokenEnd(%q, %d) = %d, dollar %v; want %d, %v", buf, start, got, class&classDollar != 0, want, wantDollar)
			}
		}
	}
}
