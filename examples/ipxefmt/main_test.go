package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/internal/shared"
	"github.com/pxekit/pxekit/ipxescript"
)

const messy = "#!ipxe\r\n  :retry   dhcp  ||  goto retry   \r\n\r\n\r\nchain   http://${next-server}/boot.ipxe  # next\r\n"
const tidy = "#!ipxe\n:retry dhcp || goto retry\n\nchain http://${next-server}/boot.ipxe # next\n"

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStdin(t *testing.T) {
	code, out, errs := runCmd(t, messy)
	if code != 0 || out != tidy || errs != "" {
		t.Errorf("code %d out %q err %q", code, out, errs)
	}
	code, out, _ = runCmd(t, messy, "-indent", "0")
	if code != 0 || out != tidy {
		t.Errorf("indent 0: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, messy, "-w"); code != 2 || !strings.Contains(errs, "standard input") {
		t.Errorf("-w on stdin: %d %q", code, errs)
	}
}

func TestParseErrorExit2(t *testing.T) {
	dir := t.TempDir()
	deep := "#!ipxe\necho " + strings.Repeat("${", ipxescript.MaxExpansionDepth+1) + "a" + strings.Repeat("}", ipxescript.MaxExpansionDepth+1) + "\n"
	bad := writeFile(t, dir, "bad.ipxe", deep, 0o644)
	code, out, errs := runCmd(t, "", "-w", bad)
	if code != 2 || out != "" || !strings.Contains(errs, bad+":2:6:") {
		t.Errorf("code %d out %q err %q", code, out, errs)
	}
	if b, _ := os.ReadFile(bad); string(b) != deep {
		t.Errorf("file with a parse error was changed")
	}
	// A script that ends inside a continuation parses (iPXE runs the
	// lines before it); -lint reports it and -w keeps the backslash.
	cont := writeFile(t, dir, "cont.ipxe", "#!ipxe\necho  a \\\n", 0o644)
	if code, out, errs := runCmd(t, "", "-lint", cont); code != 1 || !strings.Contains(out, cont+":2:9: trailing-backslash:") || errs != "" {
		t.Errorf("-lint: code %d out %q err %q", code, out, errs)
	}
	if code, _, errs := runCmd(t, "", "-w", cont); code != 0 || errs != "" {
		t.Errorf("-w: code %d err %q", code, errs)
	}
	if b, _ := os.ReadFile(cont); string(b) != "#!ipxe\necho a \\\n" {
		t.Errorf("-w wrote %q", b)
	}
	if code, _, errs := runCmd(t, "", filepath.Join(dir, "missing.ipxe")); code != 2 || errs == "" {
		t.Errorf("missing file: %d %q", code, errs)
	}
}

func TestListAndWrite(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.ipxe", messy, 0o640)
	b := writeFile(t, dir, "b.ipxe", tidy, 0o644)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	c := writeFile(t, sub, "c.ipxe", "echo  x\n", 0o644)
	writeFile(t, sub, "notes.txt", "echo  x\n", 0o644) // not .ipxe: ignored in a directory walk

	code, out, errs := runCmd(t, "", "-l", dir)
	if code != 0 || out != a+"\n"+c+"\n" || errs != "" {
		t.Errorf("-l: %d %q %q", code, out, errs)
	}
	code, out, _ = runCmd(t, "", "-l", b)
	if code != 0 || out != "" {
		t.Errorf("-l on tidy file: %d %q", code, out)
	}
	code, out, errs = runCmd(t, "", "-w", a, b)
	if code != 0 || out != "" || errs != "" {
		t.Errorf("-w: %d %q %q", code, out, errs)
	}
	got, _ := os.ReadFile(a)
	if string(got) != tidy {
		t.Errorf("-w wrote %q", got)
	}
	if fi, _ := os.Stat(a); fi.Mode().Perm() != 0o640 {
		t.Errorf("-w changed the mode to %v", fi.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*ipxefmt*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestDiffAppliesWithPatch(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.ipxe", messy+"echo end", 0o644)
	code, out, _ := runCmd(t, "", "-d", a)
	if code != 0 || !strings.HasPrefix(out, "--- "+a+".orig\n+++ "+a+"\n@@ ") {
		t.Fatalf("-d: %d %q", code, out)
	}
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed")
	}
	cmd := exec.Command("patch", "-s", a)
	cmd.Stdin = strings.NewReader(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("patch: %v %s", err, b)
	}
	got, _ := os.ReadFile(a)
	if string(got) != tidy+"echo end\n" {
		t.Errorf("patched file %q", got)
	}
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.ipxe", "echo  hi\nchian http://x\n", 0o644)
	code, out, _ := runCmd(t, "", "-lint", a)
	want := a + ":1:1: missing-header: "
	if code != 1 || !strings.HasPrefix(out, want) || !strings.Contains(out, a+":2:1: unknown-command: ") {
		t.Errorf("-lint: %d %q", code, out)
	}
	code, out, _ = runCmd(t, tidy, "-lint")
	if code != 0 || out != "" {
		t.Errorf("-lint clean stdin: %d %q", code, out)
	}
	code, out, _ = runCmd(t, "", "-lint", "-l", a)
	if code != 1 || !strings.HasSuffix(out, a+"\n") {
		t.Errorf("-lint -l: %d %q", code, out)
	}
}

// ownScripts is the ipxescript package's own scripts: NAME.ipxe formats
// to NAME.printed, or unchanged where that file is missing.
const ownScripts = "../../ipxescript/testdata/scripts"

// TestCorpusRewrite: every script formats with -w, to the printed form
// ipxescript's tests check for the own scripts; -l then lists nothing. The
// scripts are the project's own, plus the optional third-party corpus
// (../shared/corpus/ipxe) when present.
func TestCorpusRewrite(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join(ownScripts, "*.ipxe"))
	if len(names) == 0 {
		t.Fatalf("no scripts in %s", ownScripts)
	}
	want := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(strings.TrimSuffix(n, ".ipxe") + ".printed")
		if errors.Is(err, fs.ErrNotExist) {
			b, err = os.ReadFile(n)
		}
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Base(n)] = b
	}
	corpus := optionalCorpus(t)
	dir := t.TempDir()
	for _, n := range append(names, corpus...) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(n)
		if _, own := want[base]; own && !strings.HasPrefix(n, ownScripts) {
			base = "corpus-" + base // a corpus file with an own script's name
		}
		writeFile(t, dir, base, string(b), 0o644)
	}
	t.Logf("%d own scripts, %d from the shared corpus", len(names), len(corpus))
	if code, _, errs := runCmd(t, "", "-w", dir); code != 0 {
		t.Fatalf("-w: %d %s", code, errs)
	}
	for base, w := range want {
		if got, err := os.ReadFile(filepath.Join(dir, base)); err != nil || !bytes.Equal(got, w) {
			t.Errorf("%s after -w: %q, want %q (%v)", base, got, w, err)
		}
	}
	if code, out, _ := runCmd(t, "", "-l", dir); code != 0 || out != "" {
		t.Errorf("after -w, -l lists %q", out)
	}
}

