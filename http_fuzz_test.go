package pxekit

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseRoute feeds any path to the route and MAC parser, then to the
// handler: an error is a 4xx, a file route is a clean name inside the
// files directory, a machine route has a MAC net.ParseMAC accepts, and no
// answer ever holds the file outside the root.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/boot.ipxe", "/machine/52-54-00-00-00-01", "/machine/52:54:00:00:00:01.ipxe", "/machine/5254.0000.0001",
		"/ipxe.efi", "/images/vmlinuz", "/../secret", "/escape", "/a/./b", "//x", "/machine/", "/pxe/boot.ipxe", "/\x00", "/a\\b", "*", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	root := testFiles(f)
	secret := []byte("TOP-SECRET-CONTENT")
	writeFile(f, filepath.Dir(root), "secret", secret)
	hs := map[bool]*HTTPHandler{}
	for _, withPrefix := range []bool{false, true} {
		base := "http://10.0.0.1"
		if withPrefix {
			base += "/pxe"
		}
		h, err := NewHTTPHandler(HTTPConfig{BaseURL: base, Files: root, Inventory: mapInventory{m: map[string]Machine{}}})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { h.Close() })
		hs[withPrefix] = h
	}
	f.Fuzz(func(t *testing.T, p string, withPrefix bool) {
		h := hs[withPrefix]
		rt, err := parseRoute(h.prefix, p)
		if err != nil {
			if re, ok := err.(*routeError); !ok || re.status < 400 || re.status > 499 || re.msg == "" {
				t.Fatalf("parseRoute(%q) error %v, want a *routeError with a 4xx status and a message", p, err)
			}
		} else {
			switch rt.kind {
			case HTTPBootScript:
			case HTTPMachineScript:
				if n := len(rt.mac); n != 6 && n != 8 && n != 20 {
					t.Fatalf("parseRoute(%q): MAC %v of %d bytes", p, rt.mac, n)
				}
			case HTTPFile:
				if !cleanRelative(rt.file) {
					t.Fatalf("parseRoute(%q): file %q is not a clean relative name", p, rt.file)
				}
			default:
				t.Fatalf("parseRoute(%q): kind %q", p, rt.kind)
			}
			if !strings.HasPrefix(p, h.prefix+"/") {
				t.Fatalf("parseRoute(%q): routed outside prefix %q", p, h.prefix)
			}
		}
		w := httptest.NewRecorder()
		r := &http.Request{Method: "GET", URL: &url.URL{Path: p}, Header: http.Header{}, RemoteAddr: "10.0.0.9:1000"}
		h.ServeHTTP(w, r.WithContext(t.Context()))
		if w.Code >= 500 {
			t.Fatalf("GET %q: %d", p, w.Code)
		}
		if bytes.Contains(w.Body.Bytes(), secret) {
			t.Fatalf("GET %q served the file outside the root", p)
		}
	})
}

// cleanRelative reports whether name is a non-empty relative slash path
// with no empty, "." or ".." element and no backslash or control byte.
func cleanRelative(name string) bool {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
		return false
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return true
}
