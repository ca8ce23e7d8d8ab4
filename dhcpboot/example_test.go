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

// The default policy breaks the iPXE chainload loop: the PXE ROM gets
// iPXE, iPXE gets the script URL.
func ExampleDefaultPolicy() {
	p, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe?mac={{mac_hyphen}}"})
	if err != nil {
		panic(err)
	}
	mac, _ := net.ParseMAC("52:54:00:77:00:0b")
	rom := archdetect.Client{MAC: mac, Arch: 7, HasArch: true, Firmware: archdetect.FirmwareUEFI}
	ipxe := rom
	ipxe.IPXE = true
	for _, c := range []archdetect.Client{rom, ipxe} {
		r := &dhcpboot.Request{Client: c, ServerIP: netip.MustParseAddr("10.77.0.1")}
		d := p.Decide(r)
		fmt.Println(d.Why)
		fmt.Println("  boot file:", d.BootFile().Expand(r))
	}
	// Output:
	// rule "uefi-x64" (#12) matched: arch in {7,9}
	//   boot file: ipxe.efi
	// rule "ipxe" (#1) matched: ipxe=yes
	//   boot file: http://10.77.0.1:8080/boot.ipxe?mac=52-54-00-77-00-0b
}

// Per-host rules go before the defaults; exact MACs are looked up in a map,
// so thousands of them cost nothing.
func ExampleNewPolicy() {
	defaults, _ := dhcpboot.DefaultRules(dhcpboot.DefaultConfig{})
	rules := append([]dhcpboot.Rule{
		{
			Name:   "rack-1-memtest",
			Match:  dhcpboot.Match{MAC: []dhcpboot.MACPattern{dhcpboot.MustParseMACPattern("52:54:00:77:00:0c")}},
			Action: dhcpboot.Action{BootFile: dhcpboot.MustParseTemplate("memtest.0")},
		},
		{
			Name:   "not-ours",
			Match:  dhcpboot.Match{MAC: []dhcpboot.MACPattern{dhcpboot.MustParseMACPattern("00:50:56")}},
			Action: dhcpboot.Action{Ignore: true},
		},
	}, defaults...)
	p := dhcpboot.MustNewPolicy(rules...)
	mac, _ := net.ParseMAC("52:54:00:77:00:0c")
	d := p.Decide(&dhcpboot.Request{Client: archdetect.Client{MAC: mac, Arch: 0, HasArch: true}})
	fmt.Println(d.Why)
	// Output:
	// rule "rack-1-memtest" (#1) matched: mac=52:54:00:77:00:0c
}

// A responder decides once per message; Apply4 writes the decision into a
// reply the way PXE firmware reads it. The server address and the reply
// mode travel in the Request the responder built.
func ExampleApply4() {
	mac, _ := net.ParseMAC("52:54:00:77:00:0b")
	discover, _ := dhcpv4.NewDiscovery(mac,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
	p, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	h := &dhcpboot.Responder4{Policy: p, ServerIP: netip.MustParseAddr("10.77.0.1")}
	r, d := h.Decide(discover, dhcpboot.Arrival{Mode: dhcpboot.ModeProxy})
	offer, _ := dhcpv4.NewReplyFromRequest(discover, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	err := dhcpboot.Apply4(d, r, discover, offer, dhcpboot.ReplyOptions{DirectUEFI: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("siaddr:", offer.ServerIPAddr)
	fmt.Printf("file: %q, option 67: %q\n", offer.BootFileName, offer.BootFileNameOption())
	fmt.Printf("option 60: %q, option 43: % x\n", offer.ClassIdentifier(), offer.Options.Get(dhcpv4.OptionVendorSpecificInformation))
	// Output:
	// siaddr: 10.77.0.1
	// file: "ipxe.efi", option 67: "ipxe.efi"
	// option 60: "PXEClient", option 43: 06 01 08 ff
}
