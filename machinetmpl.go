package pxekit

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pxekit/pxekit/ipxescript"
	"github.com/pxekit/pxekit/kernelcmdline"
)

// Template placeholders (Machine.Template). Each is filled per request
// with one iPXE argument that iPXE reads back as exactly the value (see
// fillTemplate); {{cmdline}} with one argument per Cmdline element.
var templatePlaceholders = map[string]string{
	"name":      "the machine's Name",
	"mac":       "the requesting MAC (aa:bb:cc:dd:ee:ff)",
	"uuid":      "the machine's UUID, else the UUID iPXE sent",
	"ip":        "the client's IP address as the server saw it",
	"base_url":  "the base URL, without a trailing slash",
	"kernel":    "the Kernel URL (relative paths on the base URL)",
	"initrd":    "the first of Initrds as a URL",
	"cmdline":   "the Cmdline, one quoted Linux argument per element",
	"files_url": "the base of the machine's Files URLs: BASE/machine/MAC/files",
}

// templateVars is what a template is filled with for one request.
type templateVars struct {
	mac     net.HardwareAddr
	uuid    string
	ip      netip.Addr
	base    string // without a trailing slash
	fileURL func(string) string
}

// templatePrefix starts the private settings a filled template sets.
const templatePrefix = "_pxkt_"

// parseTemplate splits a template into text and placeholder names; it
// refuses an unterminated "{{" and an unknown placeholder.
func parseTemplate(s string) (parts []string, names []bool, err error) {
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return append(parts, s), append(names, false), nil
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			return nil, nil, fmt.Errorf("template: unterminated {{ at %q", clip(s[i:]))
		}
		name := s[i+2 : i+2+j]
		if _, ok := templatePlaceholders[name]; !ok {
			return nil, nil, fmt.Errorf("template: unknown placeholder {{%s}} (want one of %s)", clip(name), placeholderList())
		}
		parts, names = append(parts, s[:i], name), append(names, false, true)
		s = s[i+2+j+2:]
	}
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// placeholderList names the placeholders, sorted.
func placeholderList() string {
	var l []string
	for k := range templatePlaceholders {
		l = append(l, "{{"+k+"}}")
	}
	sort.Strings(l)
	return strings.Join(l, " ")
}

