package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/ipxescript"
	"go.yaml.in/yaml/v3"
)

// fileConfig is the YAML config file (-config); see the package docs.
// Unknown keys are errors.
type fileConfig struct {
	Iface    string `json:"iface"`
	Addr     string `json:"addr"`
	DHCP     string `json:"dhcp"`
	Pool     string `json:"pool"`
	Netmask  string `json:"netmask"`
	Router   string `json:"router"`
	DHCP6    string `json:"dhcp6"`
	Addr6    string `json:"addr6"`
	Pool6    string `json:"pool6"`
	TFTPRoot string `json:"tftp_root"`
	HTTPAddr string `json:"http_addr"`
	HTTPRoot string `json:"http_root"`

	HTTPMaxConns     *int   `json:"http_max_conns"`
	HTTPIdleTimeout  string `json:"http_idle_timeout"`
	HTTPWriteTimeout string `json:"http_write_timeout"`

	Script    string `json:"script"`
	LogJSON   *bool  `json:"log_json"`
	Metrics   *bool  `json:"metrics"`
	Status    *bool  `json:"status"`
	Inventory string `json:"inventory_dir"`
	BootFiles struct {
		BIOS     string `json:"bios"`
		UEFIX64  string `json:"uefi_x64"`
		UEFIIA32 string `json:"uefi_ia32"`
		ARM64    string `json:"arm64"`
	} `json:"boot_files"`
	LeaseFile    string            `json:"lease_file"`
	Reservations []fileReservation `json:"reservations"`
	Subnets      []fileSubnet      `json:"subnets"`
	Rules        []dhcpboot.Rule   `json:"rules"`
	Machines     []struct {
		MAC    string `json:"mac"`
		Script string `json:"script"`
	} `json:"machines"`
	TFTP tftpTuning `json:"tftp"`
}

// fileReservation is a fixed lab address for one MAC.
type fileReservation struct {
	MAC string `json:"mac"`
	IP  string `json:"ip"`
}

// fileSubnet is one lab subnet behind a DHCP relay (dhcpboot.Subnet).
type fileSubnet struct {
	Prefix       string            `json:"prefix"`
	Pool         string            `json:"pool"`
	Router       string            `json:"router"`
	DNS          []string          `json:"dns"`
	LeaseTime    duration          `json:"lease_time"`
	Reservations []fileReservation `json:"reservations"`
}

// tftpTuning caps what TFTP clients may negotiate (0 = tftpserve's default).
type tftpTuning struct {
	MaxBlockSize       int `json:"max_block_size"`
	MaxWindowSize      int `json:"max_window_size"`
	MaxTransfers       int `json:"max_transfers"`
	MaxClientTransfers int `json:"max_client_transfers"`
	// MaxTimeout is the largest timeout option granted, in seconds (-1:
	// never); TransferTimeout cuts a transfer off ("30m"; negative: never).
	MaxTimeout      int      `json:"max_timeout"`
	TransferTimeout duration `json:"transfer_timeout"`
	// SinglePort answers every transfer from port 69 (NAT, containers);
	// BatchedLockstep, with it, runs lock-step transfers' data in the
	// socket's loop (boot storms of legacy PXE ROMs).
	SinglePort      bool `json:"single_port"`
	BatchedLockstep bool `json:"batched_lockstep"`
}

// duration is a time.Duration written as text in the config file ("30m").
type duration time.Duration

// UnmarshalJSON parses a Go duration string such as "90s" or "30m".
func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"30m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// maxConfigFile bounds the size of a config file.
const maxConfigFile = 16 << 20

// loadConfigFile reads a YAML config file. YAML is turned into JSON and
// decoded with unknown fields refused, so that the rules read exactly as
// dhcpboot's JSON policies do.
func loadConfigFile(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfigFile(b, path)
}

