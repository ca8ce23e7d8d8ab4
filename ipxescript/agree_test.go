package ipxescript

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// agreeCase is one command run in iPXE and in the Runner: setup lines,
// then "cmd && echo [[id=show]] || echo [[id=FAIL]]". want is what Debian's
// iPXE 1.0.0+git-20190125 printed between the brackets (see
// TestRealIPXEAgree, which checks it again); master is the prediction for
// iPXE master where the two differ by source ("" = same as want).
type agreeCase struct {
	id     string
	setup  []string
	cmd    string
	show   string
	want   string
	master string
}

func b64Case(id, v, want string) agreeCase {
	return agreeCase{id: id, setup: []string{"clear x"}, cmd: "set x:base64 " + v, show: "${x:hexraw}", want: want}
}

func uriInCase(id, v, want string) agreeCase {
	return agreeCase{id: id, setup: []string{"clear u"}, cmd: "set u:uristring " + v, show: "${u:hexraw}", want: want}
}

func ipv4Case(id, v, want string) agreeCase {
	return agreeCase{id: id, setup: []string{"clear i"}, cmd: "set i:ipv4 " + v, show: "${i}", want: want}
}

func menuCase(id string, setup []string, cmd, show, want string) agreeCase {
	return agreeCase{id: id, setup: setup, cmd: cmd, show: show, want: want}
}

