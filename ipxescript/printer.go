package ipxescript

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
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
	bp := printBuffers.Get().(*[]byte)
	out := (*bp)[:0]
	if n := len(f.Lines); n > 0 && f.Lines[n-1].Start.IsValid() {
		// A parsed file prints to about its source's size.
		out = slices.Grow(out, f.Lines[n-1].Start.Offset()+256)
	}
	out, err := p.appendFile(out, f)
	if err == nil {
		_, err = w.Write(out)
	} else if nerr := nilNodeError(f); nerr != nil {
		// A nil node is the error to report, wherever it is in the tree:
		// the printer stops at the first problem it meets, and the walk
		// for nil nodes is only needed on this path.
		err = nerr
	}
	if cap(out) <= 16<<20 { // the pool empties itself at garbage collections
		*bp = out[:0]
		printBuffers.Put(bp)
	}
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
var printBuffers = sync.Pool{New: func() any { return new([]byte) }}

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

func (p *Printer) appendFile(out []byte, f *File) ([]byte, error) {
	lines := f.Lines
	for i := range lines {
		if l := &lines[i]; l.Unterminated.IsValid() && i != len(lines)-1 {
			return out, &PrintError{l.Unterminated, "only the last line can end inside a backslash continuation"}
		}
	}
	for len(lines) > 0 && lines[len(lines)-1].IsBlank() && !lines[len(lines)-1].Unterminated.IsValid() {
		lines = lines[:len(lines)-1]
	}
	prevBlank := false
	start := len(out)
	for i := range lines {
		l := &lines[i]
		blank := l.IsBlank()
		if blank && prevBlank && !l.Unterminated.IsValid() {
			continue
		}
		prevBlank = blank
		var err error
		if out, err = p.appendLine(out, l); err != nil {
			return out, err
		}
	}
	// A parsed file that iPXE would not run as a script must not become
	// one: if joining continuations produced a magic line at byte 0,
	// keep a blank line before it.
	if len(f.Lines) > 0 && f.Lines[0].Start.IsValid() && f.Header == HeaderNone &&
		headerOf(out[start:]) != HeaderNone {
		out = slices.Insert(out, start, '\n')
	}
	return out, nil
}

// appendLine appends l, printed, to out.
func (p *Printer) appendLine(out []byte, l *Line) ([]byte, error) {
	if l.IsBlank() {
		if l.Unterminated.IsValid() {
			out = append(out, '\\')
		}
		return append(out, '\n'), nil
	}
	lineStart := len(out)
	base := ""
	if l.Indented && l.Label == nil {
		base = p.indent
	}
	out = append(out, base...)
	started := false
	// sep appends what goes before a token: nothing before the first, a
	// space, or a continuation.
	sep := func(out []byte, cont bool) []byte {
		switch {
		case !started:
			started = true
		case cont:
			out = append(out, " \\\n"...)
			lineStart = len(out)
			out = append(out, base...)
			out = append(out, p.indent...)
		default:
			out = append(out, ' ')
		}
		return out
	}
	if l.Label != nil {
		if err := checkLabel(l.Label); err != nil {
			return out, err
		}
		out = append(out, ':')
		out = append(out, l.Label.Name...)
		started = true
	}
	for i := range l.Cmds {
		c := &l.Cmds[i]
		if i > 0 && c.Op == OpNone {
			return out, &PrintError{c.Pos(), "command after the first has no operator"}
		}
		if c.Op != OpNone {
			if i == 0 {
				return out, &PrintError{c.Pos(), "first command of a line has an operator"}
			}
			out = sep(out, c.OpCont)
			out = append(out, c.Op.String()...)
		}
		for j := range c.Words {
			w := &c.Words[j]
			lit, sole := soleLit(w) // most words: nothing nested to check
			if !sole {
				switch partsProblem(w.list(), MaxExpansionDepth) {
				case partsNil:
					return out, errNilNode
				case partsTooDeep:
					// Parse would refuse it; and Text recurses once per level.
					return out, &PrintError{w.Pos(), fmt.Sprintf("settings expansions nested deeper than %d", MaxExpansionDepth)}
				}
			}
			out = sep(out, w.Cont)
			start := len(out)
			if sole {
				out = append(out, lit...)
			} else {
				out = appendParts(out, w.list())
			}
			if text := out[start:]; !plainToken(text) {
				if err := checkWord(w, text, i == 0 && j == 0 && l.Label == nil); err != nil {
					return out, err
				}
			}
		}
	}
	if c := l.Comment; c != nil {
		if !strings.HasPrefix(c.Text, "#") || strings.ContainsAny(c.Text, "\n\x00") {
			return out, &PrintError{c.Hash, fmt.Sprintf("invalid comment %q", c.Text)}
		}
		out = sep(out, c.Cont)
		text := strings.TrimRight(c.Text, " \t\n\v\f\r")
		last := 0
		for _, b := range c.Breaks {
			if b <= last || b >= len(text) {
				continue
			}
			out = append(out, text[last:b]...)
			out = append(out, "\\\n"...)
			lineStart = len(out)
			last = b
		}
		out = append(out, text[last:]...)
	}
	if len(out) > lineStart && out[len(out)-1] == '\\' {
		out = append(out, ' ')
	}
	if l.Unterminated.IsValid() {
		if len(out) > lineStart && out[len(out)-1] != ' ' {
			out = append(out, ' ')
		}
		out = append(out, '\\')
	}
	return append(out, '\n'), nil
}

// appendParts appends the text of parts to out.
func appendParts(out []byte, parts []WordPart) []byte {
	for _, p := range parts {
		switch p := p.(type) {
		case *Lit:
			out = append(out, p.Value...)
		case *Expansion:
			out = append(out, "${"...)
			out = appendParts(out, p.Parts)
			out = append(out, '}')
		}
	}
	return out
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
