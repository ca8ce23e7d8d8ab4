package ipxescript

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Expansion cases taken from the spec (§3), which reads iPXE's
// expand_settings.
func TestExpand(t *testing.T) {
	s := &Settings{}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Set("a", "A"))
	must(s.Set("b", "B"))
	must(s.Set("aB", "nested"))
	must(s.Set("ref", "${a}"))
	must(s.Set("net0/mac:hex", "52:54:00:12:34:56"))
	must(s.Set("n:int32", "-5"))
	must(s.Set("u:uint16", "0x1f"))
	must(s.Set("ip:ipv4", "10.0.0.1"))
	must(s.Set("sp", "a b/c?d"))
	must(s.Set("bytes:hex", "00:ff"))
	tests := []struct{ in, want string }{
		{"x${a}y", "xAy"},
		{"${a${b}}", "nested"}, // inner first
		{"${ref}", "A"},        // expanded text is scanned again
		{"${unset}", ""},
		{"${}", ""},
		{"${a:bogus}", ""},  // unknown type
		{"${nosuch/a}", ""}, // unknown scope
		{"$", "$"},          // lone $
		{"${a", "${a"},      // no closing brace
		{"a}b{", "a}b{"},    //
		{"${a}}", "A}"},     //
		{"$${a}", "$A"},     //
		{"${net0/mac}", "52:54:00:12:34:56"},
		{"${mac}", "52:54:00:12:34:56"}, // unscoped search finds net0's
		{"${netX/mac:hexhyp}", "52-54-00-12-34-56"},
		{"${net0/mac:hexraw}", "525400123456"},
		{"${n}", "-5"},
		{"${u}", "0x1f"},
		{"${ip}", "10.0.0.1"},
		{"${sp:uristring}", "a%20b%2Fc%3Fd"},
		{"${bytes:base64}", "AP8="},
		{"${a:hex}", "41"},
	}
	for _, tt := range tests {
		got, err := s.Expand(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	must(s.Set("loop", "${loop}"))
	if _, err := s.Expand("${loop}"); !errors.Is(err, ErrExpansionLoop) {
		t.Errorf("self-reference: %v", err)
	}
}

func run(t *testing.T, src string, r *Runner) *Result {
	t.Helper()
	f, err := Parse([]byte(src), "t")
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		r = &Runner{}
	}
	res, err := r.Run(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRunnerStatus(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		steps  []string // argv joined by space
		status int
	}{
		{"and skips on failure, line fails", "#!ipxe\niseq a b && echo no\necho never\n", []string{"iseq a b"}, 1},
		{"trailing or rescues", "#!ipxe\niseq a b && echo no ||\necho yes\n", []string{"iseq a b", "echo yes"}, 0},
		{"or runs on failure", "#!ipxe\nisset ${x} || echo unset\n", []string{"isset ", "echo unset"}, 0},
		{"semicolon always", "#!ipxe\niseq a b ; echo x\n", []string{"iseq a b", "echo x"}, 0},
		{"goto stops the line", "#!ipxe\ngoto l ; echo skipped\n:l echo label-line\n", []string{"goto l", "echo label-line"}, 0},
		{"goto unknown label fails", "#!ipxe\ngoto nowhere\necho never\n", []string{"goto nowhere"}, 1},
		{"exit status", "#!ipxe\nexit 3\necho never\n", []string{"exit 3"}, 3},
		{"unknown command fails", "#!ipxe\nfrob\n", []string{"frob"}, 1},
		{"bad option fails", "#!ipxe\nchain --bogus x\n", []string{"chain --bogus x"}, 1},
		{"no resplit after expansion", "#!ipxe\nset v:hex 61:20:7c:7c:20:23:62\necho ${v:string}\n", []string{"set v:hex 61:20:7c:7c:20:23:62", "echo a || #b"}, 0},
		{"comment token only at start", "#!ipxe\necho a#b # c\n", []string{"echo a#b"}, 0},
		{"inc counts", "#!ipxe\ninc n\ninc n 5\necho ${n}\n", []string{"inc n", "inc n 5", "echo 6"}, 0},
		{"chain --replace ends the script", "#!ipxe\nchain --replace http://x\necho never\n", []string{"chain --replace http://x"}, 0},
		{"empty arg kept", "#!ipxe\niseq ${} ${x}\n", []string{"iseq  "}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, tt.src, nil)
			var got []string
			for _, a := range res.Argv() {
				got = append(got, strings.Join(a, " "))
			}
			if !reflect.DeepEqual(got, tt.steps) || res.Status != tt.status {
				t.Errorf("steps %q status %d; want %q status %d", got, res.Status, tt.steps, tt.status)
			}
		})
	}
}

