package pxekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/internal/regfile"
	"github.com/pxekit/pxekit/ipxescript"
)

// BootedMarker starts the line the built-in unknown-machine script prints
// with the MAC, build architecture and platform as iPXE sees them; tests
// watch a console for it.
const BootedMarker = "PXEKIT-BOOTED"

// HTTPKind is what an HTTP request was answered with.
type HTTPKind string

// HTTP request kinds.
const (
	HTTPBootScript    HTTPKind = "script"  // /boot.ipxe
	HTTPMachineScript HTTPKind = "machine" // /machine/MAC
	HTTPFile          HTTPKind = "file"    // a static boot file
	HTTPError         HTTPKind = "error"   // refused or failed (Status says how)
)

// HTTPRequest describes one finished request, for HTTPConfig.OnRequest.
type HTTPRequest struct {
	Method string
	// Path is the request's URL path as received (prefix included);
	// Query its raw query, without the "?".
	Path  string
	Query string
	Kind  HTTPKind
	// File is the static file served (relative to HTTPConfig.Files), for
	// Kind HTTPFile; for one of a machine's Files (/machine/MAC/files/NAME)
	// it is the file's path, MAC the machine's, and Known and Machine are
	// set, and MachineFile is the NAME.
	File        string
	MachineFile string
	Status      int
	Bytes       int64 // body bytes written
	Duration    time.Duration
	// Peer is the client's address (invalid when RemoteAddr is not an
	// IP:port, as behind some test harnesses).
	Peer netip.Addr
	// MAC is the machine's MAC: from /machine/MAC, else from the "mac="
	// query or a path segment (archdetect.FromHTTP); nil when neither.
	MAC net.HardwareAddr
	// Client is archdetect.FromHTTP's reading of the request.
	Client archdetect.Client
	// Known reports that the inventory knew the machine (Kind
	// HTTPMachineScript, and HTTPFile for a machine's Files); Machine is
	// its name.
	Known   bool
	Machine string
	// Err is the first write error: the client went away or stopped
	// reading for the write timeout.
	Err error
}

// HTTPConfig configures an HTTPHandler. BaseURL is required; every other
// zero field has a documented default.
type HTTPConfig struct {
	// BaseURL is where clients reach the handler: scheme://host[:port]
	// [/prefix] ("http://10.0.0.1:8080", "http://boot.lan/pxe"). Every URL
	// the handler writes is built on it (the per-machine script URL in the
	// boot script, kernel and initrd paths), and requests are expected
	// under its path: with a prefix "/pxe", the boot script is
	// /pxe/boot.ipxe (mount the handler at "/pxe/" without
	// http.StripPrefix).
	BaseURL string
	// BaseURL6, when set, is BaseURL for the requests that arrive on an
	// IPv6 address (the connection's local address,
	// http.LocalAddrContextKey): a server on an IPv4 and an IPv6 address
	// writes, in its scripts, the address each client reached it on.
	// "" is BaseURL for every request. Its path must be BaseURL's.
	BaseURL6 string
	// Files is the directory of static boot files (nil: none). It is
	// opened with os.Root, so no request leaves it, symbolic links
	// included; only regular files are served.
	Files string
	// Inventory says what each machine boots (nil: every machine boots
	// the default flow).
	Inventory Inventory
	// BootScript is /boot.ipxe (nil: the built-in one, which gets an
	// address and chains the per-machine URL). It must parse.
	BootScript []byte
	// DefaultScript is the per-machine script of a machine the inventory
	// does not know or cannot answer for (nil: the built-in one, which
	// prints BootedMarker and exits to the next boot device). It must
	// parse.
	DefaultScript []byte
	// WriteTimeout cuts a response off when a write has made no progress
	// for this long (0: DefaultHTTPWriteTimeout; negative: never); see
	// ProgressWriter.
	WriteTimeout time.Duration
	// OnRequest, when set, is called once per finished request, on the
	// request's goroutine; it must not block.
	OnRequest func(HTTPRequest)
	// Logger receives inventory and script errors (nil: discarded).
	Logger *slog.Logger
}

