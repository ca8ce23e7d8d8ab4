package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/dhcpboot"
)

// bootPolicy is the site's rules (-config), then dhcpboot's default
// loop-breaking policy with pxeserver's URLs (under base) and boot file
// names.
func bootPolicy(cfg *Config, base string) (*dhcpboot.Policy, error) {
	rules, err := dhcpboot.DefaultRules(dhcpboot.DefaultConfig{
		// The MAC and arch in the script URL let the HTTP log tie the
		// request to the DHCP decision; iPXE ignores the query.
		ScriptURL: base + "/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}",
		HTTPBase:  base + "/",
		Files: dhcpboot.BootFiles{
			BIOS:     cfg.BootBIOS,
			UEFIIA32: cfg.BootUEFIIA32,
			UEFIX64:  cfg.BootUEFIX64,
			ARM64:    cfg.BootARM64,
		},
	})
	if err != nil {
		return nil, err
	}
	return dhcpboot.NewPolicy(append(append([]dhcpboot.Rule(nil), cfg.Rules...), rules...)...)
}

// dhcpSide is pxeserver's DHCP: dhcpboot's servers for the modes cfg asks
// for (-dhcp proxy: ProxyServer on ports 67 and 4011; -dhcp lab:
// LabServer4; -dhcp6 lab: LabServer6), whose hooks log one "dhcp" (or
// "dhcp6") line per request and count what happened.
type dhcpSide struct {
	cfg   *Config
	log   *slog.Logger
	proxy *dhcpboot.ProxyServer
	lab   *dhcpboot.LabServer4
	lab6  *dhcpboot.LabServer6

	replied, unanswered, invalid atomic.Int64
}

// buildDHCP makes the DHCP servers for cfg without opening sockets. A lab
// server's configuration is checked here (subnets, pool, lease file), so
// that pxeserver refuses to start rather than answer nobody after "ready".
func buildDHCP(cfg *Config, log *slog.Logger) (*dhcpSide, error) {
	d := &dhcpSide{cfg: cfg, log: log}
	if cfg.DHCP != "off" {
		policy, err := bootPolicy(cfg, cfg.HTTPBase())
		if err != nil {
			return nil, err
		}
		switch cfg.DHCP {
		case "lab":
			d.lab = &dhcpboot.LabServer4{
				Policy:    policy,
				Interface: cfg.Iface,
				ServerIP:  cfg.Addr,
				Subnets:   labSubnets(cfg),
				LeaseFile: cfg.LeaseFile,
				OnReply:   d.onReply4,
				OnInvalid: d.onInvalid,
				// Lease file warnings (skipped lines, failed saves) and
				// declined addresses reach the server's log.
				Logger: log,
			}
			if err := d.lab.Init(); err != nil {
				return nil, labError(err)
			}
		case "proxy":
			d.proxy = &dhcpboot.ProxyServer{
				Policy:    policy,
				Interface: cfg.Iface,
				ServerIP:  cfg.Addr,
				OnReply:   d.onReply4,
				OnInvalid: d.onInvalid,
				Logger:    log,
			}
		default:
			return nil, fmt.Errorf("unknown DHCP mode %q", cfg.DHCP)
		}
	}
	if cfg.DHCP6 == "lab" {
		// {{server}} is the IPv6 address in brackets in DHCPv6 answers.
		policy, err := bootPolicy(cfg, "http://{{server}}:"+cfg.HTTPPort())
		if err != nil {
			return nil, err
		}
		d.lab6 = &dhcpboot.LabServer6{
			Policy:     policy,
			Interface:  cfg.Iface,
			ServerIP:   cfg.Addr6,
			RangeStart: cfg.Pool6[0],
			RangeEnd:   cfg.Pool6[1],
			OnReply:    d.onReply6,
			OnInvalid:  d.onInvalid,
			Logger:     log,
		}
		if err := d.lab6.Init(); err != nil {
			return nil, fmt.Errorf("lab DHCPv6: %w", err)
		}
	}
	return d, nil
}

// labSubnets maps pxeserver's lab settings onto dhcpboot subnets: first
// the one on -iface (-addr, -netmask, -pool, -router and the top-level
// reservations), then the config file's subnets (behind DHCP relays).
func labSubnets(cfg *Config) []dhcpboot.Subnet {
	own := dhcpboot.Subnet{
		Prefix:     netip.PrefixFrom(cfg.Addr, maskBits(cfg.Netmask)).Masked(),
		RangeStart: cfg.Pool[0],
		RangeEnd:   cfg.Pool[1],
		Router:     cfg.Router,
		// Reservations must lie in the subnet; LabServer4 checks.
		Reservations: cfg.Reservations,
		Interface:    cfg.Iface,
	}
	return append([]dhcpboot.Subnet{own}, cfg.Subnets...)
}

