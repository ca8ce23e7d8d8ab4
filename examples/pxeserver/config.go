package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

// Config is everything pxeserver is told on its command line.
type Config struct {
	Iface string     // interface to serve on (DHCP binds to it)
	Addr  netip.Addr // this server's IPv4 address on Iface

	DHCP    string        // "lab" (full DHCP server), "proxy" (proxyDHCP) or "off"
	Pool    [2]netip.Addr // first and last address leased in lab mode
	Netmask netip.Addr    // lab mode subnet mask
	Router  netip.Addr    // lab mode router (option 3); invalid = none

	DHCP6 string        // "lab" (DHCPv6 server with boot URLs) or "off"
	Addr6 netip.Addr    // this server's IPv6 address on Iface (-dhcp6 lab or proxy)
	Pool6 [2]netip.Addr // first and last IPv6 address leased (-dhcp6 lab)

	TFTPRoot string // directory served over TFTP ("" = no TFTP server)
	HTTPAddr string // host:port of the HTTP server
	HTTPRoot string // directory served over HTTP (default TFTPRoot)
	Script   string // iPXE script file served as /boot.ipxe ("" = built-in)

	HTTPMaxConns     int           // connections served at once (0 = no cap)
	HTTPIdleTimeout  time.Duration // keep-alive connection closed after this long idle
	HTTPWriteTimeout time.Duration // response cut off when one write makes no progress for this long

	BootBIOS, BootUEFIX64, BootUEFIIA32, BootARM64 string // iPXE builds per firmware

	LogJSON bool
	Metrics bool // serve /metrics on the HTTP port
	Status  bool // serve the status page (/status, /status.json, /status/events) on the HTTP port

	// InventoryDir is a directory of machine YAML files (pxekit.DirInventory),
	// watched for changes ("" = none).
	InventoryDir string

	askedHTTPAddr string // HTTPAddr as given, before serve resolved a port 0

	// From the config file only (-config).
	ConfigFile   string
	LeaseFile    string                 // lab mode lease file ("" = memory only)
	Reservations []dhcpboot.Reservation // lab mode fixed addresses
	Subnets      []dhcpboot.Subnet      // lab mode subnets behind DHCP relays
	Rules        []dhcpboot.Rule        // checked before the default rules
	Machines     map[string][]byte      // per-MAC scripts by MAC (aa:bb:...)
	TFTP         tftpTuning
}