// parseConfigFile decodes the YAML text b of the file named path.
func parseConfigFile(b []byte, path string) (*fileConfig, error) {
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("%s: larger than 16 MiB", path)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		// yaml.v3 reports positions; keep its message.
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc == nil {
		return &fileConfig{}, nil
	}
	switch doc.(type) {
	case map[string]any:
	case map[any]any:
		return nil, fmt.Errorf("%s: every key must be a string (setting names)", path)
	default:
		return nil, fmt.Errorf("%s: want a mapping of settings at the top", path)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (keys must be strings)", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var fc fileConfig
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fc, nil
}

// flagValues returns the file's values for flags, by flag name ("" = unset).
func (fc *fileConfig) flagValues() map[string]string {
	v := map[string]string{
		"iface": fc.Iface, "addr": fc.Addr, "dhcp": fc.DHCP, "pool": fc.Pool,
		"netmask": fc.Netmask, "router": fc.Router, "tftp-root": fc.TFTPRoot,
		"dhcp6": fc.DHCP6, "addr6": fc.Addr6, "pool6": fc.Pool6,
		"http-addr": fc.HTTPAddr, "http-root": fc.HTTPRoot, "script": fc.Script,
		"bootfile-bios": fc.BootFiles.BIOS, "bootfile-uefi-x64": fc.BootFiles.UEFIX64,
		"bootfile-uefi-ia32": fc.BootFiles.UEFIIA32, "bootfile-arm64": fc.BootFiles.ARM64,
	}
	v["http-idle-timeout"] = fc.HTTPIdleTimeout
	v["http-write-timeout"] = fc.HTTPWriteTimeout
	if fc.HTTPMaxConns != nil {
		v["http-max-conns"] = strconv.Itoa(*fc.HTTPMaxConns)
	}
	v["inventory"] = fc.Inventory
	if fc.Metrics != nil {
		v["metrics"] = strconv.FormatBool(*fc.Metrics)
	}
	if fc.Status != nil {
		v["status"] = strconv.FormatBool(*fc.Status)
	}
	if fc.LogJSON != nil {
		v["log-json"] = strconv.FormatBool(*fc.LogJSON)
	}
	return v
}

// apply copies what only the file can say into c and checks it.
func (fc *fileConfig) apply(c *Config) error {
	c.LeaseFile = fc.LeaseFile
	c.TFTP = fc.TFTP
	if fc.TFTP.MaxBlockSize != 0 && (fc.TFTP.MaxBlockSize < 8 || fc.TFTP.MaxBlockSize > 65464) {
		return fmt.Errorf("tftp.max_block_size %d: want 8-65464", fc.TFTP.MaxBlockSize)
	}
	if fc.TFTP.MaxWindowSize < 0 || fc.TFTP.MaxWindowSize > 65535 || fc.TFTP.MaxTransfers < 0 || fc.TFTP.MaxClientTransfers < 0 {
		return errors.New("tftp: limits must be positive (window size at most 65535)")
	}
	if fc.TFTP.BatchedLockstep && !fc.TFTP.SinglePort {
		return errors.New("tftp.batched_lockstep needs tftp.single_port")
	}
	if fc.TFTP.MaxTimeout < -1 || fc.TFTP.MaxTimeout > 255 {
		return fmt.Errorf("tftp.max_timeout %d: want 1-255 seconds (-1: never grant the option)", fc.TFTP.MaxTimeout)
	}
	var err error
	if c.Reservations, err = parseReservations(fc.Reservations, "reservations", netip.Prefix{}); err != nil {
		return err
	}
	for i, s := range fc.Subnets {
		sn, err := s.subnet(fmt.Sprintf("subnets[%d]", i))
		if err != nil {
			return err
		}
		for j, o := range c.Subnets {
			if o.Prefix.Overlaps(sn.Prefix) {
				return fmt.Errorf("subnets[%d]: prefix %v overlaps subnets[%d] %v", i, sn.Prefix, j, o.Prefix)
			}
		}
		c.Subnets = append(c.Subnets, sn)
	}
	c.Rules = fc.Rules
	if len(c.Rules) > 0 {
		// Names must be unique and rules valid; the full policy is checked again with the defaults.
		if _, err := dhcpboot.NewPolicy(c.Rules...); err != nil {
			return fmt.Errorf("rules: %w", err)
		}
	}
	for i, m := range fc.Machines {
		mac, err := net.ParseMAC(m.MAC)
		if err != nil {
			return fmt.Errorf("machines[%d]: mac %q: %w", i, m.MAC, err)
		}
		if err := ipxescript.CheckScript([]byte(m.Script), "machines["+strconv.Itoa(i)+"] "+mac.String()); err != nil {
			return fmt.Errorf("machines[%d]: %w", i, err)
		}
		if c.Machines == nil {
			c.Machines = map[string][]byte{}
		}
		if _, dup := c.Machines[mac.String()]; dup {
			return fmt.Errorf("machines[%d]: %s given twice", i, mac)
		}
		c.Machines[mac.String()] = []byte(m.Script)
	}
	return nil
}

// parseReservations parses fixed addresses; where names them in errors.
// A valid within is the prefix they must lie in.
func parseReservations(list []fileReservation, where string, within netip.Prefix) ([]dhcpboot.Reservation, error) {
	var out []dhcpboot.Reservation
	for i, r := range list {
		mac, err := net.ParseMAC(r.MAC)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: mac %q: %w", where, i, r.MAC, err)
		}
		ip, err := netip.ParseAddr(r.IP)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("%s[%d]: ip %q: want an IPv4 address", where, i, r.IP)
		}
		if within.IsValid() && !within.Contains(ip) {
			return nil, fmt.Errorf("%s[%d]: ip %v is not inside %v", where, i, ip, within)
		}
		out = append(out, dhcpboot.Reservation{MAC: mac, IP: ip})
	}
	return out, nil
}