// agreeCases are issue 13's items 9-15, in one script (menus carry over
// from case to case, as they do in iPXE).
var agreeCases = []agreeCase{
	// 9. base64_decode (core/base64.c): whitespace skipped, padding needed.
	b64Case("B0", "QQ", "FAIL"),
	b64Case("B1", "QU JD", "414243"),
	b64Case("B2", "QQ==", "41"),
	b64Case("B3", "QUI=", "4142"),
	b64Case("B4", "QUJ", "FAIL"),
	b64Case("B5", "Q===", "FAIL"),
	b64Case("B6", "QQ=x", "FAIL"),
	b64Case("B7", "Q Q = =", "41"),
	b64Case("B8", "QR==", "41"),
	b64Case("B9", "=", "FAIL"),
	b64Case("B10", "QQ-=", "FAIL"),
	b64Case("B11", "QUJDRA", "FAIL"),
	b64Case("B12", "QUJDRA==", "41424344"),
	b64Case("B13", "QUJD=", "FAIL"),
	b64Case("B14", "Q", "FAIL"),
	b64Case("B15", "QUJDQ", "FAIL"),
	{id: "B16", setup: []string{"set tb:hex 51:09:51:0b:3d:0c:3d:0d", "clear x"}, cmd: "set x:base64 ${tb:string}", show: "${x:hexraw}", want: "41"},
	// 10. uri_encode (core/uri.c): every byte, NUL too; a byte >= 0x80 is a
	// negative char printed with %02X; master also escapes "+".
	{id: "U0", setup: []string{"set n:hex 61:00:62:2b:7e:7f:80:ff:25:20:3d"}, cmd: "isset ${n}", show: "${n:uristring}",
		want: "a%00b+~%7F%FFFFFF80%FFFFFFFF%25%20%3D", master: "a%00b%2B~%7F%FFFFFF80%FFFFFFFF%25%20%3D"},
	{id: "U1", setup: []string{"set n:hex 00"}, cmd: "isset ${n:hex}", show: "${n:uristring}", want: "%00"},
	// 11. uri_decode (core/uri.c): strtoul(hexbuf, &end, 16) on the next
	// two characters.
	uriInCase("I0", "%4", "04"),
	uriInCase("I1", "%4z", "047a"),
	uriInCase("I2", "%-1", "ff"),
	uriInCase("I3", "%zz", "257a7a"),
	uriInCase("I4", "%", "25"),
	uriInCase("I5", "a%", "6125"),
	uriInCase("I6", "%-z", "007a"),
	uriInCase("I7", "%+4", "04"),
	uriInCase("I8", "% 4", "04"),
	uriInCase("I9", "%%41", "2541"),
	uriInCase("I10", "%0x1", "007831"),
	uriInCase("I11", "%4%", "0425"),
	uriInCase("I12", "%41%42", "4142"),
	uriInCase("I13", "%-", "00"),
	uriInCase("I14", "%+", "00"),
	uriInCase("I15", "%ff%FF", "ffff"),
	uriInCase("I16", "%1g", "0167"),
	uriInCase("I17", "%-ff", "f166"),
	uriInCase("I18", "%G1", "254731"),
	// 12. inet_aton (net/ipv4.c): strtoul base 0 per part.
	ipv4Case("P0", "010.001.002.003", "8.1.2.3"),
	ipv4Case("P1", "0x0a.0.0.1", "10.0.0.1"),
	ipv4Case("P2", "08.1.1.1", "FAIL"),
	ipv4Case("P3", "1.2.3", "FAIL"),
	ipv4Case("P4", "1.2.3.4.5", "FAIL"),
	ipv4Case("P5", "-0.1.2.3", "0.1.2.3"),
	ipv4Case("P6", "+1.2.3.4", "1.2.3.4"),
	ipv4Case("P7", "0x.1.2.3", "0.1.2.3"),
	ipv4Case("P8", "256.1.1.1", "FAIL"),
	ipv4Case("P9", "1.2.3.-", "1.2.3.0"),
	ipv4Case("P10", "4294967297.1.1.1", "1.1.1.1"),
	ipv4Case("P11", "1..2.3", "FAIL"),
	ipv4Case("P12", "0X1.0377.0.0", "1.255.0.0"),
	ipv4Case("P13", "1.2.3.4x", "FAIL"),
	ipv4Case("P14", "-.-.-.-", "0.0.0.0"),
	ipv4Case("P15", "00000000000001.2.3.4", "1.2.3.4"),
	// 13. choose (hci/commands/menu_cmd.c, dynui_cmd.c in master) destroys
	// the menu unless --keep; menus are found by exact name, an unnamed
	// choose finds only the unnamed menu; "menu" replaces a menu of the
	// same name.
	menuCase("C1", []string{"menu M", "item a A"}, "choose --default a --timeout 1 x", "${x}", "a"),
	menuCase("C2", nil, "choose --default a --timeout 1 y", "${y}", "FAIL"),
	menuCase("C2b", nil, "item a2 A2", "ok", "FAIL"),
	menuCase("C3", []string{"menu K", "item b B"}, "choose --keep --default b --timeout 1 x", "${x}", "b"),
	menuCase("C4", nil, "choose --default b --timeout 1 x", "${x}", "b"),
	menuCase("C5", []string{"menu --name m1 T", "item --menu m1 c C"}, "choose --menu m1 --default c --timeout 1 z", "${z}", "c"),
	menuCase("C6", nil, "choose --menu m1 --timeout 1 z", "${z}", "FAIL"),
	menuCase("C7", []string{"menu --name m2 T2", "item --menu m2 d D"}, "choose --timeout 1 w", "${w}", "FAIL"),
	menuCase("C8", []string{"menu U", "item e E", "menu --name m3 T3", "item --menu m3 f F"}, "choose --menu m3 --default f --timeout 1 v", "${v}", "f"),
	menuCase("C9", nil, "choose --timeout 1 v", "${v}", "e"),
	menuCase("C10", []string{"menu --name d1 X", "item --menu d1 h H", "menu --name d1 --delete"}, "item --menu d1 i I", "ok", "FAIL"),
	menuCase("C11", []string{"menu R1", "item r1 R1", "menu R2", "item r2 R2"}, "choose --timeout 1 q", "${q}", "r2"),
	menuCase("C12", nil, "choose --timeout 1 q", "${q}", "FAIL"),
	menuCase("C13", []string{"menu --name k1 K1", "item --menu k1 k K"}, "choose --menu k1 --timeout 1 bad:bogus", "ok", "FAIL"),
	menuCase("C14", nil, "choose --menu k1 --timeout 1 kk", "${kk}", "k"),
	menuCase("C15", []string{"menu --name e1 E1"}, "choose --menu e1 --timeout 1 ee", "${ee}", "FAIL"),
	menuCase("C16", nil, "item --menu e1 e E", "ok", "FAIL"),
	// 15. process_script (image/script.c): a script ending in a
	// backslash continuation runs its earlier lines, then fails (EINVAL);
	// a label on that last line is never found.
	{id: "T1", cmd: "chain tftp://10.0.2.2/tb.ipxe", show: "ok", want: "FAIL"},
	{id: "T3", cmd: "chain tftp://10.0.2.2/tb2.ipxe", show: "ok", want: "FAIL"},
	// 14. parse_setting_name (core/settings.c) accepts an empty name;
	// setting_cmp never matches it, so the value cannot be read back.
	{id: "S1", cmd: "set scope/ v", show: "ok", want: "ok"},
	{id: "S2", cmd: "isset ok", show: "${scope/}|${}", want: "|"},
	{id: "S3", cmd: "set ${} w", show: "${}|${scope/}", want: "|"},
	{id: "S5", cmd: "set /x5 v2", show: "${/x5}|${x5}", want: "v2|v2"}, // an empty block name is the root (find_child_settings)
	{id: "S7", cmd: "set scope/:hex 41", show: "${scope/}", want: ""},
	{id: "S7b", cmd: "set scope/:hex zz", show: "ok", want: "FAIL"},
	{id: "S8", cmd: "clear scope/", show: "${scope/}", want: ""},
	{id: "S9", cmd: "set a.b/y z", show: "${a.b/y}|${y}", want: "z|z"},
}

