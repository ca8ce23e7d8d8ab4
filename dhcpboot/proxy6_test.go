package dhcpboot

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// httpSolicit is a Solicit like OVMF's HTTP boot client sends over IPv6
// (HttpBootBuildDhcp6Options): IA_NA, arch 16, vendor class HTTPClient.
func httpSolicit(t *testing.T, mods ...dhcpv6.Modifier) *dhcpv6.Message {
	t.Helper()
	m, err := dhcpv6.NewSolicit(net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0d}, append([]dhcpv6.Modifier{
		dhcpv6.WithArchType(iana.EFI_X86_64_HTTP),
		dhcpv6.WithOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("HTTPClient:Arch:00016:UNDI:003000")}}),
	}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProxyServer6(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe", HTTPBase: "http://{{server}}:8080/"})
	if err != nil {
		t.Fatal(err)
	}
	s := &ProxyServer6{Policy: p, ServerIP: netip.MustParseAddr("fd77::1")}
	const url = "http://[fd77::1]:8080/ipxe.efi"

	check := func(name string, sol dhcpv6.DHCPv6) {
		t.Helper()
		x := s.Reply(sol, Arrival{})
		if x.Reply == nil {
			t.Fatalf("%s: no reply: %s", name, x.NoReply)
		}
		adv, err := x.Reply.GetInnerMessage()
		if err != nil {
			t.Fatal(err)
		}
		if adv.Type() != dhcpv6.MessageTypeAdvertise {
			t.Errorf("%s: reply type %s, want ADVERTISE", name, adv.Type())
		}
		// EDK2 takes an offer without IA_NA as a proxy offer, and one
		// with vendor class HTTPClient (after enterprise 343 and the
		// length) and an IP-literal URL as HttpOfferTypeProxyIpUri.
		if ia := adv.Options.IANA(); len(ia) != 0 {
			t.Errorf("%s: Advertise carries IA_NA %v, want none (a proxy gives no address)", name, ia)
		}
		if u := adv.Options.BootFileURL(); u != url {
			t.Errorf("%s: option 59 %q, want %q", name, u, url)
		}
		vc := adv.Options.VendorClass(343)
		if len(vc) != 1 || string(vc[0]) != "HTTPClient" {
			t.Errorf("%s: vendor class %q, want enterprise 343 \"HTTPClient\"", name, vc)
		}
		if adv.Options.ServerID() == nil {
			t.Errorf("%s: no server ID", name)
		}
	}
	check("Solicit", httpSolicit(t))
	check("Solicit with Rapid Commit", httpSolicit(t, dhcpv6.WithRapidCommit))
	relayed, err := dhcpv6.EncapsulateRelay(httpSolicit(t), dhcpv6.MessageTypeRelayForward, net.ParseIP("fd78::1"), net.ParseIP("fe80::1"))
	if err != nil {
		t.Fatal(err)
	}
	check("relayed Solicit", relayed)
	x := s.Reply(relayed, Arrival{})
	if _, ok := x.Reply.(*dhcpv6.RelayMessage); !ok {
		t.Errorf("relayed Solicit answered with %T, want a Relay-reply", x.Reply)
	}

	// Left alone: PXE firmware (it would ask on port 4011 next), iPXE,
	// other message types, clients the policy does not boot.
	pxe, _ := dhcpv6.NewSolicit(net.HardwareAddr{2, 0, 0, 0, 0, 1}, dhcpv6.WithArchType(iana.EFI_X86_64),
		dhcpv6.WithOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("PXEClient:Arch:00007:UNDI:003000")}}))
	ipxe, _ := dhcpv6.NewSolicit(net.HardwareAddr{2, 0, 0, 0, 0, 2}, dhcpv6.WithUserClass([]byte("iPXE")))
	req := httpSolicit(t)
	req.MessageType = dhcpv6.MessageTypeRequest
	info := httpSolicit(t)
	info.MessageType = dhcpv6.MessageTypeInformationRequest
	for _, tt := range []struct {
		name string
		m    dhcpv6.DHCPv6
		want error
	}{
		{"PXE Solicit", pxe, ErrNotHTTPClient},
		{"iPXE Solicit", ipxe, ErrNotHTTPClient},
		{"Request", req, ErrMessageType},
		{"Information-request", info, ErrMessageType},
	} {
		resp, _, _, err := s.reply(tt.m, Arrival{})
		if resp != nil || !errors.Is(err, tt.want) {
			t.Errorf("%s: reply %v, err %v; want no reply and %v", tt.name, resp, err, tt.want)
		}
		if x := s.Reply(tt.m, Arrival{}); x.Reply != nil || x.NoReply == "" {
			t.Errorf("%s: Exchange6 reply %v, NoReply %q; want none and a reason", tt.name, x.Reply, x.NoReply)
		}
	}

	bad := &ProxyServer6{Policy: p, ServerIP: netip.MustParseAddr("fe80::1")}
	if err := bad.Init(); err == nil || !strings.Contains(err.Error(), "ProxyServer6.ServerIP") {
		t.Errorf("ProxyServer6{ServerIP: fe80::1}.Init() = %v, want an error naming ProxyServer6.ServerIP", err)
	}
}
