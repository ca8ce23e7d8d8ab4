package main

import (
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func TestConfigFile(t *testing.T) {
	p := writeConfig(t, fullConfig)
	c, err := parseConfig([]string{"-config", p, "-addr", "10.77.0.1", "-bootfile-bios", "flag.kpxe"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "br0", c.Iface)
	assert.Equal(t, "lab", c.DHCP)
	assert.True(t, c.LogJSON)
	assert.Equal(t, netip.MustParseAddr("10.77.0.20"), c.Pool[1])
	assert.Equal(t, "flag.kpxe", c.BootBIOS, "a flag given wins over the file")
	assert.Equal(t, "custom.efi", c.BootUEFIX64)
	assert.Equal(t, "/tmp/leases", c.LeaseFile)
	require.Len(t, c.Reservations, 1)
	assert.Equal(t, netip.MustParseAddr("10.77.0.50"), c.Reservations[0].IP)
	assert.Equal(t, tftpTuning{MaxBlockSize: 1468, MaxWindowSize: 8, MaxTransfers: 64}, c.TFTP)
	assert.Equal(t, 50, c.HTTPMaxConns)
	assert.Equal(t, 2*time.Minute, c.HTTPWriteTimeout)
	assert.Equal(t, 60*time.Second, c.HTTPIdleTimeout, "the flag's default")
	assert.Equal(t, "#!ipxe\necho hello box\n", string(c.Machines["52:54:00:12:34:56"]))

	// The file's rule comes before the defaults; other clients keep them.
	pol, err := bootPolicy(c)
	require.NoError(t, err)
	decide := func(mac string, arch iana.Arch) string {
		hw, _ := net.ParseMAC(mac)
		m, err := dhcpv4.NewDiscovery(hw, dhcpv4.WithOption(dhcpv4.OptClientArch(arch)))
		require.NoError(t, err)
		d := pol.Decide(&dhcpboot.Request{Client: archdetect.FromDHCPv4(m), ServerIP: c.Addr})
		require.NotNil(t, d.Rule, d.Why)
		return d.Rule.Name + " " + d.Rule.Action.BootFile.String()
	}
	assert.Equal(t, "old-box snponly.efi", decide("52:54:00:12:34:56", iana.EFI_X86_64))
	assert.Equal(t, "uefi-x64 custom.efi", decide("52:54:00:00:00:01", iana.EFI_X86_64))
	assert.Equal(t, "bios flag.kpxe", decide("52:54:00:12:34:56", iana.INTEL_X86PC))
	assert.Equal(t, "uefi-ia32 ipxe-i386.efi", decide("52:54:00:00:00:01", iana.EFI_IA32))

	// The machine's script from the file is served.
	sc, err := newScripts(c)
	require.NoError(t, err)
	b, err := sc.machine(nil, net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho hello box\n", string(b))
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
				_, err = bootPolicy(c)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := parseConfig([]string{"-config", "/nonexistent/pxeserver.yaml"}, io.Discard)
	assert.ErrorContains(t, err, "-config")
}

func TestEmptyConfigFileNeedsFlags(t *testing.T) {
	_, err := parseConfig([]string{"-config", writeConfig(t, "")}, io.Discard)
	assert.ErrorContains(t, err, "-iface is required")
	c, err := parseConfig([]string{"-config", writeConfig(t, "# nothing\n"), "-iface", "x", "-addr", "10.0.0.1"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "x", c.Iface)
}
