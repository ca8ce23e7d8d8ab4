package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/ipxescript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTestWeb returns a web server over a temporary HTTP root holding
// ipxe.efi, a machine script and a secret outside the root, and the buffer
// its JSON log goes to.
func newTestWeb(t *testing.T, script string) (*webServer, *bytes.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "machines"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "ipxe.efi"), []byte("MZ efi image"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "machines", "52-54-00-00-00-01.ipxe"), []byte("#!ipxe\necho mine\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "machines", "52-54-00-00-00-02.ipxe"), []byte("echo no magic line\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(dir, "secret"), filepath.Join(root, "escape")))
	cfg := &Config{HTTPAddr: "10.77.0.1:8080", HTTPRoot: root, Script: script}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	sc, err := newScripts(cfg)
	require.NoError(t, err)
	ws, err := newWebServer(cfg, log, sc)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	return ws, &buf, dir
}

func lastLog(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m))
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
			assert.Equal(t, tt.status, w.Code, string(body))
			assert.Contains(t, string(body), tt.bodyHas)
			if tt.ctype != "" {
				assert.Equal(t, tt.ctype, w.Header().Get("Content-Type"))
			}
			l := lastLog(t, buf)
			assert.Equal(t, "http", l["msg"])
			assert.Equal(t, tt.kind, l["kind"])
			assert.Equal(t, float64(tt.status), l["status"])
			assert.Equal(t, "10.77.0.100:1234", l["remote"])
			for k, v := range tt.logged {
				assert.Equal(t, v, l[k], k)
			}
		})
	}
}

func TestCustomScript(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "boot.ipxe")
	require.NoError(t, os.WriteFile(p, []byte("#!ipxe\necho custom\n"), 0o644))
	ws, _, _ := newTestWeb(t, p)
	w := httptest.NewRecorder()
	ws.ServeHTTP(w, httptest.NewRequest("GET", "/boot.ipxe", nil))
	assert.Equal(t, "#!ipxe\necho custom\n", w.Body.String())

	// Edited while running into something that does not parse: 500, not garbage.
	require.NoError(t, os.WriteFile(p, []byte("#!ipxe\necho broken \\"), 0o644))
	w = httptest.NewRecorder()
	ws.ServeHTTP(w, httptest.NewRequest("GET", "/boot.ipxe", nil))
	assert.Equal(t, 500, w.Code)

	// A script that does not parse is refused at start.
	_, err := newScripts(&Config{HTTPAddr: "1.2.3.4:80", Script: p})
	assert.Error(t, err)
}

func TestBuiltinScriptsParse(t *testing.T) {
	b, err := bootScript("http://10.77.0.1:8080")
	require.NoError(t, err)
	_, err = ipxescript.Parse(b, "boot.ipxe")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "#!ipxe\n"))
	for _, want := range []string{"dhcp", "${net0/mac:hexhyp}", "${buildarch}", "${platform}", "${uuid}", "chain"} {
		assert.Contains(t, string(b), want)
	}
	m, err := machineScript()
	require.NoError(t, err)
	_, err = ipxescript.Parse(m, "machine.ipxe")
	require.NoError(t, err)
	assert.Contains(t, string(m), "echo "+BootedMarker+" ${net0/mac} ${buildarch} ${platform}")
}

func TestMachineFile(t *testing.T) {
	assert.Equal(t, "machines/52-54-00-77-00-0c.ipxe", machineFile([]byte{0x52, 0x54, 0, 0x77, 0, 0x0c}))
}
