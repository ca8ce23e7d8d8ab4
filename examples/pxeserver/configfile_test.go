package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
)

const fullConfig = `
iface: br0
addr: 10.77.0.1
dhcp: lab
pool: 10.77.0.10-10.77.0.20
boot_files: {bios: custom.kpxe, uefi_x64: custom.efi}
log_json: true
lease_file: /tmp/leases
reservations:
  - {mac: "52:54:00:12:34:56", ip: 10.77.0.50}
rules:
  - name: old-box
    match: {mac: ["52:54:00:12:34:56"], archs: [7]}
    action: {boot_file: snponly.efi}
machines:
  - mac: "52-54-00-12-34-56"
    script: |
      #!ipxe
      echo hello box
tftp: {max_block_size: 1468, max_window_size: 8, max_transfers: 64, single_port: true, batched_lockstep: true}
http_max_conns: 50
http_write_timeout: 2m
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pxeserver.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatalf("os.WriteFile(p, []byte(text), 0o644): %v", err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	p := writeConfig(t, fullConfig)
	c, err := parseConfig([]string{"-config", p, "-addr", "10.77.0.1", "-bootfile-bios", "flag.kpxe"}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.Iface != "br0" {
		t.Errorf("c.Iface = %q, want \"br0\"", c.Iface)
	}
	if c.DHCP != "lab" {
		t.Errorf("c.DHCP = %q, want \"lab\"", c.DHCP)
	}
	if !c.LogJSON {
		t.Errorf("c.LogJSON is false, want true")
	}
	if c.Pool[1] != netip.MustParseAddr("10.77.0.20") {
		t.Errorf("c.Pool[1] = %v, want %v", c.Pool[1], netip.MustParseAddr("10.77.0.20"))
	}
	if c.BootBIOS != "flag.kpxe" {
		t.Errorf("a flag given wins over the file: c.BootBIOS = %q, want \"flag.kpxe\"", c.BootBIOS)
	}
	if c.BootUEFIX64 != "custom.efi" {
		t.Errorf("c.BootUEFIX64 = %q, want \"custom.efi\"", c.BootUEFIX64)
	}
	if c.LeaseFile != "/tmp/leases" {
		t.Errorf("c.LeaseFile = %q, want \"/tmp/leases\"", c.LeaseFile)
	}
	if len(c.Reservations) != 1 {
		t.Fatalf("len(c.Reservations) = %d, want 1", len(c.Reservations))
	}
	if c.Reservations[0].IP != netip.MustParseAddr("10.77.0.50") {
		t.Errorf("c.Reservations[0].IP = %v, want %v", c.Reservations[0].IP, netip.MustParseAddr("10.77.0.50"))
	}
	if c.TFTP != (tftpTuning{MaxBlockSize: 1468, MaxWindowSize: 8, MaxTransfers: 64, SinglePort: true, BatchedLockstep: true}) {
		t.Errorf("c.TFTP = %v, want %v", c.TFTP, tftpTuning{MaxBlockSize: 1468, MaxWindowSize: 8, MaxTransfers: 64, SinglePort: true, BatchedLockstep: true})
	}
	if c.HTTPMaxConns != 50 {
		t.Errorf("c.HTTPMaxConns = %v, want 50", c.HTTPMaxConns)
	}
	if c.HTTPWriteTimeout != 2*time.Minute {
		t.Errorf("c.HTTPWriteTimeout = %v, want %v", c.HTTPWriteTimeout, 2*time.Minute)
	}
	if c.HTTPIdleTimeout != 60*time.Second {
		t.Errorf("the flag's default: c.HTTPIdleTimeout = %v, want %v", c.HTTPIdleTimeout, 60*time.Second)
	}
	if got := string(c.Machines["52:54:00:12:34:56"]); got != "#!ipxe\necho hello box\n" {
		t.Errorf("string(c.Machines[\"52:54:00:12:34:56\"]) = %q, want \"#!ipxe\\necho hello box\\n\"", got)
	}

	// The file's rule comes before the defaults; other clients keep them.
	pol, err := bootPolicy(c, c.HTTPBase())
	if err != nil {
		t.Fatalf("bootPolicy(c, c.HTTPBase()): %v", err)
	}
	decide := func(mac string, arch iana.Arch) string {
		hw, _ := net.ParseMAC(mac)
		m, err := dhcpv4.NewDiscovery(hw, dhcpv4.WithOption(dhcpv4.OptClientArch(arch)))
		if err != nil {
			t.Fatalf("dhcpv4.NewDiscovery: %v", err)
		}
		d := pol.Decide(&dhcpboot.Request{Client: archdetect.FromDHCPv4(m), ServerIP: c.Addr})
		if !d.Matched() {
			t.Fatalf("%v: no rule matched", d.Why)
		}
		return d.RuleName() + " " + d.BootFile().String()
	}
	if got := decide("52:54:00:12:34:56", iana.EFI_X86_64); got != "old-box snponly.efi" {
		t.Errorf("decide(\"52:54:00:12:34:56\", iana.EFI_X86_64) = %q, want \"old-box snponly.efi\"", got)
	}
	if got := decide("52:54:00:00:00:01", iana.EFI_X86_64); got != "uefi-x64 custom.efi" {
		t.Errorf("decide(\"52:54:00:00:00:01\", iana.EFI_X86_64) = %q, want \"uefi-x64 custom.efi\"", got)
	}
	if got := decide("52:54:00:12:34:56", iana.INTEL_X86PC); got != "bios flag.kpxe" {
		t.Errorf("decide(\"52:54:00:12:34:56\", iana.INTEL_X86PC) = %q, want \"bios flag.kpxe\"", got)
	}
	if got := decide("52:54:00:00:00:01", iana.EFI_IA32); got != "uefi-ia32 ipxe-i386.efi" {
		t.Errorf("decide(\"52:54:00:00:00:01\", iana.EFI_IA32) = %q, want \"uefi-ia32 ipxe-i386.efi\"", got)
	}

	// The machine's script from the file is served.
	s, err := serverConfig(c, nil)
	if err != nil {
		t.Fatalf("serverConfig(c): %v", err)
	}
	m, ok, err := s.Inventory.Machine(t.Context(), pxekit.MachineKey{MAC: net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}})
	if err != nil || !ok {
		t.Fatalf("Inventory.Machine = %v, %v, want the config file's machine", ok, err)
	}
	if got := m.Script; got != "#!ipxe\necho hello box\n" {
		t.Errorf("m.Script = %q, want \"#!ipxe\\necho hello box\\n\"", got)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown key", "iface: br0\naddr: 10.77.0.1\nifcae: x\n", `unknown field "ifcae"`},
		{"bad yaml", "iface: [\n", "yaml"},
		{"not a mapping", "- a\n- b\n", "mapping"},
		{"bad rule field", "iface: br0\naddr: 10.77.0.1\nrules:\n  - name: x\n    match: {arch: [7]}\n", `unknown field "arch"`},
		{"rule without name", "iface: br0\naddr: 10.77.0.1\nrules:\n  - match: {archs: [7]}\n    action: {boot_file: a}\n", "rules"},
		{"rule named like a default", "iface: br0\naddr: 10.77.0.1\nrules:\n  - name: bios\n    action: {boot_file: a}\n", "bios"},
		{"bad reservation mac", "iface: br0\naddr: 10.77.0.1\nreservations: [{mac: zz, ip: 10.77.0.5}]\n", "reservations[0]"},
		{"bad reservation ip", "iface: br0\naddr: 10.77.0.1\nreservations: [{mac: '52:54:00:00:00:01', ip: fd00::1}]\n", "IPv4"},
		{"machine script without magic", "iface: br0\naddr: 10.77.0.1\nmachines: [{mac: '52:54:00:00:00:01', script: 'echo hi'}]\n", "#!ipxe"},
		{"machine twice", "iface: br0\naddr: 10.77.0.1\nmachines: [{mac: '52:54:00:00:00:01', script: \"#!ipxe\\n\"}, {mac: '52-54-00-00-00-01', script: \"#!ipxe\\n\"}]\n", "twice"},
		{"bad block size", "iface: br0\naddr: 10.77.0.1\ntftp: {max_block_size: 4}\n", "max_block_size"},
		{"batch without single port", "iface: br0\naddr: 10.77.0.1\ntftp: {batched_lockstep: true}\n", "batched_lockstep needs"},
		{"bad flag value", "iface: br0\naddr: 10.77.0.1\ndhcp: full\n", "-dhcp"},
		{"bad duration", "iface: br0\naddr: 10.77.0.1\nhttp_write_timeout: soon\n", "http-write-timeout"},
		{"non-string key", "iface: br0\naddr: 10.77.0.1\n1: x\n", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]string{"-config", writeConfig(t, tt.text)}, io.Discard)
			if err == nil && tt.name == "rule named like a default" {
				// checked when the policy is built with the defaults
				c, _ := parseConfig([]string{"-config", writeConfig(t, tt.text)}, io.Discard)
				_, err = bootPolicy(c, c.HTTPBase())
			}
			if err == nil {
				t.Fatalf("config accepted, want an error")
			}
			if s := err.Error(); !strings.Contains(s, tt.want) {
				t.Errorf("err.Error() = %q, want it to contain %q", s, tt.want)
			}
		})
	}
	_, err := parseConfig([]string{"-config", "/nonexistent/pxeserver.yaml"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-config") {
		t.Errorf("err = %v, want an error containing %q", err, "-config")
	}
}

func TestEmptyConfigFileNeedsFlags(t *testing.T) {
	_, err := parseConfig([]string{"-config", writeConfig(t, "")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-iface is required") {
		t.Errorf("err = %v, want an error containing %q", err, "-iface is required")
	}
	c, err := parseConfig([]string{"-config", writeConfig(t, "# nothing\n"), "-iface", "x", "-addr", "10.0.0.1"}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.Iface != "x" {
		t.Errorf("c.Iface = %q, want \"x\"", c.Iface)
	}
}

const subnetsConfig = `
iface: br0
addr: 10.78.7.1
dhcp: lab
router: 10.78.7.254
subnets:
  - prefix: 10.78.6.0/24
    pool: 10.78.6.100-10.78.6.200
    router: 10.78.6.1
    dns: [10.78.6.1, 10.78.7.53]
    lease_time: 2h
    reservations: [{mac: "52:54:00:12:34:56", ip: 10.78.6.50}]
  - {prefix: 10.78.8.0/23, pool: 10.78.9.1-10.78.9.9}
