package ipxescript

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
)

// PrinterOption configures a Printer.
type PrinterOption func(*Printer)

// Indent sets the width of one indentation level in spaces; 0 means a tab.
// The default is 4 spaces.
func Indent(spaces uint) PrinterOption {
	return func(p *Printer) {
		if spaces == 0 {
			p.indent = "\t"
		} else {
			p.indent = strings.Repeat(" ", int(spaces))
		}
	}
}

// Printer writes a syntax tree in the canonical format:
//
//   - "\n" line ends, a final newline, no trailing whitespace;
//   - tokens separated by one space, operators written " || ", " && ",
//     " ; ";
//   - a line that was indented gets exactly one indentation level, a label
//     always starts in column 1 (a command after it stays on its line);
//   - a backslash continuation between two tokens is kept as " \" and the
//     next physical line is indented one more level; a continuation inside a
//     token is joined (iPXE joins with no separator, so the token is the
//     same);
//   - comments are kept verbatim (trailing whitespace removed), runs of
//     blank lines become one, blank lines at the end are dropped;
//   - text after a NUL byte in a line (which iPXE never sees) is dropped;
//   - a parsed file without a valid magic line never gains one (a blank
//     line is kept first if continuations would form "#!ipxe" at byte 0);
//   - if a printed line would end in "\" (a word or comment ending in a
//     backslash), one space follows it so that it does not become a
//     continuation;
//   - a last line that the file ends inside of (Line.Unterminated: iPXE
//     runs the lines before it and then fails the script) is kept, ending
//     in " \" with no line after it, so the script still fails there.
//
// Printing never changes the argv of any command: every word is written
// with its exact text. Print(Parse(Print(Parse(x)))) == Print(Parse(x)).
type Printer struct {
	indent string
}

