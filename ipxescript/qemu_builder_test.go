package ipxescript

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestRealIPXEBuilderJoins runs in real iPXE (Debian's option ROM under
// QEMU, see bootIPXEFiles) what the builder's join, argument-limit and
// kernel-argument rules accept, and checks that iPXE stores what the Runner
// predicts: the Concat cases TestConcatJoinAccepted keeps accepting, a
// 300-word Text, and a kernel command line of KernelArg values, which
// Linux's rules (linuxSplit) must read back as the original pairs. Two
// negative controls show the limits are real in this iPXE: 256 plain
// arguments make echo fail, 255 do not.
func TestRealIPXEBuilderJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	joins := []Arg{
		Concat(Value("a$"), Raw("b{")),
		Concat(Raw("{"), Value("$")),
		Concat(Value("$"), Raw("${x}")),
		Concat(Raw("${x}"), Value("a$")),
		Concat(Value("{"), Value("}$")),
		Concat(Raw("$"), Value("x{")),
		Concat(Value("x}"), Raw("${x}")),
		Concat(Raw("${x}"), Value("{x}")),
		Concat(Raw("$"), Raw("{x}"), Value("{password} $")),
	}
	words := strings.TrimSpace(strings.Repeat("w ", 300))
	kargs := []Arg{
		KernelArg("hostname", "web 01"),
		KernelArg("x", "a b;c||d #e &&f"),
		KernelArg("pxekit.owner", "Ops team"),
		KernelArg("console", "ttyS0,115200n8"),
		Raw("quiet"),
	}

	b := NewBuilder()
	b.Cmd("set", Raw("x"), Raw("X"))
	b.Cmd("set", Raw("password"), Raw("SECRET"))
	for i, a := range joins {
		b.Cmd("set", Raw("r"), a)
		b.Cmd("echo", Raw(fmt.Sprintf("CJ%d:${r:hexraw}:E", i)))
	}
	b.Cmd("set", Raw("r"), Text(words))
	b.Cmd("echo", Raw("TXT:${r:hexraw}:E"))
	b.Cmd("imgfetch", append([]Arg{Opt("name", Raw("k")), Raw("tftp://10.0.2.2/dummy")}, kargs...)...)
	b.Cmd("imgstat", Raw("k"))
	b.Cmd("echo", Raw("KEND"))
	script, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}

	// What the Runner predicts.
	f, err := Parse(script, "joins")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var predictedCmdline string
	s := &Settings{}
	r := &Runner{Settings: s, Out: &strings.Builder{}, Command: func(argv []string) error {
		if argv[0] == "imgfetch" {
			spec, _ := LookupCommand("imgfetch")
			a, err := spec.ParseArgs(argv)
			if err != nil {
				return err
			}
			predictedCmdline = strings.Join(a.Positional[1:], " ")
		}
		return nil
	}}
	res, err := r.Run(f)
	if err != nil || res.Failed != nil {
		t.Fatalf("dry run: %v %+v", err, res.Failed)
	}
	for _, st := range res.Steps {
		if st.Argv[0] == "echo" && len(st.Argv) == 2 {
			if m := regexp.MustCompile(`^(CJ\d+|TXT):([0-9a-f]*):E$`).FindStringSubmatch(st.Argv[1]); m != nil {
				want[m[1]] = m[2]
			}
		}
	}
	if len(want) != len(joins)+1 {
		t.Fatalf("dry run printed %d markers, want %d", len(want), len(joins)+1)
	}
	if want["TXT"] != hex.EncodeToString([]byte(words)) {
		t.Fatalf("dry run: Text stored %q", want["TXT"])
	}

	// Negative controls, written by hand: iPXE's MAX_ARGUMENTS, and the
	// join the builder wrote before it checked joins (Value("$") then
	// Value("{password}")), which this iPXE expands.
	controls := "echo " + strings.TrimSpace(strings.Repeat("w ", 256)) + " && echo L256-OK || echo L256-FAIL\n" +
		"echo " + strings.TrimSpace(strings.Repeat("w ", 255)) + " && echo L255-OK || echo L255-FAIL\n" +
		"set password SECRET\nset _c1:hex 24\nset _c2:hex 7b:70:61:73:73:77:6f:72:64:7d\n" +
		"set r ${_c1:string}${_c2:string}\necho CTRL:${r:hexraw}:E\n"
	script = []byte(strings.Replace(string(script), "#!ipxe\n", "#!ipxe\n"+controls, 1))

	tr := bootIPXEFiles(t, map[string][]byte{"q.ipxe": script, "dummy": []byte("dummy")}, "KEND")
	joined := strings.NewReplacer("\r", "", "\n", "").Replace(tr)
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(CJ\d+|TXT):([0-9a-f]*):E`).FindAllStringSubmatch(joined, -1) {
		got[m[1]] = m[2]
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: iPXE stored %q, the Runner predicts %q", k, got[k], v)
		}
	}
	if !strings.Contains(joined, "CTRL:"+hex.EncodeToString([]byte("SECRET"))+":E") {
		t.Errorf("negative control: the unchecked join did not expand in this iPXE?")
	}
	if !strings.Contains(joined, "L256-FAIL") || strings.Contains(joined, "L256-OK") {
		t.Errorf("negative control: iPXE accepted 256 arguments?")
	}
	if !strings.Contains(joined, "L255-OK") {
		t.Errorf("control: iPXE refused 255 arguments?")
	}
	// imgstat prints: k : 5 bytes [...] "<cmdline>"
	m := regexp.MustCompile(`k : 5 bytes[^"]*"(.*)"KEND`).FindStringSubmatch(joined)
	if m == nil {
		t.Fatalf("no imgstat line; console:\n%s", tail(tr, 3000))
	}
	cmdline := m[1]
	if cmdline != predictedCmdline {
		t.Errorf("iPXE's command line %q, the Runner predicts %q", cmdline, predictedCmdline)
	}
	str := func(s string) *string { return &s }
	wantArgs := []linuxArg{{"hostname", str("web 01")}, {"x", str("a b;c||d #e &&f")},
		{"pxekit.owner", str("Ops team")}, {"console", str("ttyS0,115200n8")}, {"quiet", nil}}
	if args := linuxSplit(cmdline); !sameLinuxArgs(args, wantArgs) {
		t.Errorf("Linux would read iPXE's command line %q as %s", cmdline, fmtLinuxArgs(args))
	}
	if t.Failed() {
		t.Logf("console:\n%s", tail(tr, 4000))
	}
}