func TestRunnerLoopAndCallbacks(t *testing.T) {
	f, _ := Parse([]byte("#!ipxe\n:a\ngoto a\n"), "t")
	if _, err := (&Runner{MaxSteps: 50}).Run(f); !errors.Is(err, ErrStepLimit) {
		t.Errorf("endless loop: %v", err)
	}
	var out strings.Builder
	calls := 0
	res := run(t, `#!ipxe
menu Pick
item --gap Sep
item one One
item --default two Two
choose sel && echo chose ${sel}
read name
echo -n hi ${name}
dhcp || echo dhcp failed
`, &Runner{
		Out:  &out,
		Read: func(s string) (string, error) { return "bob", nil },
		Command: func(argv []string) error {
			calls++
			return errors.New("no link")
		},
	})
	if res.Status != 0 || calls != 1 {
		t.Errorf("status %d calls %d", res.Status, calls)
	}
	if out.String() != "chose two\nhi bobdhcp failed\n" {
		t.Errorf("echo output %q", out.String())
	}
}

// The DHCP retry flow really is bounded and really retries.
func TestDHCPRetryFlow(t *testing.T) {
	b := NewBuilder()
	b.ChainWithRetry(Raw("http://x/boot"), 4, 1)
	script, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Parse(script, "t")
	dhcpCalls := 0
	fail := true
	r := &Runner{Command: func(argv []string) error {
		if argv[0] == "dhcp" {
			dhcpCalls++
			if fail || dhcpCalls < 3 {
				return errors.New("timeout")
			}
		}
		return nil
	}}
	res, err := r.Run(f)
	if err != nil || res.Status != 1 || dhcpCalls != 4 {
		t.Errorf("always failing: status %d, %d dhcp calls, %v", res.Status, dhcpCalls, err)
	}
	fail, dhcpCalls = false, 0
	res, err = r.Run(f)
	last := res.Steps[len(res.Steps)-2].Argv
	if err != nil || res.Status != 0 || dhcpCalls != 3 || last[0] != "chain" {
		t.Errorf("third try works: status %d, %d calls, last %q, %v", res.Status, dhcpCalls, last, err)
	}
}

func TestBootScriptRun(t *testing.T) {
	script, err := BootScript(BootConfig{URL: "http://10.0.0.1/boot.ipxe?x=1", Message: "pxekit  boot",
		Query: []Param{{"site", URIValue("lab #1")}, {"serial", Setting("serial:uristring")}}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Parse(script, "t")
	if fs := Lint(f); len(fs) != 0 {
		t.Errorf("lint: %v", fs)
	}
	s := &Settings{}
	for k, v := range map[string]string{"net0/mac:hex": "52:54:00:aa:bb:cc", "buildarch": "x86_64", "platform": "efi", "uuid:uuid": "8c2a5f3e-0000-4000-8000-00000000abcd", "serial": "SN 1"} {
		if err := s.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	res, err := (&Runner{Settings: s, Out: &out}).Run(f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 0 || res.Steps[len(res.Steps)-1].Argv[0] != "exit" {
		t.Errorf("status %d, last %q", res.Status, res.Steps[len(res.Steps)-1].Argv)
	}
	last := res.Steps[len(res.Steps)-2].Argv
	want := []string{"chain", "--autofree", "http://10.0.0.1/boot.ipxe?x=1&mac=52-54-00-aa-bb-cc&arch=x86_64&platform=efi&uuid=8c2a5f3e-0000-4000-8000-00000000abcd&site=lab%20%231&serial=SN%201"}
	if !reflect.DeepEqual(last, want) {
		t.Errorf("chain argv %q", last)
	}
	if !strings.Contains(out.String(), "pxekit  boot\nBooting 52:54:00:aa:bb:cc arch x86_64 platform efi uuid 8c2a5f3e") {
		t.Errorf("echo output %q", out.String())
	}
}