// NewPrinter returns a Printer with the given options.
func NewPrinter(opts ...PrinterOption) *Printer {
	p := &Printer{indent: "    "}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Print writes f to w. It fails, writing nothing, if the tree holds a node
// that cannot be written faithfully (e.g. a word containing whitespace, a
// word that is an operator, a comment without "#", a nil node).
func (p *Printer) Print(w io.Writer, f *File) error {
	if f == nil {
		return nilNodeError(f)
	}
	out := printBuffers.Get().(*bytes.Buffer)
	defer func() {
		if out.Cap() <= 16<<20 { // the pool empties itself at garbage collections
			out.Reset()
			printBuffers.Put(out)
		}
	}()
	if n := len(f.Lines); n > 0 && f.Lines[n-1] != nil && f.Lines[n-1].Start.IsValid() {
		// A parsed file prints to about its source's size.
		out.Grow(int(f.Lines[n-1].Start.Offset) + 256)
	}
	if err := p.appendFile(out, f); err != nil {
		// A nil node is the error to report, wherever it is in the tree:
		// the printer stops at the first problem it meets, and the walk
		// for nil nodes is only needed on this path.
		if err := nilNodeError(f); err != nil {
			return err
		}
		return err
	}
	_, err := w.Write(out.Bytes())
	return err
}

// errNilNode is what the printer returns when it meets a nil node; Print
// replaces it with nilNodeError's description of the first one.
var errNilNode = &PrintError{Msg: "nil node"}

// nilNodeError returns a *PrintError for the first nil node of f, or nil.
func nilNodeError(f *File) error {
	if pos, msg := findNilNode(f); msg != "" {
		return &PrintError{pos, msg}
	}
	return nil
}

// printBuffers keeps Print's output buffers between calls.
var printBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Fprint prints f to w with the default Printer.
func Fprint(w io.Writer, f *File) error { return NewPrinter().Print(w, f) }

// Format parses src and prints it in the canonical format.
func Format(src []byte, name string) ([]byte, error) {
	f, err := Parse(src, name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := Fprint(&b, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// PrintError reports a tree node that cannot be printed.
type PrintError struct {
	Pos Pos
	Msg string
}

// Error returns "line:col: msg".
func (e *PrintError) Error() string { return fmt.Sprintf("ipxescript: print: %s: %s", e.Pos, e.Msg) }

func (p *Printer) appendFile(out *bytes.Buffer, f *File) error {
	lines := f.Lines
	for i, l := range lines {
		if l == nil {
			return errNilNode
		}
		if l.Unterminated.IsValid() && i != len(lines)-1 {
			return &PrintError{l.Unterminated, "only the last line can end inside a backslash continuation"}
		}
	}
	for len(lines) > 0 && lines[len(lines)-1].IsBlank() && !lines[len(lines)-1].Unterminated.IsValid() {
		lines = lines[:len(lines)-1]
	}
	prevBlank := false
	start := out.Len()
	defer func() {
		// A parsed file that iPXE would not run as a script must not become
		// one: if joining continuations produced a magic line at byte 0,
		// keep a blank line before it.
		if len(f.Lines) > 0 && f.Lines[0].Start.IsValid() && f.Header == HeaderNone &&
			headerOf(out.Bytes()[start:]) != HeaderNone {
			b := append([]byte("\n"), out.Bytes()[start:]...)
			out.Truncate(start)
			out.Write(b)
		}
	}()
	for _, l := range lines {
		blank := l.IsBlank()
		if blank && prevBlank && !l.Unterminated.IsValid() {
			continue
		}
		prevBlank = blank
		if err := p.appendLine(out, l); err != nil {
			return err
		}
	}
	return nil
}

func (p *Printer) appendLine(out *bytes.Buffer, l *Line) error {
	if l.IsBlank() {
		if l.Unterminated.IsValid() {
			out.WriteByte('\\')
		}
		out.WriteByte('\n')
		return nil
	}
	lineStart := out.Len()
	base := ""
	if l.Indented && l.Label == nil {
		base = p.indent
	}
	out.WriteString(base)
	started := false
	sep := func(cont bool) {
		if !started {
			started = true
			return
		}
		if cont {
			out.WriteString(" \\\n")
			lineStart = out.Len()
			out.WriteString(base)
			out.WriteString(p.indent)
		} else {
			out.WriteByte(' ')
		}
	}
	if l.Label != nil {
		if err := checkLabel(l.Label); err != nil {
			return err
		}
		out.WriteByte(':')
		out.WriteString(l.Label.Name)
		started = true
	}
	for i, c := range l.Cmds {
		if c == nil {
			return errNilNode
		}
		if i > 0 && c.Op == OpNone {
			return &PrintError{c.Pos(), "command after the first has no operator"}
		}
		if c.Op != OpNone {
			if i == 0 {
				return &PrintError{c.Pos(), "first command of a line has an operator"}
			}
			sep(c.OpCont)
			out.WriteString(c.Op.String())
		}
		for j, w := range c.Words {
			if w == nil {
				return errNilNode
			}
			lit, sole := soleLit(w) // most words: nothing nested to check
			if !sole {
				switch partsProblem(w.Parts, MaxExpansionDepth) {
				case partsNil:
					return errNilNode
				case partsTooDeep:
					// Parse would refuse it; and Text recurses once per level.
					return &PrintError{w.Pos(), fmt.Sprintf("settings expansions nested deeper than %d", MaxExpansionDepth)}
				}
			}
			sep(w.Cont)
			start := out.Len()
			if sole {
				out.WriteString(lit)
			} else {
				writeParts(out, w.Parts)
			}
			if text := out.Bytes()[start:]; !plainToken(text) {
				if err := checkWord(w, text, i == 0 && j == 0 && l.Label == nil); err != nil {
					return err
				}
			}
		}
	}
	if c := l.Comment; c != nil {
		if !strings.HasPrefix(c.Text, "#") || strings.ContainsAny(c.Text, "\n\x00") {
			return &PrintError{c.Hash, fmt.Sprintf("invalid comment %q", c.Text)}
		}
		sep(c.Cont)
		text := strings.TrimRight(c.Text, " \t\n\v\f\r")
		last := 0
		for _, b := range c.Breaks {
			if b <= last || b >= len(text) {
				continue
			}
			out.WriteString(text[last:b])
			out.WriteString("\\\n")
			lineStart = out.Len()
			last = b
		}
		out.WriteString(text[last:])
	}
	if b := out.Bytes(); out.Len() > lineStart && b[len(b)-1] == '\\' {
		out.WriteByte(' ')
	}
	if l.Unterminated.IsValid() {
		if b := out.Bytes(); out.Len() > lineStart && b[len(b)-1] != ' ' {
			out.WriteByte(' ')
		}
		out.WriteByte('\\')
	}
	out.WriteByte('\n')
	return nil
}

// Results of partsProblem.
const (
	partsOK = iota
	partsNil
	partsTooDeep
)

// partsProblem reports whether parts hold a nil part (partsNil) or nest
// expansions more than limit levels deep (partsTooDeep), whichever it
// meets first. It recurses at most limit+1 levels, however deep the tree.
func partsProblem(parts []WordPart, limit int) int {
	for _, p := range parts {
		switch p := p.(type) {
		case *Lit:
			if p == nil {
				return partsNil
			}
		case *Expansion:
			if p == nil {
				return partsNil
			}
			if limit == 0 {
				return partsTooDeep
			}
			if r := partsProblem(p.Parts, limit-1); r != partsOK {
				return r
			}
		default: // a nil interface
			return partsNil
		}
	}
	return partsOK
}

func checkLabel(l *Label) error {
	for i := 0; i < len(l.Name); i++ {
		if isSpace(l.Name[i]) || l.Name[i] == 0 {
			return &PrintError{l.Colon, fmt.Sprintf("label %q contains whitespace or NUL", l.Name)}
		}
	}
	return nil
}

// plainToken reports, quickly, that text is a token checkWord accepts
// anywhere: longer than an operator, not starting with "#" or ":", and
// without a byte below "!" (whitespace and NUL are all below it). It
// tests eight bytes at a time; false only means "ask checkWord".
func plainToken(text []byte) bool {
	if len(text) <= 2 || text[0] == '#' || text[0] == ':' {
		return false
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(text); i += 8 {
		// Nonzero when some byte is below 0x21 (bytes from 0x80 up
		// never count): "hasless" from Bit Twiddling Hacks.
		if x := binary.LittleEndian.Uint64(text[i:]); (x-ones*0x21)&^x&highs != 0 {
			return false
		}
	}
	for ; i < len(text); i++ {
		if text[i] < 0x21 {
			return false
		}
	}
	return true
}

func checkWord[T string | []byte](w *Word, text T, first bool) error {
	if err := tokenProblem(text); err != "" {
		return &PrintError{w.Pos(), fmt.Sprintf("word %q: %s", text, err)}
	}
	if first && text[0] == ':' {
		return &PrintError{w.Pos(), fmt.Sprintf("word %q at the start of a line would be a label", text)}
	}
	return nil
}

// problemOffset returns the offset of the first whitespace or NUL byte
// of text, or 0 (where tokenProblem's other problems are).
func problemOffset(text string) int {
	for i := 0; i < len(text); i++ {
		if isSpace(text[i]) || text[i] == 0 {
			return i
		}
	}
	return 0
}

// tokenProblem says why text cannot be written as one script token, or "".
func tokenProblem[T string | []byte](text T) string {
	switch {
	case len(text) == 0:
		return "empty word (write ${} for an empty argument)"
	case text[0] == '#':
		return "starts with '#' (a comment)"
	case len(text) == 1 && text[0] == ';',
		len(text) == 2 && text[0] == text[1] && (text[0] == '|' || text[0] == '&'):
		return "is an operator"
	}
	for i := 0; i < len(text); i++ {
		if byteClass[text[i]]&classBad != 0 {
			if text[i] == 0 {
				return "contains a NUL byte"
			}
			return "contains whitespace"
		}
	}
	return ""
}
