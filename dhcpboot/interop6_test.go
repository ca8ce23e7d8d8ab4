package dhcpboot

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/dhcpv6/server6"
	"github.com/pxekit/pxekit/internal/netlab"
)

// firmwareClient6 returns a DHCPv6 client in p's client namespace (closed
// when the test ends) and the modifiers that make its Solicit carry the
// captured UEFI firmware's arch, NII and vendor class options.
func firmwareClient6(t *testing.T, p *netlab.Pair) (*nclient6.Client, []dhcpv6.Modifier) {
	t.Helper()
	var c *nclient6.Client
	if err := p.Client.Do(func() (err error) {
		c, err = nclient6.New(p.ClientIf, nclient6.WithTimeout(2*time.Second), nclient6.WithRetry(2))
		return err
	}); err != nil {
		t.Fatalf("DHCPv6 client in %s: %v", p.Client.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	sol := captureSolicit(t)
	var mods []dhcpv6.Modifier
	for _, code := range []dhcpv6.OptionCode{dhcpv6.OptionClientArchType, dhcpv6.OptionNII, dhcpv6.OptionVendorClass} {
		o := sol.GetOneOption(code)
		if o == nil {
			t.Fatalf("the captured Solicit has no option %v", code)
		}
		mods = append(mods, dhcpv6.WithOption(o))
	}
	return c, mods
}

func TestInteropDHCPv6BootURL(t *testing.T) {
	p := netlab.NewPair6(t, "fd00:99::1/64")

	policy, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder6{Policy: policy, ServerIP: netip.MustParseAddr("fd00:99::1"), Logger: testLogger(t)}
	var srv *server6.Server
	if err := p.Server.Do(func() (err error) { srv, err = server6.NewServer(p.ServerIf, nil, h.ServeDHCP); return err }); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { srv.Close() })

	c, mods := firmwareClient6(t, p)
	mods = append(mods, dhcpv6.WithRequestedOptions(dhcpv6.OptionBootfileURL, dhcpv6.OptionBootfileParam))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adv, err := c.Solicit(ctx, mods...)
	if err != nil {
		t.Fatal(err)
	}
	if got := adv.Options.BootFileURL(); got != "tftp://[fd00:99::1]/ipxe.efi" {
		t.Errorf("option 59 = %q", got)
	}
	if vc := adv.Options.VendorClass(enterprisePXE); vc != nil {
		t.Errorf("option 16 = %q, want none (see TestApply6VendorClass)", vc)
	}
	// A Solicit without boot options gets no answer from a boot-only server.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if _, err := c.Solicit(ctx2); err == nil {
		t.Error("plain DHCPv6 client got an Advertise")
	}
}
