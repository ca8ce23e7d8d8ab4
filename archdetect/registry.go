package archdetect

import "fmt"

// Architecture codes that github.com/insomniacslk/dhcp/iana does not define
// (it stops at 36). Codes 0–36 are the iana package's constants, e.g.
// iana.INTEL_X86PC, iana.EFI_X86_64, iana.EFI_X86_64_HTTP.
const (
	ArchLoongArch32UEFI     Arch = 37 // LoongArch 32-bit UEFI
	ArchLoongArch32UEFIHTTP Arch = 38 // LoongArch 32-bit UEFI boot from http
	ArchLoongArch64UEFI     Arch = 39 // LoongArch 64-bit UEFI
	ArchLoongArch64UEFIHTTP Arch = 40 // LoongArch 64-bit UEFI boot from http
	ArchARMRPiBoot          Arch = 41 // arm rpiboot
)

// ArchInfo is what the IANA "Processor Architecture Types" registry and the
// firmware that sends a code tell about it.
type ArchInfo struct {
	Code Arch
	// Name is the IANA registry name, e.g. "x64 UEFI".
	Name      string
	Firmware  Firmware
	CPU       CPU
	Transport Transport
}

// registry is the IANA registry 0x00–0x29 (RFC 4578, RFC 5970, IANA DHCPv6
// parameters), indexed by code. Code 9 is the RFC 4578 "EBC" that firmware
// in the field sends for x86-64 UEFI (errata 4624): it maps to x86-64.
var registry = [...]ArchInfo{
	{0, "x86 BIOS", FirmwareBIOS, CPUX86, TransportPXE},
	{1, "NEC/PC98 (DEPRECATED)", FirmwareBIOS, CPUX86, TransportPXE},
	{2, "Itanium", FirmwareUEFI, CPUIA64, TransportPXE},
	{3, "DEC Alpha (DEPRECATED)", FirmwareOther, CPUAlpha, TransportPXE},
	{4, "Arc x86 (DEPRECATED)", FirmwareOther, CPUX86, TransportPXE},
	{5, "Intel Lean Client (DEPRECATED)", FirmwareOther, CPUX86, TransportPXE},
	{6, "x86 UEFI", FirmwareUEFI, CPUX86, TransportPXE},
	{7, "x64 UEFI", FirmwareUEFI, CPUX8664, TransportPXE},
	{8, "EFI Xscale (DEPRECATED)", FirmwareUEFI, CPUARM32, TransportPXE},
	{9, "EBC", FirmwareUEFI, CPUX8664, TransportPXE},
	{10, "ARM 32-bit UEFI", FirmwareUEFI, CPUARM32, TransportPXE},
	{11, "ARM 64-bit UEFI", FirmwareUEFI, CPUARM64, TransportPXE},
	{12, "PowerPC Open Firmware", FirmwareOpenFirmware, CPUPowerPC, TransportPXE},
	{13, "PowerPC ePAPR", FirmwareOther, CPUPowerPC, TransportPXE},
	{14, "POWER OPAL v3", FirmwareOther, CPUPowerPC, TransportPXE},
	{15, "x86 uefi boot from http", FirmwareUEFI, CPUX86, TransportHTTP},
	{16, "x64 uefi boot from http", FirmwareUEFI, CPUX8664, TransportHTTP},
	{17, "ebc boot from http", FirmwareUEFI, CPUEBC, TransportHTTP},
	{18, "arm uefi 32 boot from http", FirmwareUEFI, CPUARM32, TransportHTTP},
	{19, "arm uefi 64 boot from http", FirmwareUEFI, CPUARM64, TransportHTTP},
	{20, "pc/at bios boot from http", FirmwareBIOS, CPUX86, TransportHTTP},
	{21, "arm 32 uboot", FirmwareUBoot, CPUARM32, TransportPXE},
	{22, "arm 64 uboot", FirmwareUBoot, CPUARM64, TransportPXE},
	{23, "arm uboot 32 boot from http", FirmwareUBoot, CPUARM32, TransportHTTP},
	{24, "arm uboot 64 boot from http", FirmwareUBoot, CPUARM64, TransportHTTP},
	{25, "RISC-V 32-bit UEFI", FirmwareUEFI, CPURISCV32, TransportPXE},
	{26, "RISC-V 32-bit UEFI boot from http", FirmwareUEFI, CPURISCV32, TransportHTTP},
	{27, "RISC-V 64-bit UEFI", FirmwareUEFI, CPURISCV64, TransportPXE},
	{28, "RISC-V 64-bit UEFI boot from http", FirmwareUEFI, CPURISCV64, TransportHTTP},
	{29, "RISC-V 128-bit UEFI", FirmwareUEFI, CPURISCV128, TransportPXE},
	{30, "RISC-V 128-bit UEFI boot from http", FirmwareUEFI, CPURISCV128, TransportHTTP},
	{31, "s390 Basic", FirmwareOther, CPUS390, TransportUnknown},
	{32, "s390 Extended", FirmwareOther, CPUS390, TransportUnknown},
	{33, "MIPS 32-bit UEFI", FirmwareUEFI, CPUMIPS32, TransportPXE},
	{34, "MIPS 64-bit UEFI", FirmwareUEFI, CPUMIPS64, TransportPXE},
	{35, "Sunway 32-bit UEFI", FirmwareUEFI, CPUSunway32, TransportPXE},
	{36, "Sunway 64-bit UEFI", FirmwareUEFI, CPUSunway64, TransportPXE},
	{37, "LoongArch 32-bit UEFI", FirmwareUEFI, CPULoongArch32, TransportPXE},
	{38, "LoongArch 32-bit UEFI boot from http", FirmwareUEFI, CPULoongArch32, TransportHTTP},
	{39, "LoongArch 64-bit UEFI", FirmwareUEFI, CPULoongArch64, TransportPXE},
	{40, "LoongArch 64-bit UEFI boot from http", FirmwareUEFI, CPULoongArch64, TransportHTTP},
	{41, "arm rpiboot", FirmwareOther, CPUARM, TransportUnknown},
}

// Lookup returns what the IANA registry says about code a. For a code
// outside the registry (0x2a–0xffff) it returns ok == false and an ArchInfo
// with Name "unknown" and unknown firmware, CPU and transport.
func Lookup(a Arch) (info ArchInfo, ok bool) {
	if int(a) < len(registry) {
		return registry[a], true
	}
	return ArchInfo{Code: a, Name: "unknown", Firmware: FirmwareUnknown, CPU: CPUUnknown, Transport: TransportUnknown}, false
}

// Registry returns a copy of the whole registry 0x00–0x29, in code order.
func Registry() []ArchInfo {
	out := make([]ArchInfo, len(registry))
	copy(out, registry[:])
	return out
}

// ArchName returns the IANA name of a, or "unknown".
func ArchName(a Arch) string {
	info, _ := Lookup(a)
	return info.Name
}

// String formats the entry as "0x0007 (x64 UEFI)".
func (i ArchInfo) String() string {
	return fmt.Sprintf("0x%04x (%s)", uint16(i.Code), i.Name)
}