// HTTPHandler answers iPXE and UEFI HTTP boot clients under the base URL's
// path:
//
//	/boot.ipxe           the boot script
//	/machine/MAC[.ipxe]  the machine's script, MAC in any form
//	                     net.ParseMAC reads (52-54-00-12-34-56, ...)
//	/machine/MAC/files/NAME
//	                     one of the machine's Files (Machine.Files),
//	                     from Files like a static file; 404 for a name
//	                     the machine does not list
//	anything else        a static file under Files (GET, HEAD, Range,
//	                     If-Modified-Since)
//
// A per-machine script is built from the inventory: Machine.Script served
// verbatim; Machine.Template filled for the request (see Machine.Template); BootLocal as "exit"; Kernel, Initrds and Cmdline as
// kernel/initrd/boot (ipxescript.Builder.BootKernel, each Cmdline element
// one quoted Linux argument; relative paths on BaseURL). An unknown
// machine, a zero Machine, or an inventory error (logged) gets
// DefaultScript. It is safe for concurrent use; Close releases Files.
type HTTPHandler struct {
	cfg        HTTPConfig
	base       string // BaseURL without a trailing slash
	base6      string // BaseURL6 so, "" when unset
	prefix     string // its path, "" or "/pxe"
	root       *os.Root
	boot       []byte
	boot6      []byte // boot for requests on base6
	defaultMac []byte
	stall      time.Duration
	log        *slog.Logger
}

// NewHTTPHandler checks cfg (BaseURL, scripts that must parse) and opens
// Files.
func NewHTTPHandler(cfg HTTPConfig) (*HTTPHandler, error) {
	base, prefix, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	h := &HTTPHandler{cfg: cfg, base: base, prefix: prefix, log: cfg.Logger,
		stall: limit(cfg.WriteTimeout, DefaultHTTPWriteTimeout)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.boot = cfg.BootScript; h.boot == nil {
		if h.boot, err = defaultBootScript(base); err != nil {
			return nil, fmt.Errorf("pxekit: built-in boot script: %w", err)
		}
	} else if err := checkScript(h.boot, "boot script"); err != nil {
		return nil, fmt.Errorf("pxekit: HTTPConfig.BootScript: %w", err)
	}
	h.boot6 = h.boot
	if cfg.BaseURL6 != "" {
		base6, prefix6, err := parseBaseURL(cfg.BaseURL6)
		if err != nil {
			return nil, fmt.Errorf("%w (BaseURL6)", err)
		}
		if prefix6 != prefix {
			return nil, fmt.Errorf("pxekit: HTTPConfig.BaseURL6 %q: its path %q is not BaseURL's %q", cfg.BaseURL6, prefix6, prefix)
		}
		h.base6 = base6
		if cfg.BootScript == nil {
			if h.boot6, err = defaultBootScript(base6); err != nil {
				return nil, fmt.Errorf("pxekit: built-in boot script: %w", err)
			}
		}
	}
	if h.defaultMac = cfg.DefaultScript; h.defaultMac == nil {
		if h.defaultMac, err = defaultMachineScript(); err != nil {
			return nil, fmt.Errorf("pxekit: built-in machine script: %w", err)
		}
	} else if err := checkScript(h.defaultMac, "default machine script"); err != nil {
		return nil, fmt.Errorf("pxekit: HTTPConfig.DefaultScript: %w", err)
	}
	if cfg.Files != "" {
		if h.root, err = os.OpenRoot(cfg.Files); err != nil {
			return nil, fmt.Errorf("pxekit: HTTP files: %w", err)
		}
	}
	return h, nil
}

// parseBaseURL checks a base URL and returns it without a trailing slash,
// and its path.
func parseBaseURL(s string) (base, prefix string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("pxekit: HTTP base URL %q: %s (want scheme://host[:port][/prefix], such as http://10.0.0.1:8080)", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad(err.Error())
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case u.User != nil:
		return bad("user info is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("query or fragment is not allowed")
	case u.Hostname() == "0.0.0.0" || u.Hostname() == "::":
		return bad("a client cannot reach the unspecified address; give the server's address")
	}
	if p := u.Port(); p != "" {
		if _, err := netip.ParseAddrPort("0.0.0.0:" + p); err != nil || p == "0" {
			return bad("bad port")
		}
	}
	prefix = strings.TrimRight(u.EscapedPath(), "/")
	if prefix != "" && (path.Clean(prefix) != prefix || u.EscapedPath() != u.Path) {
		return bad("path must be clean and need no escaping")
	}
	return u.Scheme + "://" + u.Host + prefix, prefix, nil
}

// BaseURL returns the base URL every rule shares, without a trailing
// slash.
func (h *HTTPHandler) BaseURL() string { return h.base }

// URL returns the absolute URL of name (a file or route relative to the
// base URL; a leading "/" is ignored): URL("ipxe.efi") is what a UEFI
// HTTP boot client is given, URL("boot.ipxe") what iPXE is given.
func (h *HTTPHandler) URL(name string) string {
	return h.base + "/" + strings.TrimLeft(name, "/")
}

// Close releases the Files directory.
func (h *HTTPHandler) Close() error {
	if h.root != nil {
		return h.root.Close()
	}
	return nil
}

// ServeHTTP routes and answers one request, then calls OnRequest.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	pw := NewProgressWriter(w, h.stall)
	info := HTTPRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Client: archdetect.FromHTTP(r)}
	h.route(pw, r, &info)
	pw.Extend() // for the final flush after the handler returns
	if h.cfg.OnRequest == nil {
		return
	}
	if info.MAC == nil {
		info.MAC = info.Client.MAC
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		info.Peer = ap.Addr().Unmap()
	}
	info.Status, info.Bytes, info.Err = pw.Status(), pw.Bytes(), pw.Err()
	info.Duration = time.Since(start)
	h.cfg.OnRequest(info)
}

