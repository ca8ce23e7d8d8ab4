package dhcpboot

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

func mustMAC(s string) net.HardwareAddr {
	hw, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return hw
}

// Hand-built clients shaped like the ones in the captures.
func biosROM() archdetect.Client {
	return archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mustMAC("52:54:00:77:00:0c"), Archs: []archdetect.Arch{0},
		Arch: 0, HasArch: true, Firmware: archdetect.FirmwareBIOS, CPU: archdetect.CPUX86, Transport: archdetect.TransportPXE,
		VendorClass: archdetect.VendorClass{Raw: "PXEClient:Arch:00000:UNDI:002001", Kind: "PXEClient"}}
}

func ipxeBIOS() archdetect.Client {
	c := biosROM()
	c.IPXE = true
	c.UserClasses, c.UserClassRaw = []string{"iPXE"}, []byte("iPXE")
	c.IPXEInfo.Features = []archdetect.IPXEFeature{16, 17, 19, 24, 39}
	return c
}

func ovmfPXE() archdetect.Client {
	return archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mustMAC("52:54:00:77:00:0b"), Archs: []archdetect.Arch{7},
		Arch: 7, HasArch: true, Firmware: archdetect.FirmwareUEFI, CPU: archdetect.CPUX8664, Transport: archdetect.TransportPXE,
		UUID:        "00112233-4455-6677-8899-aabbccddeeff",
		VendorClass: archdetect.VendorClass{Raw: "PXEClient:Arch:00007:UNDI:003000", Kind: "PXEClient"}}
}

func ovmfHTTP() archdetect.Client {
	return archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mustMAC("52:54:00:77:00:0d"), Archs: []archdetect.Arch{16},
		Arch: 16, HasArch: true, Firmware: archdetect.FirmwareUEFI, CPU: archdetect.CPUX8664, Transport: archdetect.TransportHTTP,
		VendorClass: archdetect.VendorClass{Raw: "HTTPClient:Arch:00016:UNDI:003000", Kind: "HTTPClient"}}
}

func arm64UEFI() archdetect.Client {
	return archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mustMAC("02:00:00:00:00:11"), Archs: []archdetect.Arch{11},
		Arch: 11, HasArch: true, Firmware: archdetect.FirmwareUEFI, CPU: archdetect.CPUARM64, Transport: archdetect.TransportPXE,
		VendorClass: archdetect.VendorClass{Raw: "PXEClient:Arch:00011:UNDI:003000", Kind: "PXEClient"}}
}

func plainClient() archdetect.Client {
	return archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mustMAC("02:00:00:00:00:99"),
		Firmware: archdetect.FirmwareUnknown, CPU: archdetect.CPUUnknown, Transport: archdetect.TransportUnknown}
}

func lit(s string) *Template { return MustParseTemplate(s) }

