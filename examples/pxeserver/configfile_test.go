package main

import (
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
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
tftp: {max_block_size: 1468, max_window_size: 8, max_transfers: 64}
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
	if c.TFTP != (tftpTuning{MaxBlockSize: 1468, MaxWindowSize: 8, MaxTransfers: 64}) {
		t.Errorf("c.TFTP = %v, want %v", c.TFTP, tftpTuning{MaxBlockSize: 1468, MaxWindowSize: 8, MaxTransfers: 64})
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
		return d.Rule.Name + " " + d.Rule.Action.BootFile.String()
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
	sc, err := newScripts(c)
	if err != nil {
		t.Fatalf("newScripts(c): %v", err)
	}
	b, err := sc.machine(nil, net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	if err != nil {
		t.Fatalf("sc.machine: %v", err)
	}
	if got := string(b); got != "#!ipxe\necho hello box\n" {
		t.Errorf("string(b) = %q, want \"#!ipxe\\necho hello box\\n\"", got)
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
