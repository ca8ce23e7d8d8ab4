package ipxescript

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Arg is one argument (or option) of a command made by the Builder: caller
// values (Value, URIValue) are always quoted, script text (Raw, Setting)
// is trusted and only validated.
type Arg struct {
	parts  []argPart
	text   bool   // Text: may be written as several words
	opt    string // option long name, "" for a positional argument
	isOpt  bool
	hasVal bool
}

type partKind int

const (
	partRaw partKind = iota
	partValue
)

type argPart struct {
	kind partKind
	text string
	err  error // why this part cannot be used (reported by Script)
}

// Value is caller data passed as exactly one argument, whatever it holds:
// spaces, "#", "||", quotes, newlines, a leading "-", non-ASCII. Values
// that cannot be written as plain text go through a private setting (see
// Quote). NUL bytes and "${...}" cannot be passed; Script reports them.
// Inside a Concat a value must not hold "${" at all, nor take part in an
// expansion with the parts it is joined to (see Concat).
func Value(s string) Arg { return Arg{parts: []argPart{{kind: partValue, text: s}}} }

// Text is caller text for the trailing arguments of a command that joins
// them with single spaces (echo, set, prompt, menu and form titles, item
// text, param values, image command lines). When the words of s are plain
// and separated by single spaces, and they fit in iPXE's limit of 255
// positional arguments per command (MAX_ARGUMENTS), it is written as those
// words, which reads better and means the same; otherwise it is one quoted
// Value, which the command joins to the same text. A Text inside a Concat
// is a Value.
//
// Kernel command lines are a second language: Linux splits them again at
// spaces, so use KernelArg for them, not Text.
func Text(s string) Arg { return Arg{parts: []argPart{{kind: partValue, text: s}}, text: true} }

// Raw is trusted script text for one argument, such as "${net0/mac}" or
// "http://${next-server}/boot". It must be a single token: no
// whitespace, not an operator, not starting with "#", every "${" closed.
func Raw(text string) Arg { return Arg{parts: []argPart{{kind: partRaw, text: text}}} }

// Setting is the expansion "${ref}" of a setting reference
// "[scope/]name[:type]", e.g. Setting("net0/mac:hexhyp").
func Setting(ref string) Arg { return Raw("${" + ref + "}") }

// URIValue is caller data percent-encoded (QueryEscape) for use inside a
// URL; it never needs a setting and can carry "${". It cannot carry NUL:
// iPXE decodes the URL into C strings (uri_decode, src/core/uri.c), so
// "%00" cuts the field short; Script reports it (ErrNUL).
//
// Only current iPXE sends the encoding unchanged. iPXE before commit
// 1844aacc8 ("[uri] Retain original encodings for path, query, and
// fragment fields", November 2021; Debian and Ubuntu still ship such
// builds) decodes the path and query when it parses the URL and encodes
// them again when it writes the HTTP request, escaping only
// whitespace, non-printing bytes, "%", "#", ":", "@" and "?" there
// (uri_character_escaped). So "&", "=", ";", "+" and "/" in the value
// reach the server bare and change how it splits the query, and bytes
// >= 0x80 are written as "%FFFFFF80" (uri_encode prints a signed char
// with "%%%02X"). When the data may hold such bytes and old clients
// matter, send it as URIBase64 (caller data) or Setting("name:hexraw")
// (a setting's value) and decode it on the server.
func URIValue(s string) Arg {
	p := argPart{kind: partRaw, text: QueryEscape(s)}
	if i := strings.IndexByte(s, 0); i >= 0 {
		p.err = &QuoteError{Value: s, Offset: i, Err: ErrNUL}
	}
	return Arg{parts: []argPart{p}}
}

// URIBase64 is caller data encoded as unpadded base64url (RFC 4648 §5:
// letters, digits, "-" and "_"), for a URL parameter that the server
// decodes (Go: base64.RawURLEncoding). No iPXE version escapes or decodes
// these characters, so every byte, NUL and "&=;+/" and bytes >= 0x80
// included, arrives intact even where URIValue's encoding is rewritten
// (iPXE before 1844aacc8, see URIValue).
func URIBase64(s string) Arg {
	return Raw(base64.RawURLEncoding.EncodeToString([]byte(s)))
}

