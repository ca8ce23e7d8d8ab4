package main

import (
	"net/netip"
	"testing"

	"github.com/pxekit/pxekit/dhcpboot"
)

// FuzzConfigFile feeds arbitrary text to the config file reader and to the
// checks applied after it: errors are fine, panics and hangs are not.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("iface: br0\naddr: 10.77.0.1\n"))
	f.Add([]byte("rules: [{name: x, match: {archs: [7], ipxe: yes}, action: {boot_file: 'http://{{server}}/a'}}]\n"))
	f.Add([]byte("machines: [{mac: '52:54:00:00:00:01', script: \"#!ipxe\\necho hi\\n\"}]\n"))
	f.Add([]byte(subnetsConfig))
	f.Add([]byte("subnets: [{prefix: 10.0.1.0/30, pool: 10.0.1.0-10.0.1.3, router: 10.0.1.1}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("- - - -"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fc, err := parseConfigFile(b, "fuzz.yaml")
		if err != nil {
			return
		}
		_ = fc.flagValues()
		c := &Config{}
		if err := fc.apply(c); err != nil {
			return
		}
		c.HTTPAddr = "10.0.0.1:80"
		_, _ = bootPolicy(c, c.HTTPBase())
		// What the file's subnets become in lab mode: checked against the
		// subnet of -iface, then by dhcpboot's allocator.
		c.Iface, c.DHCP = "br0", "lab"
		c.Addr, c.Netmask = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("255.255.255.0")
		c.Pool = [2]netip.Addr{netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.199")}
		c.LeaseFile = "" // never a file from fuzzed text
		if checkSubnets(c) == nil {
			_ = (&dhcpboot.Allocator4{Subnets: labSubnets(c), ServerIP: c.Addr}).Init()
		}
	})
}

// FuzzParsePool checks that any -pool text gives an error or a range inside
// the subnet that leaves out the server.
func FuzzParsePool(f *testing.F) {
	for _, s := range []string{"", "10.77.0.10-10.77.0.20", "10.77.0.1-10.77.0.9", "a-b", "-", "10.77.0.20-10.77.0.10", " 10.77.0.5 - 10.77.0.6 "} {
		f.Add(s, uint8(24))
	}
	f.Fuzz(func(t *testing.T, s string, bits uint8) {
		addr := netip.MustParseAddr("10.77.0.1")
		mask := netip.PrefixFrom(netip.IPv4Unspecified(), int(bits%33))
		m4 := [4]byte{}
		for i := 0; i < mask.Bits(); i++ {
			m4[i/8] |= 0x80 >> (i % 8)
		}
		pool, err := parsePool(s, addr, netip.AddrFrom4(m4))
		if err != nil || s == "" {
			return
		}
		p := netip.PrefixFrom(addr, mask.Bits()).Masked()
		if !p.Contains(pool[0]) || !p.Contains(pool[1]) || pool[1].Less(pool[0]) {
			t.Fatalf("%q: pool %v outside %v or reversed", s, pool, p)
		}
		if pool[0].Compare(addr) <= 0 && addr.Compare(pool[1]) <= 0 {
			t.Fatalf("%q: pool %v holds the server", s, pool)
		}
	})
}
