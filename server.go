package pxekit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

// ErrServerClosed is returned by Server's ListenAndServe and Serve after
// Shutdown or Close, or once ListenAndServe's context is done.
var ErrServerClosed = errors.New("pxekit: server closed")

// DHCPMode says whether and how a Server answers DHCP.
type DHCPMode uint8

// DHCP modes.
const (
	// DHCPOff (the zero value): the Server never answers DHCP. A boot
	// server must not answer DHCP on a network unless asked to.
	DHCPOff DHCPMode = iota
	// DHCPProxy: a proxyDHCP beside the site's DHCP server
	// (dhcpboot.ProxyServer, ports 67 and 4011): boot data only, no
	// addresses. It keeps no state, so several instances can serve one
	// fleet (see the package documentation).
	DHCPProxy
	// DHCPLab: a small full DHCP server (dhcpboot.LabServer4) giving
	// addresses from Lab.Subnets. Its leases live in one process: one
	// instance per network.
	DHCPLab
)

var dhcpModeNames = [...]string{"off", "proxy", "lab"}

// String returns "off", "proxy" or "lab".
func (m DHCPMode) String() string {
	if int(m) < len(dhcpModeNames) {
		return dhcpModeNames[m]
	}
	return "dhcpmode(" + strconv.Itoa(int(m)) + ")"
}

// LabDHCP is the address side of DHCPLab (see dhcpboot.LabServer4).
type LabDHCP struct {
	// Subnets are the IPv4 networks given addresses (none: no DHCPv4).
	Subnets []dhcpboot.Subnet
	// LeaseFile keeps the IPv4 leases across restarts ("" = memory only).
	LeaseFile string
	// V6 is the DHCPv6 side (dhcpboot.LabServer6); off while its range is
	// unset. Its clients get the same policy and base URL: for UEFI HTTP
	// boot over IPv6, BaseURL must name a host they reach over IPv6 (an
	// IPv6 literal, or a name with an AAAA record). When BaseURL is
	// unset or names Addr, the scripts (boot script, machine kernel URLs)
	// fetched over IPv6 name V6.ServerIP instead (HTTPConfig.BaseURL6).
	V6 LabDHCP6
}

// LabDHCP6 is the DHCPv6 side of DHCPLab: addresses from a range, in
// memory, with the boot URL the policy decides.
type LabDHCP6 struct {
	// ServerIP is the server's (non link-local) IPv6 address: the server
	// DUID and {{server}} of the boot URLs.
	ServerIP netip.Addr
	// RangeStart and RangeEnd bound the addresses given, inclusive.
	RangeStart, RangeEnd netip.Addr
	// LeaseTime is the valid lifetime (0: one hour).
	LeaseTime time.Duration
}

// ProxyDHCP6 is the DHCPv6 side of a boot server beside the site's DHCPv6
// server (dhcpboot.ProxyServer6): boot-only Advertises (no address, the
// boot URL of the policy) to UEFI HTTP boot clients. EDK2's HTTP boot
// takes them; its PXE over IPv6 and iPXE do not (see
// dhcpboot.ProxyServer6), so they are not answered.
type ProxyDHCP6 struct {
	// ServerIP is the server's (non link-local) IPv6 address in the boot
	// URLs; the zero value leaves the DHCPv6 proxy off.
	ServerIP netip.Addr
}

// TFTPLimits are the tftpserve.Server settings a Server passes on, each
// the field of the same name there; zero fields take tftpserve's
// defaults.
type TFTPLimits struct {
	// MaxBlockSize caps blksize (0: 65464, and the path MTU always).
	MaxBlockSize int
	// MaxWindowSize caps windowsize (0: tftpserve.DefaultMaxWindowSize).
	MaxWindowSize int
	// MaxTransfers bounds concurrent transfers (0:
	// tftpserve.DefaultMaxTransfers); MaxClientTransfers those of one
	// client IP (0: no bound of its own).
	MaxTransfers, MaxClientTransfers int
	// Timeout is the retransmission ceiling, TransferTimeout the bound of
	// one transfer's duration, QueueTimeout how long a request waits for
	// a slot (0: tftpserve's defaults).
	Timeout, TransferTimeout, QueueTimeout time.Duration
	// MaxTimeout is the largest timeout option granted, in seconds (0:
	// tftpserve.DefaultMaxTimeout; negative: never granted).
	MaxTimeout int
	// SinglePort answers every transfer from the listening socket (for NAT
	// and containers).
	SinglePort bool
	// BatchedLockstep, with SinglePort, runs lock-step transfers' data in
	// the listening socket's loop (tftpserve.Server.BatchedLockstep): the
	// cheapest way to serve a boot storm of legacy PXE ROMs.
	BatchedLockstep bool
}

// Default listen addresses of Server.ListenAndServe.
const (
	DefaultHTTPAddr = ":80"
	DefaultTFTPAddr = ":69"
	// DefaultShutdownGrace is how long ListenAndServe lets transfers and
	// requests in flight finish once its context is done.
	DefaultShutdownGrace = 10 * time.Second
)