// Concat joins several arguments into one token, e.g.
// Concat(Value(base), Raw("?mac="), Setting("net0/mac:hexhyp")).
//
// iPXE expands a token by finding the first "}" after a "${", expanding
// it and scanning the whole result again from the start
// (expand_settings, src/core/settings.c, the same in 2019 and master).
// So Script checks the joined token, not only each part: a caller value
// must not end in "$" when the next part starts with "{", nor start with
// "{" after a part that ends in "$", nor sit inside a "${" opened by the
// parts before it (Raw("$"), Raw("{"), Value(name)); such joins are
// refused with a *QuoteError wrapping ErrJoinExpansion. Expansions in Raw
// text are trusted, and so is what they expand to: a setting whose value
// ends in "$", next to a value that starts with "{", would still expand,
// as it would in any script that uses that setting.
func Concat(args ...Arg) Arg {
	var a Arg
	for _, x := range args {
		a.parts = append(a.parts, x.parts...)
	}
	return a
}

// Flag is a command option without a value: Flag("autofree") ⇒ --autofree.
func Flag(name string) Arg { return Arg{opt: name, isOpt: true} }

// Opt is a command option with a value: Opt("timeout", Raw("5000")).
// A value that could look like an option is written "--name=value".
func Opt(name string, value Arg) Arg {
	return Arg{opt: name, isOpt: true, hasVal: true, parts: value.parts}
}

// Builder writes a script line by line. Every command is checked against
// its schema (known command, known options, positional count); every
// caller value is quoted. The first error is kept and returned by Script;
// later calls are ignored.
type Builder struct {
	// Encoding used for values that need a private setting (default Hex).
	Encoding Encoding
	// Prefix of private setting names (default "_pxk").
	Prefix string

	header string
	lines  []*bline
	n      int
	labels int
	err    error
}

type bline struct {
	setups []string
	text   string
	cmd    bool
}

// NewBuilder returns a Builder whose script starts with "#!ipxe".
func NewBuilder() *Builder { return &Builder{header: "#!ipxe"} }

// Err returns the first error met so far.
func (b *Builder) Err() error { return b.err }

func (b *Builder) fail(err error) *Builder {
	if b.err == nil {
		b.err = err
	}
	return b
}

// Cmd starts a new line with the command name and its arguments.
func (b *Builder) Cmd(name string, args ...Arg) *Builder {
	if b.err != nil {
		return b
	}
	l := &bline{cmd: true}
	text, err := b.render(l, name, args)
	if err != nil {
		return b.fail(err)
	}
	l.text = text
	b.lines = append(b.lines, l)
	return b
}

func (b *Builder) op(op Op, name string, args []Arg) *Builder {
	if b.err != nil {
		return b
	}
	if len(b.lines) == 0 || !b.lines[len(b.lines)-1].cmd {
		return b.fail(fmt.Errorf("ipxescript: builder: %s without a command before it", op))
	}
	l := b.lines[len(b.lines)-1]
	if name == "" {
		if len(args) > 0 {
			return b.fail(errors.New("ipxescript: builder: arguments without a command"))
		}
		l.text += " " + op.String()
		return b
	}
	text, err := b.render(l, name, args)
	if err != nil {
		return b.fail(err)
	}
	l.text += " " + op.String() + " " + text
	return b
}

// And appends "&& name args..." to the current line: it runs only if the
// line's last status is success.
func (b *Builder) And(name string, args ...Arg) *Builder { return b.op(OpAnd, name, args) }

// Or appends "|| name args..." to the current line: it runs only if the
// last status is failure. Or("") appends a bare "||", which ends a line
// that would otherwise fail when a test is false (iseq a b && goto x ||).
func (b *Builder) Or(name string, args ...Arg) *Builder { return b.op(OpOr, name, args) }

// Then appends "; name args..." to the current line.
func (b *Builder) Then(name string, args ...Arg) *Builder { return b.op(OpSemi, name, args) }

// Label adds a ":name" line.
func (b *Builder) Label(name string) *Builder {
	if b.err != nil {
		return b
	}
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return b.fail(fmt.Errorf("ipxescript: builder: invalid label %q", name))
	}
	b.lines = append(b.lines, &bline{text: ":" + name})
	return b
}

// NewLabel returns a fresh label name "prefix-N" unique in this Builder.
func (b *Builder) NewLabel(prefix string) string {
	b.labels++
	return prefix + "-" + strconv.Itoa(b.labels)
}

