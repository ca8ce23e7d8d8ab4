package dhcpboot

import (
	"errors"

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
//   - option 16 echoes enterprise 343 "PXEClient" or "HTTPClient" to
//     clients that sent it: EDK2 takes an Advertise as a boot offer only then.
//
// r.ServerIP, the server's IPv6 address, is used for {{server}} and
// tftp:// URLs. o has the same type as [Apply4]'s; its fields are DHCPv4
// only.
func Apply6(d Decision, r *Request, req, resp *dhcpv6.Message, o ReplyOptions) error {
	if !d.Boot() {
		return ErrNoBoot
	}
	a := &d.Rule.Action
	server := r.ServerIP
	url := a.BootFile.Expand(r)
	if url != "" && !a.BootFile.IsURL() {
		if !server.IsValid() || !server.Is6() || server.Is4In6() {
			return errors.New("dhcpboot: a DHCPv6 boot file name needs the server's IPv6 address (Request.ServerIP)")
		}
		if len(url) > 0 && url[0] == '/' {
			url = url[1:]
		}
		url = "tftp://[" + server.String() + "]/" + url
	}
	if url != "" {
		resp.UpdateOption(dhcpv6.OptBootFileURL(url))
	}
	if len(a.BootParams) > 0 {
		resp.UpdateOption(dhcpv6.OptBootFileParam(a.BootParams...))
	}
	for _, vc := range req.Options.VendorClass(enterprisePXE) {
		kind := ""
		switch {
		case len(vc) >= 10 && string(vc[:10]) == "HTTPClient":
			kind = "HTTPClient"
		case len(vc) >= 9 && string(vc[:9]) == "PXEClient":
			kind = "PXEClient"
		}
		if kind != "" {
			resp.UpdateOption(&dhcpv6.OptVendorClass{EnterpriseNumber: enterprisePXE, Data: [][]byte{[]byte(kind)}})
			break
		}
	}
	return nil
}
