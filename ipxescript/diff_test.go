package ipxescript

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The differential test: cases in testdata/ipxe-diff/*.txt, each an iPXE
// script snippet with what real iPXE printed for it and how it ended,
// recorded by TestRealIPXEDiff (qemu_diff_test.go) under QEMU. The format
// is described in testdata/ipxe-diff/README. TestRunnerMatchesIPXE checks
// the dry-run Runner against every recording without QEMU.

const diffDir = "testdata/ipxe-diff"

// diffCase is one case: a snippet (the script without "#!ipxe") and what
// each iPXE version did with it.
type diffCase struct {
	Name string
	File string // file it was read from (base name)
	// Snippet is the script body; the script run is "#!ipxe\n"+Snippet.
	Snippet string
	// Rec maps a version key ("2019", "master") to its recording.
	Rec map[string]*diffRec
}

// diffRec is what one iPXE printed for a case.
type diffRec struct {
	// Lines is the console text, line by line: Diag marks iPXE's own
	// messages (usage, "invalid integer value", ...), which the Runner
	// does not predict; the others are what the script printed.
	Lines []diffLine
	// Unterminated: the last output line had no newline (echo -n).
	Unterminated bool
	// Status is "ok", "exit N" or "error 0xXXXXXXXX" (iPXE's errno).
	Status string
}

type diffLine struct {
	Text string
	Diag bool
}

// Output is what the script printed (iPXE's messages left out).
func (r *diffRec) Output() string {
	var b strings.Builder
	var out []string
	for _, l := range r.Lines {
		if !l.Diag {
			out = append(out, l.Text)
		}
	}
	for i, l := range out {
		b.WriteString(l)
		if i < len(out)-1 || !r.Unterminated {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Script is the file iPXE runs for the case.
func (c *diffCase) Script() []byte { return []byte("#!ipxe\n" + c.Snippet) }

// parseDiffFile reads the case format (see testdata/ipxe-diff/README).
func parseDiffFile(name string, data []byte) ([]*diffCase, error) {
	var cases []*diffCase
	var cur *diffCase
	var rec *diffRec
	var snippet []string
	flush := func() {
		if cur == nil || rec != nil {
			return // no case yet, or its snippet is done
		}
		for len(snippet) > 0 && snippet[len(snippet)-1] == "" {
			snippet = snippet[:len(snippet)-1]
		}
		var b strings.Builder
		for _, l := range snippet {
			if raw, ok := strings.CutPrefix(l, "@raw "); ok {
				s, _ := strconv.Unquote(raw) // checked when read
				b.WriteString(s)
				continue
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
		cur.Snippet = b.String()
		snippet = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, args...))
		}
		switch {
		case strings.HasPrefix(line, "=== "):
			flush()
			cur = &diffCase{Name: strings.TrimSpace(line[4:]), File: name, Rec: map[string]*diffRec{}}
			rec = nil
			if cur.Name == "" || strings.ContainsAny(cur.Name, " \t") {
				return nil, bad("case name %q: want one word", cur.Name)
			}
			cases = append(cases, cur)
		case cur == nil:
			if line != "" && !strings.HasPrefix(line, "#") {
				return nil, bad("text before the first case: %q", line)
			}
		case strings.HasPrefix(line, "--- "):
			flush()
			v := strings.TrimSpace(line[4:])
			if cur.Rec[v] != nil {
				return nil, bad("two recordings for %s", v)
			}
			rec = &diffRec{}
			cur.Rec[v] = rec
		case rec == nil:
			if raw, ok := strings.CutPrefix(line, "@raw "); ok {
				if _, err := strconv.Unquote(raw); err != nil {
					return nil, bad("@raw wants a Go-quoted string: %v", err)
				}
			}
			snippet = append(snippet, line)
		default:
			tag, text, _ := strings.Cut(line, " ")
			switch tag {
			case "status":
				rec.Status = text
			case ">", ">n", "!", ">q", ">nq", "!q":
				if strings.HasSuffix(tag, "q") {
					s, err := strconv.Unquote(text)
					if err != nil {
						return nil, bad("%s wants a Go-quoted string: %v", tag, err)
					}
					text = s
				}
				if rec.Unterminated {
					return nil, bad("line after an unterminated (>n) line")
				}
				rec.Lines = append(rec.Lines, diffLine{Text: text, Diag: tag[0] == '!'})
				rec.Unterminated = strings.HasPrefix(tag, ">n")
			case "":
			default:
				return nil, bad("unknown recording line %q", line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	flush()
	return cases, nil
}

// printable reports whether s reads the same in a text file and on
// iPXE's console: printable ASCII, no leading or trailing space.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return strings.TrimSpace(s) == s && utf8.ValidString(s)
}

// formatDiffRec writes a recording in the case format.
func formatDiffRec(b *strings.Builder, version string, r *diffRec) {
	fmt.Fprintf(b, "--- %s\n", version)
	for i, l := range r.Lines {
		tag := ">"
		if l.Diag {
			tag = "!"
		} else if r.Unterminated && i == len(r.Lines)-1 {
			tag = ">n"
		}
		if printable(l.Text) {
			fmt.Fprintf(b, "%s %s\n", tag, l.Text)
		} else {
			fmt.Fprintf(b, "%sq %s\n", tag, strconv.Quote(l.Text))
		}
	}
	fmt.Fprintf(b, "status %s\n", r.Status)
}

// formatDiffSnippet writes a snippet, quoting lines that would not
// survive a text file (control bytes, a missing final newline).
func formatDiffSnippet(b *strings.Builder, s string) {
	for s != "" {
		line, rest, nl := strings.Cut(s, "\n")
		s = rest
		ok := nl && !strings.HasPrefix(line, "=== ") && !strings.HasPrefix(line, "--- ") &&
			!strings.HasPrefix(line, "@raw ") && utf8.ValidString(line) && line != ""
		for i := 0; ok && i < len(line); i++ {
			ok = line[i] >= 0x20 && line[i] != 0x7f || line[i] == '\t'
		}
		if ok || line == "" && nl && s != "" {
			b.WriteString(line + "\n")
			continue
		}
		if nl {
			line += "\n"
		}
		fmt.Fprintf(b, "@raw %s\n", strconv.Quote(line))
	}
}

// rewriteDiffFile writes cases back with their recordings; the header
// (comment lines before the first case) is kept.
func rewriteDiffFile(path string, header string, cases []*diffCase) error {
	var b strings.Builder
	b.WriteString(header)
	for _, c := range cases {
		fmt.Fprintf(&b, "\n=== %s\n", c.Name)
		formatDiffSnippet(&b, c.Snippet)
		var vs []string
		for v := range c.Rec {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		for _, v := range vs {
			formatDiffRec(&b, v, c.Rec[v])
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// diffHeader returns the comment lines before the first case.
func diffHeader(data []byte) string {
	i := bytes.Index(data, []byte("\n=== "))
	if bytes.HasPrefix(data, []byte("=== ")) {
		return ""
	}
	if i >= 0 {
		data = data[:i+1]
	}
	return strings.TrimRight(string(data), "\n") + "\n"
}

// loadDiffCases reads every case file; names are unique across files.
func loadDiffCases(t *testing.T) (files []string, cases []*diffCase) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(diffDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files in %s (%v)", diffDir, err)
	}
	seen := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := parseDiffFile(filepath.Base(f), data)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if prev, dup := seen[c.Name]; dup {
				t.Fatalf("case %s in %s and %s", c.Name, prev, c.File)
			}
			seen[c.Name] = c.File
		}
		cases = append(cases, cs...)
	}
	return files, cases
}

// diffVersions maps a recording key to the Runner version it checks.
var diffVersions = map[string]Version{"2019": V2019, "master": Master}

// predictDiff runs a case in the dry-run Runner and returns what it
// printed and how it ended, in the recording's terms ("ok", "exit N",
// "error"). Images fetched by imgfetch/kernel are kept by name so that
// imgstat prints what iPXE's imgstat prints (src/usr/imgmgmt.c, imgstat:
// "<name> : <len> bytes" and the command line in quotes).
func predictDiff(c *diffCase, v Version) (out, status string) {
	f, err := Parse(c.Script(), c.Name+".ipxe")
	if err != nil {
		return "", "parse error: " + err.Error()
	}
	var sb strings.Builder
	images := map[string]string{}
	r := &Runner{Out: &sb, Version: v, MaxSteps: 100000, Command: func(argv []string) error {
		spec, ok := LookupCommand(argv[0])
		if !ok {
			return ErrCommandNotFound
		}
		a, err := spec.ParseArgs(argv)
		if err != nil {
			return err
		}
		canon := spec.Canonical
		if canon == "" {
			canon = spec.Name
		}
		switch canon {
		case "imgfetch":
			if len(a.Positional) == 0 {
				return fmt.Errorf("%s: no URI", argv[0])
			}
			name, named := a.Get("name")
			if !named {
				name = path.Base(a.Positional[0])
			}
			images[name] = strings.Join(a.Positional[1:], " ")
		case "imgstat":
			for _, n := range a.Positional {
				cmdline, ok := images[n]
				if !ok {
					return fmt.Errorf("%q: no such image", n)
				}
				// Every file probes as a PXE NBP on BIOS (src/arch/x86/image/pxe_image.c).
				fmt.Fprintf(&sb, "%s : %d bytes [PXE-NBP]", n, len(diffDummy))
				if cmdline != "" {
					sb.WriteString(` "` + cmdline + `"`) // printf " \"%s\"": no escaping
				}
				sb.WriteByte('\n')
			}
		case "imgfree":
			for _, n := range a.Positional {
				delete(images, n)
			}
		default:
			return fmt.Errorf("the differential test does not model %q", argv[0])
		}
		return nil
	}}
	res, err := r.Run(f)
	if err != nil {
		return sb.String(), "run error: " + err.Error()
	}
	switch {
	case res.Failed != nil:
		return sb.String(), "error"
	case res.Status != 0:
		// iPXE keeps |rc| in ${errno} (src/core/exec.c, execv).
		n := int64(res.Status)
		if n < 0 {
			n = -n
		}
		return sb.String(), fmt.Sprintf("exit %d", n)
	}
	return sb.String(), "ok"
}

// diffDummy is the file the cases fetch as an image (tftp://10.0.2.2/dummy).
const diffDummy = "dummy"

// statusClass drops the error number, which the Runner does not predict.
func statusClass(s string) string {
	if strings.HasPrefix(s, "error ") {
		return "error"
	}
	return s
}

// TestRunnerMatchesIPXE checks, without QEMU, that the dry-run Runner
// predicts exactly what real iPXE printed for every recorded case and how
// the case ended. Every mismatch is reported in one failure.
func TestRunnerMatchesIPXE(t *testing.T) {
	_, cases := loadDiffCases(t)
	var bad []string
	var checked int
	for _, c := range cases {
		if len(c.Rec) == 0 {
			bad = append(bad, fmt.Sprintf("%s (%s): no recording; run PXEKIT_RECORD=1 go test -run TestRealIPXEDiff ./ipxescript/", c.Name, c.File))
			continue
		}
		var vs []string
		for k := range c.Rec {
			vs = append(vs, k)
		}
		sort.Strings(vs)
		for _, k := range vs {
			v, ok := diffVersions[k]
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: unknown iPXE version %q", c.Name, k))
				continue
			}
			rec := c.Rec[k]
			checked++
			out, status := predictDiff(c, v)
			if out != rec.Output() || status != statusClass(rec.Status) {
				bad = append(bad, fmt.Sprintf("%s (%s, iPXE %s):\n    want (iPXE)   %q status %s\n    got  (Runner) %q status %s",
					c.Name, c.File, k, rec.Output(), rec.Status, out, status))
			}
		}
	}
	t.Logf("%d cases, %d recordings checked, %d mismatches", len(cases), checked, len(bad))
	if len(bad) > 0 {
		t.Errorf("the Runner disagrees with real iPXE in %d recordings:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
}

// TestDiffFormat checks that the case format reads back what it writes,
// including snippets that need quoting and unterminated output.
func TestDiffFormat(t *testing.T) {
	c := &diffCase{Name: "x", Snippet: "echo a\n\n@raw x\n=== y\necho \x01\r\nset x \\", Rec: map[string]*diffRec{
		"2019": {Lines: []diffLine{{Text: " lead"}, {Text: "Usage:", Diag: true}, {Text: "tail"}}, Unterminated: true, Status: "exit 3"},
	}}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.txt")
	if err := rewriteDiffFile(p, "# header\n", []*diffCase{c, {Name: "z", Snippet: "echo z\n", Rec: map[string]*diffRec{}}}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	got, err := parseDiffFile("c.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Snippet != c.Snippet || got[1].Snippet != "echo z\n" {
		t.Fatalf("snippets changed: %q\n%s", got[0].Snippet, data)
	}
	r := got[0].Rec["2019"]
	if r == nil || r.Output() != " lead\ntail" || r.Status != "exit 3" || len(r.Lines) != 3 || !r.Lines[1].Diag {
		t.Fatalf("recording changed: %+v\n%s", r, data)
	}
	if h := diffHeader(data); h != "# header\n" {
		t.Errorf("header %q", h)
	}
	for _, bad := range []string{"echo\n", "=== a\n--- 2019\nbogus\n", "=== a b\n", "=== a\n@raw x\n", "=== a\n--- 2019\n>q x\n"} {
		if _, err := parseDiffFile("bad", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
