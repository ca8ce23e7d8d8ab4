package ipxescript

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
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
//
// The tree's strings are substrings of one copy of src, so src may be
// changed afterwards. A source that a Pos cannot describe is refused with
// ErrSourceTooLarge: MaxSourceSize bytes or more, or more than MaxLines
// physical lines.
func Parse(src []byte, name string, opts ...ParserOption) (*File, error) {
	if err := checkSource(src, name); err != nil {
		return nil, err
	}
	p := newParser(src, name)
	defer p.free()
	for _, o := range opts {
		o(p)
	}
	return p.parse()
}

// MaxSourceSize is one more than the largest source Parse accepts (16
// MiB): a Pos holds byte offsets in 24 bits. A real iPXE script is a few
// kilobytes.
const MaxSourceSize = 1 << posOffsetBits

// ErrSourceTooLarge is returned by Parse for a source that positions
// cannot describe (see Pos), and by ParseWord for a word of MaxSourceSize
// bytes or more.
var ErrSourceTooLarge = errors.New("ipxescript: source too large for positions")

// checkSize refuses a source of n bytes when n is MaxSourceSize or more.
func checkSize(n int, name string) error {
	if n >= MaxSourceSize {
		return fmt.Errorf("%w: %s: %d bytes (the limit is %d)", ErrSourceTooLarge, name, n, MaxSourceSize-1)
	}
	return nil
}

// checkSource refuses a source that a Pos cannot describe: too many
// bytes or lines. (A column is at most the offset plus one, so it fits
// when the offset does.)
func checkSource(src []byte, name string) error {
	if err := checkSize(len(src), name); err != nil {
		return err
	}
	if len(src) < MaxLines {
		return nil // fewer bytes than lines allowed
	}
	if n := bytes.Count(src, newline) + 1; n > MaxLines {
		return fmt.Errorf("%w: %s: %d lines (the limit is %d)", ErrSourceTooLarge, name, n, MaxLines)
	}
	return nil
}

// parsers keeps parsers between calls for their scratch buffers. Their
// node slabs are not kept: a chunk still in use would hold the nodes of
// earlier trees, and through them more chunks and sources, which the
// garbage collector would then have to scan again and again (measured on
// the corpus with GOMAXPROCS=1: 43 MB/s parse + print with reuse, 58
// without).
var parsers = sync.Pool{New: func() any { return new(parser) }}

func newParser(src []byte, name string) *parser {
	p := parsers.Get().(*parser)
	p.src, p.name, p.dropComments = src, name, false
	p.segLine, p.segCur = 1, 0
	return p
}

// free returns p to the pool without references to the source or to the
// tree it built.
func (p *parser) free() {
	p.src, p.srcStr, p.str, p.line = nil, "", "", nil
	if cap(p.buf) > 64<<10 {
		p.buf = nil
	}
	clear(p.partBuf[:cap(p.partBuf)])
	p.nodes = nodeSlabs{}
	parsers.Put(p)
}

// ParseReader reads r to the end and parses it.
func ParseReader(r io.Reader, name string, opts ...ParserOption) (*File, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ipxescript: read %s: %w", name, err)
	}
	return Parse(src, name, opts...)
}