// httpError answers status with msg and marks the request an error.
func httpError(w http.ResponseWriter, info *HTTPRequest, msg string, status int) {
	info.Kind = HTTPError
	http.Error(w, msg, status)
}

// route serves the request and fills in info's Kind, MAC and File.
func (h *HTTPHandler) route(w http.ResponseWriter, r *http.Request, info *HTTPRequest) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, info, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rt, err := parseRoute(h.prefix, r.URL.Path)
	if err != nil {
		var re *routeError
		errors.As(err, &re)
		httpError(w, info, re.msg, re.status)
		return
	}
	switch rt.kind {
	case HTTPBootScript:
		info.Kind = HTTPBootScript
		boot := h.boot
		if h.base6 != "" && arrivedOn6(r) {
			boot = h.boot6
		}
		serveScript(w, r, boot)
	case HTTPMachineScript:
		info.MAC = rt.mac
		if rt.file != "" {
			h.serveMachineFile(w, r, rt, info)
			return
		}
		b, err := h.machineScript(r.Context(), r, rt.mac, info)
		if err != nil {
			h.log.Error("machine script", slog.String("mac", rt.mac.String()), slog.String("err", err.Error()))
			httpError(w, info, "machine script unavailable", http.StatusInternalServerError)
			return
		}
		info.Kind = HTTPMachineScript
		serveScript(w, r, b)
	default:
		h.serveFile(w, r, rt.file, info)
	}
}

// machineScript returns the script of the machine with this MAC (and the
// UUID iPXE sent in the query, if any).
func (h *HTTPHandler) machineScript(ctx context.Context, r *http.Request, mac net.HardwareAddr, info *HTTPRequest) ([]byte, error) {
	if h.cfg.Inventory == nil {
		return h.defaultMac, nil
	}
	m, found, err := h.cfg.Inventory.Machine(ctx, MachineKey{MAC: mac, UUID: info.Client.UUID})
	if err != nil {
		h.log.Error("inventory", slog.String("mac", mac.String()), slog.String("err", err.Error()))
		return h.defaultMac, nil
	}
	if !found {
		return h.defaultMac, nil
	}
	info.Known, info.Machine = true, m.Name
	base := h.baseFor(r)
	if m.Template != "" && m.Boot == BootIPXE {
		v := templateVars{mac: mac, uuid: info.Client.UUID, base: base, fileURL: func(p string) string { return joinURL(base, p) }}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			v.ip = ap.Addr().Unmap()
		}
		b, err := fillTemplate(m, v)
		if err != nil {
			return nil, fmt.Errorf("machine %q: %w", m.Name, err)
		}
		return b, nil
	}
	return h.buildMachineScript(m, base)
}

// baseFor returns the base URL of r's scripts: BaseURL6 for a request
// that arrived on an IPv6 address when it is set, else BaseURL.
func (h *HTTPHandler) baseFor(r *http.Request) string {
	if h.base6 != "" && arrivedOn6(r) {
		return h.base6
	}
	return h.base
}

// arrivedOn6 reports whether r came to an IPv6 address of this host (not
// an IPv4-mapped one).
func arrivedOn6(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Is6() && !ap.Addr().Is4In6()
}

// serveMachineFile serves one of a machine's Files: 404 when the
// inventory does not know the machine or the machine does not list the
// name.
func (h *HTTPHandler) serveMachineFile(w http.ResponseWriter, r *http.Request, rt route, info *HTTPRequest) {
	var p string
	if h.cfg.Inventory != nil {
		m, found, err := h.cfg.Inventory.Machine(r.Context(), MachineKey{MAC: rt.mac, UUID: info.Client.UUID})
		if err != nil {
			h.log.Error("inventory", slog.String("mac", rt.mac.String()), slog.String("err", err.Error()))
		}
		if found && err == nil {
			info.Known, info.Machine = true, m.Name
			p = m.Files[rt.file]
		}
	}
	if p == "" || checkRelPath(p) != nil {
		httpError(w, info, "404 page not found", http.StatusNotFound)
		return
	}
	info.MachineFile = rt.file
	h.serveFile(w, r, p, info)
}

