package bootcfg

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// PXELinuxMaxLine is the longest line, in bytes without its line feed,
// that SYSLINUX reads whole: parse_config_file reads with fgets into a
// 4096-byte buffer, so the 4096th byte of a longer line starts a new
// directive.
const PXELinuxMaxLine = 4095

// ErrPXELinuxSyntax is wrapped by every error ParsePXELinux returns.
var ErrPXELinuxSyntax = errors.New("bootcfg: pxelinux")

// PXELinux is a PXELINUX/extlinux configuration file: the directives
// before the first label line, then the labels. Every line of the file
// is one directive, in order: comments, blank lines and keywords neither
// reader knows are kept, so that printing a parsed file keeps its meaning.
// A directive after a label line belongs to that label, as positions go,
// even when the loaders treat it as global (SYSLINUX reads "timeout"
// anywhere).
type PXELinux struct {
	Global []PXELinuxDirective
	Labels []PXELinuxLabel
}

// PXELinuxLabel is a label line ("label <Name>") and the directives after
// it up to the next label line.
type PXELinuxLabel struct {
	// Name is the rest of the label line. SYSLINUX uses its first word,
	// U-Boot all of it; built files have one word.
	Name       string
	Directives []PXELinuxDirective
}

// PXELinuxDirective is one line.
//
// Keyword is in lower case (both readers compare keywords without case):
// "kernel", "append"…, or "menu <word>" for the menu directives ("menu
// title", "menu label", "menu default"); "" for a blank line, "#" for a
// comment, whose text after the '#' is Value; "" with a Value for a line
// that starts with a control byte, which no reader takes as a directive. Value is the rest of the
// line after the blanks that follow the keyword, exactly (trailing blanks
// included). A "text" directive (SYSLINUX's "text help" … "endtext"
// block) holds the lines up to its "endtext" line in Text.
type PXELinuxDirective struct {
	Keyword string
	Value   string
	Text    []string
}

// ParsePXELinux reads a PXELINUX/extlinux configuration file.
//
// Lines end at LF; a CR ends the line's content as in SYSLINUX (so CRLF
// files read as expected). It refuses what the two loaders would read
// differently or what the printer could not write back: a NUL byte (it
// ends U-Boot's file), and a line longer than PXELinuxMaxLine.
func ParsePXELinux(src []byte) (*PXELinux, error) {
	if i := bytes.IndexByte(src, 0); i >= 0 {
		return nil, fmt.Errorf("%w: line %d: NUL byte (U-Boot stops reading the file there)", ErrPXELinuxSyntax, bytes.Count(src[:i], []byte("\n"))+1)
	}
	lines := strings.Split(string(src), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the final line feed ends the last line
	}
	f := &PXELinux{}
	add := func(d PXELinuxDirective) {
		if n := len(f.Labels); n > 0 {
			f.Labels[n-1].Directives = append(f.Labels[n-1].Directives, d)
		} else {
			f.Global = append(f.Global, d)
		}
	}
	for n := 0; n < len(lines); n++ {
		line, err := pxlLine(lines[n], n+1)
		if err != nil {
			return nil, err
		}
		d := pxlSplit(line)
		switch d.Keyword {
		case "label":
			f.Labels = append(f.Labels, PXELinuxLabel{Name: d.Value})
			continue
		case "text":
			// SYSLINUX reads lines up to one that starts with "endtext".
			for n+1 < len(lines) {
				n++
				body, err := pxlLine(lines[n], n+1)
				if err != nil {
					return nil, err
				}
				if pxlEndText(body) {
					break
				}
				d.Text = append(d.Text, body)
			}
		}
		add(d)
	}
	return f, nil
}

// pxlLine returns line n's content: up to its first CR, checked.
func pxlLine(s string, n int) (string, error) {
	if len(s) > PXELinuxMaxLine {
		return "", fmt.Errorf("%w: line %d: %d bytes, longer than %d (SYSLINUX reads the rest as another line)", ErrPXELinuxSyntax, n, len(s), PXELinuxMaxLine)
	}
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		s = s[:i]
	}
	return s, nil
}

