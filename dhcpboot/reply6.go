package dhcpboot

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// enterprisePXE is Intel's enterprise number, used by EDK2 and iPXE in the
// DHCPv6 vendor class (option 16).
const enterprisePXE = 343

// Apply6 writes decision d into a DHCPv6 reply (Advertise or Reply) for the
// client message req (RFC 5970):
//
//   - option 59 is the boot file URL; a plain file name becomes
//     tftp://[server]/name, the only form EDK2's PXEv6 accepts;
//   - option 60 carries the rule's boot parameters, when any;
//   - option 16 echoes enterprise 343 "HTTPClient" to HTTP boot clients
//     that sent it: EDK2's HTTP boot takes an answer as a boot offer only
//     then (HttpBootParseDhcp6Packet). "PXEClient" is not echoed: EDK2's
//     PXE takes an answer carrying it for a BINL offer
//     (PxeBcParseDhcp6Packet) and asks again on port 4011 of the URL's
//     server before it boots, which no one answers; without it the
//     answer's option 59 is used as it is, as from dnsmasq.
//
// r.ServerIP, the server's IPv6 address, is used for {{server}} and
// tftp:// URLs. o has the same type as [Apply4]'s; its fields are DHCPv4
// only.
func Apply6(d Decision, r *Request, req, resp *dhcpv6.Message, o ReplyOptions) error {
	if !d.Boot() {
		return ErrNoBoot
	}
	a := d.action()
	server := r.ServerIP
	url := a.BootFile.Expand(r)
	if url != "" && !a.BootFile.IsURL() {
		if err := checkServerIP6("Request.ServerIP", server); err != nil {
			return fmt.Errorf("%w (a DHCPv6 boot file name becomes a tftp:// URL)", err)
		}
		if len(url) > 0 && url[0] == '/' {
			url = url[1:]
		}
		url = "tftp://[" + server.WithZone("").String() + "]/" + url
	}
	if url != "" {
		resp.UpdateOption(dhcpv6.OptBootFileURL(url))
	}
	if len(a.BootParams) > 0 {
		// A copy: the reply must not share the policy's frozen rule.
		resp.UpdateOption(dhcpv6.OptBootFileParam(slices.Clone(a.BootParams)...))
	}
	for _, vc := range req.Options.VendorClass(enterprisePXE) {
		// Only HTTPClient is echoed: EDK2 takes a PXEClient answer for a
		// BINL offer and asks port 4011 for the boot file again.
		if len(vc) >= 10 && string(vc[:10]) == "HTTPClient" {
			resp.UpdateOption(&dhcpv6.OptVendorClass{EnterpriseNumber: enterprisePXE, Data: [][]byte{[]byte("HTTPClient")}})
			break
		}
	}
	return nil
}

// checkServerIP6 says why a, the server address in field, cannot go in
// the boot URLs sent to DHCPv6 clients: it must be an IPv6 address that is
// not link-local, since a link-local literal in a URL needs a zone (RFC
// 6874), which names an interface of this host and means nothing to the
// client. A zone on another address is dropped from URLs.
func checkServerIP6(field string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("dhcpboot: %s is not set (an IPv6 address)", field)
	case !a.Is6() || a.Is4In6():
		return fmt.Errorf("dhcpboot: %s %v is not an IPv6 address", field, a)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("dhcpboot: %s %v is link-local: boot URLs need a global or unique local address", field, a)
	}
	return nil
}
