package dhcpboot

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// handler4 and handler6 are coredhcp's handler.Handler4 and Handler6.
type (
	handler4 func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool)
	handler6 func(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool)
)

// coreChain4 answers req the way coredhcp's server (server/handle.go,
// HandleMsg4) does: a reply built from the request with the message type
// it calls for, then the handlers in order until one returns true; nil
// when a handler dropped the reply.
func coreChain4(t *testing.T, req *dhcpv4.DHCPv4, chain ...handler4) *dhcpv4.DHCPv4 {
	t.Helper()
	resp, err := dhcpv4.NewReplyFromRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	}
	for _, h := range chain {
		var stop bool
		if resp, stop = h(req, resp); stop {
			break
		}
	}
	return resp
}

// serverID4 behaves like coredhcp's server_id plugin (plugins/serverid):
// it drops requests for another server, and sets siaddr and option 54.
func serverID4(id string) handler4 {
	ip := net.ParseIP(id).To4()
	return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		if req.ServerIPAddr != nil && !req.ServerIPAddr.IsUnspecified() && !req.ServerIPAddr.Equal(ip) {
			return nil, true
		}
		resp.ServerIPAddr = ip
		resp.UpdateOption(dhcpv4.OptServerIdentifier(ip))
		return resp, false
	}
}

// rangeOnly4 is an allocator like coredhcp's range plugin: it gives an
// address and a lease time, nothing else (no option 54).
func rangeOnly4(ip string) handler4 {
	return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
		resp.YourIPAddr = net.ParseIP(ip).To4()
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(3600e9))
		return resp, false
	}
}

func pxeDiscover(t *testing.T, mac string, arch iana.Arch, vendor string) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	m, err := dhcpv4.NewDiscovery(hw, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPluginArgs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`{"rules":[{"name":"all","action":{"boot_file":"x.efi"}}]}`), 0o644)
	os.WriteFile(bad, []byte(`{"rules":[{"nmae":"typo"}]}`), 0o644)
	for _, tc := range []struct {
		args    string
		wantErr string // fragment; "" = no error
		server  string // Responder4.ServerIP wanted
	}{
		{"", "", ""},
		{"server=10.0.0.1", "", "10.0.0.1"},
		{"script_url=http://{{server}}/x.ipxe http_base=http://{{server}}/b/ user_class=lab next_server=10.0.0.9 uboot_config=pxelinux.cfg/u", "", ""},
		{"policy=" + good + " server=10.0.0.2", "", "10.0.0.2"},
		{"policy=" + good + " script_url=http://x/", "cannot go together", ""},
		{"policy=" + filepath.Join(dir, "missing.json"), "missing.json", ""},
		{"policy=" + bad, "policy=" + bad, ""},
		{"policy=", "needs a file name", ""},
		{"server=10.0.0.1 server=10.0.0.2", "given twice", ""},
		{"server=fd00::1", "not an IPv4 address", ""},
		{"server=nonsense", "server=", ""},
		{"next_server=x", "next_server=", ""},
		{"tftp=10.0.0.1", `unknown key "tftp"`, ""},
		{"10.0.0.1", "not key=value", ""},
		{"script_url={{nope}}", "bad template", ""},
	} {
		h, err := PluginResponder4(strings.Fields(tc.args), nil)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "dhcpboot: ") {
				t.Errorf("PluginResponder4(%q) error = %v, want one starting with dhcpboot: and containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("PluginResponder4(%q) = %v", tc.args, err)
			continue
		}
		if h.Policy == nil || h.ServerIP.String() != netip.MustParseAddr(orInvalid(tc.server)).String() && tc.server != "" {
			t.Errorf("PluginResponder4(%q) = policy %v server %v, want server %q", tc.args, h.Policy, h.ServerIP, tc.server)
		}
		if tc.server == "" && h.ServerIP.IsValid() {
			t.Errorf("PluginResponder4(%q).ServerIP = %v, want unset (option 54 of the reply)", tc.args, h.ServerIP)
		}
	}
}

func orInvalid(s string) string {
	if s == "" {
		return "0.0.0.0"
	}
	return s
}