func TestMatchFields(t *testing.T) {
	relayed := Request{Client: ovmfPXE(), Relay: netip.MustParseAddr("10.1.2.1"), Interface: "eth1"}
	tests := []struct {
		name string
		m    Match
		r    Request
		want bool
	}{
		{"zero matches all", Match{}, Request{Client: plainClient()}, true},
		{"arch hit", Match{Archs: []archdetect.Arch{7, 9}}, Request{Client: ovmfPXE()}, true},
		{"arch miss", Match{Archs: []archdetect.Arch{0}}, Request{Client: ovmfPXE()}, false},
		{"arch absent never matches", Match{Archs: []archdetect.Arch{0}}, Request{Client: plainClient()}, false},
		{"firmware", Match{Firmware: []archdetect.Firmware{archdetect.FirmwareUEFI}}, Request{Client: ovmfHTTP()}, true},
		{"firmware miss", Match{Firmware: []archdetect.Firmware{archdetect.FirmwareBIOS}}, Request{Client: ovmfHTTP()}, false},
		{"cpu", Match{CPU: []archdetect.CPU{archdetect.CPUARM64}}, Request{Client: arm64UEFI()}, true},
		{"transport http", Match{Transport: []archdetect.Transport{archdetect.TransportHTTP}}, Request{Client: ovmfHTTP()}, true},
		{"transport miss", Match{Transport: []archdetect.Transport{archdetect.TransportHTTP}}, Request{Client: ovmfPXE()}, false},
		{"ipxe yes", Match{IPXE: Yes}, Request{Client: ipxeBIOS()}, true},
		{"ipxe yes vs rom", Match{IPXE: Yes}, Request{Client: biosROM()}, false},
		{"ipxe no vs rom", Match{IPXE: No}, Request{Client: biosROM()}, true},
		{"ipxe no vs ipxe", Match{IPXE: No}, Request{Client: ipxeBIOS()}, false},
		{"user class raw", Match{UserClass: []string{"iPXE"}}, Request{Client: ipxeBIOS()}, true},
		{"user class parsed", Match{UserClass: []string{"pxekit"}}, Request{Client: func() archdetect.Client {
			c := ipxeBIOS()
			c.UserClasses, c.UserClassRaw = []string{"pxekit"}, []byte("\x06pxekit")
			return c
		}()}, true},
		{"user class miss", Match{UserClass: []string{"pxekit"}}, Request{Client: ipxeBIOS()}, false},
		{"features all present", Match{IPXEFeatures: []archdetect.IPXEFeature{19, 24}}, Request{Client: ipxeBIOS()}, true},
		{"feature missing (https)", Match{IPXEFeatures: []archdetect.IPXEFeature{19, 20}}, Request{Client: ipxeBIOS()}, false},
		{"mac exact", Match{MAC: []MACPattern{MustParseMACPattern("52:54:00:77:00:0b")}}, Request{Client: ovmfPXE()}, true},
		{"mac oui", Match{MAC: []MACPattern{MustParseMACPattern("52:54:00")}}, Request{Client: ovmfPXE()}, true},
		{"mac oui miss", Match{MAC: []MACPattern{MustParseMACPattern("52:54:01")}}, Request{Client: ovmfPXE()}, false},
		{"mac wildcard", Match{MAC: []MACPattern{MustParseMACPattern("52:*:00:77:*:0b")}}, Request{Client: ovmfPXE()}, true},
		{"mac mask", Match{MAC: []MACPattern{MustParseMACPattern("52:54:00:77:00:08/ff:ff:ff:ff:ff:f8")}}, Request{Client: ovmfPXE()}, true},
		{"vendor class prefix", Match{VendorClass: []string{"HTTPClient"}}, Request{Client: ovmfHTTP()}, true},
		{"vendor class miss", Match{VendorClass: []string{"U-Boot"}}, Request{Client: ovmfHTTP()}, false},
		{"uuid case-insensitive", Match{UUID: []string{"00112233-4455-6677-8899-AABBCCDDEEFF"}}, Request{Client: ovmfPXE()}, true},
		{"uuid absent", Match{UUID: []string{"00112233-4455-6677-8899-AABBCCDDEEFF"}}, Request{Client: biosROM()}, false},
		{"relayed yes", Match{Relayed: Yes}, relayed, true},
		{"relayed yes, direct", Match{Relayed: Yes}, Request{Client: ovmfPXE()}, false},
		{"relayed no, direct", Match{Relayed: No}, Request{Client: ovmfPXE()}, true},
		{"relay subnet", Match{RelayNet: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, relayed, true},
		{"relay subnet miss", Match{RelayNet: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}}, relayed, false},
		{"relay subnet, direct", Match{RelayNet: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, Request{Client: ovmfPXE()}, false},
		{"interface", Match{Interface: []string{"eth0", "eth1"}}, relayed, true},
		{"interface miss", Match{Interface: []string{"eth0"}}, relayed, false},
		{"AND of fields", Match{Archs: []archdetect.Arch{7}, IPXE: Yes}, Request{Client: ovmfPXE()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Matches(&tt.r); got != tt.want {
				t.Errorf("Matches = %v, want %v (match: %s)", got, tt.want, tt.m.describe())
			}
		})
	}
}

func TestFirstMatchWinsAcrossMACIndex(t *testing.T) {
	mac := ovmfPXE().MAC
	p := MustNewPolicy(
		Rule{Name: "uefi-ipxe", Match: Match{Archs: []archdetect.Arch{7}, IPXE: Yes}, Action: Action{BootFile: lit("a")}},
		Rule{Name: "this-mac-bios", Match: Match{MAC: []MACPattern{ExactMAC(mac)}, Firmware: []archdetect.Firmware{archdetect.FirmwareBIOS}}, Action: Action{BootFile: lit("b")}},
		Rule{Name: "oui", Match: Match{MAC: []MACPattern{MustParseMACPattern("52:54:00")}, Archs: []archdetect.Arch{0}}, Action: Action{BootFile: lit("c")}},
		Rule{Name: "this-mac", Match: Match{MAC: []MACPattern{ExactMAC(mac), MustParseMACPattern("02:00:00:00:00:01")}}, Action: Action{BootFile: lit("d")}},
		Rule{Name: "uefi", Match: Match{Firmware: []archdetect.Firmware{archdetect.FirmwareUEFI}}, Action: Action{BootFile: lit("e")}},
		Rule{Name: "ignore-rest", Action: Action{Ignore: true}},
	)
	cases := []struct {
		c    archdetect.Client
		want string
	}{
		{ovmfPXE(), "this-mac"},        // indexed rule 4 beats scanned rule 5
		{ipxeBIOS(), "oui"},            // other MAC: not in index
		{arm64UEFI(), "uefi"},          // no MAC rule
		{plainClient(), "ignore-rest"}, // catch-all
	}
	for _, c := range cases {
		d := p.Decide(&Request{Client: c.c})
		if !d.Matched() || d.RuleName() != c.want {
			t.Errorf("%s: decided %v, want rule %q", c.c.MAC, d, c.want)
		}
	}
	// An indexed rule earlier than every scanned rule still loses to nothing.
	p2 := MustNewPolicy(
		Rule{Name: "mac-first", Match: Match{MAC: []MACPattern{ExactMAC(mac)}}, Action: Action{BootFile: lit("x")}},
		Rule{Name: "all", Action: Action{BootFile: lit("y")}},
	)
	if d := p2.Decide(&Request{Client: ovmfPXE()}); d.RuleName() != "mac-first" {
		t.Errorf("got %v", d)
	}
	if d := p2.Decide(&Request{Client: biosROM()}); d.RuleName() != "all" {
		t.Errorf("got %v", d)
	}
	if d := p2.Decide(&Request{Client: archdetect.Client{}}); d.RuleName() != "all" {
		t.Errorf("nil MAC: got %v", d)
	}
}

func TestDecisionExplains(t *testing.T) {
	p := MustNewPolicy(Rule{Name: "lab-uefi", Match: Match{
		Archs: []archdetect.Arch{7, 9}, IPXE: No, MAC: []MACPattern{MustParseMACPattern("52:54:00")},
		RelayNet: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}, Action: Action{BootFile: lit("ipxe.efi")}})
	d := p.Decide(&Request{Client: ovmfPXE(), Relay: netip.MustParseAddr("10.0.0.1")})
	want := `rule "lab-uefi" (#1) matched: arch in {7,9}, ipxe=no, mac=52:54:00, relay=10.0.0.0/8`
	if d.Why != want || d.String() != want {
		t.Errorf("Why = %q\nwant  %q", d.Why, want)
	}
	d = p.Decide(&Request{Client: biosROM()})
	if d.Matched() || d.Boot() || d.Why != "no rule matched" {
		t.Errorf("no match: %+v", d)
	}
	var nilPolicy *Policy
	if d := nilPolicy.Decide(&Request{}); d.Matched() {
		t.Error("nil policy matched")
	}
}

func TestNewPolicyErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"no name", []Rule{{}}, "no name"},
		{"dup", []Rule{{Name: "a"}, {Name: "a"}}, "two rules"},
		{"zero mac", []Rule{{Name: "a", Match: Match{MAC: []MACPattern{{}}}}}, "zero MACPattern"},
		{"bad prefix", []Rule{{Name: "a", Match: Match{RelayNet: []netip.Prefix{{}}}}}, "relay prefix"},
		{"v6 next", []Rule{{Name: "a", Action: Action{NextServer: netip.MustParseAddr("::1")}}}, "IPv4"},
		{"opt 255", []Rule{{Name: "a", Action: Action{Options: []Option{{255, nil}}}}}, "cannot be set"},
		{"long opt", []Rule{{Name: "a", Action: Action{Options: []Option{{66, make([]byte, 256)}}}}}, "longer than 255"},
		{"sname", []Rule{{Name: "a", Action: Action{ServerName: strings.Repeat("x", 64)}}}, "63"},
		{"pxe bits", []Rule{{Name: "a", Action: Action{PXE: &PXEOptions{DiscoveryControl: 0x18}}}}, "bits 4-7"},
		{"pxe server v6", []Rule{{Name: "a", Action: Action{PXE: &PXEOptions{BootServers: []BootServer{{Type: 1, Addrs: []netip.Addr{netip.MustParseAddr("::1")}}}}}}}, "not IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPolicy(tt.rules...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{UserClass: "pxekit", HTTPBase: "http://{{server}}:8080"})
	if err != nil {
		t.Fatal(err)
	}
	server := netip.MustParseAddr("10.77.0.1")
	marker := biosROM()
	marker.UserClasses, marker.UserClassRaw = []string{"pxekit"}, []byte("pxekit")
	tests := []struct {
		name     string
		c        archdetect.Client
		rule     string
		bootFile string
	}{
		{"iPXE gets the script (loop broken)", ipxeBIOS(), "ipxe", "http://10.77.0.1/boot.ipxe?mac=52-54-00-77-00-0c&arch=0&uuid="},
		{"our marker", marker, "ipxe-marker", "http://10.77.0.1/boot.ipxe?mac=52-54-00-77-00-0c&arch=0&uuid="},
		{"BIOS ROM", biosROM(), "bios", "undionly.kpxe"},
		{"OVMF x64", ovmfPXE(), "uefi-x64", "ipxe.efi"},
		{"arch 9 is x64", func() archdetect.Client { c := ovmfPXE(); c.Arch, c.Archs = 9, []archdetect.Arch{9}; return c }(), "uefi-x64", "ipxe.efi"},
		{"ARM64", arm64UEFI(), "uefi-arm64", "snp.efi"},
		{"HTTP boot", ovmfHTTP(), "http-x64", "http://10.77.0.1:8080/ipxe.efi"},
		{"HTTP boot arm64", func() archdetect.Client {
			c := ovmfHTTP()
			c.Arch, c.Archs, c.CPU = iana.EFI_ARM64_HTTP, []archdetect.Arch{iana.EFI_ARM64_HTTP}, archdetect.CPUARM64
			return c
		}(), "http-arm64", "http://10.77.0.1:8080/snp.efi"},
		{"plain client", plainClient(), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{Client: tt.c, ServerIP: server}
			d := p.Decide(r)
			if tt.rule == "" {
				if d.Matched() {
					t.Fatalf("matched %v", d)
				}
				return
			}
			if !d.Matched() || d.RuleName() != tt.rule {
				t.Fatalf("decision %v, want rule %q", d, tt.rule)
			}
			if got := d.BootFile().Expand(r); got != tt.bootFile {
				t.Errorf("boot file %q, want %q", got, tt.bootFile)
			}
		})
	}
	if _, err := DefaultPolicy(DefaultConfig{ScriptURL: "{{nope}}"}); err == nil {
		t.Error("bad script template accepted")
	}
	if _, err := DefaultPolicy(DefaultConfig{HTTPBase: "files/"}); err == nil {
		t.Error("non-URL HTTP base accepted")
	}
}