// labError says which setting a LabServer4 start error is about: its
// Subnets[0] is -iface's subnet, Subnets[N] the config file's subnets[N-1].
func labError(err error) error {
	msg := err.Error()
	for i := len(msg) - 1; i >= 0; i-- {
		if !strings.HasPrefix(msg[i:], "Subnets[") {
			continue
		}
		end := strings.IndexByte(msg[i:], ']')
		if end < 0 {
			continue
		}
		n, err := strconv.Atoi(msg[i+len("Subnets[") : i+end])
		if err != nil {
			continue
		}
		name := "the subnet of -iface (-addr, -netmask, -pool, reservations)"
		if n > 0 {
			name = fmt.Sprintf("config file subnets[%d]", n-1)
		}
		msg = msg[:i] + name + msg[i+end+1:]
	}
	return fmt.Errorf("lab DHCP: %s", msg)
}

// services opens the DHCP sockets on -iface (before "ready", so that a
// port in use stops pxeserver at start) and returns one service per
// socket. Each is shut down through its server's Shutdown, which lets the
// replies in flight (and the lease file) finish within the grace period.
func (d *dhcpSide) services() ([]service, error) {
	type sock struct {
		name  string
		open  func() (net.PacketConn, error)
		serve func(net.PacketConn) error
		stop  func(context.Context) error
		close func() error
	}
	var socks []sock
	v4 := func(port int) func() (net.PacketConn, error) {
		return func() (net.PacketConn, error) { return dhcpboot.ListenUDP4(d.cfg.Iface, port) }
	}
	if d.lab != nil {
		socks = append(socks, sock{"dhcp", v4(dhcpv4.ServerPort), d.lab.Serve, d.lab.Shutdown, d.lab.Close})
	}
	if d.proxy != nil {
		socks = append(socks,
			sock{"dhcp", v4(dhcpv4.ServerPort), d.proxy.Serve, d.proxy.Shutdown, d.proxy.Close},
			sock{"dhcp-4011", v4(dhcpboot.PXEPort), d.proxy.ServeBootServer, d.proxy.Shutdown, d.proxy.Close})
	}
	if d.lab6 != nil {
		socks = append(socks, sock{"dhcp6", func() (net.PacketConn, error) { return dhcpboot.ListenUDP6(d.cfg.Iface) },
			d.lab6.Serve, d.lab6.Shutdown, d.lab6.Close})
	}
	var out []service
	for _, s := range socks {
		c, err := s.open()
		if err != nil {
			for _, o := range out {
				o.shutdown(context.Background()) // closes the sockets opened
			}
			return nil, err
		}
		var started atomic.Bool // Shutdown closes only the sockets being served
		out = append(out, service{
			name: s.name,
			serve: func() error {
				started.Store(true)
				if err := s.serve(c); !errors.Is(err, dhcpboot.ErrServerClosed) {
					return err
				}
				return nil
			},
			shutdown: func(ctx context.Context) error {
				err := s.stop(ctx)
				if err != nil {
					s.close() // grace over: stop now
				}
				if !started.Load() {
					c.Close()
				}
				return err
			},
		})
	}
	return out, nil
}

// logTotals logs what the DHCP servers did since start.
func (d *dhcpSide) logTotals() {
	d.log.Info("dhcp totals", slog.Int64("replied", d.replied.Load()),
		slog.Int64("unanswered", d.unanswered.Load()), slog.Int64("invalid", d.invalid.Load()))
}

// onInvalid counts a datagram that is no DHCP request (debug log only: a
// network carries such noise).
func (d *dhcpSide) onInvalid(x dhcpboot.Invalid) {
	d.invalid.Add(1)
	d.log.Debug("dhcp: invalid message", slog.String("peer", x.Peer.String()), slog.Int("size", x.Size), slog.String("err", x.Err.Error()))
}

// count counts one handled request.
func (d *dhcpSide) count(replied bool) {
	if replied {
		d.replied.Add(1)
	} else {
		d.unanswered.Add(1)
	}
}

// clientAttrs are the log fields of who asked (nil when the server did not
// get as far as classifying).
func clientAttrs(r *dhcpboot.Request, dec dhcpboot.Decision) []any {
	if r == nil {
		return nil
	}
	c := &r.Client
	attrs := []any{
		slog.Int("arch", int(c.Arch)),
		slog.String("arch_name", c.ArchName),
		slog.String("firmware", string(c.Firmware)),
		slog.String("transport", string(c.Transport)),
		slog.String("vendor_class", c.VendorClass.Raw),
		slog.String("user_class", strings.Join(c.UserClasses, ",")),
		slog.Bool("ipxe", c.IPXE),
	}
	if c.UUID != "" {
		attrs = append(attrs, slog.String("uuid", c.UUID))
	}
	rule := ""
	if dec.Matched() {
		rule = dec.Rule.Name
	}
	return append(attrs, slog.String("rule", rule), slog.String("why", dec.Why))
}

