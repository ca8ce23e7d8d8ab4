package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/ipxescript"
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

// serverConfig maps cfg onto the fields of a pxekit.Server (all but the
// hooks, the metrics registry and the logger): the DHCP mode, lab
// subnets and lease file, the boot policy with the site's rules, the
// boot script (-script, read now), the inventory (the config file's
// machines, then inv, then machine scripts under the HTTP root), the
// directories and the limits. -dhcp6 lab runs the Server in DHCPLab mode
// with no IPv4 subnet unless -dhcp lab too; -dhcp proxy with -dhcp6 lab
// is refused (parseConfig). -dhcp6 proxy sets Proxy6, in DHCPProxy mode
// with no DHCPv4 socket when -dhcp off.
func serverConfig(cfg *Config, inv pxekit.Inventory) (*pxekit.Server, error) {
	s := &pxekit.Server{
		Interface: cfg.Iface,
		Addr:      cfg.Addr,
		BaseURL:   cfg.HTTPBase(),
		HTTPAddr:  cfg.HTTPAddr,
		Files:     cfg.HTTPRoot,
		TFTPRoot:  cfg.TFTPRoot,
		TFTPAddr:  net.JoinHostPort(cfg.Addr.String(), "69"),
		HTTPLimits: pxekit.HTTPLimits{
			MaxConns:     offWhenZero(cfg.HTTPMaxConns),
			IdleTimeout:  cfg.HTTPIdleTimeout,
			WriteTimeout: offWhenZero(cfg.HTTPWriteTimeout),
		},
		TFTP: pxekit.TFTPLimits{
			MaxBlockSize:       cfg.TFTP.MaxBlockSize,
			MaxWindowSize:      cfg.TFTP.MaxWindowSize,
			MaxTransfers:       cfg.TFTP.MaxTransfers,
			MaxClientTransfers: cfg.TFTP.MaxClientTransfers,
			MaxTimeout:         cfg.TFTP.MaxTimeout,
			TransferTimeout:    time.Duration(cfg.TFTP.TransferTimeout),
			SinglePort:         cfg.TFTP.SinglePort,
			BatchedLockstep:    cfg.TFTP.BatchedLockstep,
		},
	}
	switch {
	case cfg.DHCP == "proxy":
		s.DHCP = pxekit.DHCPProxy
	case cfg.DHCP == "lab" || cfg.DHCP6 == "lab":
		s.DHCP = pxekit.DHCPLab
	case cfg.DHCP6 == "proxy": // -dhcp off: a DHCPv6 proxy alone
		s.DHCP = pxekit.DHCPProxy
	}
	if cfg.DHCP == "lab" {
		s.Lab.Subnets, s.Lab.LeaseFile = labSubnets(cfg), cfg.LeaseFile
	}
	base := cfg.HTTPBase()
	if cfg.DHCP6 == "lab" {
		s.Lab.V6 = pxekit.LabDHCP6{ServerIP: cfg.Addr6, RangeStart: cfg.Pool6[0], RangeEnd: cfg.Pool6[1]}
		// {{server}} is -addr in DHCPv4 answers and [-addr6] in DHCPv6
		// ones: one policy serves both.
		base = "http://{{server}}:" + cfg.HTTPPort()
	}
	if cfg.DHCP6 == "proxy" {
		s.Proxy6 = pxekit.ProxyDHCP6{ServerIP: cfg.Addr6}
		base = "http://{{server}}:" + cfg.HTTPPort() // as with -dhcp6 lab
	}
	var err error
	if s.Policy, err = bootPolicy(cfg, base); err != nil {
		return nil, err
	}
	if cfg.Script != "" {
		b, err := readRegular(os.OpenFile, cfg.Script)
		if err == nil {
			err = ipxescript.CheckScript(b, cfg.Script)
		}
		if err != nil {
			return nil, fmt.Errorf("-script: %w", err)
		}
		s.BootScript = b
	}
	var chain inventories
	if len(cfg.Machines) > 0 {
		var ms []pxekit.Machine
		for mac, script := range cfg.Machines {
			hw, _ := net.ParseMAC(mac) // checked by the config file's apply
			ms = append(ms, pxekit.Machine{Name: mac, MAC: hw, Script: string(script)})
		}
		mi, err := pxekit.NewMapInventory(ms...)
		if err != nil {
			return nil, fmt.Errorf("-config %s: machines: %w", cfg.ConfigFile, err)
		}
		chain = append(chain, mi)
	}
	if inv != nil {
		chain = append(chain, inv)
	}
	if cfg.HTTPRoot != "" {
		chain = append(chain, machineFiles(cfg.HTTPRoot))
	}
	if len(chain) > 0 {
		s.Inventory = chain
	}
	return s, nil
}