// fillTemplate returns m's Template with its placeholders filled from m
// and v. A value is written as ipxescript.Quote writes one argument: plain
// text as is, anything else through a private setting set on the line
// after the "#!ipxe" header ("set _pxkt_name:hex ..."), so that no value
// can end a command, start another, expand a setting or split into
// several words wherever the placeholder stands. The result must pass
// checkScript.
func fillTemplate(m Machine, v templateVars) ([]byte, error) {
	parts, isName, err := parseTemplate(m.Template)
	if err != nil {
		return nil, err
	}
	if err := checkPlaceholderPositions(parts, isName); err != nil {
		return nil, err
	}
	words := map[string]string{}
	var setup []string
	quote := func(setting, val string) (string, error) {
		q, err := ipxescript.Quote(val, templatePrefix+setting)
		if err != nil {
			return "", err
		}
		if q.Setup != "" {
			setup = append(setup, q.Setup)
		}
		return q.Word, nil
	}
	fill := func(name string) (string, error) {
		if w, ok := words[name]; ok {
			return w, nil
		}
		var w string
		var err error
		switch name {
		case "cmdline":
			ws := make([]string, len(m.Cmdline))
			for i, a := range m.Cmdline {
				var s string
				if s, err = kernelArgText(a); err != nil {
					break
				}
				if ws[i], err = quote("cmdline_"+strconv.Itoa(i), s); err != nil {
					break
				}
			}
			w = strings.Join(ws, " ")
		default:
			val := templateValue(name, m, v)
			if strings.HasPrefix(val, "-") {
				// iPXE parses options after expansion: "-n" would be an
				// option wherever the placeholder stands.
				err = fmt.Errorf("value %q starts with \"-\", which iPXE would read as an option", clip(val))
				break
			}
			w, err = quote(name, val)
		}
		if err != nil {
			return "", fmt.Errorf("template: {{%s}}: %w", name, err)
		}
		words[name] = w
		return w, nil
	}
	var body strings.Builder
	for i, p := range parts {
		if !isName[i] {
			body.WriteString(p)
			continue
		}
		w, err := fill(p)
		if err != nil {
			return nil, err
		}
		body.WriteString(w)
	}
	out := body.String()
	if len(setup) > 0 {
		head, rest, _ := strings.Cut(out, "\n")
		out = head + "\n" + strings.Join(setup, "\n") + "\n" + rest
	}
	if err := checkScript([]byte(out), "template"); err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// checkPlaceholderPositions refuses a template that puts a placeholder
// where a value would choose what runs rather than be an argument: in a
// command's name (the first word) or inside a setting expansion, where it
// would name the setting read ("${net0/{{name}}}").
func checkPlaceholderPositions(parts []string, isName []bool) error {
	var b strings.Builder
	for i, p := range parts {
		if isName[i] {
			p = "${" + templatePrefix + p + ":string}"
		}
		b.WriteString(p)
	}
	f, err := ipxescript.Parse([]byte(b.String()), "template")
	if err != nil {
		return err
	}
	for li := range f.Lines {
		l := &f.Lines[li]
		for ci := range l.Cmds {
			c := &l.Cmds[ci]
			for i := range c.Words {
				w := &c.Words[i]
				for _, part := range w.Parts() {
					e, ok := part.(*ipxescript.Expansion)
					if !ok || !strings.Contains(expansionText(e), templatePrefix) {
						continue
					}
					if i == 0 {
						return fmt.Errorf("template:%s: a placeholder in a command name (it would choose the command)", w.Pos())
					}
					for _, inner := range e.Parts {
						if _, nested := inner.(*ipxescript.Expansion); nested {
							return fmt.Errorf("template:%s: a placeholder inside ${...} (it would name the setting read)", w.Pos())
						}
					}
				}
			}
		}
	}
	return nil
}

// expansionText is e as written.
func expansionText(e *ipxescript.Expansion) string {
	w := ipxescript.NewWord(e)
	return w.Text()
}

// kernelArgText is one Cmdline element as Linux must read it:
// "name=value" quoted by ipxescript.QuoteKernelArg, a bare "name" as it is
// (the Builder's BootKernel rule).
func kernelArgText(a string) (string, error) {
	name, value, hasValue := strings.Cut(a, "=")
	if hasValue {
		return ipxescript.QuoteKernelArg(name, value)
	}
	if !kernelcmdline.ValidName(name) {
		return "", &ipxescript.KernelArgError{Name: name, Err: ipxescript.ErrKernelName}
	}
	return name, nil
}

// templateValue is the value of a scalar placeholder.
func templateValue(name string, m Machine, v templateVars) string {
	switch name {
	case "name":
		return m.Name
	case "mac":
		return v.mac.String()
	case "uuid":
		if m.UUID != "" {
			return m.UUID
		}
		return v.uuid
	case "ip":
		if v.ip.IsValid() {
			return v.ip.String()
		}
		return ""
	case "base_url":
		return v.base
	case "kernel":
		if m.Kernel == "" {
			return ""
		}
		return v.fileURL(m.Kernel)
	case "initrd":
		if len(m.Initrds) == 0 {
			return ""
		}
		return v.fileURL(m.Initrds[0])
	case "files_url":
		return machineFilesURL(v.base, v.mac)
	}
	return ""
}

// machineFilesURL is the base of a machine's Files URLs.
func machineFilesURL(base string, mac net.HardwareAddr) string {
	return base + "/machine/" + strings.ReplaceAll(mac.String(), ":", "-") + "/files"
}

// sampleVars fills a template at load time, to check it parses.
func sampleVars(m Machine) templateVars {
	const base = "http://192.0.2.1:8080"
	mac := m.MAC
	if len(mac) == 0 {
		mac = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	}
	return templateVars{mac: mac, uuid: "00000000-0000-0000-0000-000000000000", ip: netip.MustParseAddr("192.0.2.10"), base: base,
		fileURL: func(p string) string { return joinURL(base, p) }}
}

// maxMachineFiles bounds a machine's Files.
const maxMachineFiles = 1000

// checkMachineFiles refuses a Files name or path that is not a clean
// relative path: empty, ".", absolute, a ".." element, a backslash or a
// control byte.
func checkMachineFiles(files map[string]string) error {
	if len(files) > maxMachineFiles {
		return fmt.Errorf("pxekit: machine: files: more than %d", maxMachineFiles)
	}
	for name, p := range files {
		if err := checkRelPath(name); err != nil {
			return fmt.Errorf("pxekit: machine: files: name %q: %w", name, err)
		}
		if err := checkRelPath(p); err != nil {
			return fmt.Errorf("pxekit: machine: files[%q]: path %q: %w", name, p, err)
		}
	}
	return nil
}

// checkRelPath refuses what is not a clean relative slash path.
func checkRelPath(p string) error {
	switch {
	case p == "" || p == ".":
		return errors.New("empty")
	case len(p) > maxPath:
		return fmt.Errorf("longer than %d bytes", maxPath)
	case strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }):
		return errors.New("holds a control character or backslash")
	case path.IsAbs(p):
		return errors.New("absolute (want a path relative to the files directory)")
	case p == ".." || strings.HasPrefix(p, "../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/../"):
		return errors.New("holds a .. element")
	case path.Clean(p) != p:
		return fmt.Errorf("not clean (want %q)", path.Clean(p))
	}
	return nil
}
