package ipxescript

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ParseError is a syntax error. iPXE accepts any text, so the only syntax
// error is a word whose expansions nest deeper than MaxExpansionDepth. (A
// script whose last line ends in a backslash continuation parses: see
// Line.Unterminated.)
type ParseError struct {
	Filename string
	Pos      Pos
	Msg      string
}

// Error formats the error as "file:line:col: msg".
func (e *ParseError) Error() string {
	name := e.Filename
	if name == "" {
		name = "<input>"
	}
	return fmt.Sprintf("%s:%s: %s", name, e.Pos, e.Msg)
}

// ParserOption configures Parse.
type ParserOption func(*parser)

// KeepComments sets whether comments are kept in the tree (default true).
// Without them a script still parses to the same commands.
func KeepComments(keep bool) ParserOption {
	return func(p *parser) { p.dropComments = !keep }
}

// Parse parses a whole script. It follows iPXE's own reader
// (src/image/script.c and src/core/exec.c): lines split on "\n", one
// trailing "\r" removed, a final "\" joins the next physical line with no
// separator, an optional ":label", tokens split at whitespace with no
// quoting, a token starting with "#" begins a comment and "||", "&&", ";"
// separate commands only as whole tokens. A file that ends inside a
// continuation gives a last line with Unterminated set, which iPXE never
// runs. name is used in errors.
func Parse(src []byte, name string, opts ...ParserOption) (*File, error) {
	p := &parser{src: src, name: name}
	for _, o := range opts {
		o(p)
	}
	return p.parse()
}

// ParseReader reads r to the end and parses it.
func ParseReader(r io.Reader, name string, opts ...ParserOption) (*File, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ipxescript: read %s: %w", name, err)
	}
	return Parse(src, name, opts...)
}

// MaxExpansionDepth is the deepest nesting of settings expansions that
// Parse accepts: "${a${b${c}}}" is 3 deep. iPXE itself has no limit (its
// expand_settings works innermost first, in a loop), but no real script
// nests more than a few levels, and the tree's users (Lint, the printer,
// Walk) recurse once per level. Parse fails a deeper word with a
// *ParseError at the "${" that goes one level too deep. A "${" that no "}"
// closes stays literal text and does not count.
const MaxExpansionDepth = 1000

type segment struct {
	logical int // index in the logical line buffer
	src     int // source offset of that byte
}

type parser struct {
	src          []byte
	name         string
	dropComments bool
	newlines     []int // offsets of '\n'
	buf          []byte
	segs         []segment
	segCur       int    // cursor in segs for contBetween
	str          string // the current logical line as a string
}

// isSpace is C isspace in the "C" locale, which iPXE uses.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func (p *parser) posOf(off int) Pos {
	// line = number of newlines before off
	n := sort.SearchInts(p.newlines, off)
	col := off + 1
	if n > 0 {
		col = off - p.newlines[n-1]
	}
	return Pos{Offset: off, Line: n + 1, Col: col}
}

// lpos maps an index in the logical line buffer to a source position.
func (p *parser) lpos(i int) Pos {
	j := sort.Search(len(p.segs), func(k int) bool { return p.segs[k].logical > i }) - 1
	if j < 0 {
		j = 0
	}
	s := p.segs[j]
	return p.posOf(s.src + i - s.logical)
}

// contBetween reports whether a physical line break lies in [from, to].
// Calls for one line must come with increasing from.
func (p *parser) contBetween(from, to int) bool {
	for p.segCur < len(p.segs) && p.segs[p.segCur].logical < from {
		p.segCur++
	}
	return p.segCur < len(p.segs) && p.segs[p.segCur].logical <= to
}

func headerOf(src []byte) Header {
	if len(src) < 7 || !isSpace(src[6]) {
		return HeaderNone
	}
	switch string(src[:6]) {
	case "#!ipxe":
		return HeaderIPXE
	case "#!gpxe":
		return HeaderGPXE
	}
	return HeaderNone
}

func (p *parser) parse() (*File, error) {
	f := &File{Name: p.name, Header: headerOf(p.src)}
	for i, c := range p.src {
		if c == '\n' {
			p.newlines = append(p.newlines, i)
		}
	}
	off := 0
	for {
		p.buf = p.buf[:0]
		p.segs = p.segs[:0]
		start := off
		var unterminated Pos
		for {
			frag := p.src[off:]
			if i := bytes.IndexByte(frag, '\n'); i >= 0 {
				frag = frag[:i]
			}
			p.segs = append(p.segs, segment{logical: len(p.buf), src: off})
			p.buf = append(p.buf, frag...)
			off += len(frag) + 1
			if n := len(p.buf); n > 0 && p.buf[n-1] == '\r' {
				p.buf = p.buf[:n-1]
			}
			if n := len(p.buf); n > 0 && p.buf[n-1] == '\\' {
				p.buf = p.buf[:n-1]
				if off >= len(p.src) {
					// process_script (image/script.c) leaves its loop
					// here with rc = -EINVAL: the line never runs.
					unterminated = p.lpos(n - 1)
					break
				}
				continue
			}
			break
		}
		l, err := p.line(start)
		if err != nil {
			return nil, err
		}
		l.Unterminated = unterminated
		f.Lines = append(f.Lines, l)
		if off >= len(p.src) {
			break
		}
	}
	return f, nil
}

