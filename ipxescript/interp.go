package ipxescript

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Step is one command the Runner executed (or decided the status of).
type Step struct {
	Line int // source line of the command's first word
	Pos  Pos // position of the command's first word
	Argv []string
	// Err is nil when the command succeeded.
	Err error
}

// Menu is a menu built by "menu" and "item" during a dry run.
type Menu struct {
	Name  string
	Title string
	Items []MenuItem
}

// MenuItem is one "item" of a Menu.
type MenuItem struct {
	Name    string // "" for a --gap separator
	Text    string
	Key     string
	Default bool
	Gap     bool
}

// Runner is a dry-run interpreter: it follows a script as iPXE would,
// expanding settings per token (after splitting, never re-splitting),
// evaluating the operators, goto, exit and the commands that only touch
// script state (echo, set, clear, inc, isset, iseq, menu, item, choose,
// read, prompt, sleep), and asks Command for the status of everything
// else (dhcp, chain, kernel, ...). The zero value is ready to use.
//
// Where iPXE master and the 2019 build differ, the Runner predicts master
// unless Version is V2019; the Version field lists the rules that differ.
// Integer settings read from more than 4 bytes are evaluated as 32-bit
// builds (the i386 BIOS ROM) do; see [Settings].
type Runner struct {
	// Settings are read and written by the script. nil: an empty store.
	Settings *Settings
	// Command decides the status of commands the Runner does not evaluate
	// itself (argv is fully expanded). nil: they all succeed. A successful
	// imgexec/chain/boot with --replace ends the script, as in iPXE.
	Command func(argv []string) error
	// Choose answers "choose"; nil picks the --default item, else the
	// item marked --default, else the first selectable item.
	Choose func(m *Menu, def string) (string, error)
	// Read answers "read <setting>"; nil fails the command (no input).
	Read func(setting string) (string, error)
	// Prompt answers "prompt"; nil fails (nobody pressed a key).
	Prompt func(text string) error
	// MaxSteps bounds the number of commands run (default 10000).
	MaxSteps int
	// Out receives what "echo" prints; nil discards it.
	Out *strings.Builder
	// Version is the iPXE the prediction is for, where iPXE versions
	// behave differently. The zero value is current master. The rules
	// that differ:
	//   - an empty integer argument (exit, sleep, the increment of inc):
	//     master fails (parse_integer, core/parseopt.c, since commit
	//     8830f2f35), 2019 reads it as 0, so "exit ${}" exits 0 there.
	//   - ${x:uristring} escapes "+" as "%2B" in master and leaves it in
	//     V2019 (core/uri.c uri_character_escaped).
	// Integer parsing is otherwise the same in both: strtoul base 0
	// (whitespace, sign, "0x", octal), truncated to 32 bits. Also the same
	// in both sources: base64, uristring and ipv4 input (base64_decode,
	// uri_decode, inet_aton), uristring output of NUL ("%00") and of bytes
	// >= 0x80 ("%FFFFFF80", a sign-extended char on x86), choose destroying
	// its menu unless --keep (menu_cmd.c in 2019, dynui_cmd.c in master),
	// empty setting names (parse_setting_name, setting_cmp), and a script
	// that ends inside a backslash continuation (process_script).
	Version Version
}

// Version names an iPXE release whose script behaviour the [Runner] can
// predict.
type Version int

const (
	// Master is iPXE's current master branch.
	Master Version = iota
	// V2019 is iPXE 1.0.0+git-20190125 (commit 36a4c85f), the build that
	// Debian and Ubuntu still ship in their ipxe packages.
	V2019
)