// Server is a complete boot server: DHCP (off, proxy or lab), TFTP and
// HTTP sharing one policy, one base URL, one inventory and one session
// table, so that every request of a machine's boot (DHCP → boot file →
// iPXE → script → kernel) lands in the same Session.
//
// Set the fields, then call ListenAndServe, or Serve with sockets of your
// own; Shutdown or Close stops it. Every field has a usable zero value:
// the zero Server answers no DHCP and serves the built-in boot scripts
// over HTTP on DefaultHTTPAddr (it needs an address for its URLs: Addr,
// Interface or a BaseURL). The Server never writes its fields; they must
// not change once it has started (Reload swaps what may change). Each part
// is usable alone: HTTPHandler for a program's own mux, TFTPServer or
// TFTPHandler for its own TFTP socket, DHCPPolicy and ObserveDHCP4 for
// its own dhcpboot server, DHCPHandler4 and CoreDHCP4 for its own
// insomniacslk server4.
type Server struct {
	// DHCP is the DHCP mode (zero: DHCPOff, no DHCP at all).
	DHCP DHCPMode
	// Interface is the network interface DHCP serves: ListenAndServe binds
	// the DHCP sockets to it and needs it when DHCP is on. Its first IPv4
	// address is Addr's default.
	Interface string
	// Addr is the server's IPv4 address as clients reach it: option 54 and
	// the next server (TFTP) of DHCP replies, and the host of the default
	// BaseURL. Zero: the first IPv4 address of Interface.
	Addr netip.Addr
	// Lab configures DHCPLab.
	Lab LabDHCP
	// Proxy6 turns on the DHCPv6 proxy (port 547 on Interface) in
	// DHCPProxy or DHCPLab mode; not together with Lab.V6.
	Proxy6 ProxyDHCP6
	// DHCPOptions tune how decisions are written into DHCP replies.
	DHCPOptions dhcpboot.ReplyOptions
	// Loaders are the boot files DHCP names for the machines the Inventory
	// boots with BootPXELinux or BootGRUB (zero: every default, see
	// LoaderFiles). For such a machine the Server's DHCPv4 parts (and
	// DHCPPolicy, CoreDHCP4, DHCPHandler4) put a rule of its MAC ahead of
	// Policy once it has asked, and its TFTP part answers the machine's
	// pxelinux.cfg/ or grub/ configuration names with a file made from
	// the Machine (its HTTP part too, under BaseURL's path); other
	// machines keep Policy and the files of the roots.
	Loaders LoaderFiles
	// Policy decides what each client is told over DHCP. nil:
	// dhcpboot.DefaultPolicy with its script URL and HTTP boot base on
	// BaseURL (BaseURL/boot.ipxe?mac=…, BaseURL/ipxe.efi), so that iPXE
	// and UEFI HTTP boot clients reach the HTTP port the script is on.
	Policy *dhcpboot.Policy

	// BaseURL is where clients reach the HTTP part (see HTTPConfig.BaseURL);
	// every URL the Server hands out is built on it. "": http://Addr:PORT
	// with the port of the HTTP listener (of HTTPAddr before it listens).
	BaseURL string
	// HTTPAddr is where ListenAndServe serves HTTP ("": DefaultHTTPAddr).
	HTTPAddr string
	// HTTPLimits are the HTTP safety limits (zero: every default).
	HTTPLimits HTTPLimits
	// Files is the directory of boot files served over HTTP, and over TFTP
	// unless TFTPRoot is set ("": none).
	Files string
	// Inventory says what each machine boots (nil: every machine boots
	// the default flow).
	Inventory Inventory
	// BootScript and DefaultScript replace the built-in scripts (see
	// HTTPConfig).
	BootScript, DefaultScript []byte

	// TFTPRoot is the directory served over TFTP ("": Files; both empty:
	// no TFTP).
	TFTPRoot string
	// TFTPAddr is where ListenAndServe serves TFTP ("": DefaultTFTPAddr).
	TFTPAddr string
	// TFTP are the TFTP server's limits.
	TFTP TFTPLimits
	// TFTPTune, when set, may lower the limits of one TFTP request, as
	// tftpserve.Server.Tune, knowing the machine: s is the session the
	// client's IP is tied to (what DHCP learned: its archdetect.Client,
	// rule and stage), ok false when there is none.
	TFTPTune func(r *tftpserve.Request, l *tftpserve.Limits, s Session, ok bool)

	// MaxSessions and SessionTTL bound the session table (see Sessions;
	// 0: DefaultMaxSessions, DefaultSessionTTL).
	MaxSessions int
	SessionTTL  time.Duration
	// OnEvent, when set, gets every event: each DHCP exchange, TFTP
	// transfer and HTTP request, each stage a machine reaches, each
	// machine the Inventory does not know (once per session; only when an
	// Inventory is set). It is called synchronously on the goroutine
	// serving the request and must not block.
	OnEvent func(Event)
	// Metrics, when set, is the registry the Server's Prometheus metrics
	// (see NewMetrics) are registered on; the caller serves it (promhttp).
	Metrics prometheus.Registerer
	// Logger receives what the parts log (nil logs nothing).
	Logger *slog.Logger

	mu       sync.Mutex
	started  bool
	ready    atomic.Bool // start has run
	serving  bool
	closed   bool
	released bool       // the Server's reference to gen was dropped
	base     string     // resolved BaseURL
	base6    string     // base on Lab.V6.ServerIP when base is derived, "" else
	addr     netip.Addr // resolved Addr (invalid when none is known)
	initErr  error
	sessions Sessions
	arrivals arrivals               // when DHCPv4 requests came, for ObserveDHCP4
	metrics  *Metrics               // nil without Metrics
	status   atomic.Pointer[Status] // nil until Status is first called
	gen      atomic.Pointer[generation]
	stops    []part // the parts Serve runs
}

// part is one running server, for Shutdown and Close.
type part struct {
	shutdown func(context.Context) error
	close    func() error
}

// generation is everything Reload swaps. Requests hold a reference while
// they use it; its directories close when the last one ends.
type generation struct {
	refs   atomic.Int64 // the Server's own reference plus one per request
	policy *dhcpboot.Policy
	resp   *dhcpboot.Responder4 // nil without a server address
	http   *HTTPHandler
	tftp   *tftpserve.Dir // nil without a TFTP root
	inv    Inventory
	// loaders holds the rules of the BootPXELinux and BootGRUB machines
	// met, ahead of policy.
	loaders *loaderPolicy
}

// release drops one reference; the last closes the directories.
func (g *generation) release() {
	if g.refs.Add(-1) == 0 {
		g.http.Close()
		if g.tftp != nil {
			g.tftp.Close()
		}
	}
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// start resolves the address and base URL (with the port of ln, when
// given) and builds the first generation, once. Until it has run, the
// parts are not usable.
func (s *Server) start(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return s.initErr
	}
	if s.closed {
		return ErrServerClosed
	}
	s.started = true
	defer s.ready.Store(true)
	s.sessions.MaxSessions, s.sessions.TTL = s.MaxSessions, s.SessionTTL
	s.initErr = s.resolve(ln)
	if s.initErr == nil && s.Metrics != nil {
		if s.metrics, s.initErr = NewMetrics(s.Metrics); s.initErr == nil {
			s.metrics.SetStageCounts(s.sessions.CountByStage)
		}
	}
	if s.initErr == nil {
		var g *generation
		if g, s.initErr = s.newGeneration(s); s.initErr == nil {
			s.gen.Store(g)
		}
	}
	return s.initErr
}