// benchPolicy has n exact-MAC rules followed by the default rules.
func benchPolicy(b testing.TB, n int) (*Policy, []net.HardwareAddr) {
	rules := make([]Rule, 0, n+8)
	macs := make([]net.HardwareAddr, n)
	for i := range n {
		hw := net.HardwareAddr{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		macs[i] = hw
		rules = append(rules, Rule{
			Name:   fmt.Sprintf("host-%d", i),
			Match:  Match{MAC: []MACPattern{ExactMAC(hw)}},
			Action: Action{BootFile: lit(fmt.Sprintf("hosts/%d.efi", i))},
		})
	}
	def, err := DefaultRules(DefaultConfig{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPolicy(append(rules, def...)...)
	if err != nil {
		b.Fatal(err)
	}
	return p, macs
}

func TestMACIndexAtScale(t *testing.T) {
	p, macs := benchPolicy(t, 10000)
	for _, i := range []int{0, 1, 4999, 9999} {
		c := ovmfPXE()
		c.MAC = macs[i]
		if d := p.Decide(&Request{Client: c}); !d.Matched() || d.RuleName() != fmt.Sprintf("host-%d", i) {
			t.Errorf("mac %s: %v", macs[i], d)
		}
	}
	if d := p.Decide(&Request{Client: ovmfPXE()}); !d.Matched() || d.RuleName() != "uefi-x64" {
		t.Errorf("unknown mac: %v", d)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c := ovmfPXE()
		c.MAC = macs[1234]
		_ = p.Decide(&Request{Client: c})
	})
	if allocs > 3 { // ovmfPXE itself allocates; Decide must add nothing
		t.Errorf("allocs per decide = %v", allocs)
	}
}

func BenchmarkDecide10kMACRules(b *testing.B) {
	p, macs := benchPolicy(b, 10000)
	reqs := make([]Request, 256)
	for i := range reqs {
		c := ovmfPXE()
		c.MAC = macs[(i*7919)%len(macs)]
		reqs[i] = Request{Client: c}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if d := p.Decide(&reqs[i&255]); !d.Matched() {
			b.Fatal("no match")
		}
	}
}

func BenchmarkDecide10kMACRulesMiss(b *testing.B) {
	p, _ := benchPolicy(b, 10000)
	r := &Request{Client: ovmfPXE()}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Decide(r); !d.Matched() {
			b.Fatal("no match")
		}
	}
}

func TestDecisionExplainFacts(t *testing.T) {
	p, _ := DefaultPolicy(DefaultConfig{})
	r := &Request{Client: ovmfPXE(), Relay: netip.MustParseAddr("10.1.0.1"), Interface: "br0"}
	got := p.Decide(r).Explain(r)
	for _, want := range []string{`rule "uefi-x64" (#12) matched: arch in {7,9}`, "mac=52:54:00:77:00:0b", "arch=7", "firmware=uefi",
		"transport=pxe", "ipxe=false", `vendor-class="PXEClient:Arch:00007:UNDI:003000"`, "uuid=00112233-", "relay=10.1.0.1", "interface=br0"} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain = %s\nmissing %s", got, want)
		}
	}
	r = &Request{Client: plainClient()}
	if got := p.Decide(r).Explain(r); !strings.HasPrefix(got, "no rule matched [") || !strings.Contains(got, "arch=none") {
		t.Errorf("Explain = %s", got)
	}
}

