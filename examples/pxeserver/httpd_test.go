package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/ipxescript"
)

// newTestWeb returns a web server over a temporary HTTP root holding
// ipxe.efi, a machine script and a secret outside the root, and the buffer
// its JSON log goes to.
func newTestWeb(t *testing.T, script string) (*webServer, *bytes.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "machines"), 0o755); err != nil {
		t.Fatalf("os.MkdirAll(filepath.Join(root, \"machines\"), 0o755): %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "ipxe.efi"), []byte("MZ efi image"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(root, \"ipxe.efi\"), []byte(\"MZ efi image\"), 0o644): %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "machines", "52-54-00-00-00-01.ipxe"), []byte("#!ipxe\necho mine\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(root, \"machines\", \"52-54-00-00-00-01.ipxe\"), []byte(\"#!ipxe\\necho mine\\n\"), 0o644): %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "machines", "52-54-00-00-00-02.ipxe"), []byte("echo no magic line\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(root, \"machines\", \"52-54-00-00-00-02.ipxe\"), []byte(\"echo no magic line\\n\"), 0o644): %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(dir, \"secret\"), []byte(\"secret\"), 0o644): %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(root, "escape")); err != nil {
		t.Fatalf("os.Symlink(filepath.Join(dir, \"secret\"), filepath.Join(root, \"escape\")): %v", err)
	}
	cfg := &Config{HTTPAddr: "10.77.0.1:8080", HTTPRoot: root, Script: script}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	sc, err := newScripts(cfg)
	if err != nil {
		t.Fatalf("newScripts(cfg): %v", err)
	}
	ws, err := newWebServer(cfg, log, sc)
	if err != nil {
		t.Fatalf("newWebServer(cfg, log, sc): %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws, &buf, dir
}

// lastLog returns the last JSON log line in buf.
func lastLog(t *testing.T, buf fmt.Stringer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("json.Unmarshal([]byte(lines[len(lines)-1]), &m): %v", err)
	}
	return m
}

func TestWebServer(t *testing.T) {
	ws, buf, _ := newTestWeb(t, "")
	tests := []struct {
		name, method, target, ua string
		status                   int
		bodyHas, ctype, kind     string
		logged                   map[string]any
	}{
		{name: "boot script", method: "GET", target: "/boot.ipxe", ua: "iPXE/1.0.0+", status: 200,
			bodyHas: "http://10.77.0.1:8080/machine/${net0/mac:hexhyp}", kind: "script",
			logged: map[string]any{"ipxe": true}},
		{name: "per-machine default", method: "GET", target: "/machine/52-54-00-77-00-0a?mac=52-54-00-77-00-0a&buildarch=i386&platform=pcbios&uuid=00112233-4455-6677-8899-aabbccddeeff&chip=virtio-net",
			status: 200, bodyHas: BootedMarker + " ${net0/mac}", kind: "machine",
			logged: map[string]any{"mac": "52:54:00:77:00:0a", "buildarch": "i386", "platform": "pcbios", "uuid": "00112233-4455-6677-8899-aabbccddeeff"}},
		{name: "per-machine file", method: "GET", target: "/machine/52:54:00:00:00:01", status: 200, bodyHas: "echo mine", kind: "machine"},
		{name: "per-machine file that does not parse", method: "GET", target: "/machine/52-54-00-00-00-02", status: 500, kind: "error"},
		{name: "per-machine bad mac", method: "GET", target: "/machine/zz", status: 400, kind: "error"},
		{name: "efi file", method: "GET", target: "/ipxe.efi", ua: "UefiHttpBoot/1.0", status: 200, bodyHas: "MZ efi image", ctype: "application/efi", kind: "file",
			logged: map[string]any{"bytes": float64(len("MZ efi image")), "user_agent": "UefiHttpBoot/1.0"}},
		{name: "efi head", method: "HEAD", target: "/ipxe.efi", status: 200, ctype: "application/efi", kind: "file"},
		{name: "missing", method: "GET", target: "/nope.efi", status: 404, kind: "error"},
		{name: "dot dot", method: "GET", target: "/../secret", status: 404, kind: "error"},
		{name: "link out of root", method: "GET", target: "/escape", status: 403, kind: "error"},
		{name: "directory", method: "GET", target: "/machines", status: 404, kind: "error"},
		{name: "post", method: "POST", target: "/boot.ipxe", status: 405, kind: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.RemoteAddr = "10.77.0.100:1234"
			if tt.ua != "" {
				r.Header.Set("User-Agent", tt.ua)
			}
			w := httptest.NewRecorder()
			ws.ServeHTTP(w, r)
			body, _ := io.ReadAll(w.Result().Body)
			if w.Code != tt.status {
				t.Errorf("%s %s: status %d, want %d; body %q", tt.method, tt.target, w.Code, tt.status, body)
			}
			if s := string(body); !strings.Contains(s, tt.bodyHas) {
				t.Errorf("string(body) = %q, want it to contain %q", s, tt.bodyHas)
			}
			if tt.ctype != "" {
				if got := w.Header().Get("Content-Type"); got != tt.ctype {
					t.Errorf("w.Header().Get(\"Content-Type\") = %v, want %v", got, tt.ctype)
				}
			}
			l := lastLog(t, buf)
			if l["msg"] != "http" {
				t.Errorf("l[\"msg\"] = %q, want \"http\"", l["msg"])
			}
			if l["kind"] != tt.kind {
				t.Errorf("l[\"kind\"] = %v, want %v", l["kind"], tt.kind)
			}
			if l["status"] != float64(tt.status) {
				t.Errorf("l[\"status\"] = %v, want %v", l["status"], float64(tt.status))
			}
			if l["remote"] != "10.77.0.100:1234" {
				t.Errorf("l[\"remote\"] = %q, want \"10.77.0.100:1234\"", l["remote"])
			}
			for k, v := range tt.logged {
				if l[k] != v {
					t.Errorf("log record %s = %v, want %v", k, l[k], v)
				}
			}
		})
	}
}

