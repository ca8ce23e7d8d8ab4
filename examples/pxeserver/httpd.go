package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pxekit/pxekit/archdetect"

	"github.com/pxekit/pxekit/internal/regfile"
)

// webServer answers iPXE and UEFI HTTP boot clients:
//
//	/boot.ipxe        the boot script (-script, or the built-in one)
//	/machine/MAC      the per-machine script (HTTP-ROOT/machines/MAC.ipxe or
//	                  the built-in one), MAC in any form net.ParseMAC reads
//	anything else     a file under the HTTP root (HEAD and ranges work)
type webServer struct {
	cfg     *Config
	log     *slog.Logger
	root    *os.Root // nil: no HTTP root
	scripts *scripts
}

// newWebServer opens the HTTP root (when configured) as an os.Root, so that
// no request can leave it, symbolic links included.
func newWebServer(cfg *Config, log *slog.Logger, sc *scripts) (*webServer, error) {
	w := &webServer{cfg: cfg, log: log, scripts: sc}
	if cfg.HTTPRoot != "" {
		r, err := os.OpenRoot(cfg.HTTPRoot)
		if err != nil {
			return nil, err
		}
		w.root = r
	}
	return w, nil
}

// Close releases the HTTP root.
func (ws *webServer) Close() error {
	if ws.root != nil {
		return ws.root.Close()
	}
	return nil
}

// statusWriter records the status and body size of a response for the
// log, and cuts the connection off when a write stalls: before each write
// (http.ServeContent writes files 32 KiB at a time) the connection's write
// deadline moves to stall from now, so a client that stops reading is cut
// off after stall while one that keeps reading, however slowly, is not.
type statusWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	stall  time.Duration // 0: no deadline
	status int
	bytes  int64
	err    error // first write error
}

// extend moves the write deadline to stall from now.
func (s *statusWriter) extend() {
	if s.stall > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall)) // ErrNotSupported in tests
	}
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	s.extend()
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ServeHTTP routes a request and logs one "http" line for it.
func (ws *webServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: ws.cfg.HTTPWriteTimeout}
	sw.extend() // a response without body writes is flushed under it too
	kind := ws.route(sw, r)
	sw.extend() // for the final flush after the handler returns
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	c := archdetect.FromHTTP(r)
	attrs := []any{
		slog.String("kind", kind),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("query", r.URL.RawQuery),
		slog.String("remote", r.RemoteAddr),
		slog.String("user_agent", r.UserAgent()),
		slog.Int("status", sw.status),
		slog.Int64("bytes", sw.bytes),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.Bool("ipxe", c.IPXE),
	}
	if c.MAC != nil {
		attrs = append(attrs, slog.String("mac", c.MAC.String()))
	}
	if c.IPXEInfo.BuildArch != "" {
		attrs = append(attrs, slog.String("buildarch", c.IPXEInfo.BuildArch))
	}
	if c.IPXEInfo.Platform != "" {
		attrs = append(attrs, slog.String("platform", c.IPXEInfo.Platform))
	}
	if c.UUID != "" {
		attrs = append(attrs, slog.String("uuid", c.UUID))
	}
	if len(c.Problems) > 0 {
		attrs = append(attrs, slog.Any("problems", c.Problems))
	}
	if sw.err != nil {
		// The client went away, or stopped reading for the write timeout.
		attrs = append(attrs, slog.String("err", sw.err.Error()))
		ws.log.Warn("http", attrs...)
		return
	}
	ws.log.Info("http", attrs...)
}

// route serves the request and returns what kind of answer it was:
// "script", "machine", "file" or "error".
func (ws *webServer) route(w http.ResponseWriter, r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return "error"
	}
	switch {
	case r.URL.Path == "/boot.ipxe":
		b, err := ws.scripts.boot()
		if err != nil {
			ws.log.Error("boot script", slog.String("err", err.Error()))
			http.Error(w, "boot script unavailable", http.StatusInternalServerError)
			return "error"
		}
		serveScript(w, r, b)
		return "script"
	case strings.HasPrefix(r.URL.Path, "/machine/"):
		mac, err := net.ParseMAC(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/machine/"), ".ipxe"))
		if err != nil {
			http.Error(w, "want /machine/MAC", http.StatusBadRequest)
			return "error"
		}
		b, err := ws.scripts.machine(ws.root, mac)
		if err != nil {
			ws.log.Error("machine script", slog.String("mac", mac.String()), slog.String("err", err.Error()))
			http.Error(w, "machine script unavailable", http.StatusInternalServerError)
			return "error"
		}
		serveScript(w, r, b)
		return "machine"
	}
	if ws.root == nil {
		http.NotFound(w, r)
		return "error"
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "."
	}
	// Regular files only: a directory, FIFO or device answers 404 (a FIFO
	// once held every request for it forever).
	f, fi, err := regfile.Open(ws.root.OpenFile, name)
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, regfile.ErrNotRegular) {
			status = http.StatusForbidden
		}
		http.Error(w, http.StatusText(status), status)
		return "error"
	}
	defer f.Close()
	// EDK2 HTTP boot takes application/efi (or a .efi name) as an EFI image.
	switch strings.ToLower(path.Ext(name)) {
	case ".efi":
		w.Header().Set("Content-Type", "application/efi")
	case ".ipxe":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	case ".kpxe", ".pxe", ".lkrn", ".img", ".iso":
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
	return "file"
}

func serveScript(w http.ResponseWriter, r *http.Request, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "script.ipxe", time.Time{}, strings.NewReader(string(b)))
}