// NewPolicy freezes its rules: changing the rules it was given, even inside
// their lists, changes neither its decisions nor Rules (before issue 19 it
// kept a shallow copy sharing the caller's lists).
func TestNewPolicyFreezesRules(t *testing.T) {
	rules := []Rule{{Name: "uefi",
		Match: Match{Archs: []archdetect.Arch{7}, MAC: []MACPattern{MustParseMACPattern("52:54:00:*")}},
		Action: Action{BootFile: lit("ipxe.efi"), Options: []Option{{Code: 252, Value: []byte("x")}},
			PXE: &PXEOptions{DiscoveryControl: DiscoveryBootFile}, PXELinux: &PXELinux{ConfigFile: "a"}}}}
	p := MustNewPolicy(rules...)
	rules[0].Match.Archs[0] = 9
	rules[0].Match.MAC[0] = MustParseMACPattern("00:00:00:*")
	rules[0].Action.Options[0].Value[0] = 'y'
	rules[0].Action.PXE.DiscoveryControl = 0
	rules[0].Action.PXELinux.ConfigFile = "b"
	d := p.Decide(&Request{Client: ovmfPXE()})
	if !d.Matched() {
		t.Fatalf("after changing the rules given to NewPolicy, Decide(OVMF) = %q, want rule uefi", d.Why)
	}
	got := d.Rule()
	if got.Match.Archs[0] != 7 || got.Action.Options[0].Value[0] != 'x' || got.Action.PXE.DiscoveryControl != DiscoveryBootFile ||
		got.Action.PXELinux.ConfigFile != "a" {
		t.Errorf("after changing the rules given to NewPolicy, the decision's rule is %+v", got)
	}
}

