package dhcpboot_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
)

// Inside an existing DHCP server (a coredhcp plugin is these few lines):
// the server builds its reply with the address and option 54 (coredhcp's
// server_id plugin), the responder adds boot data.
func ExampleResponder4_CoreDHCP() {
	policy, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	h := &dhcpboot.Responder4{Policy: policy}

	mac, _ := net.ParseMAC("52:54:00:77:00:0c")
	discover, _ := dhcpv4.NewDiscovery(mac,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
	offer, _ := dhcpv4.NewReplyFromRequest(discover,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IPv4(192, 168, 1, 50)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 168, 1, 1))))

	resp, stop := h.CoreDHCP(discover, offer)
	fmt.Println(stop, resp.YourIPAddr, resp.ServerIPAddr, resp.BootFileName)
	// Output: false 192.168.1.50 192.168.1.1 undionly.kpxe
}

// Policies can live in a JSON file.
func ExampleParsePolicy() {
	p, err := dhcpboot.ParsePolicy([]byte(`{"rules": [
	  {"name": "old-rack", "match": {"mac": ["52:54:00:00:00:00/24"], "firmware": ["bios"]},
	   "action": {"boot_file": "pxelinux.0", "pxelinux": {"magic": true, "config_file": "rack/{{mac_hyphen}}"}}},
	  {"name": "others", "action": {"ignore": true}}
	]}`))
	if err != nil {
		panic(err)
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	d := p.Decide(&dhcpboot.Request{Client: archdetect.Client{MAC: mac, Firmware: archdetect.FirmwareBIOS}})
	fmt.Println(d.Why)
	// Output: rule "old-rack" (#1) matched: firmware=bios, mac=52:54:00:00:00:00/24
}

// Templates escape what the client sends, so it cannot reshape the URL.
func ExampleTemplate() {
	t := dhcpboot.MustParseTemplate("http://{{server}}/boot.ipxe?uc={{user_class}}&mac={{mac_hyphen}}")
	mac, _ := net.ParseMAC("52:54:00:77:00:0a")
	r := &dhcpboot.Request{
		Client:   archdetect.Client{MAC: mac, UserClasses: []string{"x&next=http://evil/"}},
		ServerIP: netip.MustParseAddr("10.0.0.1"),
	}
	fmt.Println(t.Expand(r))
	// Output: http://10.0.0.1/boot.ipxe?uc=x%26next%3Dhttp%3A%2F%2Fevil%2F&mac=52-54-00-77-00-0a
}