// subnet checks s and makes the dhcpboot.Subnet; where names it in errors.
func (s fileSubnet) subnet(where string) (dhcpboot.Subnet, error) {
	p, err := netip.ParsePrefix(s.Prefix)
	if err != nil || !p.Addr().Is4() {
		return dhcpboot.Subnet{}, fmt.Errorf("%s: prefix %q: want an IPv4 network such as 10.78.6.0/24", where, s.Prefix)
	}
	sn := dhcpboot.Subnet{Prefix: p.Masked(), LeaseTime: time.Duration(s.LeaseTime)}
	if s.Pool == "" {
		return sn, fmt.Errorf("%s: pool is required (FIRST-LAST inside %v)", where, sn.Prefix)
	}
	r, err := parseRange(s.Pool, sn.Prefix)
	if err != nil {
		return sn, fmt.Errorf("%s: pool %w", where, err)
	}
	sn.RangeStart, sn.RangeEnd = r[0], r[1]
	if s.Router != "" {
		if sn.Router, err = netip.ParseAddr(s.Router); err != nil || !sn.Router.Is4() || !sn.Prefix.Contains(sn.Router) {
			return sn, fmt.Errorf("%s: router %q: want an IPv4 address inside %v (the relay's, usually)", where, s.Router, sn.Prefix)
		}
		if r[0].Compare(sn.Router) <= 0 && sn.Router.Compare(r[1]) <= 0 {
			return sn, fmt.Errorf("%s: pool %s contains the router %v", where, s.Pool, sn.Router)
		}
	}
	for _, d := range s.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil || !a.Is4() {
			return sn, fmt.Errorf("%s: dns %q: want IPv4 addresses", where, d)
		}
		sn.DNS = append(sn.DNS, a)
	}
	if s.LeaseTime < 0 || (s.LeaseTime > 0 && time.Duration(s.LeaseTime) < time.Minute) {
		return sn, fmt.Errorf("%s: lease_time %v: want a minute or more (default 1h)", where, time.Duration(s.LeaseTime))
	}
	if sn.Reservations, err = parseReservations(s.Reservations, where+".reservations", sn.Prefix); err != nil {
		return sn, err
	}
	return sn, nil
}
