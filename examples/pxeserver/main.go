// Command pxeserver is a network boot server: flags and a YAML file mapped
// onto a pxekit.Server, which runs DHCP (dhcpboot, lab or proxy mode), TFTP
// (tftpserve) and HTTP (boot script, per-machine scripts, boot files) with
// one identity per machine. It boots BIOS PXE, UEFI PXE and UEFI HTTP boot
// machines into iPXE and hands iPXE a script, which breaks the iPXE
// chainload loop.
//
//	sudo pxeserver -iface br0 -addr 10.77.0.1 -dhcp lab -tftp-root /srv/ipxe
//
// DHCP is served by dhcpboot's ProxyServer (-dhcp proxy, ports 67 and
// 4011), LabServer4 (-dhcp lab: the subnet of -iface plus the config file's
// subnets behind DHCP relays), LabServer6 (-dhcp6 lab: -pool6 addresses
// and boot URLs on -addr6, where TFTP and HTTP then listen too) and
// ProxyServer6 (-dhcp6 proxy: boot URLs on -addr6 for UEFI HTTP boot beside
// the site's DHCPv6 server).
//
// It logs one line per pxekit event (DHCP decision, TFTP transfer, HTTP
// request, stage reached, unknown machine; with -log-json the event's JSON),
// serves Prometheus metrics at /metrics on the HTTP port (-metrics=false:
// off) and a live status page of the machines booting at /status
// (pxekit.Server.StatusHandler; /status.json, live updates at
// /status/events; -status=false: off), and reloads on SIGHUP (pxekit.Server.Reload with the command line
// and config file read again; what takes a restart is refused and logged).
// `make demo` boots real firmware under QEMU against it.
//
// HTTP paths: /boot.ipxe is -script or a built-in script (made with the
// ipxescript builder) that chains /machine/MAC?buildarch=..&platform=..&uuid=..;
// that serves the config file's script for the MAC, else the -inventory
// directory's machine (pxekit.DirInventory: one YAML file per machine,
// watched), else HTTP-ROOT/machines/aa-bb-cc-dd-ee-ff.ipxe, else a script that prints
// "PXEKIT-BOOTED mac buildarch platform" and exits. Other paths are files
// under -http-root (default -tftp-root).
//
// -config reads YAML: every flag by its name with "_" for "-" (tftp_root,
// http_addr, ...; boot files under boot_files: bios, uefi_x64, uefi_ia32,
// arm64), flags given on the command line winning, plus:
//
//	lease_file: /var/lib/pxeserver/leases       # lab mode
//	reservations:                               # lab mode fixed addresses
//	  - {mac: "52:54:00:12:34:56", ip: 10.77.0.50}
//	subnets:                                    # lab mode, behind DHCP relays (by giaddr)
//	  - {prefix: 10.78.6.0/24, pool: 10.78.6.100-10.78.6.200, router: 10.78.6.1,
//	     dns: [10.78.6.1], lease_time: 1h,
//	     reservations: [{mac: "52:54:00:12:34:57", ip: 10.78.6.50}]}
//	rules:                                      # dhcpboot rules, before the defaults
//	  - name: old-uefi-box                      # per MAC
//	    match: {mac: ["52:54:00:12:34:56"], archs: [7]}
//	    action: {boot_file: snponly.efi}
//	  - name: arm-lab                           # per class
//	    match: {user_class: [lab-arm]}
//	    action: {boot_file: "http://{{server}}:8080/arm.ipxe"}
//	inventory_dir: /etc/pxeserver/machines      # -inventory: a pxekit.DirInventory
//	metrics: false                              # -metrics=false
//	status: false                               # -status=false
//	machines:                                   # per-MAC scripts at /machine/MAC
//	  - mac: "52:54:00:12:34:56"
//	    script: |
//	      #!ipxe
//	      chain http://10.77.0.1:8080/installer.ipxe
//	tftp: {max_block_size: 1468, max_window_size: 8, max_transfers: 64,
//	       max_timeout: 10, transfer_timeout: 30m,  # -tftp-max-timeout, -tftp-transfer-timeout
//	       single_port: false, batched_lockstep: false}
//
// Rules use dhcpboot's JSON field names (dhcpboot.ParsePolicy); unknown keys
// are errors, so that a typo cannot silently change what machines boot.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit: it returns the exit status (0 after a clean
// shutdown on SIGINT/SIGTERM, 1 when serving fails, 2 for bad flags).
// SIGHUP reloads: the command line and config file are read again and
// handed to pxekit.Server.Reload.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pxeserver: %v\n", err)
		return 2
	}
	if err := preflight(cfg); err != nil {
		fmt.Fprintf(stderr, "pxeserver: %v\n", err)
		return 1
	}
	out := &eventLog{w: stdout, json: cfg.LogJSON}
	var h slog.Handler
	if cfg.LogJSON {
		h = slog.NewJSONHandler(out, nil)
	} else {
		h = slog.NewTextHandler(out, nil)
	}
	log := slog.New(h)
	out.log = log
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reread := func() (*Config, error) { return parseConfig(args, io.Discard) }
	if err := serve(ctx, cfg, log, out, hup, reread); err != nil {
		log.Error("stopped", slog.String("err", err.Error()))
		fmt.Fprintf(stderr, "pxeserver: %v\n", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// eventLog is pxeserver's log output: the slog handler writes through it,
// and each pxekit event becomes one line (with -log-json the event's own
// JSON, else a text record). Writes are serialised, so lines never mix.
type eventLog struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	log  *slog.Logger

	replied, unanswered, invalid atomic.Int64 // DHCP totals

	// asked holds the options each TFTP client asked for, from its request
	// until its transfer's event (which holds only what was granted).
	asked sync.Map // netip.AddrPort -> string
}

// tune records the options a TFTP request asked for (the Server's
// TFTPTune hook; it changes no limit).
func (l *eventLog) tune(r *tftpserve.Request, _ *tftpserve.Limits, _ pxekit.Session, _ bool) {
	parts := make([]string, 0, len(r.Options))
	for _, o := range r.Options {
		parts = append(parts, o.Name+"="+o.Value)
	}
	l.asked.Store(r.RemoteAddr, strings.Join(parts, " "))
}

// Write writes one log record.
func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// event logs e (the Server's OnEvent hook) and counts DHCP outcomes. A
// running transfer's progress is not logged (the status page shows it;
// the transfer's end is logged).
func (l *eventLog) event(e pxekit.Event) {
	if _, ok := e.(pxekit.TFTPProgressEvent); ok {
		return
	}
	if d, ok := e.(pxekit.DHCPEvent); ok {
		switch {
		case d.Message == "":
			l.invalid.Add(1)
			return // noise a network carries: not logged
		case d.Reply != "":
			l.replied.Add(1)
		default:
			l.unanswered.Add(1)
		}
	}
	if !l.json {
		l.log.Info(string(e.Kind()), "event", fmt.Sprint(e))
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		l.log.Warn("event", slog.String("kind", string(e.Kind())), slog.String("err", err.Error()))
		return
	}
	if t, ok := e.(pxekit.TFTPEvent); ok {
		// The options asked for, as "name=value" words in request order.
		if v, ok := l.asked.LoadAndDelete(t.Peer); ok {
			q, _ := json.Marshal(v.(string))
			b = append(append(append(b[:len(b)-1], `,"requested":`...), q...), '}')
		}
	}
	l.Write(append(b, '\n'))
}

// service is one of the servers pxeserver runs.
type service struct {
	name     string
	serve    func() error                    // blocks until shut down
	shutdown func(ctx context.Context) error // makes serve return
}

// frontEnd is what serve runs: the pxekit.Server and what pxeserver adds
// around it (the inventory directory it watches).
type frontEnd struct {
	cfg *Config
	log *slog.Logger
	srv *pxekit.Server
	inv *pxekit.DirInventory // nil without -inventory
}

// newFrontEnd builds the pxekit.Server for cfg, its events going to out
// and its metrics to reg (nil: none).
func newFrontEnd(cfg *Config, log *slog.Logger, out *eventLog, reg prometheus.Registerer) (*frontEnd, error) {
	f := &frontEnd{cfg: cfg, log: log}
	var inv pxekit.Inventory
	if cfg.InventoryDir != "" {
		f.inv = &pxekit.DirInventory{Dir: cfg.InventoryDir, Logger: log}
		if err := f.inv.Reload(); err != nil {
			return nil, fmt.Errorf("-inventory: %w", err)
		}
		inv = f.inv
	}
	srv, err := serverConfig(cfg, inv)
	if err != nil {
		return nil, err
	}
	if err := checkDHCP(srv, log); err != nil {
		return nil, err
	}
	srv.OnEvent, srv.TFTPTune, srv.Metrics, srv.Logger = out.event, out.tune, reg, log
	f.srv = srv
	return f, nil
}

// reload reads the configuration again and hands it to Server.Reload,
// logging what changed, or why nothing did.
func (f *frontEnd) reload(next *Config, err error) {
	if err != nil {
		f.log.Error("reload refused", slog.String("err", err.Error()))
		return
	}
	var changed, restart []string
	for _, name := range configDiff(f.cfg, next) {
		switch name {
		case "Script", "Rules", "Machines", "HTTPRoot", "TFTPRoot", "BootBIOS", "BootUEFIX64", "BootUEFIIA32", "BootARM64":
			changed = append(changed, name)
		default:
			restart = append(restart, name)
		}
	}
	if next.InventoryDir != f.cfg.InventoryDir {
		restart = append(restart, "InventoryDir")
	}
	if len(restart) > 0 {
		f.log.Error("reload refused", slog.String("err", "these settings take a restart: "+strings.Join(restart, ", ")))
		return
	}
	var inv pxekit.Inventory
	if f.inv != nil {
		if err := f.inv.Reload(); err != nil {
			f.log.Warn("reload: inventory", slog.String("err", err.Error()))
		}
		inv = f.inv
	}
	s, err := serverConfig(next, inv)
	if err == nil {
		err = f.srv.Reload(s)
	}
	if err != nil {
		f.log.Error("reload refused", slog.String("err", err.Error()))
		return
	}
	f.cfg = next
	f.log.Info("reloaded", slog.String("changed", strings.Join(changed, ",")))
}

// configDiff names the fields of Config that differ between a and b
// (HTTPAddr compared by what was asked for, before a port 0 was
// resolved).
func configDiff(a, b *Config) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []string
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		if name == "HTTPAddr" || name == "InventoryDir" || !va.Type().Field(i).IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	if a.askedHTTPAddr != b.askedHTTPAddr {
		out = append(out, "HTTPAddr")
	}
	return out
}

