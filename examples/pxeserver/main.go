// Command pxeserver is a network boot server made of pxekit's packages: DHCP
// (dhcpboot, lab or proxy mode), TFTP (tftpserve), HTTP, and iPXE scripts
// (ipxescript). It boots BIOS PXE, UEFI PXE and UEFI HTTP boot machines into
// iPXE and hands iPXE a script, which breaks the iPXE chainload loop.
//
//	sudo pxeserver -iface br0 -addr 10.77.0.1 -dhcp lab -tftp-root /srv/ipxe
//
// DHCP is served by dhcpboot's ProxyServer (-dhcp proxy, ports 67 and
// 4011), LabServer4 (-dhcp lab: the subnet of -iface plus the config file's
// subnets behind DHCP relays) and LabServer6 (-dhcp6 lab: -pool6 addresses
// and boot URLs on -addr6, where TFTP and HTTP then listen too).
//
// It logs one line per DHCP decision, TFTP transfer and HTTP request (JSON
// with -log-json), from the servers' hooks. `make demo` boots real firmware
// under QEMU against it.
//
// HTTP paths: /boot.ipxe is -script or a built-in script (made with the
// ipxescript builder) that chains /machine/MAC?buildarch=..&platform=..&uuid=..;
// that serves the config file's script for the MAC, else
// HTTP-ROOT/machines/aa-bb-cc-dd-ee-ff.ipxe, else a script that prints
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
//	machines:                                   # per-MAC scripts at /machine/MAC
//	  - mac: "52:54:00:12:34:56"
//	    script: |
//	      #!ipxe
//	      chain http://10.77.0.1:8080/installer.ipxe
//	tftp: {max_block_size: 1468, max_window_size: 8, max_transfers: 64,
//	       max_timeout: 10, transfer_timeout: 30m}  # -tftp-max-timeout, -tftp-transfer-timeout
//
// Rules use dhcpboot's JSON field names (dhcpboot.ParsePolicy); unknown keys
// are errors, so that a typo cannot silently change what machines boot.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit: it returns the exit status (0 after a clean
// shutdown on SIGINT/SIGTERM, 1 when serving fails, 2 for bad flags).
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
	var h slog.Handler
	if cfg.LogJSON {
		h = slog.NewJSONHandler(stdout, nil)
	} else {
		h = slog.NewTextHandler(stdout, nil)
	}
	log := slog.New(h)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("stopped", slog.String("err", err.Error()))
		fmt.Fprintf(stderr, "pxeserver: %v\n", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// service is one of the servers pxeserver runs.
type service struct {
	name     string
	serve    func() error                    // blocks until shut down
	shutdown func(ctx context.Context) error // makes serve return
}

// serve starts every service, logs "ready" and runs until ctx ends or one
// service fails; then it shuts all of them down.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if _, port, _ := net.SplitHostPort(cfg.HTTPAddr); port == "0" {
		cfg.HTTPAddr = ln.Addr().String() // URLs handed out carry the real port
	}
	sc, err := newScripts(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	var services []service
	defer func() {
		// services not started yet still hold sockets
		shutdownAll(services, shutdownGrace, log, false)
	}()

	web, err := newWebServer(cfg, log, sc)
	if err != nil {
		ln.Close()
		return fmt.Errorf("http root: %w", err)
	}
	defer web.Close()
	hs, ln := newHTTPServer(cfg, web, ln, log)
	httpService := func(name string, ln net.Listener) service {
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
	services = append(services, httpService("http", ln))
	if addr := cfg.httpAddr6(); addr != "" {
		// DHCPv6 boot URLs name -addr6: serve them there too.
		ln6, err := net.Listen("tcp6", addr)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		_, ln6 = newHTTPServer(cfg, web, ln6, log)
		services = append(services, httpService("http6", ln6))
	}

	if cfg.TFTPRoot != "" {
		ts, err := newTFTP(cfg, log)
		if err != nil {
			return fmt.Errorf("tftp: %w", err)
		}
		services = append(services, ts...)
	}
	var dhcp *dhcpSide
	if cfg.DHCP != "off" || cfg.DHCP6 != "off" {
		if dhcp, err = buildDHCP(cfg, log); err != nil {
			return fmt.Errorf("dhcp: %w", err)
		}
		ds, err := dhcp.services()
		if err != nil {
			return fmt.Errorf("dhcp: %w", err)
		}
		services = append(services, ds...)
	}

	errc := make(chan error, len(services))
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.serve(); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}
	log.Info("ready",
		slog.String("iface", cfg.Iface), slog.String("addr", cfg.Addr.String()),
		slog.String("dhcp", cfg.DHCP), slog.String("dhcp6", cfg.DHCP6), slog.String("addr6", addrString(cfg.Addr6)), slog.String("tftp_root", cfg.TFTPRoot),
		slog.String("http", cfg.HTTPBase()), slog.String("http_root", cfg.HTTPRoot),
		slog.String("script", sc.bootURL()))
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	all := services
	services = nil
	shutdownAll(all, shutdownGrace, log, first == nil)
	wg.Wait()
	if dhcp != nil {
		dhcp.logTotals()
	}
	return first
}

// addrString is a.String(), "" for the zero Addr.
func addrString(a netip.Addr) string {
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

// newHTTPServer returns the HTTP server for web and the listener to serve:
// ln capped at cfg.HTTPMaxConns connections at once (the others wait in the
// kernel's accept queue until a slot frees). A client gets 10 s to send its
// request headers; an idle keep-alive connection is closed after
// cfg.HTTPIdleTimeout. There is no fixed write timeout, which would cut
// off slow but moving downloads of big images: webServer instead cuts a
// response whose writes stall (cfg.HTTPWriteTimeout).
func newHTTPServer(cfg *Config, web *webServer, ln net.Listener, log *slog.Logger) (*http.Server, net.Listener) {
	hs := &http.Server{
		Handler:           web,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.HTTPMaxConns > 0 {
		ln = netutil.LimitListener(ln, cfg.HTTPMaxConns)
	}
	return hs, ln
}
