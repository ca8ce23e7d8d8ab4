package dhcpboot

import (
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// BootFiles names the iPXE build each family of PXE and HTTP boot clients
// boots first: the one boot-file table of pxekit, used by [DefaultRules]
// (and so by [DefaultPolicy] and examples/pxeserver) and printed by
// examples/pxedump. An empty field means the default of
// [DefaultBootFiles]. Names are file names in the TFTP root; HTTP boot
// clients get the same name under [DefaultConfig.HTTPBase].
//
// Names are iPXE's build targets; where two builds share a name in iPXE's
// tree, the one that is not x86-64 gets a suffix so that all fit in one
// TFTP root:
//
//	bin/undionly.kpxe          undionly.kpxe     (BIOS, uses the ROM's UNDI)
//	bin-x86_64-efi/ipxe.efi    ipxe.efi          (x86-64 UEFI; Debian ships it)
//	bin-i386-efi/ipxe.efi      ipxe-i386.efi
//	bin-arm64-efi/snp.efi      snp.efi
//	bin-arm32-efi/snp.efi      snp-arm32.efi
//	bin-riscv64-efi/snp.efi    snp-riscv64.efi   (riscv32, loong64 alike)
type BootFiles struct {
	BIOS        string // arch 0
	UEFIIA32    string // arch 6 (and 15)
	UEFIX64     string // arch 7 and 9 (and 16); 9 is x86-64 in practice (RFC 4578 errata 4624)
	ARM32       string // arch 10 (and 18)
	ARM64       string // arch 11 (and 19)
	RISCV32     string // arch 25 (and 26)
	RISCV64     string // arch 27 (and 28)
	LoongArch64 string // arch 39 (and 40)
}

// DefaultBootFiles returns the table [DefaultRules] uses for empty fields.
func DefaultBootFiles() BootFiles {
	return BootFiles{
		BIOS:        "undionly.kpxe",
		UEFIIA32:    "ipxe-i386.efi",
		UEFIX64:     "ipxe.efi",
		ARM32:       "snp-arm32.efi",
		ARM64:       "snp.efi",
		RISCV32:     "snp-riscv32.efi",
		RISCV64:     "snp-riscv64.efi",
		LoongArch64: "snp-loong64.efi",
	}
}

// bootFamily is one row of the table: the rule names and the architecture
// codes that boot the same file over TFTP (PXE) and over HTTP.
type bootFamily struct {
	pxeRule, httpRule string
	pxe, http         []archdetect.Arch
	field             func(*BootFiles) *string
}

// bootFamilies lists the rows in the order of the default rules. Every
// architecture iPXE builds for is here; other codes match no row.
var bootFamilies = []bootFamily{
	// Arch 20 (BIOS HTTP boot) is left out: undionly.kpxe needs the PXE
	// ROM's UNDI, which an HTTP boot BIOS need not have.
	{"bios", "", []archdetect.Arch{iana.INTEL_X86PC}, nil, func(b *BootFiles) *string { return &b.BIOS }},
	{"uefi-ia32", "http-ia32", []archdetect.Arch{iana.EFI_IA32}, []archdetect.Arch{iana.EFI_X86_HTTP}, func(b *BootFiles) *string { return &b.UEFIIA32 }},
	{"uefi-x64", "http-x64", []archdetect.Arch{iana.EFI_X86_64, iana.EFI_BC}, []archdetect.Arch{iana.EFI_X86_64_HTTP}, func(b *BootFiles) *string { return &b.UEFIX64 }},
	{"uefi-arm32", "http-arm32", []archdetect.Arch{iana.EFI_ARM32}, []archdetect.Arch{iana.EFI_ARM32_HTTP}, func(b *BootFiles) *string { return &b.ARM32 }},
	{"uefi-arm64", "http-arm64", []archdetect.Arch{iana.EFI_ARM64}, []archdetect.Arch{iana.EFI_ARM64_HTTP}, func(b *BootFiles) *string { return &b.ARM64 }},
	{"uefi-riscv32", "http-riscv32", []archdetect.Arch{iana.EFI_RISCV32}, []archdetect.Arch{iana.EFI_RISCV32_HTTP}, func(b *BootFiles) *string { return &b.RISCV32 }},
	{"uefi-riscv64", "http-riscv64", []archdetect.Arch{iana.EFI_RISCV64}, []archdetect.Arch{iana.EFI_RISCV64_HTTP}, func(b *BootFiles) *string { return &b.RISCV64 }},
	{"uefi-loong64", "http-loong64", []archdetect.Arch{archdetect.ArchLoongArch64UEFI}, []archdetect.Arch{archdetect.ArchLoongArch64UEFIHTTP}, func(b *BootFiles) *string { return &b.LoongArch64 }},
}

// withDefaults returns b with every empty field set from [DefaultBootFiles].
func (b BootFiles) withDefaults() BootFiles {
	d := DefaultBootFiles()
	for _, f := range bootFamilies {
		if v := f.field(&b); *v == "" {
			*v = *f.field(&d)
		}
	}
	return b
}

// File returns the file b names for architecture a (empty fields read as
// [DefaultBootFiles]); ok is false for an architecture iPXE does not build
// for. An HTTP boot code gives the same name as its TFTP twin.
// (Arch 20, BIOS HTTP boot, has none.)
func (b BootFiles) File(a archdetect.Arch) (file string, ok bool) {
	b = b.withDefaults()
	for _, f := range bootFamilies {
		for _, codes := range [][]archdetect.Arch{f.pxe, f.http} {
			for _, c := range codes {
				if c == a {
					return *f.field(&b), true
				}
			}
		}
	}
	return "", false
}
