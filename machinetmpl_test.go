package pxekit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/ipxescript"
)

// runTemplate serves mac's script from h and runs it in ipxescript's
// dry-run interpreter; it returns what echo printed and the argv of every
// step.
func runTemplate(t *testing.T, h http.Handler, mac string) (string, [][]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/machine/"+mac, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /machine/%s = %d %q, want 200", mac, rec.Code, rec.Body)
	}
	f, err := ipxescript.Parse(rec.Body.Bytes(), "machine.ipxe")
	if err != nil {
		t.Fatalf("Parse(served script):\n%s\n: %v", rec.Body, err)
	}
	var out strings.Builder
	res, err := (&ipxescript.Runner{Out: &out}).Run(f)
	if err != nil {
		t.Fatalf("Run(served script):\n%s\n: %v", rec.Body, err)
	}
	return out.String(), res.Argv()
}

// TestTemplateHostileValues: whatever a machine's name, kernel or cmdline
// holds, the filled template hands it to iPXE as exactly one argument.
func TestTemplateHostileValues(t *testing.T) {
	const tmpl = "#!ipxe\necho {{name}}\nkernel {{kernel}} {{cmdline}}\ninitrd {{initrd}}\necho {{mac}}|{{ip}}|{{uuid}}|{{base_url}}|{{files_url}}\n"
	for _, name := range []string{
		"web01",
		"a;reboot",
		"a || reboot",
		"x && shell",
		`quote " and ' both`,
		"two words",
		"line1\nline2",
		"#comment",
		"tab\there",
		"trailing\\",
		"$net0/mac",
		"{braces}",
		"a$",
		"{",
		"ünïcode",
	} {
		t.Run(name, func(t *testing.T) {
			// The name goes everywhere a machine can carry it: kernel and
			// initrd paths without control bytes, a kernel argument
			// Linux can read back.
			path := name
			if checkLocation("", name) != nil {
				path = "vmlinuz"
			}
			host := "hostname=" + name
			hostArg, err := ipxescript.QuoteKernelArg("hostname", name)
			if err != nil {
				host, hostArg = "hostname=web", "hostname=web"
			}
			m := Machine{Name: name, MAC: mustMAC("52:54:00:00:00:31"), Template: tmpl,
				Kernel: "images/" + path, Initrds: []string{"http://mirror.lan/" + path},
				Cmdline: []string{"console=ttyS0", host, "quiet"}}
			if err := m.Validate(); err != nil {
				t.Fatalf("Validate(name %q): %v", name, err)
			}
			h, _ := newTestHandler(t, HTTPConfig{Inventory: mapInventory{m: map[string]Machine{"52:54:00:00:00:31": m}}})
			out, argv := runTemplate(t, h, "52-54-00-00-00-31")
			if want := name + "\n"; !strings.HasPrefix(out, want) {
				t.Errorf("echo {{name}} printed %q, want %q", out, want)
			}
			wantKernel := []string{"kernel", "http://10.77.0.1:8080/images/" + path, "console=ttyS0", hostArg, "quiet"}
			wantInitrd := []string{"initrd", "http://mirror.lan/" + path}
			if !slices.ContainsFunc(argv, func(a []string) bool { return slices.Equal(a, wantKernel) }) ||
				!slices.ContainsFunc(argv, func(a []string) bool { return slices.Equal(a, wantInitrd) }) {
				t.Errorf("script ran %q, want steps %q and %q", argv, wantKernel, wantInitrd)
			}
			wantTail := "52:54:00:00:00:31|192.0.2.1||http://10.77.0.1:8080|http://10.77.0.1:8080/machine/52-54-00-00-00-31/files\n"
			if !strings.HasSuffix(out, wantTail) {
				t.Errorf("echo of the other placeholders printed %q, want it to end in %q", out, wantTail)
			}
		})
	}
}

// TestTemplateServeRefusesExpansion: a value iPXE would expand, from an
// inventory that does not validate, makes the script fail (500), never a
// script that expands it.
func TestTemplateServeRefusesExpansion(t *testing.T) {
	m := Machine{Name: "${net0/mac}", MAC: mustMAC("52:54:00:00:00:32"), Template: "#!ipxe\necho {{name}}\n"}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "{{name}}") {
		t.Errorf("Validate(name ${net0/mac}) = %v, want an error naming {{name}}", err)
	}
	h, _ := newTestHandler(t, HTTPConfig{Inventory: mapInventory{m: map[string]Machine{"52:54:00:00:00:32": m}}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/machine/52-54-00-00-00-32", nil))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "net0/mac") {
		t.Errorf("GET /machine/52-54-00-00-00-32 = %d %q, want 500 without the value", rec.Code, rec.Body)
	}
}

