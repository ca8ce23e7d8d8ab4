package ipxescript

import (
	"fmt"
	"sort"
	"strings"
)

// Lint finding codes.
const (
	CodeMissingHeader     = "missing-header"     // no "#!ipxe"/"#!gpxe" at byte 0: iPXE will not run it as a script
	CodeUnknownCommand    = "unknown-command"    // not a built-in command
	CodeUnknownOption     = "unknown-option"     // option the command does not have
	CodeOptionArgument    = "option-argument"    // missing, unexpected or invalid option value
	CodeHelpOption        = "help-option"        // --help/-h prints usage and fails the command
	CodeArgCount          = "arg-count"          // wrong number of positional arguments
	CodeLateOption        = "late-option"        // an option after the first positional is an ordinary argument
	CodeBadInteger        = "bad-integer"        // integer/timeout/key iPXE cannot parse (e.g. 08)
	CodeUndefinedLabel    = "undefined-label"    // goto to a label that does not exist
	CodeDuplicateLabel    = "duplicate-label"    // a second definition is never reached by goto
	CodeUndefinedDefault  = "undefined-default"  // choose --default names no item
	CodeItemNoLabel       = "item-without-label" // "choose x" + "goto ${x}" but an item has no label
	CodeItemNoMenu        = "item-without-menu"  // item before any menu
	CodeUnknownType       = "unknown-type"       // ${name:type} with an unknown type (expands to "")
	CodeUnterminated      = "unterminated-expansion"
	CodeStatusTrap        = "status-trap"        // the line fails, and stops the script, when a test is false
	CodeNUL               = "nul-byte"           // iPXE ignores the rest of the line
	CodeTooDeep           = "too-deep"           // expansions nested deeper than MaxExpansionDepth (a tree Parse refuses)
	CodeNilNode           = "nil-node"           // a hand-built tree holds a nil word part (or f is nil)
	CodeTrailingBackslash = "trailing-backslash" // the file ends inside a continuation: iPXE fails the script there
)

// Finding is one lint result.
type Finding struct {
	Pos     Pos
	Code    string
	Message string
}

// String returns "line:col: code: message".
func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Pos, f.Code, f.Message) }

// testCommands fail as a normal "false" answer.
var testCommands = map[string]bool{"isset": true, "iseq": true, "prompt": true, "cpuid": true}

type linter struct {
	f      *File
	out    []Finding
	labels map[string]Pos
	items  map[string]bool
	argv   []string // parseArgs' buffer
}

func (l *linter) add(p Pos, code, format string, v ...any) {
	l.out = append(l.out, Finding{Pos: p, Code: code, Message: fmt.Sprintf(format, v...)})
}