// Comment adds comment lines ("# text"), one per line of text.
func (b *Builder) Comment(text string) *Builder {
	if b.err != nil {
		return b
	}
	if strings.IndexByte(text, 0) >= 0 {
		return b.fail(errors.New("ipxescript: builder: NUL in comment"))
	}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, " \t\r\v\f\\")
		if l == "" {
			b.lines = append(b.lines, &bline{text: "#"})
		} else {
			b.lines = append(b.lines, &bline{text: "# " + l})
		}
	}
	return b
}

// Blank adds an empty line.
func (b *Builder) Blank() *Builder {
	if b.err == nil {
		b.lines = append(b.lines, &bline{})
	}
	return b
}

// Script returns the script in canonical format. It parses its own output
// as a last check.
func (b *Builder) Script() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	var buf bytes.Buffer
	if b.header != "" {
		buf.WriteString(b.header + "\n")
	}
	for _, l := range b.lines {
		for _, s := range l.setups {
			buf.WriteString(s + "\n")
		}
		buf.WriteString(l.text + "\n")
	}
	out, err := Format(buf.Bytes(), "builder")
	if err != nil {
		return nil, fmt.Errorf("ipxescript: builder produced an invalid script: %w", err)
	}
	return out, nil
}

// String returns the script, or the error text.
func (b *Builder) String() string {
	s, err := b.Script()
	if err != nil {
		return "error: " + err.Error()
	}
	return string(s)
}

func (b *Builder) nextSetting() string {
	b.n++
	p := b.Prefix
	if p == "" {
		p = "_pxk"
	}
	return p + strconv.Itoa(b.n)
}

// maxArguments is iPXE's MAX_ARGUMENTS (0xff, src/include/ipxe/parseopt.h,
// in 2019 and in master): command_descriptor.max_args is a uint8_t and
// parse_options (src/core/parseopt.c) fails with -ERANGE when more
// positional arguments remain after the options, so no command takes more.
const maxArguments = 255

// render returns the text of one command and adds the setup lines its
// values need to l.
func (b *Builder) render(l *bline, name string, args []Arg) (string, error) {
	spec, ok := LookupCommand(name)
	if !ok {
		return "", fmt.Errorf("ipxescript: builder: unknown command %q", name)
	}
	words := []string{name}
	var pos []string
	firstRisky := false
	for _, a := range args {
		if a.isOpt {
			if len(pos) > 0 {
				return "", fmt.Errorf("ipxescript: builder: %s: option --%s after a positional argument (iPXE would not see it as an option)", name, a.opt)
			}
			o, ok := spec.Option(a.opt)
			if !ok {
				return "", fmt.Errorf("ipxescript: builder: %s has no option --%s", name, a.opt)
			}
			if o.HasArg != a.hasVal {
				return "", fmt.Errorf("ipxescript: builder: %s --%s: value given=%v, option takes a value=%v", name, a.opt, a.hasVal, o.HasArg)
			}
			if !a.hasVal {
				if o.Short != 0 && len(a.opt) == 1 {
					words = append(words, "-"+a.opt)
				} else {
					words = append(words, "--"+a.opt)
				}
				continue
			}
			w, risky, plain, err := b.token(l, a.parts)
			if err != nil {
				return "", fmt.Errorf("ipxescript: builder: %s --%s: %w", name, a.opt, err)
			}
			if plain && !risky {
				words = append(words, "--"+a.opt, w)
			} else {
				words = append(words, "--"+a.opt+"="+w)
			}
			continue
		}
		if a.text && spec.MaxArgs < 0 {
			if ws, ok := plainWords(a.parts[0].text); ok && len(pos)+len(ws) <= maxArguments {
				if len(pos) == 0 && ws[0][0] == '-' {
					firstRisky = true
				}
				pos = append(pos, ws...)
				continue
			}
		}
		w, risky, _, err := b.token(l, a.parts)
		if err != nil {
			return "", fmt.Errorf("ipxescript: builder: %s argument %d: %w", name, len(pos)+1, err)
		}
		if len(pos) == 0 {
			firstRisky = risky
		}
		pos = append(pos, w)
	}
	if n := len(pos); n < spec.MinArgs || (spec.MaxArgs >= 0 && n > spec.MaxArgs) {
		return "", fmt.Errorf("ipxescript: builder: %s takes %s positional argument(s), got %d", name, spec.argRange(), n)
	}
	if n := len(pos); n > maxArguments {
		return "", fmt.Errorf("ipxescript: builder: %s: %d positional arguments, iPXE accepts at most %d (MAX_ARGUMENTS)", name, n, maxArguments)
	}
	if firstRisky {
		words = append(words, "--")
	}
	words = append(words, pos...)
	return strings.Join(words, " "), nil
}