// ensure starts the Server if nothing did yet (a hook of a program's own
// server may be its first use).
func (s *Server) ensure() {
	if !s.ready.Load() {
		s.start(nil)
	}
}

// resolveBase6 returns the base URL of the scripts fetched over IPv6: in
// lab mode with Lab.V6, when the base URL names the server's IPv4 address
// (the default), the same URL on Lab.V6.ServerIP; else "" (the base URL
// for every request: a name, say, that resolves to both addresses).
func (s *Server) resolveBase6() string {
	v6 := s.Lab.V6.ServerIP.WithZone("")
	if s.DHCP != DHCPLab || !v6.IsValid() || !s.addr.IsValid() {
		return ""
	}
	u, err := url.Parse(s.base)
	if err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(u.Hostname()); err != nil || a.Unmap() != s.addr {
		return ""
	}
	if p := u.Port(); p != "" {
		u.Host = net.JoinHostPort(v6.String(), p)
	} else {
		u.Host = "[" + v6.String() + "]"
	}
	return u.String()
}

// resolve finds the server address and the base URL.
func (s *Server) resolve(ln net.Listener) error {
	if s.DHCP > DHCPLab {
		return fmt.Errorf("pxekit: Server.DHCP %v: want DHCPOff, DHCPProxy or DHCPLab", s.DHCP)
	}
	s.addr = s.Addr.Unmap()
	if s.addr.IsValid() && !s.addr.Is4() {
		return fmt.Errorf("pxekit: Server.Addr %v is not an IPv4 address", s.Addr)
	}
	if !s.addr.IsValid() && s.Interface != "" {
		a, err := dhcpboot.InterfaceIPv4(s.Interface)
		if err != nil {
			return fmt.Errorf("pxekit: Server.Addr is not set and Interface %s has no IPv4 address: %w", s.Interface, err)
		}
		s.addr = a
	}
	if s.Proxy6.ServerIP.IsValid() && s.Lab.V6.RangeStart.IsValid() {
		return errors.New("pxekit: Server.Proxy6 and Server.Lab.V6 both answer DHCPv6 on port 547: set one")
	}
	if s.DHCP != DHCPOff && !s.addr.IsValid() {
		return errors.New("pxekit: DHCP needs the server's address: set Server.Addr or Server.Interface")
	}
	if s.base = s.BaseURL; s.base != "" {
		s.base6 = s.resolveBase6()
		return nil
	}
	port := ""
	if ln != nil {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
			port = strconv.Itoa(int(ap.Port()))
		}
	}
	if port == "" {
		_, p, err := net.SplitHostPort(or(s.HTTPAddr, DefaultHTTPAddr))
		if err != nil {
			return fmt.Errorf("pxekit: Server.HTTPAddr %q: %w", s.HTTPAddr, err)
		}
		port = p
	}
	if !s.addr.IsValid() {
		return errors.New("pxekit: Server needs an address for its URLs: set Addr, Interface or BaseURL")
	}
	s.base = "http://" + net.JoinHostPort(s.addr.String(), port)
	if port == "80" {
		s.base = "http://" + s.addr.String()
	}
	s.base6 = s.resolveBase6()
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newGeneration builds what cfg's reloadable fields (Policy, Inventory,
// BootScript, DefaultScript, Files, TFTPRoot) say, on s's address and base
// URL.
func (s *Server) newGeneration(cfg *Server) (*generation, error) {
	g := &generation{policy: cfg.Policy, inv: cfg.Inventory}
	if g.policy == nil {
		p, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{
			ScriptURL: s.base + "/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}&uuid={{uuid}}",
			HTTPBase:  s.base + "/",
		})
		if err != nil {
			return nil, fmt.Errorf("pxekit: default policy on base URL %s: %w", s.base, err)
		}
		g.policy = p
	}
	lp, err := newLoaderPolicy(s.Loaders, g.policy)
	if err != nil {
		return nil, err
	}
	g.loaders = lp
	if s.addr.IsValid() {
		g.resp = &dhcpboot.Responder4{PolicyFunc: lp.current, ServerIP: s.addr, Options: s.DHCPOptions, Classify: s.ClassifyDHCP4, Logger: s.Logger}
	}
	h, err := NewHTTPHandler(HTTPConfig{BaseURL: s.base, BaseURL6: s.base6, Files: cfg.Files, Inventory: cfg.Inventory,
		BootScript: cfg.BootScript, DefaultScript: cfg.DefaultScript, WriteTimeout: s.HTTPLimits.WriteTimeout,
		OnRequest: s.observeHTTP, Logger: s.Logger})
	if err != nil {
		return nil, err
	}
	g.http = h
	if root := or(cfg.TFTPRoot, cfg.Files); root != "" {
		if g.tftp, err = tftpserve.OpenDir(root); err != nil {
			h.Close()
			return nil, fmt.Errorf("pxekit: TFTP root: %w", err)
		}
	}
	g.refs.Store(1)
	return g, nil
}

// acquire returns the current generation with a reference the caller
// releases, or nil once the Server is closed (or when it cannot start).
// It starts the Server when no part did yet.
func (s *Server) acquire() *generation {
	for {
		g := s.gen.Load()
		if g == nil {
			if s.start(nil) != nil || s.gen.Load() == nil {
				return nil
			}
			continue
		}
		n := g.refs.Load()
		if n == 0 {
			if s.gen.Load() == g {
				return nil // closed
			}
			continue // swapped meanwhile
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return g
		}
	}
}

