package dhcpboot

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// ubootDiscover returns a DHCPDISCOVER laid out as U-Boot's net/bootp.c
// (bootp_request and dhcp_extended) writes it: BOOTP header, magic cookie,
// option 53, 57 (576-312+OPT_FIELD_SIZE), 93 (CONFIG_BOOTP_PXE_CLIENTARCH or
// $bootp_arch; left out when arch is 0, as U-Boot does), 94 (UNDI 1.0.0),
// 60 (CONFIG_BOOTP_VCI_STRING or $bootp_vci; left out when empty), 55 and
// the end option. U-Boot 2023.04 and later also ask for 209 in option 55.
func ubootDiscover(t *testing.T, mac string, arch uint16, vci string) *dhcpv4.DHCPv4 {
	t.Helper()
	b := make([]byte, 236)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte address
	binary.BigEndian.PutUint32(b[4:], 0x5400770e)
	copy(b[28:], mustMAC(mac))
	b = append(b, 99, 130, 83, 99)
	b = append(b, 53, 1, 1, 57, 2, 0x02, 0x40)
	if arch != 0 {
		b = append(b, 93, 2, byte(arch>>8), byte(arch))
	}
	b = append(b, 94, 3, 1, 0, 0)
	if vci != "" {
		b = append(b, 60, byte(len(vci)))
		b = append(b, vci...)
	}
	b = append(b, 55, 7, 1, 3, 6, 12, 15, 17, 209, 255)
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("U-Boot DISCOVER does not parse: %v", err)
	}
	return m
}

