package ipxescript

import (
	"strconv"
	"strings"
)

// Pos is a position in the source of a script: a byte offset from the
// start of the file (0-based), and the line and column (1-based, the
// column counting bytes from the start of the physical line). The zero
// Pos means "no position" (nodes made by a builder or by ParseWord).
//
// The three numbers are packed into one 8-byte value, read with Offset,
// Line and Col, because every node holds at least one Pos and the size of
// the tree decides how often the garbage collector runs, which is most of
// the cost of parsing. The packing bounds what Parse accepts (iPXE
// scripts are a few kilobytes): a source under MaxSourceSize (16 MiB)
// bytes and of at most MaxLines (65 535) lines; it refuses anything larger
// with ErrSourceTooLarge. Positions compare with
// == (the same offset, line and column).
type Pos struct{ v uint64 }

// Bits of a Pos: offset in the low posOffsetBits, then the column, then
// the line.
const (
	posOffsetBits = 24
	posColBits    = 24
	posLineBits   = 16
)

// MaxLines is the largest line number a Pos holds: Parse refuses a
// source with more physical lines.
const MaxLines = 1<<posLineBits - 1

// MaxColumn is the largest column a Pos holds: a line of a source under
// MaxSourceSize bytes never reaches it.
const MaxColumn = 1<<posColBits - 1

// NewPos returns the position at byte offset (0-based), line and col
// (1-based). It returns the zero (invalid) Pos when offset is negative or
// MaxSourceSize or more, line is not in 1..MaxLines or col not in
// 1..MaxColumn.
func NewPos(offset, line, col int) Pos {
	if offset < 0 || offset >= MaxSourceSize || line < 1 || line > MaxLines || col < 1 || col > MaxColumn {
		return Pos{}
	}
	return makePos(offset, line, col)
}

// makePos is NewPos for numbers known to fit (the parser checked the
// source's size, lines and line lengths).
func makePos(offset, line, col int) Pos {
	return Pos{uint64(line)<<(posOffsetBits+posColBits) | uint64(col)<<posOffsetBits | uint64(offset)}
}

// Offset returns the byte offset from the start of the file (0-based; 0
// for the zero Pos).
func (p Pos) Offset() int { return int(p.v & (1<<posOffsetBits - 1)) }

// Line returns the line number (1-based; 0 for the zero Pos).
func (p Pos) Line() int { return int(p.v >> (posOffsetBits + posColBits)) }

// Col returns the column: bytes from the start of the physical line,
// 1-based (0 for the zero Pos).
func (p Pos) Col() int { return int(p.v >> posOffsetBits & (1<<posColBits - 1)) }

// advance returns p moved n bytes to the right on its line (p itself when
// it is not valid). NewPos checks the result, so a hand-built position
// that would overflow becomes invalid.
func (p Pos) advance(n int) Pos {
	if !p.IsValid() {
		return p
	}
	return NewPos(p.Offset()+n, p.Line(), p.Col()+n)
}

// IsValid reports whether p is a real source position.
func (p Pos) IsValid() bool { return p.v != 0 }

// String formats p as "line:col", or "-" when it is not valid.
func (p Pos) String() string {
	if !p.IsValid() {
		return "-"
	}
	return strconv.Itoa(p.Line()) + ":" + strconv.Itoa(p.Col())
}

// Node is implemented by every node of the syntax tree.
type Node interface {
	// Pos is the position of the first byte of the node.
	Pos() Pos
}

// Header says which magic line, if any, starts a script.
type Header int

const (
	// HeaderNone: the file does not start with a valid magic line; iPXE
	// will not run it as a script.
	HeaderNone Header = iota
	// HeaderIPXE: the file starts with "#!ipxe" and a whitespace byte.
	HeaderIPXE
	// HeaderGPXE: the file starts with "#!gpxe" and a whitespace byte.
	HeaderGPXE
)

// String returns "#!ipxe", "#!gpxe" or "none".
func (h Header) String() string {
	switch h {
	case HeaderIPXE:
		return "#!ipxe"
	case HeaderGPXE:
		return "#!gpxe"
	}
	return "none"
}

// File is a parsed script: a list of logical lines. The magic line, if
// present, is the first line (a comment).
//
// Lines, commands and words are stored by value ([]Line, []Cmd, []Word):
// a parsed tree is a few large arrays rather than one object per node,
// which the garbage collector allocates, scans and frees at a fraction of
// the cost. Loop over them by index (l := &f.Lines[i]) to change a node in
// place; Walk and Preorder hand out pointers into the arrays.
type File struct {
	Name   string
	Header Header
	Lines  []Line
}

// Pos returns the position of the first line (none when there is none).
func (f *File) Pos() Pos {
	if len(f.Lines) > 0 {
		return f.Lines[0].Pos()
	}
	return Pos{}
}

