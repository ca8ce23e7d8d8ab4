package pxekit

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/ipxescript"
)

// needCurl returns curl's path or skips the test.
func needCurl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (scripts/install-deps.sh installs it)")
	}
	return p
}

// curl runs curl with args (a 20 s limit) and returns its stdout.
func curl(t *testing.T, args ...string) []byte {
	t.Helper()
	args = append([]string{"-sS", "--max-time", "20"}, args...)
	out, err := exec.Command(needCurl(t), args...).Output()
	if err != nil {
		t.Fatalf("curl %q (exit 28 is its timeout): %v", args, err)
	}
	return out
}

// startTestServer serves a test handler on loopback, its base URL the
// server's own address.
func startTestServer(t *testing.T) (base, root string, rs *requests) {
	t.Helper()
	ln, base := listen(t)
	root = testFiles(t)
	h, rs := newTestHandler(t, HTTPConfig{BaseURL: base, Files: root})
	serve(t, ln, h, HTTPLimits{})
	return base, root, rs
}

// TestHTTPCurl: curl, a real client, gets ranges, HEAD and conditional
// answers for a boot file.
func TestHTTPCurl(t *testing.T) {
	needCurl(t)
	base, root, rs := startTestServer(t)
	kernel, err := os.ReadFile(filepath.Join(root, "images/vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("range", func(t *testing.T) {
		out := curl(t, "-r", "100-1099", "-w", "\n%{http_code}", base+"/images/vmlinuz")
		body, code, _ := bytesCutLast(out)
		if code != "206" || !bytes.Equal(body, kernel[100:1100]) {
			t.Errorf("range 100-1099: status %s, %d bytes (equal: %v), want 206 and bytes 100..1099", code, len(body), bytes.Equal(body, kernel[100:1100]))
		}
		out = curl(t, "-r", "-10", "-w", "\n%{http_code}", base+"/images/vmlinuz")
		if body, code, _ := bytesCutLast(out); code != "206" || !bytes.Equal(body, kernel[len(kernel)-10:]) {
			t.Errorf("range -10: status %s body %q, want 206 and the last 10 bytes", code, body)
		}
		out = curl(t, "-r", "20000-", "-o", "/dev/null", "-w", "%{http_code}", base+"/images/vmlinuz")
		if string(out) != "416" {
			t.Errorf("range past the end: status %s, want 416", out)
		}
	})

	t.Run("head", func(t *testing.T) {
		out := curl(t, "-I", "-w", "%{size_download}", base+"/images/vmlinuz")
		s := string(out)
		if !strings.HasPrefix(s, "HTTP/1.1 200") || !strings.Contains(strings.ToLower(s), fmt.Sprintf("content-length: %d\r\n", len(kernel))) {
			t.Errorf("HEAD: %q, want 200 with Content-Length %d", s, len(kernel))
		}
		if !strings.HasSuffix(s, "\r\n\r\n0") {
			t.Errorf("HEAD: %q, want no body (size_download 0)", s)
		}
	})

	t.Run("if-modified-since", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(root, "images/vmlinuz"))
		if err != nil {
			t.Fatal(err)
		}
		later := fi.ModTime().Add(time.Hour).UTC().Format(http.TimeFormat)
		out := curl(t, "-H", "If-Modified-Since: "+later, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", base+"/images/vmlinuz")
		if string(out) != "304 0" {
			t.Errorf("If-Modified-Since after the file's time: %s, want \"304 0\"", out)
		}
		earlier := fi.ModTime().Add(-time.Hour).UTC().Format(http.TimeFormat)
		out = curl(t, "-H", "If-Modified-Since: "+earlier, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", base+"/images/vmlinuz")
		if want := fmt.Sprintf("200 %d", len(kernel)); string(out) != want {
			t.Errorf("If-Modified-Since before the file's time: %s, want %q", out, want)
		}
	})

	t.Run("machine script", func(t *testing.T) {
		out := curl(t, "-A", "iPXE/1.21.1", base+"/machine/52-54-00-00-00-01?mac=52-54-00-00-00-01&buildarch=x86_64&platform=efi")
		f, err := ipxescript.Parse(out, "machine.ipxe")
		if err != nil {
			t.Fatalf("the served script does not parse: %v\n%s", err, out)
		}
		var ran [][]string
		_, err = (&ipxescript.Runner{Command: func(argv []string) error {
			ran = append(ran, argv)
			return nil
		}}).Run(f)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		want := [][]string{
			{"kernel", base + "/images/vmlinuz", "console=ttyS0", `hostname="web 01"`, "quiet"},
			{"initrd", base + "/images/initrd.img"},
			{"initrd", "http://mirror.lan/extra.img"},
			{"boot"},
		}
		// (A dry-run "boot" returns, so the script then reports failure;
		// the commands before it are what matters.)
		if !slices.EqualFunc(ran, want, slices.Equal) {
			t.Errorf("the script ran %q, want %q", ran, want)
		}
	})

	// Every request above reached OnRequest, with its peer.
	all := rs.wait(t, 7, 10*time.Second)
	for _, r := range all {
		if r.Peer.String() != "127.0.0.1" {
			t.Errorf("%s %s: Peer %v, want 127.0.0.1", r.Method, r.Path, r.Peer)
		}
	}
	if last := all[len(all)-1]; last.Kind != HTTPMachineScript || !last.Known || last.Machine != "web01" || last.MAC.String() != "52:54:00:00:00:01" ||
		last.Client.IPXEInfo.BuildArch != "x86_64" {
		t.Errorf("machine script request reported as %+v", last)
	}
}