// Reload swaps in the reloadable settings of next: Policy, Inventory,
// BootScript, DefaultScript, Files and TFTPRoot, all at once. Requests
// and transfers in flight finish with what they started with (their
// files stay open); the next request sees the new settings. Nothing is
// swapped when next is invalid (a script that does not parse, a
// directory that does not open) or changes a setting that takes a
// restart (DHCP, Interface, Addr, Lab, BaseURL, HTTPAddr, TFTPAddr): the
// error says which. The other fields of next (limits, hooks, DHCPOptions,
// Logger) are not read: the running Server's stay in use. Reload does not
// write the Server's fields.
func (s *Server) Reload(next *Server) error {
	if err := s.start(nil); err != nil {
		return err
	}
	if changed := restartFields(s, next); changed != "" {
		return fmt.Errorf("pxekit: reload: %s cannot change without a restart", changed)
	}
	g, err := s.newGeneration(next)
	if err != nil {
		return fmt.Errorf("pxekit: reload: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		g.release()
		return ErrServerClosed
	}
	old := s.gen.Swap(g)
	old.release()
	s.logger().Info("pxekit: reloaded", "files", next.Files, "tftp_root", or(next.TFTPRoot, next.Files))
	return nil
}

// restartFields names the first setting of next that differs from s's
// and takes a restart.
func restartFields(s, next *Server) string {
	switch {
	case s.DHCP != next.DHCP:
		return "DHCP"
	case s.Interface != next.Interface:
		return "Interface"
	case s.Addr != next.Addr:
		return "Addr"
	case s.BaseURL != next.BaseURL:
		return "BaseURL"
	case s.HTTPAddr != next.HTTPAddr:
		return "HTTPAddr"
	case s.TFTPAddr != next.TFTPAddr:
		return "TFTPAddr"
	case s.Lab.LeaseFile != next.Lab.LeaseFile || fmt.Sprint(s.Lab.Subnets) != fmt.Sprint(next.Lab.Subnets) || s.Lab.V6 != next.Lab.V6:
		return "Lab"
	case s.Proxy6 != next.Proxy6:
		return "Proxy6"
	case (or(s.TFTPRoot, s.Files) == "") != (or(next.TFTPRoot, next.Files) == ""):
		return "whether TFTP is served (TFTPRoot, Files)"
	}
	return ""
}

// Sessions returns the Server's session table: one Session per machine
// seen, tied across DHCP, TFTP and HTTP.
func (s *Server) Sessions() *Sessions {
	s.ensure()
	return &s.sessions
}

// URL returns the base URL the Server hands out (BaseURL, or the one it
// derived), once it has started (ListenAndServe, Serve, or the first use
// of a part); "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// Listeners are the sockets Serve serves; a nil one turns that part off.
type Listeners struct {
	// DHCP is the DHCP server's socket on port 67 (DHCPProxy: proxy
	// offers to DISCOVERs; DHCPLab: the lab server). DHCP4011 is the
	// proxyDHCP's port-4011 socket (DHCPProxy only). DHCP6 is the DHCPv6
	// socket on port 547: the lab server's (DHCPLab with Lab.V6) or the
	// DHCPv6 proxy's (Proxy6).
	DHCP, DHCP4011, DHCP6 net.PacketConn
	// TFTP is the TFTP server's socket.
	TFTP net.PacketConn
	// HTTP is the HTTP listener; it is capped at HTTPLimits.MaxConns.
	HTTP net.Listener
}

// ListenAndServe opens the sockets the configuration calls for (DHCP on
// Interface when DHCP is on: ports 67 and 4011 in proxy mode, 67 with
// Lab.Subnets and 547 with Lab.V6 in lab mode, 547 with Proxy6, TFTP on TFTPAddr when there is a TFTP root,
// HTTP on HTTPAddr) and serves them until ctx is done (then it shuts down
// with DefaultShutdownGrace), Shutdown or Close; it returns
// ErrServerClosed then, or the first error.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var l Listeners
	fail := func(err error) error {
		closeAll(l)
		return err
	}
	switch s.DHCP {
	case DHCPProxy, DHCPLab:
		if s.Interface == "" {
			return errors.New("pxekit: Server.Interface is required when DHCP is on (a DHCP server never serves every interface)")
		}
		var err error
		if s.DHCP == DHCPProxy || len(s.Lab.Subnets) > 0 {
			if l.DHCP, err = dhcpboot.ListenUDP4(s.Interface, dhcpv4.ServerPort); err != nil {
				return fail(fmt.Errorf("pxekit: DHCP: %w", err))
			}
		}
		if (s.DHCP == DHCPLab && s.Lab.V6.RangeStart.IsValid()) || s.Proxy6.ServerIP.IsValid() {
			if l.DHCP6, err = dhcpboot.ListenUDP6(s.Interface); err != nil {
				return fail(fmt.Errorf("pxekit: DHCPv6: %w", err))
			}
		}
		if s.DHCP == DHCPProxy {
			if l.DHCP4011, err = dhcpboot.ListenUDP4(s.Interface, dhcpboot.PXEPort); err != nil {
				return fail(fmt.Errorf("pxekit: DHCP: %w", err))
			}
		}
	}
	if or(s.TFTPRoot, s.Files) != "" {
		pc, err := net.ListenPacket("udp", or(s.TFTPAddr, DefaultTFTPAddr))
		if err != nil {
			return fail(fmt.Errorf("pxekit: TFTP: %w", err))
		}
		l.TFTP = pc
	}
	ln, err := net.Listen("tcp", or(s.HTTPAddr, DefaultHTTPAddr))
	if err != nil {
		return fail(fmt.Errorf("pxekit: HTTP: %w", err))
	}
	l.HTTP = ln
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownGrace)
		defer cancel()
		if s.Shutdown(sctx) != nil {
			s.Close()
		}
	})
	defer stop()
	return s.Serve(l)
}

// closeAll closes the sockets of l.
func closeAll(l Listeners) {
	for _, c := range []interface{ Close() error }{l.DHCP, l.DHCP4011, l.DHCP6, l.TFTP, l.HTTP} {
		if c != nil && !isNil(c) {
			c.Close()
		}
	}
}

// isNil reports whether c is a typed nil, as an unset field of l is once
// boxed.
func isNil(c interface{ Close() error }) bool {
	switch v := c.(type) {
	case net.PacketConn:
		return v == nil
	case net.Listener:
		return v == nil
	}
	return false
}