// token renders the parts of one argument. risky: its expanded value may
// start with "-" (so "--" or "=" is needed): a caller value or raw text
// that starts with "-". Raw expansions are trusted not to. plain: it is
// literal text.
func (b *Builder) token(l *bline, parts []argPart) (word string, risky, plain bool, err error) {
	if len(parts) == 0 {
		return "", false, false, errors.New("empty argument (use Value(\"\") for an empty string)")
	}
	plain = true
	var sb strings.Builder
	var prev argPart // the last part that wrote text
	for _, p := range parts {
		if p.err != nil {
			return "", false, false, p.err
		}
		switch p.kind {
		case partRaw:
			if p.text == "" {
				continue
			}
			if strings.IndexFunc(p.text, func(r rune) bool { return r < 0x80 && (isSpace(byte(r)) || r == 0) }) >= 0 {
				return "", false, false, fmt.Errorf("raw text %q contains whitespace or NUL", p.text)
			}
			if unclosedExpansion(p.text) {
				return "", false, false, fmt.Errorf("raw text %q: unterminated ${", p.text)
			}
			if err := joinCheck(prev, p, sb.String()); err != nil {
				return "", false, false, err
			}
			if strings.Contains(p.text, "${") {
				plain = false
			}
			if sb.Len() == 0 && p.text[0] == '-' {
				risky = true
			}
			sb.WriteString(p.text)
		case partValue:
			v := p.text
			if len(parts) > 1 && strings.Contains(v, "${") {
				return "", false, false, &QuoteError{Value: v, Offset: strings.Index(v, "${"), Err: ErrExpansion}
			}
			if len(parts) > 1 && v == "" {
				continue
			}
			if err := joinCheck(prev, p, sb.String()); err != nil {
				return "", false, false, err
			}
			if sb.Len() == 0 && strings.HasPrefix(v, "-") {
				risky = true
			}
			name := ""
			if v != "" && !IsLiteral(v) {
				name = b.nextSetting()
			}
			q, err := quoteWith(v, name, b.Encoding)
			if err != nil {
				return "", false, false, err
			}
			if q.Setup != "" || q.Word == "${}" {
				plain = false
				if q.Setup != "" {
					l.setups = append(l.setups, q.Setup)
				}
			}
			sb.WriteString(q.Word)
		}
		prev = p
	}
	word = sb.String()
	if unclosedExpansion(word) {
		return "", false, false, fmt.Errorf("argument %q: the joined parts leave a ${ unterminated", word)
	}
	if word == "" {
		word, plain = "${}", false
	}
	if tp := tokenProblem(word); tp != "" {
		return "", false, false, fmt.Errorf("argument %q: %s", word, tp)
	}
	if strings.HasSuffix(word, "\\") {
		return "", false, false, fmt.Errorf("argument %q ends in a backslash", word)
	}
	return word, risky, plain, nil
}

// joinCheck reports whether the part next, written after the text before
// (the token so far, whose last part was prev), would make a caller value
// take part in an expansion once iPXE has joined and rescanned the token
// (see Concat): a value after an unclosed "${", or a "$" and a "{" that
// meet across the join when either comes from a value. Raw text meeting
// Raw text is trusted script text.
func joinCheck(prev, next argPart, before string) error {
	if next.kind == partValue && unclosedExpansion(before) {
		return &QuoteError{Value: next.text, Offset: 0, Err: ErrJoinExpansion}
	}
	if strings.HasSuffix(prev.text, "$") && strings.HasPrefix(next.text, "{") {
		if prev.kind == partValue {
			return &QuoteError{Value: prev.text, Offset: len(prev.text) - 1, Err: ErrJoinExpansion}
		}
		if next.kind == partValue {
			return &QuoteError{Value: next.text, Offset: 0, Err: ErrJoinExpansion}
		}
	}
	return nil
}

// unclosedExpansion reports whether some "${" in s is never closed.
func unclosedExpansion(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}' && depth > 0:
			depth--
		}
	}
	return depth > 0
}

// plainWords splits s at single spaces when every word is a literal.
func plainWords(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	ws := strings.Split(s, " ")
	for _, w := range ws {
		if !IsLiteral(w) {
			return nil, false
		}
	}
	return ws, true
}