// ParseWord parses text as one word of a command line, as Parse reads a
// token: literal text and settings expansions ("${net0/mac}", nested
// "${a${b}}"; a "${" that no "}" closes stays literal). It is the way to
// build or replace a word in a tree from text:
//
//	w, err := ipxescript.ParseWord("http://${next-server}/boot.ipxe")
//	cmd.Words[1] = w // cmd is a *Cmd, e.g. &f.Lines[i].Cmds[j]
//
// text must be one token: not empty (write "${}" for an empty argument),
// without whitespace or NUL, not starting with "#" and not "||", "&&" or
// ";"; a deeper nesting than MaxExpansionDepth is refused too. The error is
// a *ParseError whose position is a byte offset in text. The word's nodes
// have no position (like nodes a Builder makes): it did not come from the
// file's source. w.Text() == text. A word starting with ":" is an argument,
// but the printer refuses it as the first word of a line, where iPXE would
// read a label.
func ParseWord(text string) (Word, error) {
	if err := checkSize(len(text), "word"); err != nil {
		return Word{}, err
	}
	if msg := tokenProblem(text); msg != "" {
		off := problemOffset(text)
		return Word{}, &ParseError{Pos: NewPos(off, 1, off+1), Msg: fmt.Sprintf("word %q: %s", text, msg)}
	}
	p := newParser(nil, "")
	defer p.free()
	p.buf = append(p.buf[:0], text...)
	p.src, p.str, p.line = p.buf, text, p.buf
	p.segs = append(p.segs[:0], segment{})
	var w Word
	if err := p.word(&w, 0, len(text), true); err != nil {
		return Word{}, err
	}
	for n := range Preorder(&w) {
		switch n := n.(type) {
		case *Lit:
			n.ValuePos = Pos{}
		case *Expansion:
			n.Dollar, n.Rbrace = Pos{}, Pos{}
		}
	}
	return w, nil
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
	srcStr       string // src as a string: a line without continuations is a substring of it
	name         string
	dropComments bool
	buf          []byte // a logical line joined from several physical ones
	line         []byte // the current logical line: in src, or buf
	segs         []segment
	segCur       int    // cursor in segs for contBetween
	str          string // the current logical line as a string
	segLine      int    // the line number of the physical line at segs[0]
	nodes        nodeSlabs
	stack        []frame    // word's stack of open "${"
	partBuf      []WordPart // word's stack of parts
}

// nodeSlabs hands out the nodes of one parse: a few allocations for the
// whole file. Lines are one array in the File; commands and words are
// runs in shared chunks (Line.Cmds and Cmd.Words point into them); the
// other nodes come from slabs.
type nodeSlabs struct {
	lits      slab[Lit]
	exps      slab[Expansion]
	comments  slab[Comment]
	labels    slab[Label]
	partHeads slab[[]WordPart] // what a multi-part Word points to
	partLists sliceSlab[WordPart]
	cmdLists  sliceRun[Cmd]  // the commands of the current line
	wordLists sliceRun[Word] // the words of the current command
}

// size sets the first chunks' sizes from a source of srcLen bytes and the
// given number of physical lines: about three quarters of the node counts
// at the densities of the corpus of real scripts (a word per 13 bytes, a
// comment per 8 lines, ...). Most scripts then fill their first chunks
// and take the rest in small ones, so that the unused tails of the
// chunks, which are allocated and cleared for nothing, stay small.
func (s *nodeSlabs) size(srcLen, lines int) {
	s.cmdLists.want = lines * 3 / 5
	s.wordLists.want = srcLen / 17
	s.partHeads.want, s.exps.want, s.lits.want, s.partLists.want = srcLen/130, srcLen/105, srcLen/70, srcLen/41
	s.comments.want, s.labels.want = lines/11, lines/13
}

// chunker sizes the chunks of one kind of node: want is the estimate
// of how many are still to come, got how many elements the chunks so far
// held.
type chunker struct{ want, got int }

// chunkBytes bounds a chunk: up to 32 KiB it is a small object for the Go
// allocator (large ones cost more to allocate, clear and give back to the
// OS).
const chunkBytes = 32 << 10

// next returns the length of the next chunk of elements of size bytes,
// at least need: the rest of the estimate, or a sixteenth of what came so
// far once the estimate is used up, within chunkBytes.
func (c *chunker) next(size uintptr, need int) int {
	n := c.want
	if n <= 0 {
		n = c.got / 16
	}
	n = max(min(n, chunkBytes/int(size)), 4, need)
	c.want -= n
	c.got += n
	return n
}

// newChunk returns a chunk of at least need Ts, as long as c's estimate
// says (see next), grown to fill the allocator's size class: the bytes up
// to the class's size are allocated either way.
func newChunk[T any](c *chunker, need int) []T {
	n := c.next(reflect.TypeFor[T]().Size(), need)
	chunk := slices.Grow([]T(nil), n)
	chunk = chunk[:cap(chunk)]
	c.want -= len(chunk) - n
	c.got += len(chunk) - n
	return chunk
}

// slab hands out pointers into chunks of Ts, so that a parse makes one
// allocation per chunk instead of one per node. The Ts are zero: the
// parser sets their fields one by one, as a struct assignment copies the
// whole struct under the garbage collector's write barrier. The slabs (and
// the slice runs below) advance an index into their chunk rather than
// reslicing it: a counter is not a pointer, so taking a node stores no
// pointer into the (heap-allocated) parser, which would cost a write
// barrier whenever a collection is marking.
type slab[T any] struct {
	chunk []T
	used  int // chunk[:used] is handed out
	chunker
}