// Serve serves the sockets of l (a nil one is that part off) until
// Shutdown or Close (then it returns ErrServerClosed) or until one part
// fails (then it stops the others and returns that error). Serve owns the
// sockets and closes them. DHCP sockets are refused when DHCP is DHCPOff,
// and DHCP4011 unless it is DHCPProxy.
func (s *Server) Serve(l Listeners) error {
	if err := s.start(l.HTTP); err != nil {
		closeAll(l)
		return err
	}
	switch {
	case s.DHCP == DHCPOff && (l.DHCP != nil || l.DHCP4011 != nil || l.DHCP6 != nil):
		closeAll(l)
		return errors.New("pxekit: Listeners has a DHCP socket but Server.DHCP is DHCPOff")
	case s.DHCP == DHCPLab && l.DHCP4011 != nil:
		closeAll(l)
		return errors.New("pxekit: Listeners.DHCP4011 is for DHCPProxy only")
	case s.DHCP == DHCPProxy && l.DHCP6 != nil && !s.Proxy6.ServerIP.IsValid():
		closeAll(l)
		return errors.New("pxekit: Listeners.DHCP6 in DHCPProxy mode needs Server.Proxy6 (the DHCPv6 proxy)")
	}
	var runs []func() error
	var parts []part
	switch {
	case s.DHCP == DHCPProxy && (l.DHCP != nil || l.DHCP4011 != nil):
		p := &dhcpboot.ProxyServer{PolicyFunc: s.DHCPPolicy, Classify: s.ClassifyDHCP4, Interface: s.Interface, ServerIP: s.addr,
			Options: s.DHCPOptions, OnReply: s.ObserveDHCP4, OnInvalid: s.ObserveInvalid4, Logger: s.Logger}
		if l.DHCP != nil {
			runs = append(runs, func() error { return p.Serve(l.DHCP) })
		}
		if l.DHCP4011 != nil {
			runs = append(runs, func() error { return p.ServeBootServer(l.DHCP4011) })
		}
		parts = append(parts, part{p.Shutdown, p.Close})
	case s.DHCP == DHCPLab && l.DHCP != nil:
		p := &dhcpboot.LabServer4{PolicyFunc: s.DHCPPolicy, Classify: s.ClassifyDHCP4, Interface: s.Interface, ServerIP: s.addr,
			Subnets: s.Lab.Subnets, LeaseFile: s.Lab.LeaseFile, Options: s.DHCPOptions, OnReply: s.ObserveDHCP4, OnInvalid: s.ObserveInvalid4, Logger: s.Logger}
		if err := p.Init(); err != nil {
			closeAll(l)
			return fmt.Errorf("pxekit: lab DHCP: %w", err)
		}
		runs = append(runs, func() error { return p.Serve(l.DHCP) })
		parts = append(parts, part{p.Shutdown, p.Close})
	}
	if l.DHCP6 != nil && s.Proxy6.ServerIP.IsValid() {
		p := &dhcpboot.ProxyServer6{PolicyFunc: s.DHCPPolicy, Interface: s.Interface, ServerIP: s.Proxy6.ServerIP,
			OnReply: s.ObserveDHCP6, OnInvalid: s.observeInvalid6, Logger: s.Logger}
		if err := p.Init(); err != nil {
			closeAll(l)
			return fmt.Errorf("pxekit: DHCPv6 proxy: %w", err)
		}
		runs = append(runs, func() error { return p.Serve(l.DHCP6) })
		parts = append(parts, part{p.Shutdown, p.Close})
	} else if s.DHCP == DHCPLab && l.DHCP6 != nil {
		p := &dhcpboot.LabServer6{PolicyFunc: s.DHCPPolicy, Interface: s.Interface, ServerIP: s.Lab.V6.ServerIP,
			RangeStart: s.Lab.V6.RangeStart, RangeEnd: s.Lab.V6.RangeEnd, LeaseTime: s.Lab.V6.LeaseTime,
			OnReply: s.ObserveDHCP6, OnInvalid: s.observeInvalid6, Logger: s.Logger}
		if err := p.Init(); err != nil {
			closeAll(l)
			return fmt.Errorf("pxekit: lab DHCPv6: %w", err)
		}
		runs = append(runs, func() error { return p.Serve(l.DHCP6) })
		parts = append(parts, part{p.Shutdown, p.Close})
	}
	if l.TFTP != nil {
		t := s.TFTPServer()
		runs = append(runs, func() error { return t.Serve(l.TFTP) })
		parts = append(parts, part{t.Shutdown, t.Close})
	}
	if l.HTTP != nil {
		h := s.HTTPLimits.Server(s.HTTPHandler())
		h.ErrorLog = slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug)
		ln := s.HTTPLimits.Listener(l.HTTP)
		runs = append(runs, func() error { return h.Serve(ln) })
		parts = append(parts, part{h.Shutdown, h.Close})
	}
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		closeAll(l)
		if s.serving {
			return errors.New("pxekit: Server.Serve called twice")
		}
		return ErrServerClosed
	}
	s.serving = true
	s.stops = parts
	s.mu.Unlock()
	if len(runs) == 0 {
		return errors.New("pxekit: Serve: no sockets")
	}

	errs := make(chan error, len(runs))
	for _, run := range runs {
		go func() { errs <- closedErr(run()) }()
	}
	first := <-errs
	if first != ErrServerClosed {
		s.Close() // one part failing stops the others
	}
	for range len(runs) - 1 {
		<-errs
	}
	return first
}

