package ipxescript

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// builderDiffFile holds the generated builder cases (builderDiffCases).
const builderDiffFile = "builder.txt"

// diffHostileExtra brings the builder cases past 64 values: bytes that
// matter in URLs and on kernel command lines, option look-alikes,
// expansions that are not closed.
var diffHostileExtra = []string{
	"a\x00b", "&=;+/", "\xff\x80", "?", "a=b c", `a"b`, "%00", "%", "a%2", "-n", "--n", " #", "&", "|",
	"a&&", "||b", "x=\"y z\"", `\\`, "a\\ b", "a\tb", "${net0/mac}", "é",
}

// builderDiffCases writes, for each hostile value, one case that passes
// the value through the builder as a set value, an echo argument, a
// kernel argument (KernelArg, shown by imgstat) and a URL query value
// (URIValue, decoded by iPXE's uri_decode through a uristring setting),
// and prints what iPXE stored: "${r:hexraw}" where the bytes fit on a
// line, "iseq" against a reference set from hex otherwise. A use the
// builder refuses (NUL, a double quote in a kernel value) is left out of
// the case, with a comment.
func builderDiffCases() []*diffCase {
	vals := append(append([]string{}, hostile...), diffHostileExtra...)
	var cases []*diffCase
	for i, v := range vals {
		var sn strings.Builder
		add := func(what string, build func(b *Builder)) {
			b := NewBuilder()
			build(b)
			s, err := b.Script()
			if err != nil {
				fmt.Fprintf(&sn, "# %s: refused by the builder\n", what)
				return
			}
			sn.WriteString(strings.TrimPrefix(string(s), "#!ipxe\n"))
		}
		show := func(b *Builder, what string) {
			if len(v) <= 64 {
				b.Cmd("echo", Raw(what+":${r:hexraw}"))
			} else {
				b.Cmd("iseq", Setting("r"), Setting("ref:string")).And("echo", Raw(what+":same")).Or("echo", Raw(what+":differ"))
			}
		}
		if v == "" {
			sn.WriteString("clear ref\n")
		} else {
			sn.WriteString("set ref:hex " + hexColon(v) + "\n")
		}
		add("set", func(b *Builder) {
			b.Cmd("set", Raw("r"), Value(v))
			show(b, "set")
		})
		add("echo", func(b *Builder) {
			b.Cmd("iseq", Value(v), Setting("ref:string")).And("echo", Raw("echo:one-arg")).Or("echo", Raw("echo:differ"))
			if printable(v) && len(v) <= 200 {
				b.Cmd("echo", Value(v))
			}
		})
		add("kernel", func(b *Builder) {
			ka := KernelArg("p", v)
			b.Cmd("imgfetch", Opt("name", Raw("k")), Raw("tftp://10.0.2.2/"+diffDummy), ka, Raw("quiet"))
			if printable(v) && len(v) <= 200 {
				b.Cmd("imgstat", Raw("k"))
			} else {
				b.Cmd("set", Raw("r"), ka)
				b.Cmd("echo", Raw("kernel:${r:hexraw}"))
			}
			b.Cmd("imgfree", Raw("k"))
		})
		add("url", func(b *Builder) {
			b.Cmd("set", Raw("r:uristring"), URIValue(v))
			show(b, "url")
			if len(v) <= 64 {
				b.Cmd("echo", Concat(Raw("http://10.0.2.2/boot?v="), URIValue(v)))
			}
		})
		cases = append(cases, &diffCase{Name: fmt.Sprintf("builder-%02d", i), File: builderDiffFile,
			Snippet: sn.String(), Rec: map[string]*diffRec{}})
	}
	return cases
}

