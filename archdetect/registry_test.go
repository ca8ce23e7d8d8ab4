package archdetect_test

import (
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// Expected values typed from IANA's Processor Architecture Types registry
// (RFC 4578 §2.1 and its later additions: names, firmware, CPU, transport),
// with code 9 as x86-64 as firmware uses it (RFC 4578 errata 4624).
var registryWant = []struct {
	code      archdetect.Arch
	name      string
	fw        archdetect.Firmware
	cpu       archdetect.CPU
	transport archdetect.Transport
}{
	{0x00, "x86 BIOS", "bios", "x86", "pxe"},
	{0x01, "NEC/PC98 (DEPRECATED)", "bios", "x86", "pxe"},
	{0x02, "Itanium", "uefi", "ia64", "pxe"},
	{0x03, "DEC Alpha (DEPRECATED)", "other", "alpha", "pxe"},
	{0x04, "Arc x86 (DEPRECATED)", "other", "x86", "pxe"},
	{0x05, "Intel Lean Client (DEPRECATED)", "other", "x86", "pxe"},
	{0x06, "x86 UEFI", "uefi", "x86", "pxe"},
	{0x07, "x64 UEFI", "uefi", "x86_64", "pxe"},
	{0x08, "EFI Xscale (DEPRECATED)", "uefi", "arm32", "pxe"},
	{0x09, "EBC", "uefi", "x86_64", "pxe"},
	{0x0a, "ARM 32-bit UEFI", "uefi", "arm32", "pxe"},
	{0x0b, "ARM 64-bit UEFI", "uefi", "arm64", "pxe"},
	{0x0c, "PowerPC Open Firmware", "openfirmware", "powerpc", "pxe"},
	{0x0d, "PowerPC ePAPR", "other", "powerpc", "pxe"},
	{0x0e, "POWER OPAL v3", "other", "powerpc", "pxe"},
	{0x0f, "x86 uefi boot from http", "uefi", "x86", "http"},
	{0x10, "x64 uefi boot from http", "uefi", "x86_64", "http"},
	{0x11, "ebc boot from http", "uefi", "ebc", "http"},
	{0x12, "arm uefi 32 boot from http", "uefi", "arm32", "http"},
	{0x13, "arm uefi 64 boot from http", "uefi", "arm64", "http"},
	{0x14, "pc/at bios boot from http", "bios", "x86", "http"},
	{0x15, "arm 32 uboot", "uboot", "arm32", "pxe"},
	{0x16, "arm 64 uboot", "uboot", "arm64", "pxe"},
	{0x17, "arm uboot 32 boot from http", "uboot", "arm32", "http"},
	{0x18, "arm uboot 64 boot from http", "uboot", "arm64", "http"},
	{0x19, "RISC-V 32-bit UEFI", "uefi", "riscv32", "pxe"},
	{0x1a, "RISC-V 32-bit UEFI boot from http", "uefi", "riscv32", "http"},
	{0x1b, "RISC-V 64-bit UEFI", "uefi", "riscv64", "pxe"},
	{0x1c, "RISC-V 64-bit UEFI boot from http", "uefi", "riscv64", "http"},
	{0x1d, "RISC-V 128-bit UEFI", "uefi", "riscv128", "pxe"},
	{0x1e, "RISC-V 128-bit UEFI boot from http", "uefi", "riscv128", "http"},
	{0x1f, "s390 Basic", "other", "s390", "unknown"},
	{0x20, "s390 Extended", "other", "s390", "unknown"},
	{0x21, "MIPS 32-bit UEFI", "uefi", "mips32", "pxe"},
	{0x22, "MIPS 64-bit UEFI", "uefi", "mips64", "pxe"},
	{0x23, "Sunway 32-bit UEFI", "uefi", "sunway32", "pxe"},
	{0x24, "Sunway 64-bit UEFI", "uefi", "sunway64", "pxe"},
	{0x25, "LoongArch 32-bit UEFI", "uefi", "loongarch32", "pxe"},
	{0x26, "LoongArch 32-bit UEFI boot from http", "uefi", "loongarch32", "http"},
	{0x27, "LoongArch 64-bit UEFI", "uefi", "loongarch64", "pxe"},
	{0x28, "LoongArch 64-bit UEFI boot from http", "uefi", "loongarch64", "http"},
	{0x29, "arm rpiboot", "other", "arm", "unknown"},
	// Unassigned: unknown, never guessed.
	{0x2a, "unknown", "unknown", "unknown", "unknown"},
	{0xff, "unknown", "unknown", "unknown", "unknown"},
	{0xffff, "unknown", "unknown", "unknown", "unknown"},
}

func TestRegistry(t *testing.T) {
	if got := len(archdetect.Registry()); got != 0x2a {
		t.Fatalf("registry has %d codes, want 0x2a", got)
	}
	for _, w := range registryWant {
		info, ok := archdetect.Lookup(w.code)
		if ok != (w.name != "unknown") {
			t.Errorf("Lookup(%d) ok=%v", w.code, ok)
		}
		if info.Code != w.code || info.Name != w.name || info.Firmware != w.fw || info.CPU != w.cpu || info.Transport != w.transport {
			t.Errorf("Lookup(%d) = %+v, want %+v", w.code, info, w)
		}
		// The same through a DHCPv4 DISCOVER carrying option 93.
		m, err := dhcpv4.NewDiscovery(mac("52:54:00:00:00:01"), dhcpv4.WithOption(dhcpv4.OptClientArch(w.code)))
		if err != nil {
			t.Fatal(err)
		}
		c := archdetect.FromDHCPv4(m)
		if !c.HasArch || c.Arch != w.code || c.ArchName != w.name || c.Firmware != w.fw || c.CPU != w.cpu || c.Transport != w.transport {
			t.Errorf("FromDHCPv4(arch %d) = arch %d %q %s %s %s, want %+v", w.code, c.Arch, c.ArchName, c.Firmware, c.CPU, c.Transport, w)
		}
		// HTTP-boot names and the http transport go together.
		if strings.HasSuffix(w.name, "boot from http") != (w.transport == archdetect.TransportHTTP) {
			t.Errorf("code %d: name %q vs transport %s", w.code, w.name, w.transport)
		}
	}
	// Codes the iana package knows must be the same codes here.
	for code := iana.Arch(0); code <= iana.EFI_SUNWAY64; code++ {
		if iana.Arch(code).String() == "unknown" {
			t.Errorf("iana package lacks code %d", code)
		}
	}
	if got := archdetect.ArchName(archdetect.ArchARMRPiBoot); got != "arm rpiboot" {
		t.Errorf("ArchName(41) = %q", got)
	}
	if got := archdetect.Registry()[7].String(); got != "0x0007 (x64 UEFI)" {
		t.Errorf("String() = %q", got)
	}
}