// String returns the version's name.
func (v Version) String() string {
	switch v {
	case Master:
		return "master"
	case V2019:
		return "2019"
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

// Result is the outcome of a dry run.
type Result struct {
	Steps []Step
	// Status is 0 when the script ran to its end or exited with 0, the
	// argument of "exit" otherwise, or 1 when a line failed.
	Status int
	// Failed is the step whose failure stopped the script, if any. When
	// the script reached a last line that ends inside a backslash
	// continuation (Line.Unterminated), Failed is a Step that is not in
	// Steps, with no Argv, at the backslash, and Err ErrTrailingBackslash.
	Failed *Step
}

// Argv returns the argv of every step.
func (r *Result) Argv() [][]string {
	out := make([][]string, len(r.Steps))
	for i, s := range r.Steps {
		out[i] = s.Argv
	}
	return out
}

// ErrStepLimit is returned when a dry run exceeds Runner.MaxSteps.
var ErrStepLimit = errors.New("ipxescript: step limit reached (endless loop?)")

// ErrTrailingBackslash is the status of a script that ends inside a
// backslash continuation, once the Runner reaches that last line:
// process_script (image/script.c) never runs the line and fails the
// script with EINVAL.
var ErrTrailingBackslash = errors.New("script ends inside a backslash continuation")

// ErrCommandNotFound is the status of an unknown command.
var ErrCommandNotFound = errors.New("command not found")

// errFalse is the status of a test that is false.
var errFalse = errors.New("false")

type control int

const (
	ctlNone control = iota
	ctlGoto
	ctlExit
)

type runState struct {
	r      *Runner
	f      *File
	s      *Settings
	res    *Result
	menus  []runMenu
	ctl    control
	target string
	exit   int
}

// Run executes f from its first line. It returns an error only when the run
// cannot complete (step limit, an expansion that never terminates); a
// script that fails is reported in Result.Failed and Result.Status. A
// tree holding nil nodes does not run: the error wraps ErrNilNode.
func (r *Runner) Run(f *File) (*Result, error) {
	st := &runState{r: r, f: f, s: r.Settings, res: &Result{}}
	if _, msg := findNilNode(f); msg != "" {
		return st.res, fmt.Errorf("%w: %s", ErrNilNode, msg)
	}
	if st.s == nil {
		st.s = &Settings{}
	}
	defer func(v Version) { st.s.version = v }(st.s.version)
	st.s.version = r.Version
	max := r.MaxSteps
	if max <= 0 {
		max = 10000
	}
	for li := 0; li < len(f.Lines); li++ {
		l := &f.Lines[li]
		if l.Unterminated.IsValid() {
			st.res.Status = 1
			st.res.Failed = &Step{Line: l.Unterminated.Line(), Pos: l.Unterminated, Err: ErrTrailingBackslash}
			return st.res, nil
		}
		err, stop := st.line(l, max)
		if stop != nil {
			return st.res, stop
		}
		switch st.ctl {
		case ctlExit:
			st.res.Status = st.exit
			return st.res, nil
		case ctlGoto:
			st.ctl = ctlNone
			found := -1
			for j, m := range f.Lines {
				if m.Label != nil && m.Label.Name == st.target {
					found = j
					break
				}
			}
			// goto already checked the label exists
			li = found - 1
			continue
		}
		if err != nil {
			st.res.Status = 1
			st.res.Failed = &st.res.Steps[len(st.res.Steps)-1]
			return st.res, nil
		}
	}
	return st.res, nil
}

// line runs one line and returns its status.
func (st *runState) line(l *Line, max int) (status error, stop error) {
	var rc error
	for ci := range l.Cmds {
		c := &l.Cmds[ci]
		run := true
		switch c.Op {
		case OpAnd:
			run = rc == nil
		case OpOr:
			run = rc != nil
		}
		if !run {
			continue
		}
		if len(c.Words) == 0 {
			rc = nil
			continue
		}
		if len(st.res.Steps) >= max {
			return nil, ErrStepLimit
		}
		argv := make([]string, len(c.Words))
		for j, w := range c.Words {
			v, err := st.s.Expand(w.Text())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", w.Pos(), err)
			}
			argv[j] = v
		}
		rc = st.exec(argv)
		st.res.Steps = append(st.res.Steps, Step{Line: c.Words[0].Pos().Line(), Pos: c.Words[0].Pos(), Argv: argv, Err: rc})
		if st.ctl != ctlNone {
			return rc, nil
		}
	}
	return rc, nil
}

func (st *runState) exec(argv []string) error {
	name := argv[0]
	spec, ok := LookupCommand(name)
	if !ok {
		return ErrCommandNotFound
	}
	a, err := spec.ParseArgs(argv)
	if err != nil {
		return err
	}
	if a.Help {
		return errors.New("help requested")
	}
	pos := a.Positional
	switch name {
	case "echo":
		if st.r.Out != nil {
			st.r.Out.WriteString(strings.Join(pos, " "))
			if _, n := a.Get("n"); !n {
				st.r.Out.WriteByte('\n')
			}
		}
		return nil
	case "goto":
		for li := range st.f.Lines {
			l := &st.f.Lines[li]
			// goto_exec's process_script never reaches a label on an
			// unterminated last line.
			if l.Label != nil && l.Label.Name == pos[0] && !l.Unterminated.IsValid() {
				st.ctl, st.target = ctlGoto, pos[0]
				return nil
			}
		}
		return fmt.Errorf("goto: no such label %q", pos[0])
	case "exit":
		st.ctl = ctlExit
		if len(pos) > 0 {
			n, err := st.parseInteger(pos[0])
			if err != nil {
				st.ctl = ctlNone
				return err
			}
			st.exit = int(int32(n))
		}
		return nil
	case "isset":
		if pos[0] == "" {
			return errFalse
		}
		return nil
	case "iseq":
		if pos[0] != pos[1] {
			return errFalse
		}
		return nil
	case "sleep":
		_, err := st.parseInteger(pos[0])
		return err
	case "set":
		return st.s.Set(pos[0], strings.Join(pos[1:], " "))
	case "clear":
		if err := checkType(pos[0], ParseSettingRef(pos[0])); err != nil {
			return err
		}
		st.s.Clear(pos[0])
		return nil
	case "inc":
		return st.inc(pos)
	case "menu":
		// create_menu (core/menu.c; create_dynui in master's core/dynui.c)
		// first destroys a menu of the same name; --delete then destroys
		// the new one.
		n, named := a.Get("name")
		if i := st.findMenu(n, named); i >= 0 {
			st.menus = slices.Delete(st.menus, i, i+1)
		}
		if _, del := a.Get("delete"); del {
			return nil
		}
		st.menus = append(st.menus, runMenu{Menu: &Menu{Name: n, Title: strings.Join(pos, " ")}, named: named})
		return nil
	case "item":
		m := st.menu(a)
		if m == nil {
			return errors.New("item: no such menu")
		}
		it := MenuItem{}
		it.Key, _ = a.Get("key")
		_, it.Default = a.Get("default")
		_, it.Gap = a.Get("gap")
		if it.Gap {
			it.Text = strings.Join(pos, " ")
		} else if len(pos) > 0 {
			it.Name, it.Text = pos[0], strings.Join(pos[1:], " ")
		}
		m.Items = append(m.Items, it)
		return nil
	case "choose":
		// choose_exec (hci/commands/menu_cmd.c; dynui_cmd.c in master):
		// the setting name is parsed before the menu is looked up, and
		// once found the menu is destroyed after the choice, whether it
		// succeeded or not, unless --keep.
		if err := checkType(pos[0], ParseSettingRef(pos[0])); err != nil {
			return err
		}
		i := st.findMenu(a.Get("menu"))
		if i < 0 {
			return errors.New("choose: no such menu")
		}
		m := st.menus[i].Menu
		if _, keep := a.Get("keep"); !keep {
			st.menus = slices.Delete(st.menus, i, i+1)
		}
		def, _ := a.Get("default")
		var choice string
		var err error
		if st.r.Choose != nil {
			choice, err = st.r.Choose(m, def)
		} else {
			choice, err = defaultChoice(m, def)
		}
		if err != nil {
			return err
		}
		ref := pos[0]
		if ParseSettingRef(ref).Type == "" {
			ref += ":string" // "Apply default type if necessary"
		}
		return st.s.Set(ref, choice)
	case "read":
		if st.r.Read == nil {
			return errors.New("read: no input")
		}
		v, err := st.r.Read(pos[0])
		if err != nil {
			return err
		}
		return st.s.Set(pos[0], v)
	case "prompt":
		if st.r.Prompt == nil {
			return errors.New("prompt: no key pressed")
		}
		return st.r.Prompt(strings.Join(pos, " "))
	}
	if st.r.Command != nil {
		if err := st.r.Command(argv); err != nil {
			return err
		}
	}
	if _, replace := a.Get("replace"); replace && (spec.Name == "imgexec" || spec.Canonical == "imgexec") {
		st.ctl, st.exit = ctlExit, 0 // tail call: the current script is replaced
	}
	return nil
}

// parseInteger is parse_integer (core/parseopt.c) for the Runner's
// Version: master rejects empty text, the 2019 build reads it as 0.
func (st *runState) parseInteger(v string) (uint32, error) {
	if v == "" && st.r.Version == V2019 {
		return 0, nil
	}
	n, err := ParseInteger(v)
	return uint32(n), err
}

// inc is inc_exec (hci/commands/nvo_cmd.c, the same in 2019 and master):
// it reads the setting as a number (fetchn_setting), adds the increment
// and stores the sum with the type it read (storen_setting), so int8 127
// becomes -128 and uint8 255 becomes 0x0. An unset setting counts as 0
// of the named or predefined type, else int32. A value whose type is not
// an integer type (string, hex, ipv4, ...) cannot be stored as a number:
// inc fails.
func (st *runState) inc(pos []string) error {
	r := ParseSettingRef(pos[0])
	if err := checkType(pos[0], r); err != nil {
		return err
	}
	inc := uint32(1)
	if len(pos) > 1 {
		n, err := st.parseInteger(pos[1])
		if err != nil {
			return err
		}
		inc = n
	}
	typ, value := predefinedType(r.Name, ""), uint32(0)
	if r.Type != "" {
		typ = r.Type
	}
	if v, ok := st.s.lookup(r); ok {
		if typ == "" {
			typ = v.typ
		}
		value, _ = numerate(typ, v.raw) // a failure counts as 0
	}
	if typ == "" {
		typ = "int32"
	}
	if intWidth(typ) == 0 {
		return fmt.Errorf("inc: %s: type %s is not a number", pos[0], typ)
	}
	st.s.store(r, typ, denumerate(typ, value+inc))
	return nil
}

// runMenu is a menu of a run; named tells an unnamed menu from one named "".
type runMenu struct {
	*Menu
	named bool
}

// findMenu is find_menu (core/menu.c; find_dynui in master): the menu with
// exactly this name, an unnamed one only for no name; -1 if none. There is
// at most one, as "menu" replaces a menu of the same name.
func (st *runState) findMenu(name string, named bool) int {
	for i, m := range st.menus {
		if m.named == named && m.Name == name {
			return i
		}
	}
	return -1
}

// menu is the menu that "item" with these options adds to.
func (st *runState) menu(a *Args) *Menu {
	if i := st.findMenu(a.Get("menu")); i >= 0 {
		return st.menus[i].Menu
	}
	return nil
}

func defaultChoice(m *Menu, def string) (string, error) {
	if def != "" {
		for _, it := range m.Items {
			if !it.Gap && it.Name == def {
				return def, nil
			}
		}
	}
	for _, it := range m.Items {
		if it.Default && !it.Gap {
			return it.Name, nil
		}
	}
	for _, it := range m.Items {
		if !it.Gap {
			return it.Name, nil
		}
	}
	return "", errors.New("choose: empty menu")
}
