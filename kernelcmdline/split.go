package kernelcmdline

// Arg is one argument as Linux's parse_args (kernel/params.c) with
// next_arg (lib/cmdline.c) sees it: Name, and Value when HasValue (the
// argument had an "=").
type Arg struct {
	Name     string
	Value    string
	HasValue bool
}

// Split splits a kernel command line exactly as parse_args
// (kernel/params.c) with next_arg (lib/cmdline.c): skip leading spaces,
// then per argument: a leading '"' starts quoted mode; scan to the first
// space outside quotes, every '"' toggling the quote state; the first '='
// splits param and value; a value starting with '"' loses it and the
// argument's last byte if that is '"'; in quoted mode the argument's last
// '"' is dropped too; trailing spaces are skipped. Parsing stops at a bare
// "--" (the rest goes to init). There is no escape character.
func Split(cmdline string) []Arg {
	args := []byte(cmdline)
	var out []Arg
	p := 0
	skip := func() {
		for p < len(args) && IsSpace(args[p]) {
			p++
		}
	}
	skip()
	for p < len(args) {
		a := args[p:]
		quoted := false
		inQuote := false
		if a[0] == '"' {
			a = a[1:]
			p++
			inQuote, quoted = true, true
		}
		i, equals := 0, 0
		for ; i < len(a); i++ {
			if IsSpace(a[i]) && !inQuote {
				break
			}
			if equals == 0 && a[i] == '=' {
				equals = i
			}
			if a[i] == '"' {
				inQuote = !inQuote
			}
		}
		// Work on a copy of the argument: next_arg writes NULs into it.
		arg := append([]byte(nil), a[:i]...)
		cut := len(arg) // C string end of the whole argument
		var la Arg
		valStart := -1
		if equals != 0 {
			valStart = equals + 1
			if valStart < len(arg) && arg[valStart] == '"' {
				valStart++
				if i > 0 && arg[i-1] == '"' {
					cut = min(cut, i-1)
				}
			}
		}
		if quoted && i > 0 && arg[i-1] == '"' {
			cut = min(cut, i-1)
		}
		if equals != 0 {
			la.Name, la.HasValue = string(arg[:equals]), true
			if valStart < cut {
				la.Value = string(arg[valStart:cut])
			}
		} else {
			la.Name = string(arg[:cut])
		}
		if !la.HasValue && la.Name == "--" {
			return out
		}
		out = append(out, la)
		p += i
		if p < len(args) {
			p++ // the space that ended the argument
		}
		skip()
	}
	return out
}
