package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/dhcpboot"
)

// bootPolicy is the site's rules (-config), then dhcpboot's default
// loop-breaking policy with pxeserver's URLs and boot file names.
func bootPolicy(cfg *Config) (*dhcpboot.Policy, error) {
	base := cfg.HTTPBase()
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

// dhcpServer reads DHCP requests on its sockets, answers them with answer
// and logs one "dhcp" line per request: who asked, which rule decided, what
// was answered.
type dhcpServer struct {
	cfg    *Config
	log    *slog.Logger
	decide *dhcpboot.Responder4 // classifies and decides, for the log line
	answer func(m *dhcpv4.DHCPv4, a dhcpboot.Arrival) (*dhcpv4.DHCPv4, error)
	mode   string
	conns  []net.PacketConn
	modes  []dhcpboot.Mode // reply mode per conn

	closeOnce sync.Once
}

// newDHCP opens the DHCP sockets (bound to the interface) for cfg.DHCP mode:
// "lab" answers on port 67 as a full DHCP server (dhcpboot.LabServer4),
// "proxy" answers PXE and HTTP-boot clients on ports 67 and 4011 beside the
// site's DHCP server (dhcpboot's proxy replies).
func newDHCP(cfg *Config, log *slog.Logger) (service, error) {
	s, err := buildDHCP(cfg, log)
	if err != nil {
		return service{}, err
	}
	switch cfg.DHCP {
	case "lab":
		c, err := dhcpboot.ListenUDP4(cfg.Iface, dhcpv4.ServerPort)
		if err != nil {
			return service{}, err
		}
		s.conns, s.modes = []net.PacketConn{c}, []dhcpboot.Mode{dhcpboot.ModeFull}
	case "proxy":
		c67, err := dhcpboot.ListenUDP4(cfg.Iface, dhcpv4.ServerPort)
		if err != nil {
			return service{}, err
		}
		c4011, err := dhcpboot.ListenUDP4(cfg.Iface, dhcpboot.PXEPort)
		if err != nil {
			c67.Close()
			return service{}, err
		}
		s.conns, s.modes = []net.PacketConn{c67, c4011}, []dhcpboot.Mode{dhcpboot.ModeProxy, dhcpboot.ModeProxyAck}
	}
	return service{name: "dhcp", serve: s.serve, shutdown: s.shutdown}, nil
}

// buildDHCP makes the DHCP side for cfg.DHCP mode without opening sockets.
func buildDHCP(cfg *Config, log *slog.Logger) (*dhcpServer, error) {
	policy, err := bootPolicy(cfg)
	if err != nil {
		return nil, err
	}
	s := &dhcpServer{
		cfg:    cfg,
		log:    log,
		decide: &dhcpboot.Responder4{Policy: policy, ServerIP: cfg.Addr},
		mode:   cfg.DHCP,
	}
	switch cfg.DHCP {
	case "lab":
		lab := &dhcpboot.LabServer4{
			Policy:    policy,
			Interface: cfg.Iface,
			ServerIP:  cfg.Addr,
			Subnets: []dhcpboot.Subnet{{
				Prefix:     netip.PrefixFrom(cfg.Addr, maskBits(cfg.Netmask)).Masked(),
				RangeStart: cfg.Pool[0],
				RangeEnd:   cfg.Pool[1],
				Router:     cfg.Router,
				// Reservations must lie in the subnet; LabServer4 checks.
				Reservations: cfg.Reservations,
			}},
			LeaseFile: cfg.LeaseFile,
			// Lease file warnings (skipped lines, failed saves) and
			// declined addresses reach the server's log.
			Logger: log,
		}
		// Fail at start (bad pool, unusable lease file), not at the first
		// request after "ready".
		if err := lab.Init(); err != nil {
			return nil, err
		}
		s.answer = func(m *dhcpv4.DHCPv4, a dhcpboot.Arrival) (*dhcpv4.DHCPv4, error) {
			x := lab.Reply(m, a)
			if x.Reply == nil {
				if x.Err != nil {
					return nil, x.Err
				}
				return nil, errors.New(x.NoReply)
			}
			return x.Reply, nil
		}
	case "proxy":
		s.answer = func(m *dhcpv4.DHCPv4, a dhcpboot.Arrival) (*dhcpv4.DHCPv4, error) {
			resp, _, _, err := s.decide.Reply(m, a)
			return resp, err
		}
	default:
		return nil, fmt.Errorf("unknown DHCP mode %q", cfg.DHCP)
	}
	return s, nil
}

func (s *dhcpServer) serve() error {
	var wg sync.WaitGroup
	errc := make(chan error, len(s.conns))
	for i, c := range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				n, peer, err := c.ReadFrom(buf)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						errc <- err
					}
					return
				}
				s.handle(c, append([]byte(nil), buf[:n]...), peer, s.modes[i])
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func (s *dhcpServer) shutdown(context.Context) error {
	s.closeOnce.Do(func() {
		for _, c := range s.conns {
			c.Close()
		}
	})
	return nil
}

// handle answers one datagram and logs the decision.
func (s *dhcpServer) handle(conn net.PacketConn, b []byte, peer net.Addr, mode dhcpboot.Mode) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		s.log.Debug("dhcp: malformed message", slog.String("peer", peer.String()), slog.String("err", err.Error()))
		return
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest {
		return
	}
	a := dhcpboot.Arrival{Interface: s.cfg.Iface, Mode: mode}
	if u, ok := peer.(*net.UDPAddr); ok {
		a.Peer = u.AddrPort()
	}
	r, d := s.decide.Decide(m, a)
	c := &r.Client
	port := 67
	if mode == dhcpboot.ModeProxyAck {
		port = dhcpboot.PXEPort
	}
	attrs := []any{
		slog.String("mode", s.mode),
		slog.Int("port", port),
		slog.String("mac", m.ClientHWAddr.String()),
		slog.String("xid", m.TransactionID.String()),
		slog.String("type", m.MessageType().String()),
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
	if d.Matched() {
		rule = d.Rule.Name
	}
	attrs = append(attrs, slog.String("rule", rule), slog.String("why", d.Why))

	resp, err := s.answer(m, a)
	if err != nil || resp == nil {
		reason := "no answer"
		if err != nil {
			reason = err.Error()
		}
		s.log.Info("dhcp", append(attrs, slog.String("reply", "none"), slog.String("reason", reason))...)
		return
	}
	var dst net.Addr = dhcpboot.ReplyAddr(m, resp)
	if mode == dhcpboot.ModeProxyAck {
		dst = peer
	}
	attrs = append(attrs,
		slog.String("reply", strings.TrimPrefix(resp.MessageType().String(), "DHCP")),
		slog.String("yiaddr", resp.YourIPAddr.String()),
		slog.String("siaddr", resp.ServerIPAddr.String()),
		slog.String("bootfile", resp.BootFileNameOption()),
		slog.String("to", dst.String()))
	if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
		s.log.Warn("dhcp", append(attrs, slog.String("err", err.Error()))...)
		return
	}
	s.log.Info("dhcp", attrs...)
}
