package pxekit_test

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
)

// The Server's default policy builds every URL on the one base URL, so a
// UEFI HTTP boot client gets the boot file on the port the script is on.
// dhcpboot's DefaultPolicy given only a script URL on port 8080 (two URL
// settings, as examples/pxeserver had) still sends it to port 80: the bug
// the one base URL fixes.
func TestServerOneBaseURL(t *testing.T) {
	httpBoot := func(t *testing.T) *dhcpv4.DHCPv4 {
		return bootDiscover(t, "52:54:00:00:00:10", iana.EFI_X86_64_HTTP, "HTTPClient", false)
	}
	ipxe := func(t *testing.T) *dhcpv4.DHCPv4 {
		return bootDiscover(t, "52:54:00:00:00:10", iana.EFI_X86_64, "PXEClient", true)
	}
	decide := func(t *testing.T, p *dhcpboot.Policy, m *dhcpv4.DHCPv4) string {
		h := &dhcpboot.Responder4{Policy: p, ServerIP: netip.MustParseAddr("10.0.0.1")}
		r, d := h.Decide(m, dhcpboot.Arrival{Mode: dhcpboot.ModeFull})
		resp, _ := dhcpv4.NewReplyFromRequest(m)
		if err := dhcpboot.Apply4(d, r, m, resp, dhcpboot.ReplyOptions{}); err != nil {
			t.Fatal(err)
		}
		return resp.BootFileName
	}

	old, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe"})
	if err != nil {
		t.Fatal(err)
	}
	if got := decide(t, old, httpBoot(t)); got != "http://10.0.0.1/ipxe.efi" {
		t.Errorf("two URL settings: HTTP boot client told %q; this test expects the port-80 URL that motivated the one base URL", got)
	}

	for _, tc := range []struct {
		name string
		srv  *pxekit.Server
		base string
	}{
		{"HTTPAddr port", &pxekit.Server{Addr: netip.MustParseAddr("10.0.0.1"), HTTPAddr: ":8080"}, "http://10.0.0.1:8080"},
		{"BaseURL with a path", &pxekit.Server{Addr: netip.MustParseAddr("10.0.0.1"), BaseURL: "http://boot.lan:8080/pxe"}, "http://boot.lan:8080/pxe"},
		{"port 80", &pxekit.Server{Addr: netip.MustParseAddr("10.0.0.1")}, "http://10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.srv.Close()
			p := tc.srv.DHCPPolicy()
			if p == nil {
				t.Fatal("DHCPPolicy() = nil")
			}
			if got := tc.srv.URL(); got != tc.base {
				t.Errorf("URL() = %q, want %q", got, tc.base)
			}
			if got, want := decide(t, p, httpBoot(t)), tc.base+"/ipxe.efi"; got != want {
				t.Errorf("HTTP boot client told %q, want %q", got, want)
			}
			if got := decide(t, p, ipxe(t)); !strings.HasPrefix(got, tc.base+"/boot.ipxe?mac=52-54-00-00-00-10&") {
				t.Errorf("iPXE told %q, want the script URL %s/boot.ipxe?mac=…", got, tc.base)
			}
		})
	}
}

// proxyInstance is one Server in proxy mode on loopback address addr,
// serving DHCP port 4011, TFTP and HTTP on sockets of its own.
type proxyInstance struct {
	srv  *pxekit.Server
	dhcp net.PacketConn
	tftp net.PacketConn
	http net.Listener
}