// closedErr maps the parts' "server closed" errors to ErrServerClosed.
func closedErr(err error) error {
	if errors.Is(err, dhcpboot.ErrServerClosed) || errors.Is(err, tftpserve.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) ||
		errors.Is(err, net.ErrClosed) {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops every part at once, each letting its requests and
// transfers in flight finish, until ctx ends (then it returns ctx's
// error; Close stops what is left).
func (s *Server) Shutdown(ctx context.Context) error {
	return s.stop(func(p part) error { return p.shutdown(ctx) }, false)
}

// Close stops every part at once, cutting off what is in flight.
func (s *Server) Close() error {
	return s.stop(func(p part) error { return p.close() }, true)
}

// stop runs f on every part at once. Once the parts have stopped (f
// succeeded, or force) it drops the Server's reference to the current
// generation, which closes its directories after the last request.
func (s *Server) stop(f func(part) error, force bool) error {
	s.mu.Lock()
	s.closed = true
	parts := s.stops
	s.mu.Unlock()
	if st := s.status.Load(); st != nil {
		st.Close() // its streams would hold an HTTP server's Shutdown
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() { errs[i] = f(p) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil || force {
		s.mu.Lock()
		g := s.gen.Load()
		release := g != nil && !s.released
		s.released = true
		s.mu.Unlock()
		if release {
			g.release()
		}
	}
	return err
}

// HTTPHandler returns the HTTP part (boot script, per-machine scripts,
// boot files, see HTTPHandler; and the generated configurations of the
// Loaders' machines, as over TFTP) as a handler to mount on a program's
// own mux at BaseURL's path, with the Server's sessions and reloads. It
// answers 503 once the Server is closed, and 500 when the Server cannot
// start (the error is logged).
func (s *Server) HTTPHandler() http.Handler {
	startErr := s.start(nil)
	if startErr != nil {
		s.logger().Error("pxekit: server", "err", startErr)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := s.acquire()
		if g == nil {
			status := http.StatusServiceUnavailable
			if startErr != nil {
				status = http.StatusInternalServerError
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		defer g.release()
		if s.serveLoaderConfigHTTP(g, w, r) {
			return
		}
		g.http.ServeHTTP(w, r)
	})
}

// Status returns the Server's live status table (see Status), made on
// the first call with the session table's bounds (MaxSessions,
// SessionTTL); from then on it gets every event the Server raises, and a
// machine new to it starts from what the session table knows. Off
// by default: a Server whose Status (or StatusHandler) is never called
// keeps no table. Call it before serving, so that the table sees every
// boot. Shutdown and Close end its live update streams.
func (s *Server) Status() *Status {
	if st := s.status.Load(); st != nil {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.status.Load(); st != nil {
		return st
	}
	st := &Status{MaxMachines: s.MaxSessions, IdleTTL: s.SessionTTL, sessions: &s.sessions}
	if s.closed {
		st.Close()
	}
	s.status.Store(st)
	return st
}

// StatusHandler returns the handler of the Server's status table
// (Status().Handler(): the page, /status.json and the live updates at
// /status/events), to mount on a program's own mux at /status,
// /status.json and /status/events. The table shows no secret (no
// script, template, command line, file content or query string).
func (s *Server) StatusHandler() http.Handler { return s.Status().Handler() }

// TFTPHandler returns the TFTP part: the files of the TFTP root, through
// the Server's reloads. It answers "file not found" when there is no
// TFTP root, and "server closed" once the Server is closed.
func (s *Server) TFTPHandler() tftpserve.Handler {
	if err := s.start(nil); err != nil {
		s.logger().Error("pxekit: server", "err", err)
	}
	return tftpserve.HandlerFunc(func(w tftpserve.ResponseWriter, r *tftpserve.Request) {
		g := s.acquire()
		if g == nil {
			w.WriteError(&tftpserve.Error{Code: tftpserve.CodeUndefined, Message: "server closed"})
			return
		}
		defer g.release()
		if s.serveLoaderConfig(g, w, r) {
			return
		}
		if g.tftp == nil {
			w.WriteError(tftpserve.ErrNotFound)
			return
		}
		g.tftp.ServeTFTP(w, r)
	})
}

// TFTPServer returns a new tftpserve.Server for a socket of the
// program's own: TFTPHandler, the TFTP limits, TFTPTune with the session
// of the client, and the session table fed from OnTransfer. Serve it, and
// stop it, as any tftpserve.Server.
func (s *Server) TFTPServer() *tftpserve.Server {
	t := &tftpserve.Server{Handler: s.TFTPHandler(), Logger: s.Logger, OnTransfer: s.ObserveTFTP, OnProgress: s.observeTFTPProgress,
		MaxBlockSize: s.TFTP.MaxBlockSize, MaxWindowSize: s.TFTP.MaxWindowSize, MaxTransfers: s.TFTP.MaxTransfers,
		MaxClientTransfers: s.TFTP.MaxClientTransfers, Timeout: s.TFTP.Timeout, TransferTimeout: s.TFTP.TransferTimeout,
		QueueTimeout: s.TFTP.QueueTimeout, MaxTimeout: s.TFTP.MaxTimeout, SinglePort: s.TFTP.SinglePort,
		BatchedLockstep: s.TFTP.BatchedLockstep}
	if s.TFTPTune != nil {
		t.Tune = func(r *tftpserve.Request, l *tftpserve.Limits) {
			sess, ok := s.sessions.ByIP(r.RemoteAddr.Addr())
			s.TFTPTune(r, l, sess, ok)
		}
	}
	return t
}

// DHCPPolicy returns the policy in use (Policy, or the default one on
// BaseURL, as last reloaded, after the rules of the BootPXELinux and
// BootGRUB machines met so far): the PolicyFunc of a program's own
// dhcpboot server, which then follows Reload. Set ClassifyDHCP4 as that
// server's Classify too, so that it meets those machines.
func (s *Server) DHCPPolicy() *dhcpboot.Policy {
	if err := s.start(nil); err != nil {
		return nil
	}
	return s.gen.Load().loaders.current()
}

// DHCPHandler4 returns a handler for a program's own insomniacslk server4
// that answers as a proxyDHCP in the role mode names (ModeProxy: the
// port-67 role, offers to DISCOVERs; ModeProxyAck: the port-4011 role),
// with the policy in use, and feeds the session table (ObserveDHCP4). The
// Server needs its address (Addr or Interface).
func (s *Server) DHCPHandler4(mode dhcpboot.Mode) server4.Handler {
	return func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		g := s.acquire()
		if g == nil || g.resp == nil {
			return
		}
		defer g.release()
		a := dhcpboot.Arrival{Mode: mode, Peer: addrPortOf(peer)}
		x := dhcpboot.Exchange4{Peer: a.Peer, Request: m}
		var err error
		if mode != dhcpboot.ModeProxy && mode != dhcpboot.ModeProxyAck {
			err = fmt.Errorf("pxekit: DHCPHandler4 serves ModeProxy or ModeProxyAck, not %v (a full server uses CoreDHCP4)", mode)
		} else {
			x.Reply, x.Boot, x.Decision, err = g.resp.Reply(m, a)
		}
		switch {
		case err != nil:
			x.NoReply, x.Reply = err.Error(), nil
		default:
			dst := net.Addr(dhcpboot.ReplyAddr(m, x.Reply))
			if mode == dhcpboot.ModeProxyAck {
				dst = peer
			}
			x.To = addrPortOf(dst)
			if _, x.Err = conn.WriteTo(x.Reply.ToBytes(), dst); x.Err != nil {
				x.NoReply, x.Reply = "send failed: "+x.Err.Error(), nil
			}
		}
		s.ObserveDHCP4(x)
	}
}

// CoreDHCP4 adds boot data to the reply of a program's own full DHCP
// server (coredhcp's plugin handler shape, as dhcpboot.Responder4's
// CoreDHCP), with the policy in use, and feeds the session table: the
// reply's yiaddr ties the machine's address to its MAC. It returns (nil,
// true) when a rule ignores the client (drop the reply), else (resp,
// false).
func (s *Server) CoreDHCP4(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	g := s.acquire()
	if g == nil || g.resp == nil {
		return resp, false
	}
	defer g.release()
	r, d := g.resp.Decide(req, dhcpboot.Arrival{Mode: dhcpboot.ModeFull})
	x := dhcpboot.Exchange4{Request: req, Boot: r, Decision: d, Reply: resp}
	switch {
	case d.Ignores():
		x.Reply, x.NoReply = nil, fmt.Sprintf("rule %q ignores the client", d.RuleName())
	case d.Boot():
		if err := dhcpboot.Apply4(d, r, req, resp, s.DHCPOptions); err != nil {
			x.Err = err
			x.NoReply = err.Error()
		}
	}
	s.ObserveDHCP4(x)
	if d.Ignores() {
		return nil, true
	}
	return resp, false
}

// ObserveDHCP4 records one DHCPv4 exchange: a DHCPEvent, and the
// machine in the session table (with its StageEvent, and an
// UnknownMachineEvent when an Inventory is set and does not know it). It
// is the OnReply hook of a program's own dhcpboot server; the Server's own
// DHCP part calls it too. The machine's IP is the lease, the reply's
// yiaddr, the request's ciaddr or its requested address (option 50),
// whichever comes first.
func (s *Server) ObserveDHCP4(x dhcpboot.Exchange4) {
	s.ensure()
	e := DHCPEventFrom4(x)
	s.emit(e)
	if x.Request != nil {
		s.observeDHCP(e, dhcpIP(x), x.Request.MessageType() == dhcpv4.MessageTypeDiscover, x.Decision.Boot() && x.Reply != nil && x.Err == nil,
			s.arrivals.take(x.Request), binary.BigEndian.Uint32(x.Request.TransactionID[:]))
	}
}

// ObserveDHCP6 is ObserveDHCP4 for a DHCPv6 server (dhcpboot.LabServer6's
// OnReply); the machine's IP is the address the reply gives. A client
// whose DUID carries no MAC (UEFI firmware sends DUID-UUID) is known by
// the MAC in its link-local source address (modified EUI-64), as dnsmasq
// does; without either it gets no session.
func (s *Server) ObserveDHCP6(x dhcpboot.Exchange6) {
	s.ensure()
	e := DHCPEventFrom6(x)
	if len(e.MAC) == 0 {
		if mac := dhcpboot.MACFromEUI64(clientAddr6(x)); mac != nil {
			e.MAC, e.Client.MAC = mac, mac
		}
	}
	s.emit(e)
	if in := innerMessage(x.Request); in != nil {
		s.observeDHCP(e, e.IP, in.Type() == dhcpv6.MessageTypeSolicit, x.Decision.Boot() && x.Reply != nil && x.Err == nil, time.Time{}, 0)
	}
}

// clientAddr6 returns the address the client of x sent from: the
// peer-address of the Relay-forward next to it when x came through relays
// (RFC 8415 §9.1), else the sender's.
func clientAddr6(x dhcpboot.Exchange6) netip.Addr {
	m, ok := x.Request.(*dhcpv6.RelayMessage)
	if !ok {
		return x.Peer.Addr()
	}
	for {
		next, ok := m.Options.RelayMessage().(*dhcpv6.RelayMessage)
		if !ok {
			a, _ := netip.AddrFromSlice(m.PeerAddr)
			return a.Unmap()
		}
		m = next
	}
}

// ObserveInvalid4 records a datagram a DHCPv4 server could not use as a
// DHCPEvent: the OnInvalid hook of a program's own dhcpboot server.
func (s *Server) ObserveInvalid4(x dhcpboot.Invalid) {
	s.ensure()
	s.emit(DHCPEventFromInvalid(4, x))
}

func (s *Server) observeInvalid6(x dhcpboot.Invalid) { s.emit(DHCPEventFromInvalid(6, x)) }

// observeDHCP feeds the session table from a DHCP event.
// arrived is when the request came (zero: not known), xid its
// transaction ID (0: not known).
func (s *Server) observeDHCP(e DHCPEvent, ip netip.Addr, discover, sent bool, arrived time.Time, xid uint32) {
	o := DHCPObservation{Client: e.Client, IP: ip, Discover: discover, Rule: e.Rule, Why: e.Why, Sent: sent, Arrived: arrived, XID: xid}
	if sent {
		o.BootFile = e.BootFile
	} else if e.NoReply != "" {
		o.Why = e.NoReply
	}
	sess, c, ok := s.sessions.ObserveDHCP(o)
	s.stageEvent(sess, c, ok, EventDHCP)
	if ok && sent {
		s.checkKnown(sess)
	}
}

// checkKnown asks the inventory about the machine of a DHCP exchange, so
// that an unknown machine is reported as soon as it asks to boot.
func (s *Server) checkKnown(sess Session) {
	g := s.gen.Load()
	if g == nil || g.inv == nil {
		return
	}
	_, found, err := g.inv.Machine(context.Background(), MachineKey{MAC: sess.MAC, UUID: sess.UUID})
	if err != nil {
		s.logger().Warn("pxekit: inventory", "mac", sess.MAC.String(), "err", err)
		return
	}
	s.known(sess.MAC, found, sess.Client)
}

// known records what the inventory said of mac, and raises the
// UnknownMachineEvent the first time it does not know it.
func (s *Server) known(mac net.HardwareAddr, found bool, c archdetect.Client) {
	if s.sessions.SetKnown(mac, found) {
		c.MAC = mac
		s.emit(UnknownMachineEventFrom(c))
	}
}

// stageEvent raises the StageEvent of an observation that moved a
// machine.
func (s *Server) stageEvent(sess Session, c StageChange, ok bool, via EventKind) {
	if ok && c.Changed() {
		s.emit(StageEvent{EventHeader: EventHeader{Time: time.Now(), MAC: bytes.Clone(sess.MAC)},
			From: c.From, To: c.To, NewBoot: c.NewBoot, Via: via})
	}
}

// emit hands e to the metrics, the status table and OnEvent.
func (s *Server) emit(e Event) {
	s.metrics.Observe(e)
	if st := s.status.Load(); st != nil {
		st.Observe(e)
	}
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// dhcpIP is the address the exchange ties to the machine.
func dhcpIP(x dhcpboot.Exchange4) netip.Addr {
	if x.Lease != nil && x.Lease.IP.IsValid() {
		return x.Lease.IP
	}
	if x.Reply != nil {
		if a, ok := netip.AddrFromSlice(x.Reply.YourIPAddr.To4()); ok && !a.IsUnspecified() {
			return a
		}
	}
	if a, ok := netip.AddrFromSlice(x.Request.ClientIPAddr.To4()); ok && !a.IsUnspecified() {
		return a
	}
	if a, ok := netip.AddrFromSlice(x.Request.RequestedIPAddress().To4()); ok {
		return a
	}
	return netip.Addr{}
}

// addrPortOf is peer as an AddrPort (invalid when it is no UDP address).
func addrPortOf(peer net.Addr) netip.AddrPort {
	if u, ok := peer.(*net.UDPAddr); ok {
		return u.AddrPort()
	}
	return netip.AddrPort{}
}

// ObserveTFTP records one finished TFTP transfer in the session table
// (the OnTransfer hook of TFTPServer's servers): the client's IP finds the
// machine; the file DHCP named is its boot file fetch, another file after
// the script a kernel or initrd fetch.
func (s *Server) ObserveTFTP(info tftpserve.TransferInfo) {
	s.ensure()
	ip := info.Client.Addr()
	sess, ok := s.sessions.ByIP(ip)
	s.emit(TFTPEventFrom(info, sess.MAC))
	if !ok || info.Write {
		return
	}
	kind := fetchKind(sess, info.Path, "")
	if kind == FetchOther && loaderConfigPath(info.Path) && info.Outcome == tftpserve.OutcomeOK {
		kind = FetchScript // a PXELINUX or GRUB configuration is that flow's script
	}
	sess, c, ok := s.sessions.ObserveFetch(FetchObservation{IP: ip, Kind: kind, Path: info.Path,
		Bytes: info.Bytes, Failed: info.Outcome != tftpserve.OutcomeOK, Started: info.Start})
	s.stageEvent(sess, c, ok, EventTFTP)
}

// observeTFTPProgress raises the TFTPProgressEvent of a running transfer
// (the OnProgress hook of TFTPServer's servers), tied to the machine its
// client's IP is.
func (s *Server) observeTFTPProgress(info tftpserve.TransferInfo) {
	sess, _ := s.sessions.ByIP(info.Client.Addr())
	s.emit(TFTPProgressEventFrom(info, sess.MAC))
}

// observeHTTP records one finished HTTP request in the session table: an
// iPXE request naming its MAC ties the peer's IP to that machine; the
// scripts are the script stage, the boot file DHCP named the boot file
// stage, other files after the script the kernel stage.
func (s *Server) observeHTTP(r HTTPRequest) {
	e := HTTPEventFrom(r)
	if !r.Peer.IsValid() {
		s.emit(e)
		return
	}
	var ipxe StageChange
	if len(r.MAC) > 0 {
		c := r.Client
		c.MAC = r.MAC
		_, ipxe, _ = s.sessions.ObserveIPXE(r.Peer, c)
	}
	sess, ok := s.sessions.ByIP(r.Peer)
	if e.MAC == nil {
		e.MAC = bytes.Clone(sess.MAC)
	}
	s.emit(e)
	if !ok {
		return
	}
	s.stageEvent(sess, ipxe, true, EventHTTP)
	kind := FetchOther
	switch r.Kind {
	case HTTPBootScript, HTTPMachineScript:
		kind = FetchScript
	case HTTPFile:
		if r.MachineFile != "" {
			break // a machine's own file (a preseed) is no boot stage
		}
		kind = fetchKind(sess, r.File, s.base)
		if kind == FetchOther && loaderConfigPath(r.File) && r.Status < 400 {
			kind = FetchScript // a PXELINUX or GRUB configuration is that flow's script
		}
	}
	sess, c, ok := s.sessions.ObserveFetch(FetchObservation{IP: r.Peer, Kind: kind, Path: r.Path, Bytes: r.Bytes,
		Failed: r.Status >= 400 || r.Err != nil || r.Method == http.MethodHead, Started: time.Now().Add(-r.Duration)})
	s.stageEvent(sess, c, ok, EventHTTP)
	if g := s.gen.Load(); r.Kind == HTTPMachineScript && g != nil && g.inv != nil {
		s.known(r.MAC, r.Known, r.Client)
	}
}

// fetchKind says what fetching file (relative to the TFTP root, or to
// base for HTTP) is in sess's boot: the boot file DHCP named, a kernel or
// initrd (any other file once the script was served), or other.
func fetchKind(sess Session, file, base string) FetchKind {
	named := sess.BootFile
	if base != "" {
		named, _ = strings.CutPrefix(named, base+"/")
		if named == sess.BootFile {
			named = "" // not a URL of ours
		}
	}
	switch {
	case named != "" && strings.TrimLeft(named, "/") == strings.TrimLeft(file, "/"):
		return FetchBootFile
	case sess.Stage >= StageScript:
		return FetchKernel
	}
	return FetchOther
}
