package ipxescript

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"spaces", "#!ipxe\n  echo   a\t b   \n", "#!ipxe\n    echo a b\n"},
		{"crlf and final newline", "#!ipxe\r\necho a\r\necho b", "#!ipxe\necho a\necho b\n"},
		{"blank runs", "#!ipxe\n\n\n\necho a\n\n\n", "#!ipxe\n\necho a\n"},
		{"labels unindented", "  :a   echo x\n", ":a echo x\n"},
		{"operators", "a||b || c&&d ;e  ;  f\n", "a||b || c&&d ;e ; f\n"},
		{"trailing operator", "iseq a b && goto x   ||  \n", "iseq a b && goto x ||\n"},
		{"continuation kept", "kernel a \\\n\t\tb \\\n c\n", "kernel a \\\n    b \\\n    c\n"},
		{"continuation in indented line", "  kernel a \\\nb\n", "    kernel a \\\n        b\n"},
		{"continuation inside token joined", "echo ab\\\ncd\n", "echo abcd\n"},
		{"comment verbatim", "echo a   #  two  spaces  \n", "echo a #  two  spaces\n"},
		{"comment continuation kept", "# a && \\\n#  b\n", "# a && \\\n#  b\n"},
		{"word ending in backslash", "echo a\\\r\r\n", "echo a\\ \n"},
		{"comment ending in backslash", "# a\\\r\r\n", "# a\\ \n"},
		{"nul tail dropped", "echo a\x00 b\n", "echo a\n"},
		{"leading blank kept (not a script)", "\n\n#!ipxe\n", "\n#!ipxe\n"},
		{"empty", "", ""},
		{"comment break kept", "#!ip\\\nxe\n", "#!ip\\\nxe\n"},
		{"no header stays no header", "#!ipxe\\\n\n", "\n#!ipxe\n"},
		{"no header stays no header (NUL)", "#!ipxe\x00 x\n", "\n#!ipxe\n"},
		{"header through continuation", "#!ipxe \\\necho\n", "#!ipxe \\\necho\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Format([]byte(tt.in), "t")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Format(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			again, err := Format(got, "t")
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("not idempotent: %q -> %q (%v)", got, again, err)
			}
			if a, b := naiveTokens(tt.in), naiveTokens(string(got)); !reflect.DeepEqual(a, b) {
				t.Errorf("tokens changed: %q -> %q", a, b)
			}
		})
	}
}

func TestPrintIndentOption(t *testing.T) {
	f, err := Parse([]byte(" echo a \\\n b\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := NewPrinter(Indent(0)).Print(&b, f); err != nil {
		t.Fatal(err)
	}
	if b.String() != "\techo a \\\n\t\tb\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestPrintRejectsBadTrees(t *testing.T) {
	lit := func(s string) Word { return NewWord(&Lit{Value: s}) }
	cmd := func(ws ...Word) Cmd { return Cmd{Words: ws} }
	tests := []struct {
		name string
		line Line
	}{
		{"space in word", Line{Cmds: []Cmd{cmd(lit("echo"), lit("a b"))}}},
		{"newline in word", Line{Cmds: []Cmd{cmd(lit("echo"), lit("a\nb"))}}},
		{"empty word", Line{Cmds: []Cmd{cmd(lit("echo"), lit(""))}}},
		{"hash word", Line{Cmds: []Cmd{cmd(lit("echo"), lit("#x"))}}},
		{"operator word", Line{Cmds: []Cmd{cmd(lit("echo"), lit("||"))}}},
		{"colon first word", Line{Cmds: []Cmd{cmd(lit(":x"))}}},
		{"label with space", Line{Label: &Label{Name: "a b"}}},
		{"comment without hash", Line{Comment: &Comment{Text: "x"}}},
		{"missing operator", Line{Cmds: []Cmd{cmd(lit("a")), cmd(lit("b"))}}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := Fprint(&b, &File{Lines: []Line{tt.line}})
		var pe *PrintError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want *PrintError", tt.name, err)
		}
		if b.Len() != 0 {
			t.Errorf("%s: wrote %q on error", tt.name, b.String())
		}
	}
}

func TestPrintBuiltTree(t *testing.T) {
	lit := func(s string) Word { return NewWord(&Lit{Value: s}) }
	f := &File{Lines: []Line{
		{Comment: &Comment{Text: "#!ipxe"}},
		{Label: &Label{Name: "retry"}, Cmds: []Cmd{
			{Words: []Word{lit("dhcp")}},
			{Op: OpOr, Words: []Word{lit("goto"), lit("retry")}},
		}},
		{Cmds: []Cmd{{Words: []Word{lit("chain"), NewWord(&Lit{Value: "http://x/"}, &Expansion{Parts: []WordPart{&Lit{Value: "net0/mac"}}})}}}},
	}}
	var b strings.Builder
	if err := Fprint(&b, f); err != nil {
		t.Fatal(err)
	}
	want := "#!ipxe\n:retry dhcp || goto retry\nchain http://x/${net0/mac}\n"
	if b.String() != want {
		t.Errorf("got %q want %q", b.String(), want)
	}
}

// TestPlainToken: plainToken never accepts a token checkWord refuses, and
// accepts the usual ones, at every offset of the eight-byte steps.
func TestPlainToken(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"", false}, {"a", false}, {"||", false}, {"abc", true}, {"#abc", false}, {":abc", false},
		{"http://example.com/${a}", true}, {"a\x80\xffbcdefghij", true},
	} {
		if got := plainToken([]byte(tc.text)); got != tc.want {
			t.Errorf("plainToken(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	w := &Word{}
	for n := 3; n <= 20; n++ {
		for at := 0; at < n; at++ {
			for _, c := range []byte{0, '\t', '\n', '\v', '\f', '\r', ' ', 0x20, 0x21, 0x7f, 0x80, 0xa0, 0xff} {
				b := bytes.Repeat([]byte{'x'}, n)
				b[at] = c
				bad := checkWord(w, b, true) != nil
				// Here every token checkWord accepts is plain.
				if got := plainToken(b); got == bad {
					t.Errorf("plainToken(%q) = %v, checkWord error %v", b, got, bad)
				}
			}
		}
	}
}