func (s *slab[T]) alloc() *T {
	if s.used == len(s.chunk) {
		s.chunk, s.used = newChunk[T](&s.chunker, 1), 0
	}
	x := &s.chunk[s.used]
	s.used++
	return x
}

// sliceRun builds short slices in place in a chunk, moving a run to a new
// chunk when it outgrows the old one: each element is written once. take
// returns the run without spare capacity, so that appending to it
// reallocates instead of overwriting its neighbour; an empty run gives
// nil.
type sliceRun[E any] struct {
	chunk    []E // chunk[start:start+n] is the run
	start, n int
	chunker
}

// push adds a zero element to the run and returns it; the pointer is good
// until the next push.
func (r *sliceRun[E]) push() *E {
	if r.start+r.n == len(r.chunk) {
		chunk := newChunk[E](&r.chunker, 2*r.n)
		copy(chunk, r.chunk[r.start:r.start+r.n])
		r.chunk, r.start = chunk, 0
	}
	e := &r.chunk[r.start+r.n]
	r.n++
	return e
}

func (r *sliceRun[E]) take() []E {
	if r.n == 0 {
		return nil
	}
	end := r.start + r.n
	out := r.chunk[r.start:end:end]
	r.start, r.n = end, 0
	return out
}

// sliceSlab copies short slices into chunks. The copies have no spare
// capacity, so appending to one reallocates instead of overwriting its
// neighbour. An empty input gives nil.
type sliceSlab[E any] struct {
	chunk []E
	used  int // chunk[:used] is handed out
	chunker
}

func (s *sliceSlab[E]) copy(src []E) []E {
	n := len(src)
	if n == 0 {
		return nil
	}
	if n > len(s.chunk)-s.used {
		s.chunk, s.used = newChunk[E](&s.chunker, n), 0
	}
	end := s.used + n
	out := s.chunk[s.used:end:end]
	s.used = end
	copy(out, src)
	return out
}

// isSpace is C isspace in the "C" locale, which iPXE uses.
func isSpace(c byte) bool { return byteClass[c]&classSpace != 0 }

// byteClass holds the classes of each byte value for the parser's and
// the printer's scanning loops.
var byteClass = [256]uint8{
	' ': classSpace | classBad, '\t': classSpace | classBad, '\n': classSpace | classBad,
	'\v': classSpace | classBad, '\f': classSpace | classBad, '\r': classSpace | classBad,
	0: classBad, '$': classDollar,
}

const (
	classSpace  = 1 << iota // C isspace
	classBad                // whitespace or NUL: not in a token
	classDollar             // "$", which may start an expansion
)

var newline = []byte{'\n'}

// lpos maps an index in the logical line buffer to a source position.
// Every segment starts a physical line, and segment j is j lines after
// the first.
func (p *parser) lpos(i int) Pos {
	j := 0
	if len(p.segs) > 1 {
		j = max(sort.Search(len(p.segs), func(k int) bool { return p.segs[k].logical > i })-1, 0)
	}
	s := p.segs[j]
	return makePos(s.src+i-s.logical, p.segLine+j, i-s.logical+1)
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
	p.srcStr = string(p.src)
	n := bytes.Count(p.src, newline) + 1 // physical lines: at least as many as logical ones
	p.nodes.size(len(p.src), n)
	f.Lines = make([]Line, n)
	k := 0              // logical lines so far
	off, lineNo := 0, 1 // lineNo is the line number of the physical line at off
	for {
		p.segs = p.segs[:0]
		start := off
		p.segLine = lineNo
		var unterminated Pos
		frag := p.src[off:]
		if i := bytes.IndexByte(frag, '\n'); i >= 0 {
			frag = frag[:i]
		}
		line := frag
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if n := len(line); n == 0 || line[n-1] != '\\' {
			// One physical line, the common case: no copy.
			p.segs = append(p.segs, segment{logical: 0, src: off})
			p.line = line
			off += len(frag) + 1
			lineNo++
		} else {
			off, lineNo, unterminated = p.joinLines(off, lineNo)
			p.line = p.buf
		}
		l := &f.Lines[k]
		k++
		if err := p.parseLine(l, start); err != nil {
			return nil, err
		}
		l.Unterminated = unterminated
		if off >= len(p.src) {
			break
		}
	}
	f.Lines = f.Lines[:k:k]
	return f, nil
}

