package archdetect

import (
	"maps"

	"github.com/insomniacslk/dhcp/iana"
)

// DefaultBootFiles returns a starting table of which iPXE binary each architecture
// boots first. Names are iPXE's build targets; where two builds share a name
// in iPXE's tree, the non-x86-64 one gets a suffix so that all fit in one
// TFTP root:
//
//	bin/undionly.kpxe          undionly.kpxe     (BIOS, uses the ROM's UNDI)
//	bin-x86_64-efi/ipxe.efi    ipxe.efi          (x86-64 UEFI; Debian ships it)
//	bin-i386-efi/ipxe.efi      ipxe-i386.efi
//	bin-arm64-efi/snp.efi      snp.efi
//	bin-arm32-efi/snp.efi      snp-arm32.efi
//	bin-riscv64-efi/snp.efi    snp-riscv64.efi   (riscv32, loong64 alike)
//
// HTTP-boot codes map to the same binary as their TFTP twin: a server hands
// it out as a URL instead of a file name. Code 9 maps like 7 (see the
// package docs on RFC 4578 errata 4624). Architectures iPXE does not build
// for are absent.
//
// It is data, not policy: each call returns a new map, which the caller
// may change.
func DefaultBootFiles() map[Arch]string { return maps.Clone(defaultBootFiles) }

var defaultBootFiles = map[Arch]string{
	iana.INTEL_X86PC:        "undionly.kpxe",
	iana.INTEL_X86PC_HTTP:   "undionly.kpxe",
	iana.EFI_IA32:           "ipxe-i386.efi",
	iana.EFI_X86_HTTP:       "ipxe-i386.efi",
	iana.EFI_X86_64:         "ipxe.efi",
	iana.EFI_BC:             "ipxe.efi",
	iana.EFI_X86_64_HTTP:    "ipxe.efi",
	iana.EFI_ARM32:          "snp-arm32.efi",
	iana.EFI_ARM32_HTTP:     "snp-arm32.efi",
	iana.EFI_ARM64:          "snp.efi",
	iana.EFI_ARM64_HTTP:     "snp.efi",
	iana.EFI_RISCV32:        "snp-riscv32.efi",
	iana.EFI_RISCV32_HTTP:   "snp-riscv32.efi",
	iana.EFI_RISCV64:        "snp-riscv64.efi",
	iana.EFI_RISCV64_HTTP:   "snp-riscv64.efi",
	ArchLoongArch64UEFI:     "snp-loong64.efi",
	ArchLoongArch64UEFIHTTP: "snp-loong64.efi",
}

// DefaultIPXEScript is the file a default policy hands a client that is
// already iPXE, instead of an iPXE binary (which would loop forever).
const DefaultIPXEScript = "boot.ipxe"

// BootFile returns what table gives for c: DefaultIPXEScript when c is
// already iPXE, else the entry for c.Arch. ok is false when c has no arch
// or the table has no entry for it. A nil table means [DefaultBootFiles].
func (c *Client) BootFile(table map[Arch]string) (file string, ok bool) {
	if c.IPXE {
		return DefaultIPXEScript, true
	}
	if !c.HasArch {
		return "", false
	}
	if table == nil {
		table = defaultBootFiles
	}
	file, ok = table[c.Arch]
	return file, ok
}