func TestCustomScript(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "boot.ipxe")
	if err := os.WriteFile(p, []byte("#!ipxe\necho custom\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(p, []byte(\"#!ipxe\\necho custom\\n\"), 0o644): %v", err)
	}
	ws, _, _ := newTestWeb(t, p)
	w := httptest.NewRecorder()
	ws.ServeHTTP(w, httptest.NewRequest("GET", "/boot.ipxe", nil))
	if got := w.Body.String(); got != "#!ipxe\necho custom\n" {
		t.Errorf("w.Body.String() = %q, want \"#!ipxe\\necho custom\\n\"", got)
	}

	// Edited while running into something that does not parse: 500, not garbage.
	if err := os.WriteFile(p, []byte("#!ipxe\necho broken \\"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(p, []byte(\"#!ipxe\\necho broken \\\\\"), 0o644): %v", err)
	}
	w = httptest.NewRecorder()
	ws.ServeHTTP(w, httptest.NewRequest("GET", "/boot.ipxe", nil))
	if w.Code != 500 {
		t.Errorf("w.Code = %v, want 500", w.Code)
	}

	// A script that does not parse is refused at start.
	_, err := newScripts(&Config{HTTPAddr: "1.2.3.4:80", Script: p})
	if err == nil {
		t.Errorf("newScripts with a script that does not parse succeeded, want an error")
	}
}

func TestBuiltinScriptsParse(t *testing.T) {
	b, err := bootScript("http://10.77.0.1:8080")
	if err != nil {
		t.Fatalf("bootScript(\"http://10.77.0.1:8080\"): %v", err)
	}
	_, err = ipxescript.Parse(b, "boot.ipxe")
	if err != nil {
		t.Fatalf("ipxescript.Parse(b, \"boot.ipxe\"): %v", err)
	}
	if !strings.HasPrefix(string(b), "#!ipxe\n") {
		t.Errorf("strings.HasPrefix(string(b), \"#!ipxe\\n\") is false, want true")
	}
	for _, want := range []string{"dhcp", "${net0/mac:hexhyp}", "${buildarch}", "${platform}", "${uuid}", "chain"} {
		if s := string(b); !strings.Contains(s, want) {
			t.Errorf("string(b) = %q, want it to contain %q", s, want)
		}
	}
	m, err := machineScript()
	if err != nil {
		t.Fatalf("machineScript(): %v", err)
	}
	_, err = ipxescript.Parse(m, "machine.ipxe")
	if err != nil {
		t.Fatalf("ipxescript.Parse(m, \"machine.ipxe\"): %v", err)
	}
	if s := string(m); !strings.Contains(s, "echo "+BootedMarker+" ${net0/mac} ${buildarch} ${platform}") {
		t.Errorf("string(m) = %q, want it to contain %q", s, "echo "+BootedMarker+" ${net0/mac} ${buildarch} ${platform}")
	}
}

func TestMachineFile(t *testing.T) {
	if got := machineFile([]byte{0x52, 0x54, 0, 0x77, 0, 0x0c}); got != "machines/52-54-00-77-00-0c.ipxe" {
		t.Errorf("machineFile([]byte{0x52, 0x54, 0, 0x77, 0, 0x0c}) = %q, want \"machines/52-54-00-77-00-0c.ipxe\"", got)
	}
}