func (p *parser) line(start int) (*Line, error) {
	l := &Line{Start: p.posOf(start)}
	p.segCur = 1
	buf := p.buf
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		l.Truncated = p.lpos(i)
		buf = buf[:i]
	}
	p.str = string(buf) // one allocation per line; tokens are substrings
	i := 0
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	l.Indented = i > 0
	if i < len(buf) && buf[i] == ':' {
		colon := i
		i++
		for i < len(buf) && !isSpace(buf[i]) {
			i++
		}
		l.Label = &Label{Colon: p.lpos(colon), Name: p.str[colon+1 : i]}
	}
	var cur *Cmd
	prevEnd := -1
	if l.Label != nil {
		prevEnd = i
	}
	for {
		for i < len(buf) && isSpace(buf[i]) {
			i++
		}
		if i >= len(buf) {
			break
		}
		ts := i
		for i < len(buf) && !isSpace(buf[i]) {
			i++
		}
		tok := buf[ts:i]
		cont := prevEnd >= 0 && p.contBetween(prevEnd, ts)
		prevEnd = i
		if tok[0] == '#' {
			if !p.dropComments {
				end := len(buf)
				for end > ts && isSpace(buf[end-1]) {
					end--
				}
				c := &Comment{Hash: p.lpos(ts), Text: p.str[ts:end], Cont: cont}
				for _, sg := range p.segs[1:] {
					if sg.logical > ts && sg.logical < end {
						c.Breaks = append(c.Breaks, sg.logical-ts)
					}
				}
				l.Comment = c
			}
			break
		}
		op := OpNone
		switch string(tok) {
		case "||":
			op = OpOr
		case "&&":
			op = OpAnd
		case ";":
			op = OpSemi
		}
		if op != OpNone {
			if cur == nil {
				cur = &Cmd{}
				l.Cmds = append(l.Cmds, cur)
			}
			cur = &Cmd{Op: op, OpPos: p.lpos(ts), OpCont: cont}
			l.Cmds = append(l.Cmds, cur)
			continue
		}
		if cur == nil {
			cur = &Cmd{}
			l.Cmds = append(l.Cmds, cur)
		}
		w, err := p.word(ts, i)
		if err != nil {
			return nil, err
		}
		w.Cont = cont
		cur.Words = append(cur.Words, w)
	}
	return l, nil
}

type frame struct {
	dollar int
	parts  []WordPart
	depth  int // deepest nesting among the expansions in parts
}

// word splits buf[from:to] into literal parts and expansions, matching
// iPXE's expand_settings: the first "}" that follows some "${" closes the
// last "${" before it; a "${" that no "}" closes stays literal. Expansions
// nested deeper than MaxExpansionDepth are an error.
func (p *parser) word(from, to int) (*Word, error) {
	if !strings.Contains(p.str[from:to], "${") {
		// Fast path: one literal; a single allocation for all three nodes.
		n := &struct {
			w     Word
			l     Lit
			parts [1]WordPart
		}{}
		n.l = Lit{ValuePos: p.lpos(from), Value: p.str[from:to]}
		n.parts[0] = &n.l
		n.w.Parts = n.parts[:]
		return &n.w, nil
	}
	stack := []frame{{dollar: -1}}
	litStart := -1
	flush := func(end int) {
		if litStart >= 0 && end > litStart {
			top := &stack[len(stack)-1]
			top.parts = append(top.parts, &Lit{ValuePos: p.lpos(litStart), Value: p.str[litStart:end]})
		}
		litStart = -1
	}
	for i := from; i < to; {
		c := p.buf[i]
		switch {
		case c == '$' && i+1 < to && p.buf[i+1] == '{':
			flush(i)
			stack = append(stack, frame{dollar: i})
			i += 2
		case c == '}' && len(stack) > 1:
			flush(i)
			fr := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if fr.depth >= MaxExpansionDepth {
				return nil, &ParseError{Filename: p.name, Pos: p.lpos(fr.dollar),
					Msg: fmt.Sprintf("settings expansions nested deeper than %d", MaxExpansionDepth)}
			}
			e := &Expansion{Dollar: p.lpos(fr.dollar), Rbrace: p.lpos(i), Parts: fr.parts}
			top := &stack[len(stack)-1]
			top.parts = append(top.parts, e)
			top.depth = max(top.depth, fr.depth+1)
			i++
		default:
			if litStart < 0 {
				litStart = i
			}
			i++
		}
	}
	flush(to)
	if len(stack) == 1 {
		return &Word{Parts: stack[0].parts}, nil
	}
	// Unclosed "${" stay literal. The remaining frames are in text order:
	// outer parts, "${", first frame's parts, "${", ... Flatten them and
	// merge runs of literals in one pass.
	flat := stack[0].parts
	for _, fr := range stack[1:] {
		flat = append(flat, &Lit{ValuePos: p.lpos(fr.dollar), Value: "${"})
		flat = append(flat, fr.parts...)
	}
	return &Word{Parts: mergeLits(flat)}, nil
}

// tooDeep reports whether parts nest expansions more than limit levels
// deep. It recurses at most limit+1 levels, however deep the tree.
func tooDeep(parts []WordPart, limit int) bool {
	for _, p := range parts {
		if e, ok := p.(*Expansion); ok && (limit == 0 || tooDeep(e.Parts, limit-1)) {
			return true
		}
	}
	return false
}

// mergeLits joins runs of adjacent literals.
func mergeLits(parts []WordPart) []WordPart {
	out := parts[:0:0]
	var run []*Lit
	emit := func() {
		switch len(run) {
		case 0:
		case 1:
			out = append(out, run[0])
		default:
			var b strings.Builder
			for _, l := range run {
				b.WriteString(l.Value)
			}
			out = append(out, &Lit{ValuePos: run[0].ValuePos, Value: b.String()})
		}
		run = run[:0]
	}
	for _, part := range parts {
		if l, ok := part.(*Lit); ok {
			run = append(run, l)
			continue
		}
		emit()
		out = append(out, part)
	}
	emit()
	return out
}
