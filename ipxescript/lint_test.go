package ipxescript

import (
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:col code", in order
	}{
		{"clean", "#!ipxe\n:a\ndhcp || goto a\niseq ${x} y && goto a ||\nchain --autofree http://x/${net0/mac:hexhyp}\n", nil},
		{"missing header", "echo hi\n", []string{"1:1 missing-header"}},
		{"gpxe header ok", "#!gpxe\necho hi\n", nil},
		{"unknown command", "#!ipxe\nchian http://x\n", []string{"2:1 unknown-command"}},
		{"unknown option", "#!ipxe\nchain --bogus x\n", []string{"2:7 unknown-option"}},
		{"unknown short option", "#!ipxe\nchain -z x\n", []string{"2:7 unknown-option"}},
		{"option needs argument", "#!ipxe\nchain --name\n", []string{"2:7 option-argument"}},
		{"option arg looks like option", "#!ipxe\nchain --name -x u\n", []string{"2:7 option-argument"}},
		{"flag with value", "#!ipxe\nchain --autofree=1 u\n", []string{"2:7 option-argument"}},
		{"help", "#!ipxe\nchain --help\n", []string{"2:1 help-option"}},
		{"arg count", "#!ipxe\ngoto\niseq a\nsleep 1 2\n", []string{"2:1 arg-count", "3:1 arg-count", "3:1 status-trap", "4:1 arg-count"}},
		{"late option", "#!ipxe\nchain http://x --autofree\n", []string{"2:16 late-option"}},
		{"bad integer", "#!ipxe\nsleep 08\nchoose --timeout 5s x\n", []string{"2:7 bad-integer", "3:8 bad-integer"}},
		{"undefined label", "#!ipxe\ngoto nowhere\n", []string{"2:6 undefined-label"}},
		{"dynamic goto not checked", "#!ipxe\ngoto ${x}\n", nil},
		{"duplicate label", "#!ipxe\n:a\n:b\n  :a echo\n", []string{"4:3 duplicate-label"}},
		{"choose default", "#!ipxe\nmenu\nitem one One\nchoose --default two x\n", []string{"4:8 undefined-default"}},
		{"item without label", "#!ipxe\nmenu\nitem one One\nitem --gap Sep\nitem two Two\nchoose x\ngoto ${x}\n:one\n", []string{"5:6 item-without-label"}},
		{"item without menu", "#!ipxe\nitem a A\nmenu\nitem b B\n", []string{"2:1 item-without-menu"}},
		{"unknown type", "#!ipxe\necho ${x:strnig}\nset y:bogus 1\n", []string{"2:6 unknown-type", "3:5 unknown-type"}},
		{"unterminated", "#!ipxe\necho a${b\n", []string{"2:7 unterminated-expansion"}},
		{"status trap", "#!ipxe\n:x\niseq a b && goto x\n", []string{"3:1 status-trap"}},
		{"status trap lone test", "#!ipxe\nisset ${x}\n", []string{"2:1 status-trap"}},
		{"status trap prompt with timeout", "#!ipxe\nprompt --timeout 2000 Press a key && shell\n", []string{"2:1 status-trap"}},
		{"bare prompt is fine", "#!ipxe\nprompt Press any key\n", nil},
		{"no trap with trailing or", "#!ipxe\n:x\niseq a b && goto x ||\nisset ${y} || goto x\n", nil},
		{"no trap with semicolon", "#!ipxe\nisset ${y} ; echo\n", nil},
		{"nul", "#!ipxe\necho a\x00b\n", []string{"2:7 nul-byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.src), "t")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, fd := range Lint(f) {
				got = append(got, fd.Pos.String()+" "+fd.Code)
				if fd.Message == "" {
					t.Errorf("empty message for %v", fd)
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("findings\n got %q\nwant %q\n%v", got, tt.want, Lint(f))
			}
		})
	}
}

// Every command in iPXE's command tables (src/hci/commands/*.c,
// src/core/exec.c and src/hci/shell.c) has a schema, and every schema parses its own
// minimal invocation.
func TestSchemasCoverSpec(t *testing.T) {
	spec := []string{"echo", "exit", "goto", "isset", "iseq", "sleep", "prompt", "shell", "help",
		"set", "clear", "show", "read", "inc", "config", "login",
		"ifopen", "ifclose", "ifstat", "ifconf", "dhcp", "iflinkwait", "pxebs", "autoboot", "route",
		"vcreate", "vdestroy", "ntp", "nslookup", "ping", "iwstat", "iwlist", "ibstat", "fcstat", "fcels",
		"ipstat", "nstat", "profstat", "lotest", "startpxe", "stoppxe",
		"imgfetch", "module", "initrd", "imgselect", "imgload", "kernel", "imgexec", "chain", "boot",
		"imgargs", "imgstat", "imgfree", "imgextract", "imgtrust", "imgverify", "imgdecrypt", "imgmem",
		"imgset", "md5sum", "sha1sum", "sha256sum", "shim", "fdt",
		"sanhook", "sanboot", "sanunhook", "menu", "form", "item", "choose", "present", "params", "param",
		"console", "colour", "cpair", "certstat", "certfree", "certstore", "cpuid", "pciscan", "usbscan",
		"reboot", "poweroff", "sync", "time", "gdbstub"}
	for _, name := range spec {
		c, ok := LookupCommand(name)
		if !ok {
			t.Errorf("no schema for %s", name)
			continue
		}
		argv := []string{name}
		for i := 0; i < c.MinArgs; i++ {
			argv = append(argv, "1")
		}
		if _, err := c.ParseArgs(argv); err != nil {
			t.Errorf("%s: minimal call: %v", name, err)
		}
		if c.Usage == "" {
			t.Errorf("%s: no usage", name)
		}
	}
	if len(Commands()) < len(spec) {
		t.Errorf("Commands() lists %d", len(Commands()))
	}
}

func TestParseArgsGetopt(t *testing.T) {
	chain, _ := LookupCommand("chain")
	tests := []struct {
		argv    string
		opts    string // long=value,...
		pos     string
		wantErr bool
	}{
		{"chain u", "", "u", false},
		{"chain -ar u a b", "autofree=,replace=", "u a b", false},
		{"chain -nname u", "name=name", "u", false},
		{"chain -n name u", "name=name", "u", false},
		{"chain --name=-x u", "name=-x", "u", false},
		{"chain --name -x u", "", "", true},
		{"chain -- --autofree", "", "--autofree", false},
		{"chain u --autofree", "", "u --autofree", false},
		{"chain - u", "", "", true}, // getopt_long: a lone "-" is an unrecognised option
		{"chain --timeout 5000 --autofree u", "timeout=5000,autofree=", "u", false},
		{"chain --time 5000 u", "", "", true},
	}
	for _, tt := range tests {
		a, err := chain.ParseArgs(strings.Fields(tt.argv))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.argv, err)
			continue
		}
		if err != nil {
			continue
		}
		var opts []string
		for _, o := range a.Options {
			opts = append(opts, o.Spec.Long+"="+o.Value)
		}
		if strings.Join(opts, ",") != tt.opts || strings.Join(a.Positional, " ") != tt.pos {
			t.Errorf("%s: opts %q pos %q", tt.argv, opts, a.Positional)
		}
	}
}
