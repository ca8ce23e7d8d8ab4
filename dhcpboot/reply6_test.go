package dhcpboot

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// TestApply6VendorClass checks option 16 in the answers to EDK2's two
// DHCPv6 boot clients. PXE (vendor class PXEClient, the Solicit of the
// OVMF capture): no option 16 back. EDK2's PxeBcParseDhcp6Packet
// (NetworkPkg/UefiPxeBcDxe/PxeBcDhcp6.c) takes an answer carrying
// enterprise 343 "PXEClient" for a BINL offer and, before it boots, asks
// for the boot file again on port 4011 of the URL's server, which nobody
// answers: OVMF then gives up with "PXE-E16: No valid offer received."
// and releases its address. HTTP boot (HTTPClient): "HTTPClient" back,
// without which HttpBootParseDhcp6Packet (HttpBootDxe/HttpBootDhcp6.c)
// takes the answer for an address-only offer and waits for another.
func TestApply6VendorClass(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatalf("DefaultPolicy: %v", err)
	}
	h := &Responder6{Policy: p, ServerIP: testServer6}

	sol := captureSolicit(t)
	resp, _, _, err := h.Reply(sol, Arrival{})
	if err != nil {
		t.Fatalf("Reply(OVMF PXE Solicit): %v", err)
	}
	adv := resp.(*dhcpv6.Message)
	if got := adv.Options.BootFileURL(); got != "tftp://[fd00:77::1]/ipxe.efi" {
		t.Errorf("PXE Advertise: option 59 = %q, want tftp://[fd00:77::1]/ipxe.efi", got)
	}
	if vc := adv.Options.VendorClass(enterprisePXE); vc != nil {
		t.Errorf("PXE Advertise: option 16 = %q, want none (EDK2 would ask port 4011 for a BINL reply)", vc)
	}

	httpSol, err := dhcpv6.NewMessage(dhcpv6.WithOption(dhcpv6.OptClientID(sol.Options.ClientID())))
	if err != nil {
		t.Fatalf("dhcpv6.NewMessage: %v", err)
	}
	httpSol.MessageType = dhcpv6.MessageTypeSolicit
	httpSol.AddOption(dhcpv6.OptClientArchType(iana.EFI_X86_64_HTTP))
	httpSol.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: enterprisePXE, Data: [][]byte{[]byte("HTTPClient:Arch:00016:UNDI:003000")}})
	resp, _, _, err = h.Reply(httpSol, Arrival{})
	if err != nil {
		t.Fatalf("Reply(HTTP boot Solicit): %v", err)
	}
	adv = resp.(*dhcpv6.Message)
	if vc := adv.Options.VendorClass(enterprisePXE); len(vc) != 1 || string(vc[0]) != "HTTPClient" {
		t.Errorf("HTTP boot Advertise: option 16 = %q, want [HTTPClient]", vc)
	}
}
