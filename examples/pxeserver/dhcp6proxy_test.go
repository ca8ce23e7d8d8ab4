package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/pxekit/pxekit"
)

// -dhcp6 proxy: -addr6 required, no -pool6; with -dhcp off, proxy or lab;
// the Server gets Proxy6 and DHCPv6 boot URLs on [-addr6].
func TestConfigDHCP6Proxy(t *testing.T) {
	for _, dhcp := range []struct {
		flag string
		mode pxekit.DHCPMode
	}{{"off", pxekit.DHCPProxy}, {"proxy", pxekit.DHCPProxy}, {"lab", pxekit.DHCPLab}} {
		args := []string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", dhcp.flag, "-dhcp6", "proxy", "-addr6", "fd77::1", "-http-addr", "10.77.0.1:8080"}
		c, err := parseConfig(args, io.Discard)
		if err != nil {
			t.Fatalf("parseConfig(%q): %v", args, err)
		}
		if c.Addr6 != netip.MustParseAddr("fd77::1") || c.httpAddr6() != "[fd77::1]:8080" {
			t.Errorf("parseConfig(%q): Addr6 %v, httpAddr6 %q; want fd77::1 and [fd77::1]:8080", args, c.Addr6, c.httpAddr6())
		}
		s, err := serverConfig(c, nil)
		if err != nil {
			t.Fatalf("serverConfig(-dhcp %s -dhcp6 proxy): %v", dhcp.flag, err)
		}
		if s.DHCP != dhcp.mode || s.Proxy6.ServerIP != c.Addr6 || s.Lab.V6.RangeStart.IsValid() {
			t.Errorf("serverConfig(-dhcp %s -dhcp6 proxy): DHCP %v, Proxy6 %v, Lab.V6 %v; want %v, fd77::1, none", dhcp.flag, s.DHCP, s.Proxy6, s.Lab.V6, dhcp.mode)
		}
	}
	base := []string{"-iface", "br0", "-addr", "10.77.0.1", "-dhcp", "off", "-dhcp6", "proxy"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "-addr6 \"\": -dhcp6 proxy needs"},
		{[]string{"-addr6", "fe80::1"}, "not link-local"},
		{[]string{"-addr6", "fd77::1", "-pool6", "fd77::100-fd77::1ff"}, "-pool6 with -dhcp6 proxy"},
	} {
		if _, err := parseConfig(append(base, tt.args...), io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseConfig(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
