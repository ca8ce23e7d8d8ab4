package ipxescript

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sentinel errors wrapped by *QuoteError.
var (
	// ErrNUL: iPXE handles arguments as C strings; a NUL byte cannot be
	// passed.
	ErrNUL = errors.New("contains a NUL byte")
	// ErrExpansion: the value contains "${" followed later by "}". iPXE
	// rescans the result of every expansion, so such a value would be
	// expanded again; no iPXE version can pass it verbatim. Percent-encode
	// it for a URL (URIValue) or hand it over another way.
	ErrExpansion = errors.New(`contains "${" followed by "}" (iPXE would expand it again)`)
	// ErrJoinExpansion: inside a Concat, the value and the parts it is
	// joined to would form "${" (a "$" at the end of one part, a "{" at
	// the start of the next), or the value would sit inside a "${" opened
	// before it. iPXE rescans the joined token after every expansion, so
	// the value would be read as (part of) a setting name.
	ErrJoinExpansion = errors.New(`would form or sit inside "${...}" with the parts it is joined to (iPXE would expand it)`)
	// ErrToken: the value cannot be one bare token of a command line: it
	// holds whitespace, starts with "#" (a comment) or is an operator
	// ("||", "&&", ";"). Only a setting can carry it (Quote, Builder).
	ErrToken = errors.New(`holds whitespace, starts with "#" or is an operator: not one bare token`)
	// ErrSettingName: a private setting name is not usable.
	ErrSettingName = errors.New("invalid private setting name")
)

// QuoteError says why a string cannot be passed to iPXE as one argument.
type QuoteError struct {
	Value  string
	Offset int // byte offset of the problem in Value
	Err    error
}

// Error describes the problem without echoing a huge value.
func (e *QuoteError) Error() string {
	v := e.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("ipxescript: value %q: %v (at byte %d)", v, e.Err, e.Offset)
}

// Unwrap returns ErrNUL, ErrExpansion, ErrJoinExpansion, ErrToken or
// ErrSettingName.
func (e *QuoteError) Unwrap() error { return e.Err }

// Check reports whether iPXE can receive s as exactly one argument at all,
// returning a *QuoteError if not.
func Check(s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return &QuoteError{Value: s, Offset: i, Err: ErrNUL}
	}
	if i := strings.Index(s, "${"); i >= 0 && strings.IndexByte(s[i:], '}') >= 0 {
		return &QuoteError{Value: s, Offset: i, Err: ErrExpansion}
	}
	return nil
}

// IsLiteral reports whether s can be written as a bare token that iPXE
// reads back unchanged in any argument position (after "--" when it starts
// with "-"). It is deliberately stricter than iPXE: besides whitespace,
// NUL, a leading "#", the operators "||", "&&", ";" and a trailing "\",
// it refuses "$", "{", "}", control bytes and invalid UTF-8, so that a
// literal is plain readable text that cannot interact with expansion.
func IsLiteral(s string) bool {
	if s == "" || s[0] == '#' || s == "||" || s == "&&" || s == ";" || s[len(s)-1] == '\\' || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '$' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// LitWord returns a word that iPXE reads as exactly the argument s, to
// build or replace a word in a tree without going through a setting: one
// literal part, or for the empty string the word "${}" (an expansion of
// no setting, which iPXE expands to nothing). It refuses, with a
// *QuoteError, what no bare token can carry: a NUL byte (ErrNUL), "${"
// followed by "}" (ErrExpansion: iPXE would expand it), whitespace, a
// leading "#" or an operator (ErrToken); such values need a setting (Quote,
// or a Builder's Value). Like Quote, it does not add "--": a value starting
// with "-" is read as an option where options are allowed. A value
// starting with ":" is an argument, but cannot be the first word of a
// line (the printer refuses it there: iPXE would read a label).
//
// Use ParseWord instead to build a word that holds expansions.
func LitWord(s string) (Word, error) {
	if err := Check(s); err != nil {
		return Word{}, err
	}
	if s == "" {
		return NewWord(&Expansion{}), nil
	}
	if tokenProblem(s) != "" {
		return Word{}, &QuoteError{Value: s, Offset: problemOffset(s), Err: ErrToken}
	}
	return Word{lit: Lit{Value: s}, inline: true}, nil
}

// Quoted is s prepared as one argument: Word is the token to write; if
// Setup is not empty it is a "set" command line that must run before the
// line that uses Word.
type Quoted struct {
	Setup string
	Word  string
}

// Encoding selects how Quote stores a value in a private setting.
type Encoding int

const (
	// Hex stores "set name:hex 41:20:42" (every iPXE since gPXE). Default.
	Hex Encoding = iota
	// Base64 stores "set name:base64 QSBC" (iPXE 2015-04 and later;
	// shorter).
	Base64
)

// Quote turns any string iPXE can represent into script text that iPXE
// sees as exactly that one argument. A plain value (IsLiteral) is written
// as is; the empty string becomes "${}"; anything else is stored in the
// private setting named setting ("set setting:hex ...") and written as
// "${setting:string}": iPXE splits a line into arguments before it expands
// settings (system and expand_settings in src/core/exec.c and
// src/core/settings.c), so an expansion's value, whatever bytes it holds,
// stays one argument. setting must be a private name made of
// letters, digits, "_", "-" and ".", starting with a letter or "_".
//
// The caller must still put "--" before the first positional argument when
// s starts with "-" (iPXE parses options after expansion); the Builder does.
func Quote(s, setting string) (Quoted, error) { return quoteWith(s, setting, Hex) }

func quoteWith(s, setting string, enc Encoding) (Quoted, error) {
	if err := Check(s); err != nil {
		return Quoted{}, err
	}
	if s == "" {
		return Quoted{Word: "${}"}, nil
	}
	if IsLiteral(s) {
		return Quoted{Word: s}, nil
	}
	if !validPrivateName(setting) {
		return Quoted{}, &QuoteError{Value: setting, Err: ErrSettingName}
	}
	var setup string
	if enc == Base64 {
		setup = "set " + setting + ":base64 " + base64.StdEncoding.EncodeToString([]byte(s))
	} else {
		var b strings.Builder
		b.Grow(len("set :hex ") + len(setting) + 3*len(s))
		b.WriteString("set " + setting + ":hex ")
		const digits = "0123456789abcdef"
		for i := 0; i < len(s); i++ {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteByte(digits[s[i]>>4])
			b.WriteByte(digits[s[i]&15])
		}
		setup = b.String()
	}
	return Quoted{Setup: setup, Word: "${" + setting + ":string}"}, nil
}

func validPrivateName(s string) bool {
	if s == "" || !(s[0] == '_' || isLetter(s[0])) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// QueryEscape percent-encodes s for a URL query or path segment: every
// byte except ASCII letters, digits and "-._~" becomes %XX, including
// "$", "{" and "}", so the result is always a plain literal token.
func QueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