// TestDefaultPolicyUBoot checks that U-Boot, as it asks, gets a boot answer
// from the default policy: the next server and option 209 that its
// `pxe get` reads, in the reply Apply writes.
func TestDefaultPolicyUBoot(t *testing.T) {
	tests := []struct {
		name   string
		arch   uint16
		vci    string
		cfg    DefaultConfig
		rule   string
		config string // option 209; "" = none
		file   string
	}{
		{"arm64 (qemu_arm64, 2023.01)", 22, "U-Boot.armv8", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"armv7", 21, "U-Boot.armv7", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"arm32 by arch alone", 21, "", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"arm64 by arch alone", 22, "", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"arm64 over HTTP", 24, "U-Boot.armv8", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"vendor class alone", 0, "U-Boot.armv8", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"RISC-V 64 U-Boot sends the UEFI code", 27, "U-Boot", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"RISC-V 32 U-Boot sends the UEFI code", 25, "U-Boot", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"old U-Boot: arch 0x100, U-boot.armv8", 0x100, "U-boot.armv8.hikey", DefaultConfig{}, "uboot", DefaultUBootConfig, ""},
		{"configured config file", 22, "U-Boot.armv8", DefaultConfig{UBootConfig: "pxelinux.cfg/arm64"}, "uboot", "pxelinux.cfg/arm64", ""},
		{"RISC-V 64 UEFI is not U-Boot", 27, "PXEClient:Arch:00027:UNDI:003016", DefaultConfig{}, "uefi-riscv64", "", "snp-riscv64.efi"},
		{"U-Boot's distro EFI boot poses as ARM64 UEFI", 11, "PXEClient:Arch:00011:UNDI:003000", DefaultConfig{}, "uefi-arm64", "", "snp.efi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DefaultPolicy(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := ubootDiscover(t, "52:54:00:77:00:21", tt.arch, tt.vci)
			r := Request{Client: archdetect.FromDHCPv4(m), ServerIP: testServer, Mode: ModeFull}
			d := p.Decide(&r)
			if !d.Boot() || d.RuleName() != tt.rule {
				t.Fatalf("decision %v, want rule %q to boot the client", d, tt.rule)
			}
			resp, err := dhcpv4.NewReplyFromRequest(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := Apply4(d, &r, m, resp, ReplyOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := resp.ServerIPAddr.String(); got != testServer.String() {
				t.Errorf("siaddr %s, want %s (U-Boot's serverip)", got, testServer)
			}
			if got := string(resp.Options.Get(dhcpv4.GenericOptionCode(209))); got != tt.config {
				t.Errorf("option 209 %q, want %q", got, tt.config)
			}
			if got := resp.BootFileNameOption(); got != tt.file {
				t.Errorf("boot file %q, want %q", got, tt.file)
			}
		})
	}
}

// TestDefaultRulesFollowBootFiles checks the default policy against the
// boot-file table for every code of the IANA registry: a PXE client gets
// the table's file over TFTP, an HTTP boot client the same file under
// HTTPBase, a code the table lacks gets nothing.
func TestDefaultRulesFollowBootFiles(t *testing.T) {
	files := BootFiles{UEFIIA32: "i386/ipxe.efi", RISCV64: "riscv/snp.efi"} // the others default
	p, err := DefaultPolicy(DefaultConfig{Files: files, HTTPBase: "http://{{server}}:8080/ipxe"})
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range archdetect.Registry() {
		if info.Firmware == archdetect.FirmwareUBoot {
			continue // TestDefaultPolicyUBoot
		}
		t.Run(info.String(), func(t *testing.T) {
			c := archdetect.Client{Arch: info.Code, HasArch: true, ArchName: info.Name,
				Firmware: info.Firmware, CPU: info.CPU, Transport: info.Transport, MAC: mustMAC("52:54:00:00:00:01")}
			r := Request{Client: c, ServerIP: testServer}
			d := p.Decide(&r)
			file, ok := files.File(info.Code)
			if !ok {
				if d.Matched() {
					t.Fatalf("no boot file in the table, but %v", d)
				}
				return
			}
			want := file
			if info.Transport == archdetect.TransportHTTP {
				want = "http://10.77.0.1:8080/ipxe/" + file
			}
			if !d.Boot() {
				t.Fatalf("table names %q, policy decides %v", file, d)
			}
			if got := d.BootFile().Expand(&r); got != want {
				t.Errorf("rule %q hands out %q, want %q", d.RuleName(), got, want)
			}
		})
	}
}

func TestBootFilesFile(t *testing.T) {
	def := DefaultBootFiles()
	for _, tt := range []struct {
		b    BootFiles
		arch archdetect.Arch
		want string
		ok   bool
	}{
		{BootFiles{}, 0, "undionly.kpxe", true},
		{BootFiles{}, 7, "ipxe.efi", true},
		{BootFiles{}, 9, "ipxe.efi", true},
		{BootFiles{}, 16, "ipxe.efi", true},
		{BootFiles{}, 6, "ipxe-i386.efi", true},
		{BootFiles{}, 15, "ipxe-i386.efi", true},
		{BootFiles{}, 11, "snp.efi", true},
		{BootFiles{}, 19, "snp.efi", true},
		{BootFiles{}, 10, "snp-arm32.efi", true},
		{BootFiles{}, 27, "snp-riscv64.efi", true},
		{BootFiles{}, 25, "snp-riscv32.efi", true},
		{BootFiles{}, archdetect.ArchLoongArch64UEFIHTTP, "snp-loong64.efi", true},
		{BootFiles{BIOS: "pxelinux.0"}, 0, "pxelinux.0", true},
		{BootFiles{BIOS: "pxelinux.0"}, 7, def.UEFIX64, true},
		{BootFiles{}, 20, "", false}, // BIOS HTTP boot: undionly needs the ROM's UNDI
		{BootFiles{}, 22, "", false}, // U-Boot gets a PXELINUX config, not iPXE
		{BootFiles{}, 12, "", false},
		{BootFiles{}, 0x100, "", false},
	} {
		if got, ok := tt.b.File(tt.arch); got != tt.want || ok != tt.ok {
			t.Errorf("%+v.File(%d) = %q, %v; want %q, %v", tt.b, tt.arch, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDefaultRulesBadBootFile(t *testing.T) {
	_, err := DefaultRules(DefaultConfig{Files: BootFiles{ARM64: "{{nope}}"}})
	if err == nil || !strings.Contains(err.Error(), `"uefi-arm64"`) {
		t.Errorf("err = %v, want one naming rule uefi-arm64", err)
	}
}

// ExampleBootFiles shows the one boot-file table and a site's change to it.
func ExampleBootFiles() {
	files := BootFiles{BIOS: "pxelinux.0"}
	for _, a := range []archdetect.Arch{0, 7, 19, 22} {
		f, ok := files.File(a)
		fmt.Printf("%-28s %q %v\n", archdetect.ArchName(a), f, ok)
	}
	// Output:
	// x86 BIOS                     "pxelinux.0" true
	// x64 UEFI                     "ipxe.efi" true
	// arm uefi 64 boot from http   "snp.efi" true
	// arm 64 uboot                 "" false
}