// buildMachineScript writes the script of a known machine, its relative
// paths on base.
func (h *HTTPHandler) buildMachineScript(m Machine, base string) ([]byte, error) {
	switch m.Boot {
	case BootLocal:
		b := ipxescript.NewBuilder()
		b.Comment("pxekit: machine " + strings.Map(printable, m.Name) + " boots from its local disk")
		b.Cmd("exit")
		return b.Script()
	case BootIPXE, BootPXELinux, BootGRUB:
		// A pxelinux or grub machine's client that reached iPXE anyway
		// boots the same kernel through iPXE.
	default:
		return nil, fmt.Errorf("machine %q: unknown boot kind %q (want %q, %q, %q or %q)", m.Name, m.Boot, BootIPXE, BootLocal, BootPXELinux, BootGRUB)
	}
	if m.Script != "" {
		if err := checkScript([]byte(m.Script), "machine "+m.Name); err != nil {
			return nil, err
		}
		return []byte(m.Script), nil
	}
	if m.Kernel == "" {
		return h.defaultMac, nil
	}
	initrds := make([]ipxescript.Arg, len(m.Initrds))
	for i, p := range m.Initrds {
		initrds[i] = ipxescript.Value(joinURL(base, p))
	}
	b := ipxescript.NewBuilder()
	if m.Name != "" {
		b.Comment("pxekit: machine " + strings.Map(printable, m.Name))
	}
	b.BootKernel(ipxescript.Value(joinURL(base, m.Kernel)), initrds, m.Cmdline...)
	s, err := b.Script()
	if err != nil {
		return nil, fmt.Errorf("machine %q: %w", m.Name, err)
	}
	return s, nil
}

// printable keeps a name on its comment line.
func printable(r rune) rune {
	if r < ' ' || r == 0x7f {
		return -1
	}
	return r
}

// joinURL is p as a URL: as it is when it has a scheme, else relative to
// base (which has no trailing slash).
func joinURL(base, p string) string {
	if u, err := url.Parse(p); err == nil && u.Scheme != "" && u.Host != "" {
		return p
	}
	return base + "/" + strings.TrimLeft(p, "/")
}

// serveFile serves a static file: regular files only, so that a FIFO or
// device never holds a request.
func (h *HTTPHandler) serveFile(w http.ResponseWriter, r *http.Request, name string, info *HTTPRequest) {
	if h.root == nil {
		httpError(w, info, "404 page not found", http.StatusNotFound)
		return
	}
	f, fi, err := regfile.Open(h.root.OpenFile, name)
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, regfile.ErrNotRegular) {
			status = http.StatusForbidden // a link out of the root, a permission
		}
		httpError(w, info, http.StatusText(status), status)
		return
	}
	defer f.Close()
	info.Kind, info.File = HTTPFile, name
	// EDK2 HTTP boot takes application/efi (or a .efi name) as an EFI image.
	switch strings.ToLower(path.Ext(name)) {
	case ".efi":
		w.Header().Set("Content-Type", "application/efi")
	case ".ipxe":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	case ".kpxe", ".pxe", ".lkrn", ".img", ".iso", "":
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

func serveScript(w http.ResponseWriter, r *http.Request, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "script.ipxe", time.Time{}, bytes.NewReader(b))
}

// maxPath bounds a request path the handler looks at.
const maxPath = 1024

// route is a parsed request path.
type route struct {
	kind HTTPKind         // HTTPBootScript, HTTPMachineScript or HTTPFile
	mac  net.HardwareAddr // HTTPMachineScript
	// file is, for HTTPFile, a clean path relative to the files; for
	// HTTPMachineScript, the name of one of the machine's Files, or "".
	file string
}

// routeError is a path refused with a 4xx status.
type routeError struct {
	status int
	msg    string
}