// agreeFiles are the scripts the T cases chain: each ends inside a
// backslash continuation.
var agreeFiles = map[string]string{
	"tb.ipxe":  "#!ipxe\necho [[T0=ran]]\necho [[T0=never]] \\",
	"tb2.ipxe": "#!ipxe\ngoto x || echo [[T2=gotofail]]\necho [[T2=after]]\n:x echo [[T2=x]] \\\n",
}

const agreeEnd = "AGREE-END"

func agreeScript() string {
	var b strings.Builder
	b.WriteString("#!ipxe\n")
	for _, c := range agreeCases {
		for _, s := range c.setup {
			b.WriteString(s + "\n")
		}
		fmt.Fprintf(&b, "%s && echo [[%s=%s]] || echo [[%s=FAIL]]\n", c.cmd, c.id, c.show, c.id)
	}
	b.WriteString("echo " + agreeEnd + "\n")
	return b.String()
}

var markerRx = regexp.MustCompile(`\[\[([A-Za-z0-9]+)=(.*?)\]\]`)

// markers returns the [[id=value]] markers in text, in order, as
// "id=value".
func markers(text string) []string {
	var out []string
	for _, m := range markerRx.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1]+"="+m[2])
	}
	return out
}

// wantMarkers is what the script prints for version v.
func wantMarkers(v Version) []string {
	var out []string
	for _, c := range agreeCases {
		if c.id == "T1" {
			out = append(out, "T0=ran")
		}
		if c.id == "T3" {
			out = append(out, "T2=gotofail", "T2=after")
		}
		w := c.want
		if v == Master && c.master != "" {
			w = c.master
		}
		out = append(out, c.id+"="+w)
	}
	return out
}