// TestValidateTemplateAndFiles: what Validate refuses in a Template or in
// Files.
func TestValidateTemplateAndFiles(t *testing.T) {
	mac := mustMAC("52:54:00:12:34:56")
	tests := []struct {
		name string
		m    Machine
		frag string // "" = valid
	}{
		{"template ok", Machine{MAC: mac, Template: "#!ipxe\nchain {{files_url}}/x\n"}, ""},
		{"template with kernel", Machine{MAC: mac, Kernel: "k", Cmdline: []string{"a=b c"}, Template: "#!ipxe\nkernel {{kernel}} {{cmdline}}\nboot\n"}, ""},
		{"unknown placeholder", Machine{MAC: mac, Template: "#!ipxe\necho {{hostname}}\n"}, "unknown placeholder {{hostname}}"},
		{"unterminated", Machine{MAC: mac, Template: "#!ipxe\necho {{name\n"}, "unterminated {{"},
		{"no header", Machine{MAC: mac, Template: "echo {{name}}\n"}, "#!ipxe"},
		{"does not parse", Machine{MAC: mac, Template: "#!ipxe\necho {{name}} \\"}, "continuation"},
		{"with script", Machine{MAC: mac, Template: "#!ipxe\n", Script: "#!ipxe\n"}, "script or a template"},
		{"boot local", Machine{MAC: mac, Boot: BootLocal, Template: "#!ipxe\n"}, "template"},
		{"boot grub", Machine{MAC: mac, Boot: BootGRUB, Kernel: "k", Template: "#!ipxe\n"}, "template"},
		{"name like an option", Machine{MAC: mac, Name: "-n", Template: "#!ipxe\necho {{name}}\n"}, "option"},
		{"bad bare kernel arg", Machine{MAC: mac, Kernel: "k", Cmdline: []string{"a b"}, Template: "#!ipxe\nkernel {{kernel}} {{cmdline}}\n"}, "cmdline[0]"},
		{"placeholder as command", Machine{MAC: mac, Name: "reboot", Template: "#!ipxe\n{{name}}\n"}, "command name"},
		{"placeholder as command after ||", Machine{MAC: mac, Name: "reboot", Template: "#!ipxe\nisset x || {{name}} now\n"}, "command name"},
		{"placeholder names a setting", Machine{MAC: mac, Name: "mac", Template: "#!ipxe\necho ${net0/{{name}}}\n"}, "inside ${...}"},
		{"placeholder as argument of an expansion-less word", Machine{MAC: mac, Name: "x", Template: "#!ipxe\necho pre{{name}}post ${net0/mac}\n"}, ""},
		{"name with NUL", Machine{MAC: mac, Name: "a\x00b", Template: "#!ipxe\necho {{name}}\n"}, "{{name}}"},
		{"files ok", Machine{MAC: mac, Files: map[string]string{"preseed.cfg": "machines/web01/preseed.cfg", "d/ks.cfg": "ks.cfg"}}, ""},
		{"files dotdot name", Machine{MAC: mac, Files: map[string]string{"../x": "x"}}, ".."},
		{"files dotdot path", Machine{MAC: mac, Files: map[string]string{"x": "a/../../etc/passwd"}}, ".."},
		{"files absolute path", Machine{MAC: mac, Files: map[string]string{"x": "/etc/passwd"}}, "absolute"},
		{"files empty name", Machine{MAC: mac, Files: map[string]string{"": "x"}}, "empty"},
		{"files unclean", Machine{MAC: mac, Files: map[string]string{"a//b": "x"}}, "not clean"},
		{"files trailing slash", Machine{MAC: mac, Files: map[string]string{"a/": "x"}}, "not clean"},
		{"files control byte", Machine{MAC: mac, Files: map[string]string{"a\nb": "x"}}, "control"},
		{"files backslash", Machine{MAC: mac, Files: map[string]string{"x": `..\x`}}, "backslash"},
	}
	for _, tt := range tests {
		err := tt.m.Validate()
		switch {
		case tt.frag == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.frag != "" && (err == nil || !strings.Contains(err.Error(), tt.frag) || !strings.HasPrefix(err.Error(), "pxekit: ")):
			t.Errorf("%s: Validate() = %v, want a pxekit: error with %q", tt.name, err, tt.frag)
		}
	}
}

// TestParseMachineYAMLTemplateFiles: the template and files keys.
func TestParseMachineYAMLTemplateFiles(t *testing.T) {
	m, err := ParseMachineYAML([]byte("mac: 52:54:00:12:34:56\ntemplate: |\n  #!ipxe\n  chain {{files_url}}/boot.ipxe\nfiles:\n  preseed.cfg: machines/web01/preseed.cfg\n"))
	if err != nil {
		t.Fatalf("ParseMachineYAML: %v", err)
	}
	if m.Template != "#!ipxe\nchain {{files_url}}/boot.ipxe\n" || m.Files["preseed.cfg"] != "machines/web01/preseed.cfg" || len(m.Files) != 1 {
		t.Errorf("ParseMachineYAML = template %q files %v, want the file's", m.Template, m.Files)
	}
	if _, err := ParseMachineYAML([]byte("mac: 52:54:00:12:34:56\nfiles:\n  x: ../etc/passwd\n")); err == nil || !strings.Contains(err.Error(), "..") {
		t.Errorf("ParseMachineYAML(files x: ../etc/passwd) = %v, want a .. error", err)
	}
}