// optionalCorpus lists the shared corpus's scripts, or nothing when it is
// not present; it fails only when $PXEKIT_SHARED asks for it.
func optionalCorpus(t *testing.T) []string {
	d, ok := shared.Optional(t, "corpus", "ipxe")
	if !ok {
		return nil
	}
	names, err := filepath.Glob(filepath.Join(d, "*.ipxe"))
	if err != nil || len(names) == 0 {
		t.Fatalf("%s holds no *.ipxe (%v)", d, err)
	}
	return names
}

// TestDeepNesting feeds 2 000 000 nested "${" (a 6 MB script), which once
// overflowed the stack in -lint and in plain formatting: now a clear
// error and exit status 2.
func TestDeepNesting(t *testing.T) {
	deep := "#!ipxe\necho " + strings.Repeat("${", 2_000_000) + "a" + strings.Repeat("}", 2_000_000) + "\n"
	for _, args := range [][]string{{"-lint"}, nil} {
		code, out, errs := runCmd(t, deep, args...)
		if code != 2 || out != "" || !strings.Contains(errs, "<standard input>:2:") ||
			!strings.Contains(errs, "settings expansions nested deeper than 1000") {
			t.Errorf("%v: exit %d, %d bytes out, stderr %.200q", args, code, len(out), errs)
		}
	}
	// At the limit it formats and lints as usual.
	ok := "#!ipxe\necho " + strings.Repeat("${", 1000) + "a" + strings.Repeat("}", 1000) + "\n"
	if code, out, errs := runCmd(t, ok, "-lint"); code != 0 || out != "" || errs != "" {
		t.Errorf("depth 1000 -lint: exit %d out %q err %q", code, out, errs)
	}
	if code, out, _ := runCmd(t, ok); code != 0 || out != ok {
		t.Errorf("depth 1000: exit %d, output differs: %v", code, out != ok)
	}
}
