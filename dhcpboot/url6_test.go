package dhcpboot

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// TestBootURL6Brackets: IPv6 server literals are bracketed in URLs, and a
// zone (meaningful only on this host, RFC 6874 §1) never reaches a URL or
// file name sent to a client.
func TestBootURL6Brackets(t *testing.T) {
	zoned := netip.MustParseAddr("fd00::1%eth0")
	for _, c := range []struct{ tpl, want string }{
		{"tftp://{{server}}/ipxe.efi", "tftp://[fd00::1]/ipxe.efi"},
		{"http://{{server}}:8080/boot.ipxe", "http://[fd00::1]:8080/boot.ipxe"},
		{"{{server}}", "fd00::1"},
	} {
		r := &Request{Client: ovmfPXE(), ServerIP: zoned}
		if got := MustParseTemplate(c.tpl).Expand(r); got != c.want {
			t.Errorf("%s = %q, want %q", c.tpl, got, c.want)
		}
	}
	sol := captureSolicit(t)
	resp, err := dhcpv6.NewAdvertiseFromSolicit(sol)
	if err != nil {
		t.Fatal(err)
	}
	d := MustNewPolicy(Rule{Name: "f", Action: Action{BootFile: lit("ipxe.efi")}}).Decide(&Request{Client: ovmfPXE()})
	if err := Apply6(d, &Request{Client: ovmfPXE(), ServerIP: zoned}, sol, resp, ReplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := resp.Options.BootFileURL(); got != "tftp://[fd00::1]/ipxe.efi" {
		t.Errorf("option 59 = %q", got)
	}
}

// TestServerIP6LinkLocalRefused: a link-local server address cannot go in a
// URL another host can use (RFC 6874 needs a zone, which is local), so the
// servers refuse it at start, naming the field.
func TestServerIP6LinkLocalRefused(t *testing.T) {
	for _, ip := range []string{"fe80::1", "fe80::1%eth0"} {
		s := &LabServer6{ServerIP: netip.MustParseAddr(ip), RangeStart: netip.MustParseAddr("fd00::10"), RangeEnd: netip.MustParseAddr("fd00::20")}
		if err := s.Init(); err == nil || !strings.Contains(err.Error(), "LabServer6.ServerIP") || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("LabServer6 ServerIP %s: Init error %v, want one naming LabServer6.ServerIP and link-local", ip, err)
		}
		if _, err := PluginResponder6([]string{"server=" + ip}, nil); err == nil || !strings.Contains(err.Error(), "server=") || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("plugin server=%s: error %v, want one naming server= and link-local", ip, err)
		}
	}
}