// emit logs one exchange: at warning level when sending or saving failed.
func (d *dhcpSide) emit(msg string, err error, attrs []any) {
	if err != nil {
		d.log.Warn(msg, append(attrs, slog.String("err", err.Error()))...)
		return
	}
	d.log.Info(msg, attrs...)
}

// onReply4 logs one "dhcp" line per DHCPv4 request: who asked, which rule
// decided, what was answered (or why nothing was) and where it went.
func (d *dhcpSide) onReply4(x dhcpboot.Exchange4) {
	m := x.Request
	port := dhcpv4.ServerPort
	if x.Boot != nil && x.Boot.Mode == dhcpboot.ModeProxyAck {
		port = dhcpboot.PXEPort
	}
	attrs := []any{
		slog.String("mode", d.cfg.DHCP),
		slog.Int("port", port),
		slog.String("mac", m.ClientHWAddr.String()),
		slog.String("xid", m.TransactionID.String()),
		slog.String("type", m.MessageType().String()),
	}
	attrs = append(attrs, clientAttrs(x.Boot, x.Decision)...)
	if gi := m.GatewayIPAddr; gi != nil && !gi.IsUnspecified() {
		attrs = append(attrs, slog.String("giaddr", gi.String()))
	}
	// Option 82 as the relay added it, in hex (RFC 3046 sub-options).
	if o82 := m.Options.Get(dhcpv4.OptionRelayAgentInformation); o82 != nil {
		attrs = append(attrs, slog.String("relay_agent", hex.EncodeToString(o82)))
	}
	d.count(x.Reply != nil)
	if x.Reply == nil {
		reason := x.NoReply
		if reason == "" {
			reason = "no answer"
		}
		d.emit("dhcp", x.Err, append(attrs, slog.String("reply", "none"), slog.String("reason", reason)))
		return
	}
	r := x.Reply
	attrs = append(attrs,
		slog.String("reply", strings.TrimPrefix(r.MessageType().String(), "DHCP")),
		slog.String("yiaddr", r.YourIPAddr.String()),
		slog.String("siaddr", r.ServerIPAddr.String()),
		slog.String("bootfile", r.BootFileNameOption()),
		slog.String("to", x.To.String()))
	if o82 := r.Options.Get(dhcpv4.OptionRelayAgentInformation); o82 != nil {
		attrs = append(attrs, slog.String("reply_relay_agent", hex.EncodeToString(o82)))
	}
	if cf := r.Options.Get(dhcpv4.OptionPXELinuxConfigFile); cf != nil {
		attrs = append(attrs, slog.String("pxelinux_config", string(cf)))
	}
	d.emit("dhcp", x.Err, attrs)
}

// onReply6 logs one "dhcp6" line per DHCPv6 request, like onReply4: the
// client, the decision, the addresses given and the boot URL (option 59).
func (d *dhcpSide) onReply6(x dhcpboot.Exchange6) {
	attrs := []any{slog.String("mode", d.cfg.DHCP6), slog.String("peer", x.Peer.String())}
	if in, err := x.Request.GetInnerMessage(); err == nil {
		attrs = append(attrs, slog.String("type", in.Type().String()), slog.String("xid", in.TransactionID.String()))
		if cid := in.Options.ClientID(); cid != nil {
			attrs = append(attrs, slog.String("duid", hex.EncodeToString(cid.ToBytes())))
		}
	}
	if x.Boot != nil && x.Boot.Relay.IsValid() {
		attrs = append(attrs, slog.String("relay", x.Boot.Relay.String())) // the relay's link address
	}
	if x.Boot != nil && x.Boot.Client.MAC != nil {
		attrs = append(attrs, slog.String("mac", x.Boot.Client.MAC.String()))
	}
	attrs = append(attrs, clientAttrs(x.Boot, x.Decision)...)
	d.count(x.Reply != nil)
	if x.Reply == nil {
		d.emit("dhcp6", x.Err, append(attrs, slog.String("reply", "none"), slog.String("reason", x.NoReply)))
		return
	}
	attrs = append(attrs, slog.String("to", x.To.String()))
	in, err := x.Reply.GetInnerMessage()
	if err != nil {
		d.emit("dhcp6", err, attrs)
		return
	}
	var addrs []string
	for _, ia := range in.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			addrs = append(addrs, a.IPv6Addr.String())
		}
	}
	attrs = append(attrs, slog.String("reply", in.Type().String()), slog.String("addrs", strings.Join(addrs, ",")),
		slog.String("boot_url", in.Options.BootFileURL()))
	d.emit("dhcp6", x.Err, attrs)
}