// runAgree runs the agree script in the Runner; "chain" of one of
// agreeFiles runs that file with the same settings and output.
func runAgree(t *testing.T, v Version) []string {
	t.Helper()
	var out strings.Builder
	s := &Settings{}
	var r *Runner
	r = &Runner{Version: v, Settings: s, Out: &out, Command: func(argv []string) error {
		if argv[0] != "chain" {
			return nil
		}
		name := argv[len(argv)-1][strings.LastIndexByte(argv[len(argv)-1], '/')+1:]
		src, ok := agreeFiles[name]
		if !ok {
			return fmt.Errorf("no file %s", name)
		}
		f, err := Parse([]byte(src), name)
		if err != nil {
			return err
		}
		res, err := r.Run(f)
		if err != nil {
			return err
		}
		if res.Failed != nil {
			return res.Failed.Err
		}
		return nil
	}}
	f, err := Parse([]byte(agreeScript()), "agree.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(f)
	if err != nil || res.Failed != nil {
		t.Fatalf("run: %v %+v", err, res.Failed)
	}
	return markers(out.String())
}

// TestRunnerAgreeCases checks the Runner's predictions for issue 13's
// items 9-15 against what real iPXE printed (2019) or what master's source
// gives.
func TestRunnerAgreeCases(t *testing.T) {
	for _, v := range []Version{V2019, Master} {
		diffLines(t, v.String()+": Runner (before) and iPXE (after), marker", runAgree(t, v), wantMarkers(v))
	}
}

// TestRealIPXEAgree runs the same script in real iPXE (Debian's 2019 ROM,
// see bootIPXEFiles) and checks that it prints the recorded markers, which
// TestRunnerAgreeCases compares with the Runner.
func TestRealIPXEAgree(t *testing.T) {
	files := map[string][]byte{"q.ipxe": []byte(agreeScript())}
	for n, s := range agreeFiles {
		files[n] = []byte(s)
	}
	tr := bootIPXEFiles(t, files, agreeEnd)
	got := markers(strings.NewReplacer("\r", "", "\n", "").Replace(tr))
	want := wantMarkers(V2019)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("iPXE printed\n%s\nrecorded\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTrailingBackslash: iPXE's process_script (image/script.c) runs every
// line before a final backslash continuation and then fails the script
// with EINVAL; goto never finds a label on that line. Parse keeps the line
// (Line.Unterminated), the Runner predicts the failure there, the printer
// keeps the backslash and Lint reports it.
func TestTrailingBackslash(t *testing.T) {
	tests := []struct {
		name, src string
		steps     []string // argv joined by space
		status    int
		at        string // Failed.Pos of the unterminated line, "" if another step failed
		printed   string
		lint      []string
	}{
		{"no newline", "#!ipxe\necho a\necho b \\", []string{"echo a"}, 1, "3:8", "#!ipxe\necho a\necho b \\\n", []string{"3:8 trailing-backslash"}},
		{"newline", "#!ipxe\necho a \\\n", nil, 1, "2:8", "#!ipxe\necho a \\\n", []string{"2:8 trailing-backslash"}},
		{"crlf", "#!ipxe\necho a\r\necho b\\\r\n", []string{"echo a"}, 1, "3:7", "#!ipxe\necho a\necho b \\\n", []string{"3:7 trailing-backslash"}},
		{"two physical lines", "#!ipxe\necho \\\n\\\n", nil, 1, "3:1", "#!ipxe\necho \\\n", []string{"3:1 trailing-backslash"}},
		{"blank", "#!ipxe\necho a\n\n\n\\", []string{"echo a"}, 1, "5:1", "#!ipxe\necho a\n\n\\\n", []string{"5:1 trailing-backslash"}},
		{"word ending in backslash", "#!ipxe\necho a\\\\", nil, 1, "2:8", "#!ipxe\necho a\\ \\\n", []string{"2:8 trailing-backslash"}},
		{"comment", "#!ipxe\necho a # c \\", nil, 1, "2:12", "#!ipxe\necho a # c \\\n", []string{"2:12 trailing-backslash"}},
		{"label never found", "#!ipxe\ngoto x || echo nolabel\n:x echo x \\", []string{"goto x", "echo nolabel"}, 1, "3:11", "#!ipxe\ngoto x || echo nolabel\n:x echo x \\\n",
			[]string{"2:6 undefined-label", "3:11 trailing-backslash"}},
		{"earlier failure stops first", "#!ipxe\niseq a b\necho b \\", []string{"iseq a b"}, 1, "", "#!ipxe\niseq a b\necho b \\\n", []string{"2:1 status-trap", "3:8 trailing-backslash"}},
		{"exit before", "#!ipxe\nexit 0\necho b \\", []string{"exit 0"}, 0, "", "#!ipxe\nexit 0\necho b \\\n", []string{"3:8 trailing-backslash"}},
		{"no header", "#!ipxe\\", nil, 1, "1:7", "\n#!ipxe \\\n", []string{"1:1 missing-header", "1:7 trailing-backslash"}},
		{"magic formed by printing", "#!ipxe\\\n\\", nil, 1, "2:1", "\n#!ipxe \\\n", []string{"1:1 missing-header", "2:1 trailing-backslash"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.src), "t")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			res, err := (&Runner{}).Run(f)
			if err != nil {
				t.Fatal(err)
			}
			var steps []string
			for _, a := range res.Argv() {
				steps = append(steps, strings.Join(a, " "))
			}
			if strings.Join(steps, "|") != strings.Join(tt.steps, "|") || res.Status != tt.status {
				t.Errorf("steps %q status %d; want %q status %d", steps, res.Status, tt.steps, tt.status)
			}
			switch {
			case tt.at == "" && tt.status != 0 && (res.Failed == nil || res.Failed.Argv == nil):
				t.Errorf("Failed = %+v, want the failing command", res.Failed)
			case tt.at != "" && (res.Failed == nil || res.Failed.Pos.String() != tt.at || !errors.Is(res.Failed.Err, ErrTrailingBackslash) || res.Failed.Argv != nil):
				t.Errorf("Failed = %+v, want ErrTrailingBackslash at %s", res.Failed, tt.at)
			}
			out, err := Format([]byte(tt.src), "t")
			if err != nil || string(out) != tt.printed {
				t.Errorf("Format = %q, %v; want %q", out, err, tt.printed)
			}
			if again, err := Format(out, "t"); err != nil || !bytes.Equal(again, out) {
				t.Errorf("not idempotent: %q -> %q (%v)", out, again, err)
			}
			g, err := Parse(out, "t")
			if err != nil || !reflect.DeepEqual(shape(f), shape(g)) || !g.Lines[len(g.Lines)-1].Unterminated.IsValid() || f.Header != g.Header {
				t.Errorf("reparsed %q: %v %q, want %q and a last line that is unterminated", out, err, shape(g), shape(f))
			}
			var lint []string
			for _, fd := range Lint(f) {
				lint = append(lint, fd.Pos.String()+" "+fd.Code)
			}
			if strings.Join(lint, "|") != strings.Join(tt.lint, "|") {
				t.Errorf("lint %q, want %q", lint, tt.lint)
			}
		})
	}
}

// TestPrintRejectsInnerUnterminated: only the last line of a file can end
// inside a continuation; a built tree that says otherwise cannot be
// printed (its backslash would join the next line).
func TestPrintRejectsInnerUnterminated(t *testing.T) {
	f, err := Parse([]byte("echo a\necho b\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	f.Lines[0].Unterminated = NewPos(6, 1, 7)
	var pe *PrintError
	if err := Fprint(&bytes.Buffer{}, f); !errors.As(err, &pe) {
		t.Errorf("Fprint: %v, want a *PrintError", err)
	}
}

// FuzzTextCodecs checks the base64, uristring and ipv4 codecs on any
// input: no panic; what base64 and ipv4 accept formats to text that they
// parse back to the same bytes; and uristring's output, for bytes below
// 0x80 (iPXE writes a byte >= 0x80 as a sign-extended "%FFFFFFxx", which
// does not decode back, in iPXE too), decodes back to the same bytes.
func FuzzTextCodecs(f *testing.F) {
	for _, c := range agreeCases {
		if v, ok := strings.CutPrefix(c.cmd, "set "); ok {
			f.Add(v[strings.IndexByte(v, ' ')+1:])
		}
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, typ := range []string{"base64", "ipv4", "uristring"} {
			s := &Settings{}
			if err := s.Set("x:"+typ, v); err != nil || v == "" {
				continue
			}
			raw := s.m["x"].raw
			text, ok := s.Get("x")
			if !ok {
				t.Fatalf("%s %q: stored but does not format", typ, v)
			}
			if typ == "uristring" {
				if bytes.IndexFunc(raw, func(r rune) bool { return r >= 0x80 || r == utf8.RuneError }) >= 0 {
					continue
				}
			}
			if text == "" {
				continue // an empty value would delete the setting
			}
			if err := s.Set("y:"+typ, text); err != nil || !bytes.Equal(s.m["y"].raw, raw) {
				t.Fatalf("%s %q: stored %x, formatted %q, which parses to %x (%v)", typ, v, raw, text, s.m["y"].raw, err)
			}
		}
	})
}