// pxlSpace holds the blanks SYSLINUX's skipspace skips before a keyword
// and before a value (isspace; CR and LF never reach here). U-Boot skips
// only space and tab, so the printer refuses values starting with any.
const pxlSpace = " \t\v\f"

// pxlBlank reports whether a value starting with c would lose it.
func pxlBlank(c byte) bool { return strings.IndexByte(pxlSpace, c) >= 0 }

// pxlEndsWord reports whether c ends a keyword: SYSLINUX's my_isspace
// (menu.h: any byte up to ' ', and DEL), which looking_at requires after
// a keyword.
func pxlEndsWord(c byte) bool { return c <= ' ' || c == 0x7f }

// pxlWord returns s without its leading blanks cut where the first word
// ends: the word and the rest after it.
func pxlWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, pxlSpace)
	for i := 0; i < len(s); i++ {
		if pxlEndsWord(s[i]) {
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// pxlSplit splits a line (no line end) into its directive.
func pxlSplit(line string) PXELinuxDirective {
	t := strings.TrimLeft(line, pxlSpace)
	if t == "" {
		return PXELinuxDirective{}
	}
	if t[0] == '#' {
		return PXELinuxDirective{Keyword: "#", Value: t[1:]}
	}
	kw, rest := pxlWord(t)
	if kw == "" {
		return PXELinuxDirective{Value: t} // starts with a control byte: no directive
	}
	kw = pxlLower(kw)
	if kw == "menu" {
		if sub, r := pxlWord(rest); sub != "" {
			kw, rest = "menu "+pxlLower(sub), r
		}
	}
	return PXELinuxDirective{Keyword: kw, Value: strings.TrimLeft(rest, pxlSpace)}
}

// pxlEndText reports whether a line inside a text block ends it
// (SYSLINUX: looking_at(skipspace(line), "endtext")).
func pxlEndText(line string) bool {
	w, _ := pxlWord(line)
	return pxlLower(w) == "endtext"
}

// pxlLower lower-cases ASCII letters only, byte by byte, as the loaders
// compare.
func pxlLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Format writes the file: global directives first, then each label line
// with its directives indented by two spaces, one directive per line, a
// text directive's lines and then "endtext". It refuses a tree that would
// not read back the same (ParsePXELinux(Format()) gives an equal tree):
// a line break, CR or NUL anywhere, a value that starts with a blank, a
// keyword that is not one lower-case word (or "menu <word>"), a "label"
// directive outside Labels, a text line that would end the block, a line
// longer than PXELinuxMaxLine. (An empty, non-nil Text reads back as nil.)
func (f *PXELinux) Format() ([]byte, error) {
	var b bytes.Buffer
	for i, d := range f.Global {
		if d.Keyword == "label" {
			return nil, fmt.Errorf("bootcfg: pxelinux: global directive %d: a label directive (add a Label instead)", i)
		}
		if err := pxlWrite(&b, "", d); err != nil {
			return nil, fmt.Errorf("bootcfg: pxelinux: global directive %d: %w", i, err)
		}
	}
	for i, l := range f.Labels {
		label := PXELinuxDirective{Keyword: "label", Value: l.Name}
		if err := pxlWrite(&b, "", label); err != nil {
			return nil, fmt.Errorf("bootcfg: pxelinux: label %d: %w", i, err)
		}
		for j, d := range l.Directives {
			if d.Keyword == "label" {
				return nil, fmt.Errorf("bootcfg: pxelinux: label %d directive %d: a label directive inside a label (add a Label instead)", i, j)
			}
			if err := pxlWrite(&b, "  ", d); err != nil {
				return nil, fmt.Errorf("bootcfg: pxelinux: label %d (%q) directive %d: %w", i, l.Name, j, err)
			}
		}
	}
	return b.Bytes(), nil
}

// String returns Format's text, or "" when Format fails.
func (f *PXELinux) String() string {
	b, err := f.Format()
	if err != nil {
		return ""
	}
	return string(b)
}

// pxlWrite writes one directive line (and a text block's lines).
func pxlWrite(b *bytes.Buffer, indent string, d PXELinuxDirective) error {
	var line string
	switch {
	case d.Keyword == "":
		if w, _ := pxlWord(d.Value); w != "" || d.Text != nil || d.Value != "" && pxlBlank(d.Value[0]) {
			return errors.New("a line without keyword whose value starts with a word or a blank")
		}
		if err := pxlCheckText(d.Value); err != nil {
			return err
		}
		line = d.Value
	case d.Keyword == "#":
		if err := pxlCheckText(d.Value); err != nil {
			return fmt.Errorf("comment: %w", err)
		}
		line = "#" + d.Value
		if len(indent)+len(line) <= PXELinuxMaxLine {
			line = indent + line
		}
	default:
		if err := pxlCheckKeyword(d.Keyword); err != nil {
			return err
		}
		if w, _ := pxlWord(d.Value); d.Keyword == "menu" && w != "" {
			return errors.New(`keyword "menu" with a value: write "menu <word>" as the keyword`)
		}
		if d.Text != nil && d.Keyword != "text" {
			return fmt.Errorf("%s: text lines on a directive other than text", d.Keyword)
		}
		if err := pxlCheckText(d.Value); err != nil {
			return fmt.Errorf("%s: %w", d.Keyword, err)
		}
		if d.Value != "" && pxlBlank(d.Value[0]) {
			return fmt.Errorf("%s: value starts with a blank, which the loaders skip", d.Keyword)
		}
		line = d.Keyword
		switch {
		case d.Value == "":
		case pxlEndsWord(d.Value[0]):
			line += d.Value // a control byte ends the keyword already
		default:
			line += " " + d.Value
		}
		if len(indent)+len(line) <= PXELinuxMaxLine {
			line = indent + line // indent only where it fits
		}
	}
	if len(line) > PXELinuxMaxLine {
		return fmt.Errorf("%s: line of %d bytes, longer than %d (SYSLINUX reads the rest as another line)", d.Keyword, len(line), PXELinuxMaxLine)
	}
	b.WriteString(line)
	b.WriteByte('\n')
	if d.Keyword != "text" {
		return nil
	}
	for i, t := range d.Text {
		if err := pxlCheckText(t); err != nil {
			return fmt.Errorf("text line %d: %w", i, err)
		}
		if pxlEndText(t) {
			return fmt.Errorf("text line %d starts with endtext, which would end the block", i)
		}
		if len(t) > PXELinuxMaxLine {
			return fmt.Errorf("text line %d: %d bytes, longer than %d", i, len(t), PXELinuxMaxLine)
		}
		b.WriteString(t)
		b.WriteByte('\n')
	}
	b.WriteString(indent + "endtext\n")
	return nil
}

// pxlCheckText refuses the bytes no value can hold.
func pxlCheckText(s string) error {
	if i := strings.IndexAny(s, "\n\r\x00"); i >= 0 {
		return fmt.Errorf("byte %q at %d: a line break or NUL ends the directive", s[i], i)
	}
	return nil
}

// pxlCheckKeyword checks a keyword: one lower-case word, or "menu <word>".
func pxlCheckKeyword(kw string) error {
	word := kw
	if sub, ok := strings.CutPrefix(kw, "menu "); ok {
		word = sub
	}
	// '#' opens a comment only at the start of a line: "menu #x" is a
	// (meaningless, ignored) menu directive that parses back as itself.
	if word == "" || kw[0] == '#' {
		return fmt.Errorf("keyword %q: empty or a comment", kw)
	}
	for i := 0; i < len(word); i++ {
		c := word[i]
		if pxlEndsWord(c) {
			return fmt.Errorf("keyword %q: blank or control byte", kw)
		}
		if 'A' <= c && c <= 'Z' {
			return fmt.Errorf("keyword %q: upper case (keywords are written in lower case)", kw)
		}
	}
	return nil
}
