package archdetect

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// TestDHCPv6DUIDUUIDOrder: the two firmwares write the DUID-UUID of the
// same machine (QEMU -uuid 00112233-4455-6677-8899-aabbccddeeff) in two
// byte orders. EDK2 (OVMF's PXE and HTTP boot) copies the SMBIOS GUID as
// it is, first three fields little-endian: 33 22 11 00 55 44 77 66 ….
// iPXE (dhcpv6.c, fetch_uuid_setting without the uuid_mangle its DHCPv4
// option 97 gets) sends RFC 6355's network order: 00 11 22 33 44 55 ….
// Both must read as the machine's UUID. Before, iPXE's read as
// 33221100-5544-7766-8899-aabbccddeeff.
func TestDHCPv6DUIDUUIDOrder(t *testing.T) {
	const want = "00112233-4455-6677-8899-aabbccddeeff"
	for _, tt := range []struct {
		name  string
		duid  [16]byte
		ipxe  bool
		order string
	}{
		{"EDK2", [16]byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, false, "GUID"},
		{"iPXE", [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, true, "network"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sol, err := dhcpv6.NewMessage(dhcpv6.WithOption(dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: tt.duid})),
				dhcpv6.WithOption(dhcpv6.OptClientArchType(iana.EFI_X86_64)))
			if err != nil {
				t.Fatalf("dhcpv6.NewMessage: %v", err)
			}
			if tt.ipxe {
				sol.AddOption(&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}})
			}
			c := FromDHCPv6(sol)
			if c.UUID != want {
				t.Errorf("FromDHCPv6(%s Solicit, DUID-UUID in %s order).UUID = %q, want %q", tt.name, tt.order, c.UUID, want)
			}
			if c.UUIDRaw == nil || [16]byte(c.UUIDRaw) != tt.duid {
				t.Errorf("UUIDRaw = % x, want the bytes as sent % x", c.UUIDRaw, tt.duid)
			}
		})
	}
}
