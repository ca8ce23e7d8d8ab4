package dhcpboot

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// TestDefaultPolicyParity6: a DHCPv6 client gets the same default-policy
// decision (rule and boot file) as the DHCPv4 client of the same
// architecture, PXE and HTTP boot firmware and iPXE alike; over DHCPv6 the
// boot file arrives as an option 59 URL to the same file.
func TestDefaultPolicyParity6(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mac := mustMAC("52:54:00:77:00:0b")
	v4, v6 := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1")
	for _, c := range []struct {
		arch iana.Arch
		ipxe bool
		rule string
	}{
		{7, false, "uefi-x64"}, {9, false, "uefi-x64"}, {16, false, "http-x64"},
		{11, false, "uefi-arm64"}, {19, false, "http-arm64"},
		{7, true, "ipxe"}, {11, true, "ipxe"},
	} {
		t.Run(fmt.Sprintf("arch%d-ipxe%v", c.arch, c.ipxe), func(t *testing.T) {
			kind := "PXEClient"
			if c.arch == 16 || c.arch == 19 {
				kind = "HTTPClient"
			}
			vci := fmt.Sprintf("%s:Arch:%05d:UNDI:003016", kind, c.arch)
			mods := []dhcpv4.Modifier{
				dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vci)),
				dhcpv4.WithOption(dhcpv4.OptClientArch(c.arch)),
			}
			if c.ipxe {
				mods = append(mods, dhcpv4.WithUserClass("iPXE", false))
			}
			disc, err := dhcpv4.NewDiscovery(mac, mods...)
			if err != nil {
				t.Fatal(err)
			}
			sol, err := dhcpv6.NewSolicit(mac, dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac}))
			if err != nil {
				t.Fatal(err)
			}
			sol.UpdateOption(dhcpv6.OptClientArchType(c.arch))
			sol.UpdateOption(&dhcpv6.OptVendorClass{EnterpriseNumber: enterprisePXE, Data: [][]byte{[]byte(vci)}})
			if c.ipxe {
				sol.UpdateOption(&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}})
			}

			r4 := newRequest(classify4(disc), Arrival{}, netip.Addr{}, v4)
			d4 := p.Decide(r4)
			r6 := newRequest(classify6(sol), Arrival{}, netip.Addr{}, v6)
			d6 := p.Decide(r6)
			if d4.RuleName() != c.rule || d6.RuleName() != c.rule {
				t.Fatalf("rules: DHCPv4 %q (%s), DHCPv6 %q (%s); want %q for both", d4.RuleName(), d4.Why, d6.RuleName(), d6.Why, c.rule)
			}

			offer, err := dhcpv4.NewReplyFromRequest(disc)
			if err != nil {
				t.Fatal(err)
			}
			if err := Apply4(d4, r4, disc, offer, ReplyOptions{}); err != nil {
				t.Fatal(err)
			}
			adv, err := dhcpv6.NewAdvertiseFromSolicit(sol)
			if err != nil {
				t.Fatal(err)
			}
			if err := Apply6(d6, r6, sol, adv, ReplyOptions{}); err != nil {
				t.Fatal(err)
			}
			file4, url6 := offer.BootFileName, adv.Options.BootFileURL()
			want6 := file4
			if !strings.Contains(file4, "://") {
				want6 = "tftp://[" + v6.String() + "]/" + file4
			} else {
				want6 = strings.ReplaceAll(file4, v4.String(), "["+v6.String()+"]")
			}
			if file4 == "" || url6 != want6 {
				t.Errorf("DHCPv4 boot file %q, DHCPv6 option 59 %q; want %q", file4, url6, want6)
			}
			if c.ipxe && !strings.Contains(url6, "arch="+fmt.Sprint(int(c.arch))) {
				t.Errorf("iPXE script URL %q lost the arch", url6)
			}
		})
	}
}

// ipxeSolicit6 is a Solicit as iPXE's net/udp/dhcpv6.c writes it: a
// DUID-UUID client ID, IA_NA, option request, user class "iPXE" and elapsed
// time; no architecture (61) and no vendor class (16).
func ipxeSolicit6(t *testing.T) *dhcpv6.Message {
	t.Helper()
	m, err := dhcpv6.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	m.MessageType = dhcpv6.MessageTypeSolicit
	m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: [16]byte{0x52, 0x54, 0, 0x77, 0, 0x0b}}))
	m.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{1, 2, 3, 4}})
	m.AddOption(dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionBootfileURL))
	m.AddOption(&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}})
	m.AddOption(dhcpv6.OptElapsedTime(0))
	return m
}

// TestResponder6AnswersIPXE: iPXE over DHCPv6 announces itself only by its
// user class; the stateless responder answers it with the script URL, as
// the DHCPv4 side does, instead of taking it for a non-PXE client.
func TestResponder6AnswersIPXE(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := &Responder6{Policy: p, ServerIP: netip.MustParseAddr("fd00:77::1")}
	resp, _, d, err := h.Reply(ipxeSolicit6(t), Arrival{})
	if err != nil {
		t.Fatalf("no answer to iPXE: %v", err)
	}
	in, err := resp.GetInnerMessage()
	if err != nil {
		t.Fatal(err)
	}
	if url := in.Options.BootFileURL(); d.RuleName() != "ipxe" || !strings.HasPrefix(url, "http://[fd00:77::1]/boot.ipxe?") {
		t.Errorf("rule %q, option 59 %q; want rule ipxe and the script URL", d.RuleName(), url)
	}
	// A client that is neither PXE firmware nor iPXE still gets nothing.
	plain := ipxeSolicit6(t)
	plain.Options.Del(dhcpv6.OptionUserClass)
	if _, _, _, err := h.Reply(plain, Arrival{}); !errors.Is(err, ErrNotPXEClient) {
		t.Errorf("plain DHCPv6 client: err %v, want ErrNotPXEClient", err)
	}
}