// HTTPBase returns "http://host:port" for URLs handed to clients.
func (c *Config) HTTPBase() string {
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = c.Addr.String()
	}
	if port == "" {
		port = "80"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// HTTPPort returns the port of the HTTP server.
func (c *Config) HTTPPort() string {
	_, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil || port == "" {
		return "80"
	}
	return port
}

// httpAddr6 returns where HTTP also listens for the DHCPv6 boot URLs:
// [-addr6]:port when -dhcp6 is lab or proxy and -http-addr names an IPv4
// address; "" otherwise (an -http-addr of "::" or "" serves IPv6 already).
func (c *Config) httpAddr6() string {
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if c.DHCP6 == "off" || err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.Is4() || a.IsUnspecified() {
		return ""
	}
	return net.JoinHostPort(c.Addr6.String(), port)
}

// usage is printed by -h and after flag errors.
const usage = `pxeserver: network boot server built from pxekit (DHCP + TFTP + HTTP + iPXE scripts)

usage: pxeserver -iface IFACE -addr IP [-dhcp proxy|lab|off] [-pool FIRST-LAST]
                 [-netmask MASK] [-router IP] [-dhcp6 off|lab|proxy] [-addr6 IP6]
                 [-pool6 FIRST-LAST] [-tftp-root DIR] [-http-addr ADDR:PORT]
                 [-http-root DIR] [-http-max-conns N] [-http-idle-timeout D]
                 [-http-write-timeout D] [-script FILE] [-bootfile-bios NAME]
                 [-bootfile-uefi-x64 NAME] [-bootfile-uefi-ia32 NAME]
                 [-bootfile-arm64 NAME] [-tftp-max-timeout N]
                 [-tftp-transfer-timeout DUR] [-inventory DIR] [-metrics=false]
                 [-status=false] [-config FILE] [-log-json]

Default policy (breaks the iPXE chainload loop):
  BIOS PXE (arch 0)          -> TFTP -bootfile-bios (undionly.kpxe)
  UEFI x64 PXE (arch 7, 9)   -> TFTP -bootfile-uefi-x64 (ipxe.efi)
  UEFI HTTP boot (arch 16)   -> http://ADDR:PORT/ipxe.efi from -http-root
  U-Boot (arch 21-24, option 60 U-Boot.*) -> next server ADDR and option 209
                             pxelinux.cfg/default, which its "pxe get" loads
  other UEFI (arch 6, 10, 11, 25, 27, 39 and their HTTP twins) -> the iPXE
                             build of dhcpboot.DefaultBootFiles; -bootfile-uefi-ia32
                             and -bootfile-arm64 name those of arch 6 and 11
  iPXE (option 175/user class iPXE) -> http://ADDR:PORT/boot.ipxe
/boot.ipxe is -script, or a built-in script that chains the per-machine URL
/machine/MAC?buildarch=..&platform=..&uuid=..; that serves the machine of
the config file's machines:, else of -inventory DIR (one YAML file per
machine: kernel, initrds, cmdline or script; watched for changes), else
HTTP-ROOT/machines/MAC.ipxe (MAC as aa-bb-cc-dd-ee-ff) when it exists, else
a script that prints "PXEKIT-BOOTED mac buildarch platform" and exits.
/metrics is the Prometheus metrics (-metrics=false: off).
/status is a live page of the machines booting (/status.json the same as
JSON; -status=false: off): stage, rule, transfer progress, last error.

All of it runs on pxekit.Server; each of its events (DHCP decision, TFTP
transfer, HTTP request, stage reached, unknown machine) is one log line
(-log-json: the event's JSON). SIGHUP reads the flags and -config again
and reloads what can change without a restart (rules, boot files,
machines, scripts, roots); the log says what changed or why not.

-config FILE reads YAML with the same settings plus per-MAC/arch/class rules,
per-MAC scripts, lab reservations, lab subnets behind DHCP relays and TFTP
caps; flags given win over it.

Lab mode serves the subnet on -iface (-addr, -netmask, -pool, -router) and,
for machines behind a DHCP relay (dhcrelay, ip helper-address), each subnet
of the config file's "subnets:" list, chosen by the relay's address (giaddr):
  subnets:
    - {prefix: 10.78.6.0/24, pool: 10.78.6.100-10.78.6.200, router: 10.78.6.1,
       dns: [10.78.6.1], lease_time: 1h,
       reservations: [{mac: "52:54:00:12:34:56", ip: 10.78.6.50}]}
Replies go back to the relay with its option 82 echoed. The server needs a
route to those subnets (through the relay), and so do TFTP and HTTP.

-dhcp6 lab (with -dhcp lab or off) also serves DHCPv6 on -iface: addresses from -pool6 and the boot
URL (option 59) of the same policy, with -addr6 in the URLs.
-dhcp6 proxy answers DHCPv6 beside the site's DHCPv6 server, which gives the
addresses: UEFI HTTP boot clients (vendor class HTTPClient) get an Advertise
with no address and http://[-addr6]:PORT/ipxe.efi, which EDK2 (OVMF) takes.
UEFI PXE over IPv6 and iPXE are not answered: EDK2's PXE asks such a proxy
again on port 4011 (not served), and iPXE takes DHCPv6 options only from the
server that gives its address; iPXE needs the script from DHCPv4 (-dhcp
proxy on a dual-stack network) or a site DHCPv6 server that sends option 59.

Needs root (DHCP port 67, TFTP port 69). Flags:
`

// parseConfig parses the command line. Errors name the flag at fault.
func parseConfig(args []string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("pxeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var addr, pool, netmask, router, addr6, pool6 string
	fs.StringVar(&c.Iface, "iface", "", "network interface to serve on (required)")
	fs.StringVar(&addr, "addr", "", "this server's IPv4 address on -iface (required)")
	fs.StringVar(&c.DHCP, "dhcp", "proxy", "DHCP mode: proxy (beside an existing DHCP server), lab (full DHCP server for a private lab) or off")
	fs.StringVar(&pool, "pool", "", "lab mode: addresses to lease, FIRST-LAST (default .100-.199 of -addr's /24)")
	fs.StringVar(&netmask, "netmask", "255.255.255.0", "lab mode: subnet mask")
	fs.StringVar(&router, "router", "", "lab mode: default router handed out (default none)")
	fs.StringVar(&c.DHCP6, "dhcp6", "off", "DHCPv6 mode: lab (DHCPv6 server giving -pool6 addresses and boot URLs), proxy (boot URLs for UEFI HTTP boot beside the site's DHCPv6 server) or off")
	fs.StringVar(&addr6, "addr6", "", "-dhcp6 lab or proxy: this server's IPv6 address on -iface (not link-local), used in boot URLs")
	fs.StringVar(&pool6, "pool6", "", "-dhcp6 lab: IPv6 addresses to lease, FIRST-LAST (default ::1000-::1fff of -addr6's /64)")
	fs.StringVar(&c.TFTPRoot, "tftp-root", "", "directory served over TFTP (the iPXE binaries); empty = no TFTP server")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "HTTP listen address ADDR:PORT (default -addr:8080)")
	fs.StringVar(&c.HTTPRoot, "http-root", "", "directory served over HTTP (default -tftp-root)")
	fs.StringVar(&c.Script, "script", "", "iPXE script served as /boot.ipxe, read at start and on SIGHUP (default: built-in)")
	fs.StringVar(&c.BootBIOS, "bootfile-bios", "undionly.kpxe", "boot file for BIOS PXE clients")
	fs.StringVar(&c.BootUEFIX64, "bootfile-uefi-x64", "ipxe.efi", "boot file for x86-64 UEFI clients (PXE over TFTP, HTTP boot over HTTP)")
	fs.StringVar(&c.BootUEFIIA32, "bootfile-uefi-ia32", "ipxe-i386.efi", "boot file for 32-bit x86 UEFI clients")
	fs.StringVar(&c.BootARM64, "bootfile-arm64", "snp.efi", "boot file for ARM64 UEFI clients")
	fs.IntVar(&c.HTTPMaxConns, "http-max-conns", 1024, "HTTP connections served at once; more wait until one closes (0 = no cap)")
	fs.DurationVar(&c.HTTPIdleTimeout, "http-idle-timeout", 60*time.Second, "close an idle HTTP keep-alive connection after this long")
	fs.DurationVar(&c.HTTPWriteTimeout, "http-write-timeout", 60*time.Second, "cut off an HTTP response when the client has taken none of it for this long; a slow download that keeps moving is never cut (0 = never)")
	tftpMaxTimeout := fs.Int("tftp-max-timeout", 0, fmt.Sprintf("largest TFTP timeout option granted, seconds; a client asking more gets none (default %d; -1 never grants it)", tftpserve.DefaultMaxTimeout))
	tftpTransferTimeout := fs.Duration("tftp-transfer-timeout", 0, fmt.Sprintf("longest a TFTP transfer may take before it is cut off with an ERROR (default %s; -1ns = no limit)", tftpserve.DefaultTransferTimeout))
	fs.BoolVar(&c.LogJSON, "log-json", false, "log JSON lines instead of text: one line per event (pxekit's event JSON)")
	fs.BoolVar(&c.Metrics, "metrics", true, "serve Prometheus metrics at /metrics on the HTTP port")
	fs.BoolVar(&c.Status, "status", true, "serve the live status page at /status (and /status.json) on the HTTP port")
	fs.StringVar(&c.InventoryDir, "inventory", "", "directory of machine YAML files, one per machine (pxekit.DirInventory), reloaded when it changes")
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file: flag settings plus rules, per-MAC scripts, reservations, TFTP caps (go doc ./examples/pxeserver); flags given override it")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if c.ConfigFile != "" {
		fc, err := loadConfigFile(c.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("-config: %w", err)
		}
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for name, v := range fc.flagValues() {
			if v == "" || given[name] {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				return nil, fmt.Errorf("-config: %s: %w", name, err)
			}
		}
		if err := fc.apply(c); err != nil {
			return nil, fmt.Errorf("-config %s: %w", c.ConfigFile, err)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "tftp-max-timeout":
			c.TFTP.MaxTimeout = *tftpMaxTimeout
		case "tftp-transfer-timeout":
			c.TFTP.TransferTimeout = duration(*tftpTransferTimeout)
		}
	})
	if c.TFTP.MaxTimeout < -1 || c.TFTP.MaxTimeout > 255 {
		return nil, fmt.Errorf("-tftp-max-timeout %d: want 1-255 seconds (-1: never grant the option)", c.TFTP.MaxTimeout)
	}
	if c.Iface == "" {
		return nil, errors.New("-iface is required: the interface to serve on")
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return nil, fmt.Errorf("-addr %q: want this server's IPv4 address on %s", addr, c.Iface)
	}
	c.Addr = a
	switch c.DHCP {
	case "lab", "proxy", "off":
	default:
		return nil, fmt.Errorf("-dhcp %q: want proxy, lab or off", c.DHCP)
	}
	if c.Netmask, err = netip.ParseAddr(netmask); err != nil || !c.Netmask.Is4() || maskBits(c.Netmask) < 0 {
		return nil, fmt.Errorf("-netmask %q: want a dotted IPv4 mask such as 255.255.255.0", netmask)
	}
	if router != "" {
		if c.Router, err = netip.ParseAddr(router); err != nil || !c.Router.Is4() {
			return nil, fmt.Errorf("-router %q: want an IPv4 address", router)
		}
	}
	if c.Pool, err = parsePool(pool, a, c.Netmask); err != nil {
		return nil, fmt.Errorf("-pool: %w", err)
	}
	if err := c.parseDHCP6(addr6, pool6); err != nil {
		return nil, err
	}
	if err := checkSubnets(c); err != nil {
		return nil, fmt.Errorf("-config %s: %w", c.ConfigFile, err)
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = net.JoinHostPort(a.String(), "8080")
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return nil, fmt.Errorf("-http-addr %q: want ADDR:PORT", c.HTTPAddr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("-http-addr %q: bad port", c.HTTPAddr)
	}
	if c.HTTPMaxConns < 0 {
		return nil, fmt.Errorf("-http-max-conns %d: want 0 (no cap) or more", c.HTTPMaxConns)
	}
	if c.HTTPIdleTimeout <= 0 {
		return nil, fmt.Errorf("-http-idle-timeout %v: want a positive duration such as 60s", c.HTTPIdleTimeout)
	}
	if c.HTTPWriteTimeout < 0 {
		return nil, fmt.Errorf("-http-write-timeout %v: want 0 (never) or a positive duration such as 60s", c.HTTPWriteTimeout)
	}
	if c.HTTPRoot == "" {
		c.HTTPRoot = c.TFTPRoot
	}
	for _, d := range []struct{ flag, dir string }{{"-tftp-root", c.TFTPRoot}, {"-http-root", c.HTTPRoot}, {"-inventory", c.InventoryDir}} {
		if d.dir == "" {
			continue
		}
		if fi, err := os.Stat(d.dir); err != nil {
			return nil, fmt.Errorf("%s: %w", d.flag, err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("%s %s: not a directory", d.flag, d.dir)
		}
	}
	if c.Script != "" {
		if _, err := os.Stat(c.Script); err != nil {
			return nil, fmt.Errorf("-script: %w", err)
		}
	}
	for _, f := range []struct{ flag, name string }{
		{"-bootfile-bios", c.BootBIOS}, {"-bootfile-uefi-x64", c.BootUEFIX64},
		{"-bootfile-uefi-ia32", c.BootUEFIIA32}, {"-bootfile-arm64", c.BootARM64},
	} {
		if f.name == "" || strings.ContainsAny(f.name, " \t\r\n\x00") {
			return nil, fmt.Errorf("%s %q: want a file name without spaces", f.flag, f.name)
		}
	}
	return c, nil
}

// maskBits returns the prefix length of a contiguous IPv4 mask, or -1.
func maskBits(m netip.Addr) int {
	b := m.As4()
	ones, size := net.IPMask(b[:]).Size()
	if size == 0 {
		return -1
	}
	return ones
}

// parsePool parses "FIRST-LAST"; "" means .100-.199 of addr's subnet (or
// the subnet's usable range when that is smaller).
func parsePool(s string, addr, mask netip.Addr) ([2]netip.Addr, error) {
	bits := maskBits(mask)
	prefix := netip.PrefixFrom(addr, bits).Masked()
	if s == "" {
		a4 := prefix.Addr().As4()
		if bits <= 24 {
			a4[3] = 100
			first := netip.AddrFrom4(a4)
			a4[3] = 199
			return [2]netip.Addr{first, netip.AddrFrom4(a4)}, nil
		}
		first := prefix.Addr().Next()
		last := first
		for n := last.Next(); prefix.Contains(n.Next()); n = n.Next() {
			last = n
		}
		return [2]netip.Addr{first, last}, nil
	}
	r, err := parseRange(s, prefix)
	if err != nil {
		return r, err
	}
	if r[0].Compare(addr) <= 0 && addr.Compare(r[1]) <= 0 {
		return [2]netip.Addr{}, fmt.Errorf("%q contains the server's own address %s", s, addr)
	}
	return r, nil
}

// parseRange parses "FIRST-LAST", two addresses of prefix's family inside
// prefix.
func parseRange(s string, prefix netip.Prefix) ([2]netip.Addr, error) {
	family := "IPv4"
	if prefix.Addr().Is6() {
		family = "IPv6"
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return [2]netip.Addr{}, fmt.Errorf("%q: want FIRST-LAST", s)
	}
	first, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	last, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || first.Is4() != prefix.Addr().Is4() || last.Is4() != prefix.Addr().Is4() || first.Zone() != "" || last.Zone() != "" {
		return [2]netip.Addr{}, fmt.Errorf("%q: want two %s addresses FIRST-LAST", s, family)
	}
	if last.Less(first) {
		return [2]netip.Addr{}, fmt.Errorf("%q: last address before first", s)
	}
	if !prefix.Contains(first) || !prefix.Contains(last) {
		return [2]netip.Addr{}, fmt.Errorf("%q: not inside %s", s, prefix)
	}
	return [2]netip.Addr{first, last}, nil
}

// parseDHCP6 checks -dhcp6 and, in lab and proxy mode, -addr6 and (lab
// only) -pool6 (default ::1000-::1fff of -addr6's /64).
func (c *Config) parseDHCP6(addr6, pool6 string) error {
	switch c.DHCP6 {
	case "off":
		return nil
	case "lab", "proxy":
	default:
		return fmt.Errorf("-dhcp6 %q: want lab, proxy or off", c.DHCP6)
	}
	if c.DHCP6 == "lab" && c.DHCP == "proxy" {
		return errors.New("-dhcp6 lab with -dhcp proxy: a lab DHCPv6 server runs beside a lab DHCPv4 server or alone (-dhcp lab or off); beside the site's DHCPv6 server use -dhcp6 proxy")
	}
	a, err := netip.ParseAddr(addr6)
	if err != nil || !a.Is6() || a.Is4In6() || a.IsLinkLocalUnicast() || a.Zone() != "" {
		return fmt.Errorf("-addr6 %q: -dhcp6 %s needs this server's IPv6 address on %s (not link-local): boot URLs carry it", addr6, c.DHCP6, c.Iface)
	}
	c.Addr6 = a
	if c.DHCP6 == "proxy" {
		if pool6 != "" {
			return errors.New("-pool6 with -dhcp6 proxy: the site's DHCPv6 server gives the addresses (-pool6 is for -dhcp6 lab)")
		}
		return nil
	}
	prefix := netip.PrefixFrom(a, 64).Masked()
	if pool6 == "" {
		b := prefix.Addr().As16()
		b[14] = 0x10
		first := netip.AddrFrom16(b)
		b[14], b[15] = 0x1f, 0xff
		c.Pool6 = [2]netip.Addr{first, netip.AddrFrom16(b)}
	} else {
		r, err := parseRange(pool6, netip.PrefixFrom(a, 0))
		if err != nil {
			return fmt.Errorf("-pool6: %w", err)
		}
		c.Pool6 = r
	}
	if c.Pool6[0].Compare(a) <= 0 && a.Compare(c.Pool6[1]) <= 0 {
		return fmt.Errorf("-pool6 %v-%v contains the server's own address %s", c.Pool6[0], c.Pool6[1], a)
	}
	return nil
}

// checkSubnets checks the config file's lab subnets against the subnet on
// -iface; apply checked each on its own.
func checkSubnets(c *Config) error {
	if len(c.Subnets) == 0 {
		return nil
	}
	if c.DHCP != "lab" {
		return fmt.Errorf("subnets: only lab mode (-dhcp lab) gives addresses; -dhcp is %s", c.DHCP)
	}
	own := netip.PrefixFrom(c.Addr, maskBits(c.Netmask)).Masked()
	for i, sn := range c.Subnets {
		if sn.Prefix.Overlaps(own) {
			return fmt.Errorf("subnets[%d]: prefix %v overlaps %v, the subnet of -iface %s (-addr %v, -netmask %v), which the flags describe", i, sn.Prefix, own, c.Iface, c.Addr, c.Netmask)
		}
	}
	return nil
}

// geteuid is os.Geteuid; tests replace it to check the message a user
// without root sees.
var geteuid = os.Geteuid

// preflight checks what the server needs from the system and says what is
// missing: root for ports 67 and 69, the interface, the address on it.
func preflight(c *Config) error {
	var missing []string
	if geteuid() != 0 && (c.DHCP != "off" || c.DHCP6 != "off" || c.TFTPRoot != "") {
		missing = append(missing, "root privileges (DHCP listens on port 67 and TFTP on port 69; run with sudo, or use -dhcp off without -tftp-root)")
	}
	ifi, err := net.InterfaceByName(c.Iface)
	if err != nil {
		var names []string
		if all, err := net.Interfaces(); err == nil {
			for _, i := range all {
				names = append(names, i.Name)
			}
		}
		missing = append(missing, fmt.Sprintf("interface %q (this system has: %s)", c.Iface, strings.Join(names, ", ")))
	} else {
		addrs, _ := ifi.Addrs()
		found, found6 := false, false
		var have []string
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				have = append(have, p.String())
				found = found || p.Addr() == c.Addr
				found6 = found6 || p.Addr() == c.Addr6
			}
		}
		if !found {
			missing = append(missing, fmt.Sprintf("address %s on interface %s (it has: %s)", c.Addr, c.Iface, strings.Join(have, ", ")))
		}
		if c.DHCP6 != "off" && !found6 {
			missing = append(missing, fmt.Sprintf("-addr6 %s on interface %s (it has: %s)", c.Addr6, c.Iface, strings.Join(have, ", ")))
		}
		if ifi.Flags&net.FlagUp == 0 {
			missing = append(missing, fmt.Sprintf("interface %s is down (ip link set %s up)", c.Iface, c.Iface))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot start: missing %s", strings.Join(missing, "; "))
	}
	return nil
}