// The plugin in a chain like coredhcp's: server_id, an allocator
// (Allocator4.Handle, like range), then pxeboot.
func TestPluginChain4(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.json")
	os.WriteFile(policyFile, []byte(`{"rules":[
		{"name":"quarantine","match":{"mac":["52:54:00:66:*"]},"action":{"ignore":true}},
		{"name":"bios","match":{"archs":[0]},"action":{"boot_file":"lab/{{mac_hyphen}}.kpxe"}}]}`), 0o644)
	alloc := func() *Allocator4 {
		return &Allocator4{ServerIP: netip.MustParseAddr("10.0.0.1"), Subnets: []Subnet{{
			Prefix: netip.MustParsePrefix("10.0.0.0/24"), RangeStart: netip.MustParseAddr("10.0.0.100"), RangeEnd: netip.MustParseAddr("10.0.0.110")}}}
	}
	bios := pxeDiscover(t, "52:54:00:77:00:01", iana.INTEL_X86PC, "PXEClient:Arch:00000:UNDI:002001")
	efi := pxeDiscover(t, "52:54:00:77:00:02", iana.EFI_X86_64, "PXEClient:Arch:00007:UNDI:003000")
	quarantined := pxeDiscover(t, "52:54:00:66:00:03", iana.INTEL_X86PC, "PXEClient:Arch:00000:UNDI:002001")
	plain, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 4})
	ipxeReq, _ := dhcpv4.New(dhcpv4.WithHwAddr(net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 5}),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.IPv4(10, 0, 0, 105)),
		dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))

	type want struct {
		drop             bool
		yiaddr, siaddr   string
		file, opt54, typ string
	}
	for _, tc := range []struct {
		name  string
		args  string
		order string // s = server_id, a = Allocator4, r = range-like, p = pxeboot
		req   *dhcpv4.DHCPv4
		want  want
	}{
		{"bios default", "", "sap", bios, want{yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "undionly.kpxe", opt54: "10.0.0.1", typ: "OFFER"}},
		{"uefi default", "", "sap", efi, want{yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "ipxe.efi", opt54: "10.0.0.1", typ: "OFFER"}},
		{"ipxe request gets the script", "script_url=http://{{server}}/s.ipxe?m={{mac_hyphen}}", "sap", ipxeReq,
			want{yiaddr: "10.0.0.105", siaddr: "10.0.0.1", file: "http://10.0.0.1/s.ipxe?m=52-54-00-77-00-05", opt54: "10.0.0.1", typ: "ACK"}},
		{"next_server", "next_server=10.0.0.9", "sap", bios, want{yiaddr: "10.0.0.100", siaddr: "10.0.0.9", file: "undionly.kpxe", opt54: "10.0.0.1", typ: "OFFER"}},
		{"server= is the address in the boot data and option 54", "server=10.0.0.7", "srp", bios, want{yiaddr: "10.0.0.50", siaddr: "10.0.0.7", file: "undionly.kpxe", opt54: "10.0.0.7", typ: "OFFER"}},
		{"plain client untouched", "", "sap", plain, want{yiaddr: "10.0.0.100", siaddr: "10.0.0.1", opt54: "10.0.0.1", typ: "OFFER"}},
		{"policy file", "policy=" + policyFile, "sap", bios, want{yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "lab/52-54-00-77-00-01.kpxe", opt54: "10.0.0.1", typ: "OFFER"}},
		{"policy ignores", "policy=" + policyFile, "sap", quarantined, want{drop: true}},
		{"range plugin after server_id", "", "srp", bios, want{yiaddr: "10.0.0.50", siaddr: "10.0.0.1", file: "undionly.kpxe", opt54: "10.0.0.1", typ: "OFFER"}},
		// Before server_id the plugin has no server address: no boot data.
		{"before server_id", "", "prs", bios, want{yiaddr: "10.0.0.50", siaddr: "10.0.0.1", opt54: "10.0.0.1", typ: "OFFER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h, err := PluginResponder4(strings.Fields(tc.args), slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			var chain []handler4
			for _, c := range tc.order {
				switch c {
				case 's':
					chain = append(chain, serverID4("10.0.0.1"))
				case 'a':
					chain = append(chain, alloc().Handle)
				case 'r':
					chain = append(chain, rangeOnly4("10.0.0.50"))
				case 'p':
					chain = append(chain, h.CoreDHCP)
				}
			}
			got := coreChain4(t, tc.req, chain...)
			if tc.want.drop {
				if got != nil {
					t.Fatalf("chain %s answered %s, want no reply", tc.order, got.Summary())
				}
				return
			}
			if got == nil {
				t.Fatalf("chain %s gave no reply", tc.order)
			}
			g := want{yiaddr: got.YourIPAddr.String(), siaddr: got.ServerIPAddr.String(), file: got.BootFileNameOption(),
				opt54: got.ServerIdentifier().String(), typ: got.MessageType().String()}
			if g != tc.want {
				t.Errorf("chain %s with args %q: got %+v, want %+v", tc.order, tc.args, g, tc.want)
			}
			if tc.order == "prs" && !strings.Contains(logs.String(), "put the plugin after server_id") {
				t.Errorf("plugin before server_id logged %q, want a warning naming server_id", logs.String())
			}
		})
	}
}

// The DHCPv6 side: server= is required, and the plugin adds the boot URL
// to the reply a chain like coredhcp's built.
func TestPluginChain6(t *testing.T) {
	for _, args := range []string{"", "server=10.0.0.1", "server=::ffff:10.0.0.1"} {
		if _, err := PluginResponder6(strings.Fields(args), nil); err == nil {
			t.Errorf("PluginResponder6(%q) = nil error, want one asking for an IPv6 server=", args)
		}
	}
	h, err := PluginResponder6([]string{"server=fd00::1", "http_base=http://{{server}}/b/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hw := net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 6}
	sol, err := dhcpv6.NewSolicit(hw, dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: hw}))
	if err != nil {
		t.Fatal(err)
	}
	sol.AddOption(dhcpv6.OptClientArchType(iana.EFI_X86_64_HTTP))
	sol.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("HTTPClient:Arch:00016:UNDI:003001")}})
	adv, err := dhcpv6.NewAdvertiseFromSolicit(sol)
	if err != nil {
		t.Fatal(err)
	}
	var chain []handler6
	chain = append(chain, func(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) { // like server_id
		resp.(*dhcpv6.Message).AddOption(dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
		return resp, false
	}, h.CoreDHCP)
	var resp dhcpv6.DHCPv6 = adv
	for _, f := range chain {
		var stop bool
		if resp, stop = f(sol, resp); stop {
			break
		}
	}
	m := resp.(*dhcpv6.Message)
	if got, want := m.Options.BootFileURL(), "http://[fd00::1]/b/ipxe.efi"; got != want {
		t.Errorf("DHCPv6 chain: boot URL %q, want %q", got, want)
	}
}