func startProxyInstance(t *testing.T, addr, base string, inv pxekit.Inventory) *proxyInstance {
	t.Helper()
	p := &proxyInstance{srv: &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr(addr), BaseURL: base,
		Files: "testdata/boot", Inventory: inv}}
	var err error
	if p.dhcp, err = net.ListenPacket("udp4", addr+":0"); err != nil {
		t.Fatal(err)
	}
	if p.tftp, err = net.ListenPacket("udp4", addr+":0"); err != nil {
		t.Fatal(err)
	}
	if p.http, err = net.Listen("tcp4", addr+":0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.srv.Serve(pxekit.Listeners{DHCP4011: p.dhcp, TFTP: p.tftp, HTTP: p.http}) }()
	t.Cleanup(func() {
		p.srv.Close()
		if err := <-done; err != pxekit.ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return p
}

// proxyRequest is the REQUEST a client sends to a proxyDHCP's port 4011
// once the site's DHCP server gave it ciaddr.
func proxyRequest(t *testing.T, mac string, arch iana.Arch, ipxe bool) *dhcpv4.DHCPv4 {
	t.Helper()
	d := bootDiscover(t, mac, arch, "PXEClient", ipxe)
	m, err := dhcpv4.New(dhcpv4.WithHwAddr(d.ClientHWAddr), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.IPv4(127, 0, 0, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for code, v := range d.Options {
		if code != dhcpv4.OptionDHCPMessageType.Code() {
			m.Options[code] = v
		}
	}
	return m
}

// The scale story: in proxy mode a Server keeps no state another
// instance needs. Two instances (sharing the configuration: base URL,
// boot files, inventory) answer the same request with the same boot file
// or URL, and either one serves the TFTP and HTTP fetches that follow,
// byte for byte, whichever instance the machine's DHCP went to.
func TestServerProxyInstancesInterchangeable(t *testing.T) {
	mac := "52:54:00:00:00:20"
	hw, _ := net.ParseMAC(mac)
	inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "web01", MAC: hw, Kernel: "vmlinuz", Cmdline: []string{"console=ttyS0"}})
	if err != nil {
		t.Fatal(err)
	}
	const base = "http://pxe.lan:8080" // a name resolving to every instance
	a := startProxyInstance(t, "127.0.0.1", base, inv)
	b := startProxyInstance(t, "127.0.0.2", base, inv)

	for _, tc := range []struct {
		name string
		arch iana.Arch
		ipxe bool
	}{{"UEFI PXE", iana.EFI_X86_64, false}, {"BIOS PXE", iana.INTEL_X86PC, false}, {"iPXE", iana.EFI_X86_64, true}} {
		m := proxyRequest(t, mac, tc.arch, tc.ipxe)
		ra, rb := exchange(t, a.dhcp.LocalAddr(), m), exchange(t, b.dhcp.LocalAddr(), m)
		if ra.BootFileName == "" || ra.BootFileName != rb.BootFileName {
			t.Errorf("%s: instance A says boot file %q, B %q; want the same, not empty", tc.name, ra.BootFileName, rb.BootFileName)
		}
		if !ra.ServerIPAddr.Equal(net.IPv4(127, 0, 0, 1)) || !rb.ServerIPAddr.Equal(net.IPv4(127, 0, 0, 2)) {
			t.Errorf("%s: next server A %v, B %v; each instance names itself", tc.name, ra.ServerIPAddr, rb.ServerIPAddr)
		}
	}
	// The machine DHCP'd at both; its fetches go to either instance.
	for _, path := range []string{"/boot.ipxe", "/machine/52-54-00-00-00-20", "/ipxe.efi"} {
		ga, gb := get(t, a.http, path), get(t, b.http, path)
		if ga == "" || ga != gb {
			t.Errorf("GET %s: instance A %q, B %q; want the same bytes", path, ga, gb)
		}
	}
	fa, errA := tftpGet(a.tftp.LocalAddr().String(), "ipxe.efi")
	fb, errB := tftpGet(b.tftp.LocalAddr().String(), "ipxe.efi")
	if errA != nil || errB != nil || len(fa) == 0 || !bytes.Equal(fa, fb) {
		t.Errorf("TFTP ipxe.efi: A %d bytes (%v), B %d bytes (%v); want the same file", len(fa), errA, len(fb), errB)
	}
}

// get fetches path from ln's address.
func get(t *testing.T, ln net.Listener, path string) string {
	t.Helper()
	return httpGetFrom(t, netip.MustParseAddr("127.0.0.1"), "http://"+ln.Addr().String()+path)
}