func (e *routeError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// parseRoute maps a decoded URL path to a route under prefix ("" or
// "/pxe"). A path that is too long, holds a control byte or a backslash,
// or has a ".." element is refused with 400 (never cleaned into another
// file); one outside prefix, or naming no file, with 404.
func parseRoute(prefix, p string) (route, error) {
	switch {
	case len(p) > maxPath:
		return route{}, &routeError{http.StatusRequestURITooLong, fmt.Sprintf("path longer than %d bytes", maxPath)}
	case !strings.HasPrefix(p, "/"):
		return route{}, &routeError{http.StatusBadRequest, "path must start with /"}
	case strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }):
		return route{}, &routeError{http.StatusBadRequest, "path holds a control character or backslash"}
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return route{}, &routeError{http.StatusBadRequest, "path holds a .. element"}
		}
	}
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok || rest == "" || rest[0] != '/' { // "/pxe" alone is no file (it cleaned to ".")
		return route{}, &routeError{http.StatusNotFound, "404 page not found"}
	}
	if rest == "/boot.ipxe" {
		return route{kind: HTTPBootScript}, nil
	}
	if m, ok := strings.CutPrefix(rest, "/machine/"); ok {
		m, file, isFile := strings.Cut(m, "/files/")
		if !isFile {
			m = strings.TrimSuffix(m, ".ipxe")
		}
		mac, err := net.ParseMAC(m)
		if err != nil {
			return route{}, &routeError{http.StatusBadRequest, "want /machine/MAC or /machine/MAC/files/NAME, such as /machine/52-54-00-12-34-56"}
		}
		if isFile && (checkRelPath(file) != nil || strings.HasSuffix(file, "/")) {
			return route{}, &routeError{http.StatusNotFound, "404 page not found"}
		}
		return route{kind: HTTPMachineScript, mac: mac, file: file}, nil
	}
	name := strings.TrimPrefix(path.Clean(rest), "/")
	if name == "" || strings.HasSuffix(rest, "/") {
		return route{}, &routeError{http.StatusNotFound, "404 page not found"} // no directory listings
	}
	return route{kind: HTTPFile, file: name}, nil
}

// maxScript bounds a script built or served.
const maxScript = 16 << 20

// checkScript refuses a script larger than maxScript, or one iPXE would
// not run (ipxescript.CheckScript).
func checkScript(b []byte, name string) error {
	if len(b) > maxScript {
		return fmt.Errorf("%s: larger than %d MiB", name, maxScript>>20)
	}
	return ipxescript.CheckScript(b, name)
}

// defaultBootScript returns the built-in /boot.ipxe for base: get an
// address if iPXE has none from DHCPv4 or DHCPv6 (retrying), say who is booting, and chain the
// per-machine URL carrying the MAC, build architecture, platform, UUID and
// NIC driver as iPXE sees them.
func defaultBootScript(base string) ([]byte, error) {
	S, R := ipxescript.Setting, ipxescript.Raw
	b := ipxescript.NewBuilder()
	b.Comment("pxekit: built-in boot script")
	b.Label("start")
	// An address from DHCPv4 or DHCPv6 will do: on an IPv6-only network a
	// "dhcp" here would wait for DHCPv4 to time out first.
	b.Cmd("isset", S("net0/ip")).Or("isset", S("net0.dhcpv6/ip6")).Or("dhcp").Or("goto", R("retry"))
	b.Cmd("echo", R("pxekit:"), R("booting"), S("net0/mac"), R("as"), S("buildarch"), S("platform"),
		R("uuid"), S("uuid"), R("chip"), S("net0/chip"))
	b.Cmd("chain", ipxescript.Flag("autofree"), ipxescript.Concat(
		ipxescript.Value(base+"/machine/"), S("net0/mac:hexhyp"),
		R("?mac="), S("net0/mac:hexhyp"),
		R("&buildarch="), S("buildarch"),
		R("&platform="), S("platform"),
		R("&uuid="), S("uuid"),
		R("&chip="), S("net0/chip:uristring"),
	)).Or("goto", R("retry"))
	b.Cmd("exit")
	b.Label("retry")
	b.Cmd("echo", ipxescript.Text("pxekit: boot failed, retrying in 5 seconds"))
	b.Cmd("sleep", R("5"))
	b.Cmd("goto", R("start"))
	return b.Script()
}

// defaultMachineScript returns the built-in script of a machine with
// nothing to boot: it prints BootedMarker with what iPXE knows and exits,
// so the firmware goes on to its next boot device.
func defaultMachineScript() ([]byte, error) {
	S := ipxescript.Setting
	b := ipxescript.NewBuilder()
	b.Cmd("echo", ipxescript.Raw(BootedMarker), S("net0/mac"), S("buildarch"), S("platform"))
	b.Cmd("echo", ipxescript.Text("pxekit: no system assigned to this machine, exiting to the next boot device"))
	b.Cmd("exit")
	return b.Script()
}