// serve starts every service, logs "ready" and runs until ctx ends or one
// service fails, reloading on each hup; then it shuts all of them down.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, out *eventLog, hup <-chan os.Signal, reread func() (*Config, error)) error {
	cfg.askedHTTPAddr = cfg.HTTPAddr
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if _, port, _ := net.SplitHostPort(cfg.HTTPAddr); port == "0" {
		cfg.HTTPAddr = ln.Addr().String() // URLs handed out carry the real port
	}
	var services []service
	defer func() {
		// services not started yet still hold sockets
		shutdownAll(services, shutdownGrace, log, false)
	}()
	services = append(services, service{name: "http", shutdown: func(context.Context) error { return ln.Close() }})

	var reg *prometheus.Registry
	if cfg.Metrics {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var metrics prometheus.Registerer // nil, not a nil *Registry, without -metrics
	if reg != nil {
		metrics = reg
	}
	f, err := newFrontEnd(cfg, log, out, metrics)
	if err != nil {
		return err
	}
	srv := f.srv
	mux := http.NewServeMux()
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	}
	if cfg.Status {
		status := srv.StatusHandler()
		for _, p := range []string{"GET /status", "GET /status.json", "GET /status/events"} {
			mux.Handle(p, status)
		}
	}
	mux.Handle("/", srv.HTTPHandler())
	httpService := func(name string, ln net.Listener) service {
		hs := srv.HTTPLimits.Server(mux)
		hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
		ln = srv.HTTPLimits.Listener(ln)
		return service{
			name:  name,
			serve: func() error { return hs.Serve(ln) },
			shutdown: func(ctx context.Context) error {
				err := hs.Shutdown(ctx)
				if err != nil {
					hs.Close() // grace over: drop the connections still busy
				}
				ln.Close() // not yet served when a later service failed to start
				return err
			},
		}
	}
	services[0] = httpService("http", ln)
	if addr := cfg.httpAddr6(); addr != "" {
		// DHCPv6 boot URLs name -addr6: serve them there too.
		ln6, err := net.Listen("tcp6", addr)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		services = append(services, httpService("http6", ln6))
	}

	l, err := listen(cfg)
	if err != nil {
		return err
	}
	var hasSocket bool
	for _, c := range []net.PacketConn{l.DHCP, l.DHCP4011, l.DHCP6, l.TFTP} {
		hasSocket = hasSocket || c != nil
	}
	if hasSocket {
		services = append(services, service{name: "pxekit", serve: func() error {
			if err := srv.Serve(l); !errors.Is(err, pxekit.ErrServerClosed) {
				return err
			}
			return nil
		}, shutdown: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			if err != nil {
				srv.Close()
			}
			return err
		}})
	} else {
		services = append(services, service{name: "pxekit", shutdown: srv.Shutdown})
	}
	if cfg.DHCP6 != "off" && cfg.TFTPRoot != "" {
		// DHCPv6 boot URLs name -addr6: TFTP there too, through the same
		// Server (its files, sessions and events).
		pc6, err := net.ListenPacket("udp6", net.JoinHostPort(cfg.Addr6.String(), "69"))
		if err != nil {
			return fmt.Errorf("tftp: %w", err)
		}
		t6 := srv.TFTPServer()
		services = append(services, service{name: "tftp6", serve: func() error { return t6.Serve(pc6) },
			shutdown: func(ctx context.Context) error {
				err := t6.Shutdown(ctx)
				pc6.Close() // not yet served when a later service failed to start
				return err
			}})
	}
	if f.inv != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go f.inv.Watch(wctx)
	}

	errc := make(chan error, len(services))
	var wg sync.WaitGroup
	for _, s := range services {
		if s.serve == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.serve(); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}
	log.Info("ready",
		slog.String("iface", cfg.Iface), slog.String("addr", cfg.Addr.String()),
		slog.String("dhcp", cfg.DHCP), slog.String("dhcp6", cfg.DHCP6), slog.String("addr6", addrString(cfg.Addr6)), slog.String("tftp_root", cfg.TFTPRoot),
		slog.String("http", cfg.HTTPBase()), slog.String("http_root", cfg.HTTPRoot),
		slog.String("script", cfg.HTTPBase()+"/boot.ipxe"), slog.String("inventory", cfg.InventoryDir), slog.Bool("metrics", cfg.Metrics),
		slog.Bool("status", cfg.Status))
	var first error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case first = <-errc:
			break wait
		case <-hup:
			next, err := reread()
			if next != nil && next.HTTPAddr == cfg.askedHTTPAddr {
				next.askedHTTPAddr, next.HTTPAddr = next.HTTPAddr, cfg.HTTPAddr // the port resolved at start
			} else if next != nil {
				next.askedHTTPAddr = next.HTTPAddr
			}
			f.reload(next, err)
		}
	}
	all := services
	services = nil
	shutdownAll(all, shutdownGrace, log, first == nil)
	wg.Wait()
	log.Info("dhcp totals", slog.Int64("replied", out.replied.Load()),
		slog.Int64("unanswered", out.unanswered.Load()), slog.Int64("invalid", out.invalid.Load()))
	return first
}

