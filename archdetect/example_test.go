package archdetect_test

import (
	"fmt"
	"net"
	"net/http/httptest"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// request builds a DHCPDISCOVER as firmware sends it.
func request(hw string, opts ...dhcpv4.Option) *dhcpv4.DHCPv4 {
	mac, _ := net.ParseMAC(hw)
	m, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		panic(err)
	}
	for _, o := range opts {
		m.UpdateOption(o)
	}
	return m
}

func describe(c archdetect.Client) {
	fmt.Printf("%s arch %d (%s) firmware=%s cpu=%s transport=%s ipxe=%v undi=%s uuid=%s\n",
		c.MAC, c.Arch, c.ArchName, c.Firmware, c.CPU, c.Transport, c.IPXE, c.UNDI, c.UUID)
}

// A legacy BIOS PXE 2.1 option ROM: arch 0, PXEClient, UNDI 2.1.
func Example_biosPXEROM() {
	m := request("52:54:00:77:00:01",
		dhcpv4.OptClientArch(iana.INTEL_X86PC),
		dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"),
	)
	describe(archdetect.FromDHCPv4(m))
	// Output:
	// 52:54:00:77:00:01 arch 0 (x86 BIOS) firmware=bios cpu=x86 transport=pxe ipxe=false undi=UNDI 2.1 uuid=
}

// OVMF's own UEFI PXE client, as in ovmf-pxe-tftp-ipxe-efi.pcapng: arch 7,
// UNDI 3.0, and option 97 in GUID byte order.
func Example_ovmfUEFIPXE() {
	guid := []byte{0, 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	m := request("52:54:00:77:00:0b",
		dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, guid),
		dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3, 0}),
		dhcpv4.OptClientArch(iana.EFI_X86_64),
		dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000"),
	)
	describe(archdetect.FromDHCPv4(m))
	// Output:
	// 52:54:00:77:00:0b arch 7 (x64 UEFI) firmware=uefi cpu=x86_64 transport=pxe ipxe=false undi=UNDI 3.0 uuid=00112233-4455-6677-8899-aabbccddeeff
}

// iPXE after the chainload (ipxe.efi asking DHCP again): raw user class
// "iPXE" and option 175 with its features and version. A server must tell
// it from the firmware before it (and hand it a script, not ipxe.efi
// again), or the boot loops.
func Example_iPXEAfterChainload() {
	m := request("52:54:00:77:00:0b",
		dhcpv4.OptClientArch(iana.EFI_X86_64),
		dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3, 10}),
		dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010"),
		dhcpv4.OptUserClass("iPXE"),
		dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, []byte{
			0xb1, 5, 1, 0x1a, 0xf4, 0x10, 0x00, // bus id: PCI 1af4:1000
			0xeb, 3, 1, 0, 0, // version 1.0.0
			0x13, 1, 1, 0x24, 1, 1, 0x17, 1, 1, // http, efi, dns
		}),
	)
	c := archdetect.FromDHCPv4(m)
	describe(c)
	fmt.Println(" ", c.UserClasses, c.IPXEInfo.FeatureNames(), c.IPXEInfo.VersionString(), c.IPXEInfo.BusIDString(),
		"https:", c.IPXEInfo.Has(archdetect.FeatureHTTPS))
	// Output:
	// 52:54:00:77:00:0b arch 7 (x64 UEFI) firmware=uefi cpu=x86_64 transport=pxe ipxe=true undi=UNDI 3.10 uuid=
	//   [iPXE] [http efi dns] 1.0.0 pci 1af4:1000 https: false
}

// OVMF UEFI HTTP boot: arch 16 and HTTPClient; the boot file must be a URL.
func Example_uefiHTTPBoot() {
	m := request("52:54:00:77:00:0d",
		dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3, 0}),
		dhcpv4.OptClientArch(iana.EFI_X86_64_HTTP),
		dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003000"),
	)
	c := archdetect.FromDHCPv4(m)
	describe(c)
	if c.Transport == archdetect.TransportHTTP {
		fmt.Println("  needs a boot file URL, not a TFTP name")
	}
	// Output:
	// 52:54:00:77:00:0d arch 16 (x64 uefi boot from http) firmware=uefi cpu=x86_64 transport=http ipxe=false undi=UNDI 3.0 uuid=
	//   needs a boot file URL, not a TFTP name
}

// The HTTP request an iPXE script makes with
// ?mac=${net0/mac:hexhyp}&buildarch=${buildarch}&platform=${platform}&uuid=${uuid}.
func ExampleFromHTTP() {
	r := httptest.NewRequest("GET", "/boot.ipxe?mac=52-54-00-77-00-0a&buildarch=i386&platform=pcbios&uuid=00112233-4455-6677-8899-aabbccddeeff", nil)
	r.Header.Set("User-Agent", "iPXE/1.21.1+ (g3f5b6)")
	c := archdetect.FromHTTP(r)
	fmt.Println(c.MAC, c.Firmware, c.CPU, c.IPXE, c.IPXEInfo.Platform, c.IPXEInfo.BuildArch, c.IPXEInfo.VersionString(), c.UUID)
	// Output:
	// 52:54:00:77:00:0a bios x86 true pcbios i386 1.21.1 00112233-4455-6677-8899-aabbccddeeff
}

// U-Boot's `dhcp` on qemu_arm64 (2023.01): arch 22 and option 60
// "U-Boot.armv8"; older U-Boot sends "U-boot.armv8" and arch 0x100, which is
// no IANA code, and is still U-Boot.
func Example_uBoot() {
	for _, o := range [][]dhcpv4.Option{
		{dhcpv4.OptClientArch(iana.UBOOT_ARM64), dhcpv4.OptClassIdentifier("U-Boot.armv8")},
		{dhcpv4.OptClientArch(0x100), dhcpv4.OptClassIdentifier("U-boot.armv8.hikey_aemv8a")},
	} {
		c := archdetect.FromDHCPv4(request("52:54:00:77:00:21", o...))
		fmt.Println(int(c.Arch), c.ArchName, c.Firmware, c.CPU, c.VendorClass.Kind)
	}
	// Output:
	// 22 arm 64 uboot uboot arm64 U-Boot
	// 256 unknown uboot unknown U-Boot
}

// Code 9 is treated as x86-64 UEFI, keeping the raw code.
func ExampleLookup() {
	for _, a := range []archdetect.Arch{7, 9, 0x2a} {
		info, ok := archdetect.Lookup(a)
		fmt.Println(info, info.CPU, ok)
	}
	// Output:
	// 0x0007 (x64 UEFI) x86_64 true
	// 0x0009 (EBC) x86_64 true
	// 0x002a (unknown) unknown false
}