// Lint checks a parsed script against iPXE's rules and the command
// schemas and returns the findings sorted by position.
func Lint(f *File) []Finding {
	l := &linter{f: f, labels: map[string]Pos{}, items: map[string]bool{}}
	// A tree built by hand may hold nil nodes: it gets only this finding.
	if pos, msg := findNilNode(f); msg != "" {
		l.add(pos, CodeNilNode, "%s: not a script iPXE could read", msg)
		return l.out
	}
	// A tree built by hand may nest deeper than Parse allows; the checks
	// below recurse once per level, so such a tree gets only this finding.
	for lni := range f.Lines {
		ln := &f.Lines[lni]
		for ci := range ln.Cmds {
			c := &ln.Cmds[ci]
			for wi := range c.Words {
				w := &c.Words[wi]
				if tooDeep(w.list(), MaxExpansionDepth) {
					l.add(w.Pos(), CodeTooDeep, "settings expansions nested deeper than %d: Parse refuses this word", MaxExpansionDepth)
				}
			}
		}
	}
	if len(l.out) > 0 {
		return l.out
	}
	if f.Header == HeaderNone {
		l.add(NewPos(0, 1, 1), CodeMissingHeader, `script does not start with "#!ipxe" followed by whitespace; iPXE will not run it as a script`)
	}
	for lni := range f.Lines {
		ln := &f.Lines[lni]
		if ln.Label != nil && !ln.Unterminated.IsValid() { // goto never finds it
			if first, dup := l.labels[ln.Label.Name]; dup {
				l.add(ln.Label.Colon, CodeDuplicateLabel, "label %q already defined at %s; goto always finds the first", ln.Label.Name, first)
			} else {
				l.labels[ln.Label.Name] = ln.Label.Colon
			}
		}
		for ci := range ln.Cmds {
			c := &ln.Cmds[ci]
			if c.Name() == "item" {
				if a, err := l.parseArgs(c); err == nil {
					if _, gap := a.Get("gap"); !gap && len(a.Positional) > 0 {
						l.items[a.Positional[0]] = true
					}
				}
			}
		}
	}
	chosen := map[string]bool{} // settings written by choose and used by goto ${x}
	for lni := range f.Lines {
		ln := &f.Lines[lni]
		for ci := range ln.Cmds {
			c := &ln.Cmds[ci]
			if c.Name() == "goto" && len(c.Words) == 2 {
				if ps := c.Words[1].list(); len(ps) == 1 {
					if e, ok := ps[0].(*Expansion); ok {
						if r, ok := e.Ref(); ok && r.Scope == "" {
							chosen[r.Name] = true
						}
					}
				}
			}
		}
	}
	var menuItems []*Word // items of the current menu, for item-without-label
	menuSeen := false
	for lni := range f.Lines {
		ln := &f.Lines[lni]
		if ln.Truncated.IsValid() {
			l.add(ln.Truncated, CodeNUL, "NUL byte: iPXE ignores the rest of this line")
		}
		if ln.Unterminated.IsValid() {
			l.add(ln.Unterminated, CodeTrailingBackslash, "the script ends inside this backslash continuation: iPXE never runs this line and fails the script when it gets here")
		}
		for ci := range ln.Cmds {
			c := &ln.Cmds[ci]
			for wi := range c.Words {
				w := &c.Words[wi]
				l.word(w)
			}
			name := c.Name()
			spec, known := LookupCommand(name)
			if !known {
				l.cmd(c, nil, nil, nil)
				continue
			}
			a, err := l.parseArgs(c)
			switch name {
			case "menu":
				menuItems = nil
				menuSeen = true
			case "item":
				if !menuSeen {
					l.add(c.Words[0].Pos(), CodeItemNoMenu, "item before any menu command: iPXE fails it")
				}
				if err == nil {
					if _, gap := a.Get("gap"); !gap && len(a.Positional) > 0 {
						menuItems = append(menuItems, &c.Words[a.PositionalIndex])
					}
				}
			case "choose":
				if err == nil && len(a.Positional) == 1 {
					if r := ParseSettingRef(a.Positional[0]); chosen[r.Name] {
						for _, it := range menuItems {
							if name, ok := it.Literal(); ok {
								if _, has := l.labels[name]; !has {
									l.add(it.Pos(), CodeItemNoLabel, "item %q has no label :%s, but the choice is used by goto ${%s}", name, name, r.Name)
								}
							}
						}
					}
				}
			}
			l.cmd(c, spec, a, err)
		}
		l.statusTrap(ln)
	}
	sort.SliceStable(l.out, func(i, j int) bool { return l.out[i].Pos.Offset() < l.out[j].Pos.Offset() })
	return l.out
}

// parseArgs parses the arguments of c, a built-in command, as iPXE does.
// The Args' Positional share a buffer with the next call: use them before.
func (l *linter) parseArgs(c *Cmd) (*Args, error) {
	spec, _ := LookupCommand(c.Name())
	l.argv = l.argv[:0]
	for wi := range c.Words {
		w := &c.Words[wi]
		l.argv = append(l.argv, w.Text())
	}
	return spec.ParseArgs(l.argv)
}

func (l *linter) word(w *Word) {
	if w.inline {
		l.lit(&w.lit)
		return
	}
	l.parts(w.list())
}

// lit reports a "${" that no "}" closes in a literal.
func (l *linter) lit(p *Lit) {
	if i := strings.Index(p.Value, "${"); i >= 0 {
		l.add(p.ValuePos.advance(i), CodeUnterminated, "%q has no closing }: it stays literal text", p.Value[i:])
	}
}

func (l *linter) parts(parts []WordPart) {
	for _, p := range parts {
		switch p := p.(type) {
		case *Lit:
			l.lit(p)
		case *Expansion:
			if r, ok := p.Ref(); ok && r.Type != "" && !IsSettingType(r.Type) {
				l.add(p.Dollar, CodeUnknownType, "unknown setting type %q: ${%s} expands to an empty string", r.Type, r)
			}
			l.parts(p.Parts)
		}
	}
}

