package dhcpboot

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// TestLabServer6HTTPClient: a UEFI HTTP boot client's Solicit gets an
// Advertise that EDK2 takes as an HTTP offer with an address
// (HttpBootParseDhcp6Packet, NetworkPkg/HttpBootDxe/HttpBootDhcp6.c in
// edk2-stable202211): an IA_NA with an address and no error status, option
// 16 of at least 16 bytes with "HTTPClient" at offset 6 (after enterprise
// number and class length), and option 59 an http:// URL with an IPv6
// literal (HttpUrlGetIp6).
func TestLabServer6HTTPClient(t *testing.T) {
	p, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe", HTTPBase: "http://{{server}}:8080/"})
	if err != nil {
		t.Fatal(err)
	}
	s := &LabServer6{Policy: p, ServerIP: netip.MustParseAddr("fd77::1"),
		RangeStart: netip.MustParseAddr("fd77::100"), RangeEnd: netip.MustParseAddr("fd77::1ff")}
	x := s.Reply(httpSolicit(t), Arrival{})
	if x.Reply == nil {
		t.Fatalf("no reply: %s", x.NoReply)
	}
	adv := x.Reply.(*dhcpv6.Message)
	if got := iaAddr(t, adv); got != "fd77::100" {
		t.Errorf("IA_NA address %s, want fd77::100", got)
	}
	if u := adv.Options.BootFileURL(); u != "http://[fd77::1]:8080/ipxe.efi" {
		t.Errorf("option 59 %q, want http://[fd77::1]:8080/ipxe.efi", u)
	}
	o := adv.GetOneOption(dhcpv6.OptionVendorClass)
	if o == nil {
		t.Fatal("no option 16")
	}
	data := o.ToBytes()
	if len(data) < 16 || !bytes.Equal(data[6:16], []byte("HTTPClient")) || !bytes.Equal(data[:4], []byte{0, 0, 1, 0x57}) {
		t.Errorf("option 16 data %q, want enterprise 343, then HTTPClient at offset 6 (EDK2 compares Data+6, OpLen >= 16)", data)
	}
}