// TestDiffBuilderCasesCurrent checks that the builder cases on file are
// what the builder writes today (else their recordings prove nothing):
// regenerate them with PXEKIT_RECORD=1 go test -run TestRealIPXEDiff.
func TestDiffBuilderCasesCurrent(t *testing.T) {
	_, cases := loadDiffCases(t)
	onFile := map[string]*diffCase{}
	for _, c := range cases {
		if c.File == builderDiffFile {
			onFile[c.Name] = c
		}
	}
	gen := builderDiffCases()
	if len(gen) < 64 {
		t.Errorf("only %d hostile values", len(gen))
	}
	for _, g := range gen {
		c := onFile[g.Name]
		if c == nil {
			t.Errorf("%s missing from %s", g.Name, builderDiffFile)
			continue
		}
		if c.Snippet != g.Snippet {
			t.Errorf("%s: the builder now writes\n%s\n%s has\n%s", g.Name, g.Snippet, builderDiffFile, c.Snippet)
		}
		delete(onFile, g.Name)
	}
	for n := range onFile {
		t.Errorf("%s in %s is no longer generated", n, builderDiffFile)
	}
}

// diffClearRx finds the settings a snippet writes, which the batch clears
// after the case so that the next case starts from empty settings, as
// each dry run does.
var diffClearRx = regexp.MustCompile(`(?m)(?:^|[;&|]|^\s*:\S+)\s*(?:set|clear|inc|read|choose|isset)\s+(?:-\S+\s+(?:\S+\s+)?)*([^\s:$]+)`)

// diffDriver writes the batch: one TFTP file per case and q.ipxe, which
// chains each case in turn ("chain" runs the case as a nested script and
// returns its status: src/image/script.c, script_exec, saves and restores
// the caller's position; "exit" stops only the case because
// terminate_on_exit_or_failure consumes the stop state), prints the
// case's status (${errno} holds |rc|, src/core/exec.c, execv), and clears
// what the case set.
func diffDriver(cases []*diffCase) map[string][]byte {
	files := map[string][]byte{diffDummy: []byte(diffDummy)}
	var d strings.Builder
	d.WriteString("#!ipxe\n")
	for i, c := range cases {
		name := fmt.Sprintf("c%d.ipxe", i)
		files[name] = c.Script()
		fmt.Fprintf(&d, "echo @@C %d\nchain %s && echo @@S ok || echo @@S ${errno}\n", i, name)
		seen := map[string]bool{}
		for _, m := range diffClearRx.FindAllStringSubmatch(c.Snippet, -1) {
			if n := m[1]; !seen[n] && !strings.HasPrefix(n, "net") {
				seen[n] = true
				fmt.Fprintf(&d, "clear %s ||\n", n)
			}
		}
	}
	d.WriteString("echo @@END\n")
	files["q.ipxe"] = []byte(d.String())
	return files
}