// cmd checks a command: spec is nil when it is not a built-in, else a
// and err are what parseArgs returned for it.
func (l *linter) cmd(c *Cmd, spec *CommandSpec, a *Args, err error) {
	if len(c.Words) == 0 {
		return
	}
	name, ok := c.Words[0].Literal()
	if !ok {
		return
	}
	if spec == nil {
		l.add(c.Words[0].Pos(), CodeUnknownCommand, "unknown command %q (iPXE: command not found)", name)
		return
	}
	if err != nil {
		ae := err.(*ArgError)
		p := c.Words[0].Pos()
		if ae.Index > 0 {
			p = c.Words[ae.Index].Pos()
		}
		code := CodeOptionArgument
		switch {
		case ae.Index < 0:
			code = CodeArgCount
		case strings.Contains(ae.Msg, "unrecognized") || strings.Contains(ae.Msg, "invalid option"):
			code = CodeUnknownOption
		}
		l.add(p, code, "%s", ae.Error())
		return
	}
	if a.Help {
		l.add(c.Words[0].Pos(), CodeHelpOption, "%s --help prints usage and fails the command", name)
		return
	}
	// Option values.
	for _, o := range a.Options {
		if !o.Spec.HasArg || strings.Contains(o.Value, "${") {
			continue
		}
		l.checkValue(c.Words[o.Index].Pos(), name, valueName{option: o.Spec.Long}, o.Spec.Kind, o.Value)
		if name == "choose" && o.Spec.Long == "default" && !l.items[o.Value] {
			l.add(c.Words[o.Index].Pos(), CodeUndefinedDefault, "choose --default %q: no item with that name", o.Value)
		}
	}
	for i, v := range a.Positional {
		w := c.Words[a.PositionalIndex+i]
		if strings.Contains(v, "${") {
			continue
		}
		kind := spec.ArgKindAt(i)
		l.checkValue(w.Pos(), name, valueName{arg: i + 1}, kind, v)
		if kind == ArgLabel {
			if _, ok := l.labels[v]; !ok {
				l.add(w.Pos(), CodeUndefinedLabel, "goto %q: no label :%s in this script", v, v)
			}
		}
		if i > 0 && strings.HasPrefix(v, "--") && len(v) > 2 {
			if _, isOpt := spec.Option(strings.SplitN(v[2:], "=", 2)[0]); isOpt {
				l.add(w.Pos(), CodeLateOption, "%s after the first argument is not an option (iPXE stops at the first non-option); move it before", v)
			}
		}
	}
}

// valueName names an option ("--timeout") or a positional argument
// ("argument 2") in findings; it is formatted only when there is one.
type valueName struct {
	option string
	arg    int
}

func (n valueName) String() string {
	if n.option != "" {
		return "--" + n.option
	}
	return fmt.Sprintf("argument %d", n.arg)
}

func (l *linter) checkValue(p Pos, cmd string, what valueName, kind ArgKind, v string) {
	switch kind {
	case ArgInt, ArgTimeout, ArgSeconds:
		if _, err := ParseInteger(v); err != nil {
			l.add(p, CodeBadInteger, "%s %s: %q is not an integer iPXE accepts (decimal, 0x hex, leading 0 = octal)", cmd, what, v)
		}
	case ArgKey:
		if len(v) > 1 {
			if _, err := ParseInteger(v); err != nil {
				l.add(p, CodeBadInteger, "%s %s: %q is neither one character nor a key code", cmd, what, v)
			}
		}
	case ArgSetting:
		if r := ParseSettingRef(v); r.Type != "" && !IsSettingType(r.Type) {
			l.add(p, CodeUnknownType, "%s %s: unknown setting type %q", cmd, what, r.Type)
		}
	}
}

// outcome of a command for status analysis.
type outcome uint8

const (
	okStatus outcome = 1 << iota
	falseStatus
	failStatus
)

// statusTrap finds lines whose final status can be a test's "false": iPXE
// then stops the whole script (e.g. "iseq a b && goto x").
func (l *linter) statusTrap(ln *Line) {
	if len(ln.Cmds) == 0 {
		return
	}
	state := okStatus
	var falseFrom *Cmd
	for ci := range ln.Cmds {
		c := &ln.Cmds[ci]
		var run outcome
		switch c.Op {
		case OpAnd:
			run = state & okStatus
		case OpOr:
			run = state & (falseStatus | failStatus)
		default:
			run = state
		}
		if run == 0 {
			continue
		}
		skip := state &^ run
		name := c.Name()
		var res outcome
		switch {
		case len(c.Words) == 0:
			res = okStatus
		case name == "goto" || name == "exit":
			res = 0 // the line ends (successfully) or the script ends
		case name == "prompt" && !l.promptCanFail(c):
			res = okStatus
		case testCommands[name]:
			res = okStatus | falseStatus
			falseFrom = c
		default:
			res = okStatus | failStatus
		}
		state = skip | res
		if state == 0 {
			return
		}
	}
	if state&falseStatus != 0 && falseFrom != nil {
		l.add(falseFrom.Words[0].Pos(), CodeStatusTrap,
			"when %s is false this line fails and iPXE stops the script; end the line with \"||\" or handle it with \"|| goto ...\"", falseFrom.Name())
	}
}

// promptCanFail: without --key or --timeout, prompt waits for any key and
// succeeds.
func (l *linter) promptCanFail(c *Cmd) bool {
	a, err := l.parseArgs(c)
	if err != nil {
		return true
	}
	_, k := a.Get("key")
	_, t := a.Get("timeout")
	return k || t
}