// A reply built from a decision shares nothing mutable with the policy's
// frozen rule: changing the reply's option values (DHCPv4 options, DHCPv6
// boot parameters) does not change the next decision.
func TestReplyDoesNotShareTheRule(t *testing.T) {
	p := MustNewPolicy(Rule{Name: "r", Action: Action{BootFile: lit("ipxe.efi"), BootParams: []string{"a=1"},
		Options: []Option{{Code: 252, Value: []byte("x")}}}})
	r := &Request{Client: ovmfPXE(), ServerIP: netip.MustParseAddr("fd00::1")}
	sol := captureSolicit(t)
	resp6, err := dhcpv6.NewAdvertiseFromSolicit(sol)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply6(p.Decide(r), r, sol, resp6, ReplyOptions{}); err != nil {
		t.Fatal(err)
	}
	resp6.Options.BootFileParam()[0] = "changed"
	req4 := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	r4 := &Request{Client: ovmfPXE(), ServerIP: testServer, Mode: ModeProxy}
	resp4, _ := dhcpv4.NewReplyFromRequest(req4)
	if err := Apply4(p.Decide(r4), r4, req4, resp4, ReplyOptions{}); err != nil {
		t.Fatal(err)
	}
	resp4.Options[252][0] = 'y'
	got := p.Decide(r).Rule().Action
	if got.BootParams[0] != "a=1" || string(got.Options[0].Value) != "x" {
		t.Errorf("after changing replies, the rule's action is %+v", got)
	}
}