// TestMachineFiles: a machine's Files are served to it, with Range and
// HEAD, and nothing else is.
func TestMachineFiles(t *testing.T) {
	root := testFiles(t)
	writeFile(t, root, "machines/web01/preseed.cfg", []byte("d-i debian-installer/locale string en_US\n"))
	mkfifo(t, filepath.Join(root, "machines/web01/fifo"))
	inv := mapInventory{m: map[string]Machine{
		"52:54:00:00:00:41": {Name: "web01", Files: map[string]string{
			"preseed.cfg": "machines/web01/preseed.cfg", "pipe": "machines/web01/fifo", "gone": "machines/web01/none",
			"escape": "escape"}},
		"52:54:00:00:00:42": {Name: "web02"},
	}}
	h, rs := newTestHandler(t, HTTPConfig{Files: root, Inventory: inv})
	ln, base := listen(t)
	serve(t, ln, h, HTTPLimits{})
	c := &http.Client{Timeout: 30 * time.Second}
	get := func(method, p, rng string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+p, nil)
		if err != nil {
			t.Fatalf("NewRequest: %v", err)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		var code int
		var body []byte
		within(t, 20*time.Second, method+" "+p, func() {
			resp, err := c.Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", method, p, err)
				return
			}
			defer resp.Body.Close()
			body, _ = io.ReadAll(resp.Body)
			code = resp.StatusCode
		})
		return code, string(body)
	}
	const file = "/machine/52-54-00-00-00-41/files/preseed.cfg"
	if code, body := get(http.MethodGet, file, ""); code != 200 || body != "d-i debian-installer/locale string en_US\n" {
		t.Errorf("GET %s = %d %q, want 200 and the file", file, code, body)
	}
	if code, body := get(http.MethodGet, file, "bytes=4-15"); code != http.StatusPartialContent || body != "debian-insta" {
		t.Errorf("GET %s Range 4-15 = %d %q, want 206 %q", file, code, body, "debian-insta")
	}
	if code, body := get(http.MethodHead, file, ""); code != 200 || body != "" {
		t.Errorf("HEAD %s = %d %q, want 200 and no body", file, code, body)
	}
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/machine/52-54-00-00-00-42/files/preseed.cfg", 404}, // another machine's file
		{"/machine/52-54-00-00-00-99/files/preseed.cfg", 404}, // unknown machine
		{"/machine/52-54-00-00-00-41/files/ipxe.efi", 404},    // in Files, not listed
		{"/machine/52-54-00-00-00-41/files/pipe", 404},        // a FIFO
		{"/machine/52-54-00-00-00-41/files/gone", 404},        // listed, missing
		{"/machine/52-54-00-00-00-41/files/escape", 403},      // a link out of the root
		{"/machine/52-54-00-00-00-41/files/../files/preseed.cfg", 400},
		{"/machine/52-54-00-00-00-41/files/%2e%2e/secret", 400},
		{"/machine/52-54-00-00-00-41/files/", 404},
		{"/machine/52-54-00-00-00-41/files//preseed.cfg", 404},
		{"/machine/not-a-mac/files/preseed.cfg", 400},
	} {
		if code, _ := get(http.MethodGet, tt.path, ""); code != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.path, code, tt.want)
		}
	}
	all := rs.wait(t, 14, 20*time.Second)
	r := all[0]
	if r.Kind != HTTPFile || r.File != "machines/web01/preseed.cfg" || r.MAC.String() != "52:54:00:00:00:41" || !r.Known || r.Machine != "web01" || r.MachineFile != "preseed.cfg" || r.Status != 200 {
		t.Errorf("OnRequest(GET %s) = %+v, want Kind file, File machines/web01/preseed.cfg, the MAC, Known web01, 200", file, r)
	}
}

// TestTemplateREADMEExample: the machine file examples/pxeserver's README
// shows loads and boots the kernel with the preseed URL.
func TestTemplateREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("examples/pxeserver/README.md")
	if err != nil {
		t.Fatalf("os.ReadFile: %v", err)
	}
	_, y, ok := strings.Cut(string(readme), "```yaml\nmac: 52:54:00:12:34:56\n")
	y, _, ok2 := strings.Cut(y, "```")
	if !ok || !ok2 {
		t.Fatal("README.md: no machine file example")
	}
	m, err := ParseMachineYAML([]byte("mac: 52:54:00:12:34:56\n" + y))
	if err != nil {
		t.Fatalf("ParseMachineYAML(README example): %v", err)
	}
	h, _ := newTestHandler(t, HTTPConfig{Inventory: mapInventory{m: map[string]Machine{"52:54:00:12:34:56": m}}})
	_, argv := runTemplate(t, h, "52-54-00-12-34-56")
	want := []string{"kernel", "http://10.77.0.1:8080/debian/linux", "auto=true", "priority=critical", "console=ttyS0",
		"url=http://10.77.0.1:8080/machine/52-54-00-12-34-56/files/preseed.cfg"}
	if !slices.ContainsFunc(argv, func(a []string) bool { return slices.Equal(a, want) }) {
		t.Errorf("README example ran %q, want a step %q", argv, want)
	}
}