// listen opens the DHCP and TFTP sockets cfg asks for (before "ready", so
// that a port in use stops pxeserver at start): DHCP on -iface (67 and
// 4011 in proxy mode, 67 in lab mode, 547 with -dhcp6 lab or proxy), TFTP on
// -addr port 69 with -tftp-root.
func listen(cfg *Config) (pxekit.Listeners, error) {
	var l pxekit.Listeners
	fail := func(what string, err error) (pxekit.Listeners, error) {
		for _, c := range []net.PacketConn{l.DHCP, l.DHCP4011, l.DHCP6, l.TFTP} {
			if c != nil {
				c.Close()
			}
		}
		return pxekit.Listeners{}, fmt.Errorf("%s: %w", what, err)
	}
	var err error
	if cfg.DHCP != "off" {
		if l.DHCP, err = dhcpboot.ListenUDP4(cfg.Iface, 67); err != nil {
			return fail("dhcp", err)
		}
	}
	if cfg.DHCP == "proxy" {
		if l.DHCP4011, err = dhcpboot.ListenUDP4(cfg.Iface, dhcpboot.PXEPort); err != nil {
			return fail("dhcp-4011", err)
		}
	}
	if cfg.DHCP6 != "off" {
		if l.DHCP6, err = dhcpboot.ListenUDP6(cfg.Iface); err != nil {
			return fail("dhcp6", err)
		}
	}
	if cfg.TFTPRoot != "" {
		if l.TFTP, err = net.ListenPacket("udp4", net.JoinHostPort(cfg.Addr.String(), "69")); err != nil {
			return fail("tftp", err)
		}
	}
	return l, nil
}

// addrString is a.String(), "" for the zero Addr.
func addrString(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// shutdownGrace is how long each service gets to finish what it is doing.
const shutdownGrace = 5 * time.Second

// shutdownAll shuts the services down concurrently, each with its own
// grace period, so that one that hangs (HTTP waiting for a client that
// never finishes) does not use up the others' time: TFTP still lets its
// transfers finish or tells their clients. With warn, a service that fails
// to shut down cleanly is logged.
func shutdownAll(all []service, grace time.Duration, log *slog.Logger, warn bool) {
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			if err := s.shutdown(ctx); err != nil && warn && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("shutdown", slog.String("service", s.name), slog.String("err", err.Error()))
			}
		}()
	}
	wg.Wait()
}