// Line is one logical line: physical lines joined by backslash
// continuations. It holds an optional label, a chain of commands joined by
// operators and an optional trailing comment. A blank line has none of them.
type Line struct {
	Start Pos // first byte of the logical line
	Label *Label
	// Cmds is the command chain; Cmds[0].Op is OpNone. It is empty when the
	// line holds no command word and no operator (blank, label-only or
	// comment-only lines).
	Cmds    []Cmd
	Comment *Comment
	// Truncated is valid when the line contained a NUL byte: iPXE handles
	// lines as C strings, so everything from the NUL to the end of the
	// logical line is ignored, and the printer drops it.
	Truncated Pos
	// Unterminated is valid (the position of the backslash) when the file
	// ends inside this line's backslash continuation; only the last line
	// can. iPXE's process_script (image/script.c) never runs such a line:
	// it runs the lines before it, then fails the script with EINVAL, and
	// goto never finds a label on it. The printer keeps the backslash.
	Unterminated Pos
	// Indented records that the line started with whitespace. The printer
	// keeps the fact (as one indentation level), not the width.
	Indented bool
}

// Pos returns the start of the line.
func (l *Line) Pos() Pos { return l.Start }

// IsBlank reports whether the line has no label, command or comment.
func (l *Line) IsBlank() bool { return l.Label == nil && len(l.Cmds) == 0 && l.Comment == nil }

// Label is a ":name" at the start of a line. Name may be empty (":" alone).
type Label struct {
	Colon Pos
	Name  string
}

// Pos returns the position of the colon.
func (l *Label) Pos() Pos { return l.Colon }

// Op is the operator between two commands of a line.
type Op uint8

const (
	// OpNone precedes the first command of a line.
	OpNone Op = iota
	// OpAnd ("&&") runs the next command only if the last status is success.
	OpAnd
	// OpOr ("||") runs the next command only if the last status is failure.
	OpOr
	// OpSemi (";") always runs the next command.
	OpSemi
)

// String returns the operator's token, or "" for OpNone.
func (o Op) String() string {
	switch o {
	case OpAnd:
		return "&&"
	case OpOr:
		return "||"
	case OpSemi:
		return ";"
	}
	return ""
}

// Cmd is one command of a chain: the operator before it and its words.
// Words may be empty: the empty command (as after a trailing "||")
// succeeds.
type Cmd struct {
	Words []Word
	OpPos Pos // position of the operator token (invalid for OpNone)
	Op    Op
	// OpCont records that a backslash continuation came just before the
	// operator; the printer keeps the line break there.
	OpCont bool
}

// Pos returns the position of the operator, or of the first word.
func (c *Cmd) Pos() Pos {
	if c.Op != OpNone {
		return c.OpPos
	}
	if len(c.Words) > 0 {
		return c.Words[0].Pos()
	}
	return Pos{}
}

// Name returns the literal command name (the first word) or "" when the
// command is empty or its name contains an expansion.
func (c *Cmd) Name() string {
	if len(c.Words) == 0 {
		return ""
	}
	s, ok := c.Words[0].Literal()
	if !ok {
		return ""
	}
	return s
}

// Word is one whitespace-separated token: literal text and setting
// expansions. Its text never contains whitespace or NUL, is not exactly an
// operator and does not start with "#".
//
// Most words are one literal. Such a word holds its *Lit inline, without
// a list of parts: make words with NewWord or ParseWord, and read their
// parts with Parts (or SoleLit). A Word is a value: a copy holds its own
// inline literal, so change a word of a tree through its address
// (&c.Words[i], or the *Word Walk and Preorder give). The zero Word has no
// parts (its text is empty, which the printer refuses).
type Word struct {
	lit   Lit         // the word's only part, when inline
	parts *[]WordPart // the parts, when not inline
	// Cont records that a backslash continuation came just before the
	// word (between it and the previous token).
	Cont   bool
	inline bool // the word is lit
}

// NewWord returns a word made of parts. A single non-nil *Lit with a
// non-empty value is copied into the word (SoleLit returns the copy);
// any other list is kept as it is (not copied).
func NewWord(parts ...WordPart) Word {
	if len(parts) == 1 {
		if l, ok := parts[0].(*Lit); ok && l != nil && l.Value != "" {
			return Word{lit: *l, inline: true}
		}
	}
	if len(parts) == 0 {
		return Word{}
	}
	return Word{parts: &parts}
}

// Parts returns the parts of w: literals and expansions, in order. For a
// word held inline (one literal) it returns a new one-element slice whose
// *Lit is the word's own: changing it changes the word. To replace the
// parts, assign a new word (w = NewWord(...)).
func (w *Word) Parts() []WordPart {
	if w.inline {
		return []WordPart{&w.lit}
	}
	return w.list()
}

// list returns the parts of a word that is not inline (nil for an inline
// or empty word).
func (w *Word) list() []WordPart {
	if w.parts == nil {
		return nil
	}
	return *w.parts
}

