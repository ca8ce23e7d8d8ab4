package archdetect_test

import (
	"net/http/httptest"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit/archdetect"
)

// benchMessages returns the iPXE DISCOVER (frame 6 of bios-ipxe-rom-http)
// and OVMF's DHCPv6 Solicit (frame 16 of ovmf-no-dhcpv4-answer-dhcpv6).
func benchMessages(b *testing.B) (*dhcpv4.DHCPv4, dhcpv6.DHCPv6) {
	var v4 *dhcpv4.DHCPv4
	var v6 dhcpv6.DHCPv6
	for _, m := range readClientMessages(b, "bios-ipxe-rom-http.pcapng") {
		if m.frame == 6 {
			v4 = m.v4
		}
	}
	for _, m := range readClientMessages(b, "ovmf-no-dhcpv4-answer-dhcpv6.pcapng") {
		if m.frame == 16 {
			v6 = m.v6
		}
	}
	if v4 == nil || v6 == nil {
		b.Fatal("benchmark frames not found")
	}
	return v4, v6
}

func BenchmarkFromDHCPv4(b *testing.B) {
	v4, _ := benchMessages(b)
	b.ReportAllocs()
	for b.Loop() {
		c := archdetect.FromDHCPv4(v4)
		if !c.IPXE {
			b.Fatal("not iPXE")
		}
	}
}

// BenchmarkFromDHCPv4Wire includes dhcpv4.FromBytes, as a server pays it.
func BenchmarkFromDHCPv4Wire(b *testing.B) {
	v4, _ := benchMessages(b)
	wire := v4.ToBytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		m, err := dhcpv4.FromBytes(wire)
		if err != nil {
			b.Fatal(err)
		}
		archdetect.FromDHCPv4(m)
	}
}

func BenchmarkFromDHCPv6(b *testing.B) {
	_, v6 := benchMessages(b)
	b.ReportAllocs()
	for b.Loop() {
		if c := archdetect.FromDHCPv6(v6); !c.HasArch {
			b.Fatal("no arch")
		}
	}
}

func BenchmarkFromHTTP(b *testing.B) {
	r := httptest.NewRequest("GET", "/boot.ipxe?mac=52-54-00-77-00-0a&buildarch=x86_64&platform=efi&uuid=00112233-4455-6677-8899-aabbccddeeff", nil)
	r.Header.Set("User-Agent", "iPXE/1.21.1+ (g3f5b6)")
	b.ReportAllocs()
	for b.Loop() {
		if c := archdetect.FromHTTP(r); c.Arch != 7 {
			b.Fatal("wrong arch")
		}
	}
}

func BenchmarkParseIPXEOptions(b *testing.B) {
	v4, _ := benchMessages(b)
	raw := v4.Options.Get(dhcpv4.OptionEtherboot)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := archdetect.ParseIPXEOptions(raw); err != nil {
			b.Fatal(err)
		}
	}
}