// joinLines reads into p.buf the logical line at off that backslash
// continuations join from several physical lines, and returns the offset
// and line number after it. unterminated is the position of the final
// backslash when the source ends inside the continuation.
func (p *parser) joinLines(off, lineNo int) (int, int, Pos) {
	p.buf = p.buf[:0]
	for {
		frag := p.src[off:]
		if i := bytes.IndexByte(frag, '\n'); i >= 0 {
			frag = frag[:i]
		}
		p.segs = append(p.segs, segment{logical: len(p.buf), src: off})
		p.buf = append(p.buf, frag...)
		off += len(frag) + 1
		lineNo++
		if n := len(p.buf); n > 0 && p.buf[n-1] == '\r' {
			p.buf = p.buf[:n-1]
		}
		if n := len(p.buf); n > 0 && p.buf[n-1] == '\\' {
			p.buf = p.buf[:n-1]
			if off >= len(p.src) {
				// process_script (image/script.c) leaves its loop
				// here with rc = -EINVAL: the line never runs.
				return off, lineNo, p.lpos(n - 1)
			}
			continue
		}
		return off, lineNo, Pos{}
	}
}

// parseLine parses the current logical line, which starts at byte start
// of the source, into l (a zero Line).
func (p *parser) parseLine(l *Line, start int) error {
	l.Start = makePos(start, p.segLine, 1) // a logical line starts a physical one
	p.segCur = 1
	buf := p.line
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		l.Truncated = p.lpos(i)
		buf = buf[:i]
	}
	if len(p.segs) == 1 {
		// No continuation: the line is in the source as is, and tokens
		// are substrings of it.
		p.str = p.srcStr[start : start+len(buf)]
	} else {
		p.str = string(buf) // tokens are substrings of this copy
	}
	p.nodes.cmdLists.n, p.nodes.wordLists.n = 0, 0 // drop what a failed line left
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
		l.Label = p.nodes.labels.alloc()
		l.Label.Colon, l.Label.Name = p.lpos(colon), p.str[colon+1:i]
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
		var class uint8
		i, class = tokenEnd(buf, i)
		tok := buf[ts:i]
		cont := prevEnd >= 0 && p.contBetween(prevEnd, ts)
		prevEnd = i
		if tok[0] == '#' {
			if !p.dropComments {
				end := len(buf)
				for end > ts && isSpace(buf[end-1]) {
					end--
				}
				c := p.nodes.comments.alloc()
				c.Hash, c.Text, c.Cont = p.lpos(ts), p.str[ts:end], cont
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
				cur = p.nodes.cmdLists.push()
			}
			p.endCmd(cur)
			cur = p.nodes.cmdLists.push() // cur's pointer moves with the run
			cur.Op, cur.OpPos, cur.OpCont = op, p.lpos(ts), cont
			continue
		}
		if cur == nil {
			cur = p.nodes.cmdLists.push()
		}
		w := p.nodes.wordLists.push()
		if err := p.word(w, ts, i, class&classDollar != 0); err != nil {
			return err
		}
		w.Cont = cont
	}
	if cur != nil {
		p.endCmd(cur)
	}
	l.Cmds = p.nodes.cmdLists.take()
	return nil
}

// tokenEnd returns the end of the token that starts at buf[i] (the next
// whitespace byte, or len(buf)) and the union of its bytes' classes. It
// reads eight bytes at a time while none of them is below "!" (so none
// is whitespace), as plainToken does; buf holds no NUL (parseLine cut
// the line there).
func tokenEnd(buf []byte, i int) (int, uint8) {
	const ones, highs, dollars = 0x0101010101010101, 0x8080808080808080, '$' * 0x0101010101010101
	var class uint8
	for ; i+8 <= len(buf); i += 8 {
		x := binary.LittleEndian.Uint64(buf[i:])
		if (x-ones*0x21)&^x&highs != 0 {
			break // some byte may end the token: look at each
		}
		if d := x ^ dollars; (d-ones)&^d&highs != 0 {
			class |= classDollar
		}
	}
	for i < len(buf) && !isSpace(buf[i]) {
		class |= byteClass[buf[i]]
		i++
	}
	return i, class
}