// SoleLit returns the word's literal when the word is exactly one
// non-nil *Lit (most words), or nil. Changing the literal's Value changes
// the word.
func (w *Word) SoleLit() *Lit {
	if w.inline {
		return &w.lit
	}
	if ps := w.list(); len(ps) == 1 {
		if l, ok := ps[0].(*Lit); ok && l != nil {
			return l
		}
	}
	return nil
}

// Pos returns the position of the first part.
func (w *Word) Pos() Pos {
	if w.inline {
		return w.lit.ValuePos
	}
	if ps := w.list(); len(ps) > 0 && !isNilNode(ps[0]) {
		return ps[0].Pos()
	}
	return Pos{}
}

// Text returns the source text of the word: what iPXE expands.
func (w *Word) Text() string {
	if s, ok := soleLit(w); ok {
		return s // most words: no copy
	}
	var b strings.Builder
	b.Grow(partsLen(w.list()))
	writeParts(&b, w.list())
	return b.String()
}

// soleLit returns the value of w's only part if that is a non-nil
// literal.
func soleLit(w *Word) (string, bool) {
	if l := w.SoleLit(); l != nil {
		return l.Value, true
	}
	return "", false
}

// partsLen is the length of the text of parts.
func partsLen(parts []WordPart) int {
	n := 0
	for _, p := range parts {
		switch p := p.(type) {
		case *Lit:
			n += len(p.Value)
		case *Expansion:
			n += len("${}") + partsLen(p.Parts)
		}
	}
	return n
}

// Literal returns the text of a word made only of literal parts.
func (w *Word) Literal() (string, bool) {
	if s, ok := soleLit(w); ok {
		return s, true
	}
	for _, p := range w.list() {
		if _, ok := p.(*Lit); !ok {
			return "", false
		}
	}
	return w.Text(), true
}

// writeParts writes the text of parts to b (the printer has its own
// appendParts, which appends to a []byte).
func writeParts(b *strings.Builder, parts []WordPart) {
	for _, p := range parts {
		switch p := p.(type) {
		case *Lit:
			b.WriteString(p.Value)
		case *Expansion:
			b.WriteString("${")
			writeParts(b, p.Parts)
			b.WriteString("}")
		}
	}
}

// WordPart is a *Lit or an *Expansion.
type WordPart interface {
	Node
	wordPart()
}

// Lit is literal text inside a word (it may hold a lone "$", "{", "}" or
// a "${" that no "}" closes).
type Lit struct {
	ValuePos Pos
	Value    string
}

// Pos returns the position of the first byte.
func (l *Lit) Pos() Pos { return l.ValuePos }
func (*Lit) wordPart()  {}

// Expansion is a setting expansion "${...}". Its inside is itself made of
// parts because expansions nest: "${a${b}}" expands "${b}" first. Use
// Ref to read "[scope/]name[:type]" when the inside is literal.
type Expansion struct {
	Dollar Pos // position of "$"
	Rbrace Pos // position of "}"
	Parts  []WordPart
}

// Pos returns the position of the "$".
func (e *Expansion) Pos() Pos { return e.Dollar }
func (*Expansion) wordPart()  {}

// Ref returns the setting reference inside a literal expansion. ok is
// false when the inside contains a nested expansion.
func (e *Expansion) Ref() (ref SettingRef, ok bool) {
	if len(e.Parts) == 1 {
		if l, isLit := e.Parts[0].(*Lit); isLit {
			return ParseSettingRef(l.Value), true
		}
	}
	for _, p := range e.Parts {
		if _, isLit := p.(*Lit); !isLit {
			return SettingRef{}, false
		}
	}
	var b strings.Builder
	writeParts(&b, e.Parts)
	return ParseSettingRef(b.String()), true
}

// SettingRef is a parsed "[scope/]name[:type]".
type SettingRef struct {
	Scope string
	Name  string
	Type  string
}

// ParseSettingRef splits s as iPXE does: the first "/" ends the scope and
// the first ":" after it starts the type.
func ParseSettingRef(s string) SettingRef {
	var r SettingRef
	if i := strings.IndexByte(s, '/'); i >= 0 {
		r.Scope, s = s[:i], s[i+1:]
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		r.Type, s = s[i+1:], s[:i]
	}
	r.Name = s
	return r
}

// String reassembles the reference.
func (r SettingRef) String() string {
	s := r.Name
	if r.Scope != "" {
		s = r.Scope + "/" + s
	}
	if r.Type != "" {
		s += ":" + r.Type
	}
	return s
}

// Comment is the text from a token that starts with "#" to the end of the
// logical line (backslash continuations already joined).
type Comment struct {
	Hash Pos
	Text string // includes the leading "#"
	// Cont records that a backslash continuation came just before the
	// comment.
	Cont bool
	// Breaks are the offsets in Text where the source continued the
	// comment on the next physical line with a backslash; the printer
	// keeps them so that a commented-out multi-line command stays
	// readable. They do not change what iPXE runs.
	Breaks []int
}

// Pos returns the position of the "#".
func (c *Comment) Pos() Pos { return c.Hash }