// bytesCutLast splits curl output at its last newline (body, then the
// -w text).
func bytesCutLast(b []byte) (body []byte, tail string, ok bool) {
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return nil, string(b), false
	}
	return b[:i], string(b[i+1:]), true
}

// TestHTTPHostilePaths: traversal, NUL, backslash and overlong paths get
// a clear 4xx, and nothing outside the root is ever served. Sent raw over
// TCP (and by curl --path-as-is) so no client cleans them first.
func TestHTTPHostilePaths(t *testing.T) {
	base, root, _ := startTestServer(t)
	secret := []byte("TOP-SECRET-CONTENT")
	writeFile(t, filepath.Dir(root), "secret", secret) // overwrite the test secret, the link's target
	long := "/machine/" + strings.Repeat("52-", 700) + "54"
	for _, tt := range []struct {
		target string
		status int
	}{
		{"/../secret", 400},
		{"/%2e%2e/secret", 400},
		{"/%2E%2E%2Fsecret", 400},
		{"/..%2fsecret", 400},
		{"/images/../../secret", 400},
		{"/images/%2e%2e/%2e%2e/secret", 400},
		{"/machine/../../secret", 400},
		{"/machine/%2e%2e%2fsecret", 400},
		{"/machine/52-54-00-00-00-01%00", 400},
		{"/ipxe.efi%00", 400},
		{"/ipxe.efi%00.png", 400},
		{"/..%5csecret", 400},
		{"/machine/zz:zz:zz:zz:zz:zz", 400},
		{"/machine/52-54-00-00-00-01/x", 400},
		{long, 414},
		{"/" + strings.Repeat("a/", 600), 414},
		{"//secret", 404},
		{"/escape", 403},
		{"/images/", 404},
		{"/pipe.efi", 404},
	} {
		t.Run(tt.target[:min(len(tt.target), 40)], func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", tt.target)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("http.ReadResponse: %v", err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("GET %s: %d %q, want %d", tt.target, resp.StatusCode, body.Bytes(), tt.status)
			}
			if bytes.Contains(body.Bytes(), secret) {
				t.Errorf("GET %s served the file outside the root", tt.target)
			}
			if tt.status < 500 && tt.status != 403 && tt.status != 404 && body.Len() == 0 {
				t.Errorf("GET %s: empty body, want a reason", tt.target)
			}
		})
	}
	if _, err := exec.LookPath("curl"); err == nil {
		for _, p := range []string{"/../secret", "/%2e%2e/secret", "/images/%2e%2e/%2e%2e/secret"} {
			out := curl(t, "--path-as-is", "-w", "\n%{http_code}", base+p)
			if body, code, _ := bytesCutLast(out); code != "400" || bytes.Contains(body, secret) {
				t.Errorf("curl --path-as-is %s: %s %q, want 400", p, code, body)
			}
		}
	}
}