`

// TestConfigFileSubnets: the subnets of a lab behind relays map onto
// LabServer4.Subnets after the one the flags describe on -iface.
func TestConfigFileSubnets(t *testing.T) {
	c, err := parseConfig([]string{"-config", writeConfig(t, subnetsConfig)}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	got := labSubnets(c)
	if len(got) != 3 {
		t.Fatalf("labSubnets: %d subnets, want 3 (-iface's and the file's two)", len(got))
	}
	own := got[0]
	if own.Prefix != netip.MustParsePrefix("10.78.7.0/24") || own.Interface != "br0" || own.Router != netip.MustParseAddr("10.78.7.254") ||
		own.RangeStart != netip.MustParseAddr("10.78.7.100") || own.RangeEnd != netip.MustParseAddr("10.78.7.199") {
		t.Errorf("subnet of -iface = %+v, want 10.78.7.0/24 on br0, router 10.78.7.254, pool .100-.199", own)
	}
	far := got[1]
	want := dhcpboot.Subnet{
		Prefix:     netip.MustParsePrefix("10.78.6.0/24"),
		RangeStart: netip.MustParseAddr("10.78.6.100"), RangeEnd: netip.MustParseAddr("10.78.6.200"),
		Router:    netip.MustParseAddr("10.78.6.1"),
		LeaseTime: 2 * time.Hour,
	}
	if far.Prefix != want.Prefix || far.RangeStart != want.RangeStart || far.RangeEnd != want.RangeEnd ||
		far.Router != want.Router || far.LeaseTime != want.LeaseTime || far.Interface != "" {
		t.Errorf("subnets[0] = %+v, want %+v", far, want)
	}
	if len(far.DNS) != 2 || far.DNS[1] != netip.MustParseAddr("10.78.7.53") {
		t.Errorf("subnets[0].DNS = %v, want [10.78.6.1 10.78.7.53]", far.DNS)
	}
	if len(far.Reservations) != 1 || far.Reservations[0].IP != netip.MustParseAddr("10.78.6.50") {
		t.Errorf("subnets[0].Reservations = %v, want 52:54:00:12:34:56 at 10.78.6.50", far.Reservations)
	}
	if got[2].Prefix != netip.MustParsePrefix("10.78.8.0/23") || got[2].LeaseTime != 0 {
		t.Errorf("subnets[1] = %+v, want 10.78.8.0/23 with the default lease time", got[2])
	}
}

func TestConfigFileSubnetErrors(t *testing.T) {
	head := "iface: br0\naddr: 10.78.7.1\ndhcp: lab\nsubnets:\n"
	tests := []struct{ name, text, want string }{
		{"overlaps -iface's subnet", head + "  - {prefix: 10.78.7.128/25, pool: 10.78.7.130-10.78.7.140}\n",
			"subnets[0]: prefix 10.78.7.128/25 overlaps 10.78.7.0/24, the subnet of -iface br0"},
		{"overlaps another", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20}\n  - {prefix: 10.78.0.0/16, pool: 10.78.1.1-10.78.1.2}\n",
			"subnets[1]: prefix 10.78.0.0/16 overlaps subnets[0] 10.78.6.0/24"},
		{"pool outside the prefix", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.100-10.78.16.200}\n",
			`subnets[0]: pool "10.78.6.100-10.78.16.200": not inside 10.78.6.0/24`},
		{"pool reversed", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.200-10.78.6.100}\n", "last address before first"},
		{"no pool", head + "  - {prefix: 10.78.6.0/24}\n", "subnets[0]: pool is required"},
		{"bad prefix", head + "  - {prefix: 10.78.6.0, pool: 10.78.6.1-10.78.6.2}\n", `subnets[0]: prefix "10.78.6.0"`},
		{"IPv6 prefix", head + "  - {prefix: 'fd00::/64', pool: 'fd00::1-fd00::2'}\n", "want an IPv4 network"},
		{"router outside", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20, router: 10.78.7.1}\n", "router \"10.78.7.1\": want an IPv4 address inside 10.78.6.0/24"},
		{"router in the pool", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.1-10.78.6.20, router: 10.78.6.1}\n", "contains the router"},
		{"bad dns", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20, dns: [x]}\n", `subnets[0]: dns "x"`},
		{"bad lease time", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20, lease_time: 5s}\n", "lease_time 5s"},
		{"reservation outside", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20, reservations: [{mac: '52:54:00:00:00:01', ip: 10.78.5.1}]}\n",
			"subnets[0].reservations[0]: ip 10.78.5.1 is not inside 10.78.6.0/24"},
		{"unknown key", head + "  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20, gateway: 10.78.6.1}\n", `unknown field "gateway"`},
		{"not lab mode", "iface: br0\naddr: 10.78.7.1\ndhcp: proxy\nsubnets:\n  - {prefix: 10.78.6.0/24, pool: 10.78.6.10-10.78.6.20}\n", "only lab mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]string{"-config", writeConfig(t, tt.text)}, io.Discard)
			if err == nil {
				t.Fatalf("config accepted, want an error containing %q", tt.want)
			}
			if s := err.Error(); !strings.Contains(s, tt.want) {
				t.Errorf("err.Error() = %q, want it to contain %q", s, tt.want)
			}
		})
	}
}

// TestLabRefusesSubnetAtStart: what passes the config checks but
// dhcpboot.LabServer4 refuses (a range beyond its size limit) stops
// pxeserver at start, the message naming the config file's subnet rather
// than LabServer4's index.
func TestLabRefusesSubnetAtStart(t *testing.T) {
	conf := writeConfig(t, "iface: br0\naddr: 10.78.7.1\ndhcp: lab\nsubnets:\n  - {prefix: 10.60.0.0/14, pool: 10.60.0.1-10.63.255.254}\n")
	c, err := parseConfig([]string{"-config", conf}, io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	_, err = newFrontEnd(c, slog.New(slog.DiscardHandler), &eventLog{w: io.Discard}, nil)
	if err == nil {
		t.Fatal("newFrontEnd accepted a range of 262142 addresses, want LabServer4's refusal")
	}
	if s := err.Error(); !strings.Contains(s, "config file subnets[0]: range larger than") || strings.Contains(s, "Subnets[1]") {
		t.Errorf("err.Error() = %q, want it to name config file subnets[0] and the range", s)
	}
}

func TestConfigDHCP6(t *testing.T) {
	base := []string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "lab", "-dhcp6", "lab"}
	c, err := parseConfig(append(base, "-addr6", "fd77::1"), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.Pool6 != [2]netip.Addr{netip.MustParseAddr("fd77::1000"), netip.MustParseAddr("fd77::1fff")} {
		t.Errorf("default -pool6 = %v, want fd77::1000-fd77::1fff", c.Pool6)
	}
	c, err = parseConfig(append(base, "-addr6", "fd77::1", "-pool6", "fd77::100-fd77::1ff"), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.Pool6[1] != netip.MustParseAddr("fd77::1ff") || c.Addr6 != netip.MustParseAddr("fd77::1") {
		t.Errorf("c.Pool6 = %v, c.Addr6 = %v", c.Pool6, c.Addr6)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "-addr6 \"\": -dhcp6 lab needs"},
		{[]string{"-addr6", "fe80::1"}, "not link-local"},
		{[]string{"-addr6", "10.77.0.1"}, "-addr6"},
		{[]string{"-addr6", "fd77::1", "-pool6", "fd77::1-fd77::10"}, "contains the server's own address"},
		{[]string{"-addr6", "fd77::1", "-pool6", "10.0.0.1-10.0.0.2"}, "want two IPv6 addresses"},
		{[]string{"-addr6", "fd77::1", "-pool6", "fd77::20-fd77::10"}, "last address before first"},
		{[]string{"-dhcp6", "full"}, "-dhcp6 \"full\""},
	} {
		if _, err := parseConfig(append(base, tt.args...), io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseConfig(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestLabError(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"dhcpboot: Subnets[1]: range larger than 65536 addresses (LabServer4)",
			"lab DHCP: dhcpboot: config file subnets[0]: range larger than 65536 addresses (LabServer4)"},
		{"dhcpboot: Subnets[2] 10.0.0.0/8 overlaps Subnets[0] 10.1.0.0/16",
			"lab DHCP: dhcpboot: config file subnets[1] 10.0.0.0/8 overlaps the subnet of -iface (-addr, -netmask, -pool, reservations) 10.1.0.0/16"},
		{"dhcpboot: Subnets[x and Subnets[", "lab DHCP: dhcpboot: Subnets[x and Subnets["},
		{"dhcpboot: LabServer4.Subnets is empty", "lab DHCP: dhcpboot: LabServer4.Subnets is empty"},
	} {
		if got := labError(errors.New(tt.in)).Error(); got != tt.want {
			t.Errorf("labError(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