// endCmd gives cur the words collected since the last endCmd.
func (p *parser) endCmd(cur *Cmd) {
	cur.Words = p.nodes.wordLists.take()
}

type frame struct {
	dollar int // index of the "$" (-1 for the word itself)
	base   int // index in the parts stack of the frame's first part
	depth  int // deepest nesting among the expansions in the frame's parts
}

// word splits buf[from:to] into literal parts and expansions, matching
// iPXE's expand_settings: the first "}" that follows some "${" closes the
// last "${" before it; a "${" that no "}" closes stays literal. Expansions
// nested deeper than MaxExpansionDepth are an error.
// dollar says whether the word may hold a "$". The word goes to w, a zero
// Word.
func (p *parser) word(w *Word, from, to int, dollar bool) error {
	if !dollar || !strings.Contains(p.str[from:to], "${") {
		// Fast path: one literal, inline in the word.
		w.inline, w.lit.ValuePos, w.lit.Value = true, p.lpos(from), p.str[from:to]
		return nil
	}
	// The parts of all open frames share one stack, frame after frame;
	// closing a frame replaces its parts by one Expansion.
	stack := append(p.stack[:0], frame{dollar: -1})
	parts := p.partBuf[:0]
	defer func() { p.stack, p.partBuf = stack[:0], parts[:0] }()
	litStart := -1
	for i := from; i < to; {
		c := p.line[i]
		switch {
		case c == '$' && i+1 < to && p.line[i+1] == '{':
			parts, litStart = p.flushLit(parts, litStart, i), -1
			stack = append(stack, frame{dollar: i, base: len(parts)})
			i += 2
		case c == '}' && len(stack) > 1:
			parts, litStart = p.flushLit(parts, litStart, i), -1
			fr := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if fr.depth >= MaxExpansionDepth {
				return &ParseError{Filename: p.name, Pos: p.lpos(fr.dollar),
					Msg: fmt.Sprintf("settings expansions nested deeper than %d", MaxExpansionDepth)}
			}
			e := p.nodes.exps.alloc()
			e.Dollar, e.Rbrace, e.Parts = p.lpos(fr.dollar), p.lpos(i), p.nodes.partLists.copy(parts[fr.base:])
			parts = append(parts[:fr.base], e)
			top := &stack[len(stack)-1]
			top.depth = max(top.depth, fr.depth+1)
			i++
		default:
			if litStart < 0 {
				litStart = i
			}
			i++
		}
	}
	parts = p.flushLit(parts, litStart, to)
	if len(stack) == 1 {
		p.setParts(w, parts, true)
		return nil
	}
	// Unclosed "${" stay literal. The stack holds, in text order, the
	// word's own parts, then each open frame's: flatten them with a "${"
	// before each frame's parts, and merge runs of literals.
	flat := make([]WordPart, 0, len(parts)+len(stack))
	flat = append(flat, parts[:stack[1].base]...)
	for k, fr := range stack[1:] {
		end := len(parts)
		if k+2 < len(stack) {
			end = stack[k+2].base
		}
		lit := p.nodes.lits.alloc()
		lit.ValuePos, lit.Value = p.lpos(fr.dollar), "${"
		flat = append(flat, lit)
		flat = append(flat, parts[fr.base:end]...)
	}
	p.setParts(w, mergeLits(flat), false)
	return nil
}

// setParts gives w its parts: inline when they are one literal (as
// NewWord does), else in a list, copied into a chunk if copy is set.
func (p *parser) setParts(w *Word, parts []WordPart, copy bool) {
	if len(parts) == 1 {
		if l, ok := parts[0].(*Lit); ok {
			w.inline, w.lit = true, *l
			return
		}
	}
	if copy {
		parts = p.nodes.partLists.copy(parts)
	}
	w.parts = p.nodes.partHeads.alloc()
	*w.parts = parts
}

// flushLit appends the literal str[start:end] to parts, if start >= 0 and
// it is not empty.
func (p *parser) flushLit(parts []WordPart, start, end int) []WordPart {
	if start < 0 || end <= start {
		return parts
	}
	l := p.nodes.lits.alloc()
	l.ValuePos, l.Value = p.lpos(start), p.str[start:end]
	return append(parts, l)
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
