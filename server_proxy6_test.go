package pxekit_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit"
)

// A proxy-mode Server with Proxy6 answers a UEFI HTTP boot client's
// Solicit on its DHCPv6 socket with a boot-only Advertise: no address,
// the http:// URL of ipxe.efi on Proxy6.ServerIP, vendor class HTTPClient.
func TestServerProxyDHCPv6(t *testing.T) {
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	var events eventLog
	srv := &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://[fd00:99::1]:8080",
		Proxy6: pxekit.ProxyDHCP6{ServerIP: netip.MustParseAddr("fd00:99::1")}, OnEvent: events.add}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pxekit.Listeners{DHCP6: conn}) }()
	defer func() {
		srv.Close()
		if err := <-done; err != pxekit.ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	}()
	sol, err := dhcpv6.NewSolicit(net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0d}, dhcpv6.WithArchType(iana.EFI_X86_64_HTTP),
		dhcpv6.WithOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("HTTPClient:Arch:00016:UNDI:003000")}}))
	if err != nil {
		t.Fatal(err)
	}
	m := exchange6(t, conn.LocalAddr(), sol)
	adv := m.(*dhcpv6.Message)
	vc := adv.Options.VendorClass(343)
	if adv.Type() != dhcpv6.MessageTypeAdvertise || len(adv.Options.IANA()) != 0 || adv.Options.BootFileURL() != "http://[fd00:99::1]:8080/ipxe.efi" ||
		len(vc) != 1 || string(vc[0]) != "HTTPClient" {
		t.Fatalf("reply %s, want an ADVERTISE without IA_NA, boot URL http://[fd00:99::1]:8080/ipxe.efi and vendor class HTTPClient", adv.Summary())
	}
	waitFor(func() bool { events.mu.Lock(); defer events.mu.Unlock(); return len(events.events) > 0 })
	events.mu.Lock()
	defer events.mu.Unlock()
	if e, ok := events.events[0].(pxekit.DHCPEvent); !ok || e.Version != 6 || e.Outcome != pxekit.DHCPAnswered || e.IP.IsValid() {
		t.Errorf("first event %+v, want an answered DHCPv6 DHCPEvent without an address", events.events[0])
	}
}

// Proxy6 and Lab.V6 both want port 547; a DHCPv6 socket in proxy mode
// needs Proxy6.
func TestServerProxy6Refused(t *testing.T) {
	both := &pxekit.Server{DHCP: pxekit.DHCPLab, Addr: netip.MustParseAddr("127.0.0.1"),
		Proxy6: pxekit.ProxyDHCP6{ServerIP: netip.MustParseAddr("fd00:99::1")},
		Lab: pxekit.LabDHCP{V6: pxekit.LabDHCP6{ServerIP: netip.MustParseAddr("fd00:99::1"),
			RangeStart: netip.MustParseAddr("fd00:99::100"), RangeEnd: netip.MustParseAddr("fd00:99::1ff")}}}
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := both.Serve(pxekit.Listeners{DHCP6: conn}); err == nil || !strings.Contains(err.Error(), "Proxy6") {
		t.Errorf("Serve with Proxy6 and Lab.V6 = %v, want an error naming both", err)
	}
	conn, err = net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	noProxy := &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr("127.0.0.1")}
	if err := noProxy.Serve(pxekit.Listeners{DHCP6: conn}); err == nil || !strings.Contains(err.Error(), "Proxy6") {
		t.Errorf("Serve in DHCPProxy mode with a DHCPv6 socket and no Proxy6 = %v, want an error naming Proxy6", err)
	}
	conn, err = net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	linkLocal := &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr("127.0.0.1"), Proxy6: pxekit.ProxyDHCP6{ServerIP: netip.MustParseAddr("fe80::1")}}
	if err := linkLocal.Serve(pxekit.Listeners{DHCP6: conn}); err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("Serve with a link-local Proxy6.ServerIP = %v, want an error saying link-local", err)
	}
}

// exchange6 sends m from a loopback socket to the server at to and
// returns the server's answer (at most 10 s later).
func exchange6(t *testing.T, to net.Addr, m dhcpv6.DHCPv6) dhcpv6.DHCPv6 {
	t.Helper()
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteTo(m.ToBytes(), to); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer to %s: %v", m.Type(), err)
	}
	resp, err := dhcpv6.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