// consoleLines undoes the console's rendering: ANSI escapes dropped, CR
// dropped, and lines re-joined where SeaBIOS's serial mirror of the
// 80-column screen wrapped them (a line of exactly 80 columns continues
// on the next; a newline right after the wrap shows as an empty line).
func consoleLines(transcript string) []string {
	raw := strings.Split(strings.ReplaceAll(clean([]byte(transcript)), "\r", ""), "\n")
	var out []string
	var cur strings.Builder
	for _, l := range raw {
		cur.WriteString(l)
		if len(l) == 80 {
			continue
		}
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// diffDiagRx matches what iPXE itself prints when a command fails
// (src/core/parseopt.c, src/core/getopt.c, src/core/exec.c,
// src/hci/commands/*.c, src/usr/imgmgmt.c, src/image/script.c).
// Master names menus "user interfaces" (src/core/parseopt.c, parse_dynui).
var diffDiagRx = regexp.MustCompile(`^(".*": (invalid integer value|invalid UUID|no such network device|no such configurator|no such menu|no such user interface|no such scope|invalid setting|no such parameter list|no such image)` +
	`|No default (menu|user interface|parameter list)|\S+: command not found|Could not .*: .*|No image selected|Not in a script: .*` +
	`|Option ".*" (requires an argument|takes no argument)|Unrecognised option ".*"|Usage:` +
	`|\S+\.\.\. ok)$`) // the last: download progress (src/usr/imgmgmt.c, imgdownload)

var diffUsageEndRx = regexp.MustCompile(`^See \S+ for further information$`)

// parseDiffTranscript splits the batch's console into one recording per
// case (by index).
func parseDiffTranscript(transcript string) map[int]*diffRec {
	recs := map[int]*diffRec{}
	var cur *diffRec
	var body []string
	cont := false // the last body line had no newline
	usage := false
	skipProgress := false
	finish := func(status string) {
		r := cur
		r.Status = "ok"
		if status != "ok" {
			n, err := strconv.ParseUint(strings.TrimPrefix(status, "0x"), 16, 32)
			switch {
			case err != nil:
				r.Status = "unreadable " + status
			case n >= 1<<24: // iPXE error numbers carry a class in the top byte
				r.Status = fmt.Sprintf("error 0x%08x", n)
			default:
				r.Status = fmt.Sprintf("exit %d", n)
			}
			// chain's own report of the failure (imgexec_exec).
			if len(body) > 0 && strings.HasPrefix(body[len(body)-1], "Could not boot: ") {
				body = body[:len(body)-1]
				cont = false
			} else if len(body) > 0 {
				if i := strings.LastIndex(body[len(body)-1], "Could not boot: "); i > 0 {
					body[len(body)-1] = body[len(body)-1][:i]
					cont = true
				}
			}
		}
		screen := false
		for _, l := range body {
			// A curses screen (choose's menu, src/hci/mucurses) reaches
			// the serial mirror as one long line of padded text and
			// the empty rows under it.
			if strings.Contains(l, "        ") {
				screen = true
			} else if l != "" {
				screen = false
			}
			d := usage || screen || diffDiagRx.MatchString(l)
			if l == "Usage:" {
				usage = true
			}
			if usage && diffUsageEndRx.MatchString(l) {
				usage = false
			}
			r.Lines = append(r.Lines, diffLine{Text: l, Diag: d})
		}
		r.Unterminated = cont && len(r.Lines) > 0 && !r.Lines[len(r.Lines)-1].Diag
		cur, body, cont, usage = nil, nil, false, false
	}
	caseRx := regexp.MustCompile(`^@@C (\d+)$`)
	for _, l := range consoleLines(transcript) {
		if m := caseRx.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			cur = &diffRec{}
			recs[n] = cur
			skipProgress = true
			continue
		}
		if cur == nil {
			continue
		}
		if skipProgress && strings.HasSuffix(l, "... ok") {
			skipProgress = false
			continue
		}
		skipProgress = false
		if i := strings.Index(l, "@@S "); i >= 0 {
			if i > 0 {
				body = append(body, l[:i])
				cont = true
			}
			finish(strings.TrimSpace(l[i+4:]))
			continue
		}
		body = append(body, l)
	}
	return recs
}

// TestRealIPXEDiff boots real iPXE once over every case of the
// differential test (SeaBIOS and Debian's iPXE option ROM for a
// virtio 1.0 NIC, QEMU TCG, QEMU's user-mode DHCP/TFTP with restrict=on)
// and checks that iPXE still prints what is recorded. With
// PXEKIT_RECORD=1 it rewrites the recordings instead (and regenerates
// builder.txt). PXEKIT_IPXE_ROM and PXEKIT_IPXE_VERSION (default "2019")
// record another iPXE build, e.g. one built from master by hand.
func TestRealIPXEDiff(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	record := os.Getenv("PXEKIT_RECORD") == "1"
	version := os.Getenv("PXEKIT_IPXE_VERSION")
	if version == "" {
		version = "2019"
	}
	if _, ok := diffVersions[version]; !ok {
		t.Fatalf("PXEKIT_IPXE_VERSION=%q: want one of 2019, master", version)
	}
	files, cases := loadDiffCases(t)
	var kept []*diffCase
	for _, c := range cases {
		if c.File != builderDiffFile {
			kept = append(kept, c)
		}
	}
	old := map[string]*diffCase{}
	for _, c := range cases {
		old[c.Name] = c
	}
	gen := builderDiffCases()
	for _, g := range gen {
		if o := old[g.Name]; o != nil && o.File == builderDiffFile && o.Snippet == g.Snippet {
			g.Rec = o.Rec
		}
	}
	all := append(kept, gen...)

	tr := bootIPXEWith(t, ipxeBoot{Files: diffDriver(all), End: "@@END", Modern: true, ROM: os.Getenv("PXEKIT_IPXE_ROM")})
	if version == "2019" && !strings.Contains(tr, "iPXE 1.0.0+git-20190125") {
		t.Fatalf("this is not Debian's iPXE 2019 (set PXEKIT_IPXE_VERSION); console:\n%s", tail(tr, 2000))
	}
	if version != "2019" && strings.Contains(tr, "iPXE 1.0.0+git-20190125") {
		t.Fatalf("PXEKIT_IPXE_VERSION=%s but this is Debian's iPXE 2019 (set PXEKIT_IPXE_ROM)", version)
	}
	got := parseDiffTranscript(tr)
	var bad []string
	for i, c := range all {
		r := got[i]
		if r == nil || r.Status == "" {
			bad = append(bad, fmt.Sprintf("%s: no status on the console", c.Name))
			continue
		}
		if record {
			c.Rec[version] = r
			continue
		}
		want := c.Rec[version]
		if want == nil {
			bad = append(bad, fmt.Sprintf("%s: no %s recording (PXEKIT_RECORD=1 records it)", c.Name, version))
			continue
		}
		if fmt.Sprint(want) != fmt.Sprint(r) {
			var w, g strings.Builder
			formatDiffRec(&w, version, want)
			formatDiffRec(&g, version, r)
			bad = append(bad, fmt.Sprintf("%s (%s): recorded\n%s  iPXE now prints\n%s", c.Name, c.File, w.String(), g.String()))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d cases differ from their recordings:\n%s\nconsole tail:\n%s", len(bad), strings.Join(bad, "\n"), tail(tr, 3000))
	}
	if !record {
		return
	}
	byFile := map[string][]*diffCase{}
	for _, c := range all {
		byFile[c.File] = append(byFile[c.File], c)
	}
	names := []string{filepath.Join(diffDir, builderDiffFile)}
	for _, f := range files {
		if filepath.Base(f) != builderDiffFile {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	for _, f := range names {
		header := "# Generated by TestRealIPXEDiff (PXEKIT_RECORD=1) from the hostile values\n# of quote_test.go and qemu_diff_test.go: edit those, not this file.\n"
		if data, err := os.ReadFile(f); err == nil {
			header = diffHeader(data)
		}
		if err := rewriteDiffFile(f, header, byFile[filepath.Base(f)]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded %d cases for iPXE %s", len(all), version)
}

// TestParseDiffTranscript reads a console made up in the form SeaBIOS's
// serial mirror gives it (CR LF, ANSI escapes, 80-column wrap).
func TestParseDiffTranscript(t *testing.T) {
	a80, x80 := strings.Repeat("a", 80), strings.Repeat("x", 80)
	tr := "\x1b[2JiPXE 1.0.0+git-20190125\r\n@@C 0\r\nc0.ipxe... ok\r\n" + a80 + "\r\nbc\r\n" +
		"Usage:\r\n\n  echo [-n|--n] [...]\r\n\nSee http://ipxe.org/cmd/echo for further information\r\n" +
		"o\x1b[1mut\r\nCould not boot: Invalid argument (http://ipxe.org/1c162202)\r\n@@S 0x1c162202\r\n" +
		"@@C 1\r\nc1.ipxe... ok\r\npartial@@S 0x5\r\n" +
		"@@C 2\r\nc2.ipxe... ok\r\n" + x80 + "\r\n\n@@S ok\r\n@@END\r\n"
	got := parseDiffTranscript(tr)
	want := map[int]string{
		0: "--- v\n> " + a80 + "bc\n! Usage:\n! \n!q \"  echo [-n|--n] [...]\"\n! \n! See http://ipxe.org/cmd/echo for further information\n> out\nstatus error 0x1c162202\n",
		1: "--- v\n>n partial\nstatus exit 5\n",
		2: "--- v\n> " + x80 + "\nstatus ok\n",
	}
	if len(got) != len(want) {
		t.Fatalf("%d cases read, want %d", len(got), len(want))
	}
	for i, w := range want {
		var b strings.Builder
		formatDiffRec(&b, "v", got[i])
		if b.String() != w {
			t.Errorf("case %d:\n%s\nwant\n%s", i, b.String(), w)
		}
	}
}