// offWhenZero maps pxeserver's "0 = no limit" onto pxekit's "negative =
// no limit" (where 0 takes the default).
func offWhenZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// inventories asks each inventory in turn; the first that knows the
// machine answers.
type inventories []pxekit.Inventory

// Machine implements pxekit.Inventory.
func (l inventories) Machine(ctx context.Context, key pxekit.MachineKey) (pxekit.Machine, bool, error) {
	for _, inv := range l {
		m, ok, err := inv.Machine(ctx, key)
		if err != nil || ok {
			return m, ok, err
		}
	}
	return pxekit.Machine{}, false, nil
}

// machineFiles is the inventory of machine scripts under an HTTP root:
// machines/aa-bb-cc-dd-ee-ff.ipxe is the script of that MAC. A file is
// read at each lookup (edit it while the server runs); it must be a
// regular file inside the root and parse as an iPXE script.
type machineFiles string

// machineFile is the name of a machine's own script under the HTTP root.
func machineFile(mac net.HardwareAddr) string {
	return "machines/" + strings.ReplaceAll(mac.String(), ":", "-") + ".ipxe"
}

// Machine implements pxekit.Inventory.
func (dir machineFiles) Machine(_ context.Context, key pxekit.MachineKey) (pxekit.Machine, bool, error) {
	if len(key.MAC) == 0 {
		return pxekit.Machine{}, false, nil
	}
	root, err := os.OpenRoot(string(dir))
	if err != nil {
		return pxekit.Machine{}, false, err
	}
	defer root.Close()
	name := machineFile(key.MAC)
	b, err := readRegular(root.OpenFile, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pxekit.Machine{}, false, nil
	case err != nil:
		return pxekit.Machine{}, false, err
	}
	if err := ipxescript.CheckScript(b, name); err != nil {
		return pxekit.Machine{}, false, err
	}
	return pxekit.Machine{Name: name, MAC: key.MAC, Script: string(b)}, true, nil
}

// checkDHCP builds the lab DHCP servers cfg asks for without sockets and
// checks their configuration (subnets, pool, lease file), so that
// pxeserver refuses to start, naming the setting, rather than answer
// nobody after "ready".
func checkDHCP(s *pxekit.Server, log *slog.Logger) error {
	if s.DHCP != pxekit.DHCPLab {
		return nil
	}
	if len(s.Lab.Subnets) > 0 {
		l := &dhcpboot.LabServer4{Policy: s.Policy, Interface: s.Interface, ServerIP: s.Addr,
			Subnets: s.Lab.Subnets, LeaseFile: s.Lab.LeaseFile, Logger: log}
		if err := l.Init(); err != nil {
			return labError(err)
		}
	}
	if v6 := s.Lab.V6; v6.RangeStart.IsValid() {
		l := &dhcpboot.LabServer6{Policy: s.Policy, Interface: s.Interface, ServerIP: v6.ServerIP,
			RangeStart: v6.RangeStart, RangeEnd: v6.RangeEnd, Logger: log}
		if err := l.Init(); err != nil {
			return fmt.Errorf("lab DHCPv6: %w", err)
		}
	}
	return nil
}
