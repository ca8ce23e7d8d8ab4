package pxekit_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
)

// getOn GETs target from h as a request that arrived on local, and
// returns the body.
func getOn(t *testing.T, h http.Handler, target string, local netip.AddrPort) string {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.TCPAddrFromAddrPort(local)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s on %v: status %d, want 200", target, local, w.Code)
	}
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

// A lab-mode Server with Lab.V6 and no BaseURL of its own: the built-in
// boot script and a machine's kernel URLs name the address the request
// came to, the IPv6 one ([Lab.V6.ServerIP]) for a client that fetched
// the script over IPv6. Before, iPXE booted over IPv6 only (DHCPv6 with
// the boot URL http://[fd00:99::1]:8080/boot.ipxe) was told to chain
// http://10.0.0.1:8080/machine/…: "Network unreachable".
func TestServerScriptURLsIPv6(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:00:00:61")
	inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "k", MAC: mac, Kernel: "vmlinuz", Initrds: []string{"initrd"}})
	if err != nil {
		t.Fatalf("NewMapInventory: %v", err)
	}
	srv := &pxekit.Server{DHCP: pxekit.DHCPLab, Addr: netip.MustParseAddr("10.0.0.1"), HTTPAddr: ":8080", Inventory: inv,
		Lab: pxekit.LabDHCP{V6: pxekit.LabDHCP6{ServerIP: netip.MustParseAddr("fd00:99::1"),
			RangeStart: netip.MustParseAddr("fd00:99::100"), RangeEnd: netip.MustParseAddr("fd00:99::1ff")}}}
	defer srv.Close()
	h := srv.HTTPHandler()
	for _, tt := range []struct {
		local netip.AddrPort
		base  string
	}{
		{netip.MustParseAddrPort("[fd00:99::1]:8080"), "http://[fd00:99::1]:8080/"},
		{netip.MustParseAddrPort("10.0.0.1:8080"), "http://10.0.0.1:8080/"},
		{netip.MustParseAddrPort("[::ffff:10.0.0.1]:8080"), "http://10.0.0.1:8080/"},
	} {
		script := getOn(t, h, "/boot.ipxe", tt.local)
		if !strings.Contains(script, tt.base+"machine/") {
			t.Errorf("boot script served on %v:\n%s\nwant the machine URL on %s", tt.local, script, tt.base)
		}
		machine := getOn(t, h, "/machine/52-54-00-00-00-61", tt.local)
		if !strings.Contains(machine, tt.base+"vmlinuz") || !strings.Contains(machine, tt.base+"initrd") {
			t.Errorf("machine script served on %v:\n%s\nwant kernel and initrd on %s", tt.local, machine, tt.base)
		}
	}

	// A BaseURL of its own (a name, say, with A and AAAA records) is
	// used as it is, whatever the address.
	named := &pxekit.Server{DHCP: pxekit.DHCPLab, Addr: netip.MustParseAddr("10.0.0.1"), BaseURL: "http://boot.lan:8080",
		Lab: srv.Lab}
	defer named.Close()
	if script := getOn(t, named.HTTPHandler(), "/boot.ipxe", netip.MustParseAddrPort("[fd00:99::1]:8080")); !strings.Contains(script, "http://boot.lan:8080/machine/") {
		t.Errorf("boot script with BaseURL http://boot.lan:8080 served over IPv6:\n%s\nwant it on the BaseURL", script)
	}
}

// HTTPConfig.BaseURL6 must share BaseURL's path (the handler serves one).
func TestHTTPConfigBaseURL6Path(t *testing.T) {
	_, err := pxekit.NewHTTPHandler(pxekit.HTTPConfig{BaseURL: "http://10.0.0.1/pxe", BaseURL6: "http://[fd00::1]/other"})
	if err == nil || !strings.Contains(err.Error(), "BaseURL6") {
		t.Errorf("NewHTTPHandler with BaseURL6 on another path: err = %v, want one naming BaseURL6", err)
	}
	h, err := pxekit.NewHTTPHandler(pxekit.HTTPConfig{BaseURL: "http://10.0.0.1/pxe", BaseURL6: "http://[fd00::1]/pxe"})
	if err != nil {
		t.Fatalf("NewHTTPHandler: %v", err)
	}
	defer h.Close()
	if script := getOn(t, h, "/pxe/boot.ipxe", netip.MustParseAddrPort("[fd00::1]:80")); !strings.Contains(script, "http://[fd00::1]/pxe/machine/") {
		t.Errorf("boot script on [fd00::1]:\n%s\nwant the machine URL under http://[fd00::1]/pxe/", script)
	}
}

// A relayed DHCPv6 exchange: the sender is the relay, so the machine
// (OVMF's DUID is a UUID) is known by the MAC in the link-local
// peer-address of the Relay-forward next to it (RFC 8415 §9.1: the
// client's address). Before, such an event had no MAC and the machine no
// session: TFTP and HTTP could not be tied to its DHCP.
func TestServerObserveDHCP6Relayed(t *testing.T) {
	sol, from, srcMAC := captureSolicit6(t)
	relayed, err := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd00:98::1"), from.Addr().AsSlice())
	if err != nil {
		t.Fatalf("EncapsulateRelay: %v", err)
	}
	// A second relay hop, as a relay chain sends it to the server.
	relayed, err = dhcpv6.EncapsulateRelay(relayed, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd00:97::1"), net.ParseIP("fd00:98::2"))
	if err != nil {
		t.Fatalf("EncapsulateRelay: %v", err)
	}
	var events eventLog
	srv := &pxekit.Server{BaseURL: "http://[fd00:99::1]:8080", OnEvent: events.add}
	defer srv.Close()
	lab := &dhcpboot.LabServer6{PolicyFunc: srv.DHCPPolicy, ServerIP: netip.MustParseAddr("fd00:99::1"),
		RangeStart: netip.MustParseAddr("fd00:98::100"), RangeEnd: netip.MustParseAddr("fd00:98::101")}
	relay := netip.MustParseAddrPort("[fd00:97::1]:547")
	x := lab.Reply(relayed, dhcpboot.Arrival{Peer: relay})
	x.Peer = relay
	if x.Reply == nil {
		t.Fatalf("LabServer6 did not answer: %s", x.NoReply)
	}
	srv.ObserveDHCP6(x)
	all := srv.Sessions().All()
	if len(all) != 1 || all[0].MAC.String() != srcMAC.String() || all[0].IP != netip.MustParseAddr("fd00:98::100") {
		t.Fatalf("sessions after a relayed DHCPv6 exchange: %+v, want one for %s (the MAC in the inner relay's peer-address) at fd00:98::100", all, srcMAC)
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	if e, ok := events.events[0].(pxekit.DHCPEvent); !ok || e.MAC.String() != srcMAC.String() {
		t.Errorf("first event %+v, want a DHCPEvent with MAC %s", events.events[0], srcMAC)
	}
}
