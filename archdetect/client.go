// Package archdetect tells who is booting: the client's processor architecture,
// firmware family, CPU family, boot transport (PXE/TFTP or HTTP), whether it is
// iPXE and which iPXE features it has, its UNDI version and its UUID.
//
// It reads DHCPv4 requests (*dhcpv4.DHCPv4), DHCPv6 messages (relayed or not)
// and the HTTP requests that iPXE scripts send, and reports what it found in a
// [Client]. Codes it does not know are reported as unknown, never guessed.
//
//	c := archdetect.FromDHCPv4(req)
//	switch {
//	case c.IPXE && c.IPXEInfo.Has(archdetect.FeatureHTTP):
//		// iPXE already, with HTTP: it can fetch a script by URL
//	case c.Firmware == archdetect.FirmwareUBoot:
//		// U-Boot, whatever arch code it sent
//	case c.HasArch:
//		// c.Arch, c.CPU, c.Transport tell which build it can run
//	}
//
// It only detects: which file each client gets is policy, which lives in
// package dhcpboot (its boot-file table BootFiles and DefaultPolicy).
//
// Architecture codes 0x00–0x29 follow the IANA registry ([Registry]). Code 9
// is "EBC" in the registry, but RFC 4578 as first published called 9 x86-64
// UEFI (errata 4624) and some firmware still sends it on x86-64 machines; like
// pixiecore, this package treats 9 as x86-64 UEFI and keeps the raw code in
// [Client.Arch].
//
// UUIDs (DHCPv4 option 97, DHCPv6 DUID-UUID) are read in EFI GUID byte order,
// first three fields little-endian, as iPXE and EDK2 send them (but iPXE's
// DUID-UUID, in RFC 6355's network order), and printed in
// the canonical form: QEMU -uuid 00112233-4455-6677-8899-aabbccddeeff, sent as
// 33 22 11 00 55 44 77 66 88 99 aa bb cc dd ee ff, gives
// "00112233-4455-6677-8899-aabbccddeeff" (what iPXE's ${uuid} prints).
// [Client.UUIDRaw] keeps the bytes as sent.
package archdetect

import (
	"net"

	"github.com/insomniacslk/dhcp/iana"
)

// Arch is a processor architecture type code from the IANA registry, as sent
// in DHCPv4 option 93 and DHCPv6 option 61 (RFC 4578, RFC 5970).
type Arch = iana.Arch

// Firmware is the family of firmware that is booting.
type Firmware string

// Firmware families. The values are the lower-case names used in JSON output.
const (
	FirmwareUnknown      Firmware = "unknown"
	FirmwareBIOS         Firmware = "bios"
	FirmwareUEFI         Firmware = "uefi"
	FirmwareUBoot        Firmware = "uboot"
	FirmwareOpenFirmware Firmware = "openfirmware"
	FirmwareOther        Firmware = "other"
)

// CPU is the CPU family of the booting client.
type CPU string

// CPU families. The values are the lower-case names used in JSON output.
const (
	CPUUnknown     CPU = "unknown"
	CPUX86         CPU = "x86"
	CPUX8664       CPU = "x86_64"
	CPUIA64        CPU = "ia64"
	CPUAlpha       CPU = "alpha"
	CPUARM32       CPU = "arm32"
	CPUARM64       CPU = "arm64"
	CPUEBC         CPU = "ebc"
	CPUPowerPC     CPU = "powerpc"
	CPURISCV32     CPU = "riscv32"
	CPURISCV64     CPU = "riscv64"
	CPURISCV128    CPU = "riscv128"
	CPUS390        CPU = "s390"
	CPUMIPS32      CPU = "mips32"
	CPUMIPS64      CPU = "mips64"
	CPUSunway32    CPU = "sunway32"
	CPUSunway64    CPU = "sunway64"
	CPULoongArch32 CPU = "loongarch32"
	CPULoongArch64 CPU = "loongarch64"
	// CPUARM is an ARM CPU whose width the code does not tell (arm rpiboot).
	CPUARM CPU = "arm"
)

// Transport is how the client expects to fetch its boot file.
type Transport string

// Boot transports. The values are the lower-case names used in JSON output.
const (
	// TransportPXE is classic PXE: next-server plus a file name fetched by TFTP.
	TransportPXE Transport = "pxe"
	// TransportHTTP means the client expects a URL as its boot file
	// (UEFI HTTP Boot, U-Boot HTTP, ...).
	TransportHTTP Transport = "http"
	// TransportUnknown is used when nothing tells the transport.
	TransportUnknown Transport = "unknown"
)

// Source tells which kind of message a Client was built from.
type Source string

// Message kinds a Client can be built from.
const (
	SourceDHCPv4 Source = "dhcpv4"
	SourceDHCPv6 Source = "dhcpv6"
	SourceHTTP   Source = "http"
)

// UNDI is the Universal Network Driver Interface version a PXE client reports,
// from DHCPv4 option 94 / DHCPv6 option 62 or the vendor class string.
type UNDI struct {
	Type  uint8 // interface type; 1 is UNDI
	Major uint8
	Minor uint8
}

// VendorClass is a parsed DHCPv4 option 60 (or DHCPv6 option 16) value.
type VendorClass struct {
	Raw string // the value exactly as sent
	// Kind is "PXEClient", "HTTPClient", "U-Boot" or "" for anything else.
	Kind string
	// Arch and HasArch hold the decimal "Arch:xxxxx" field when present.
	Arch    Arch
	HasArch bool
	// UNDI and HasUNDI hold the "UNDI:yyyzzz" field when present.
	UNDI    UNDI
	HasUNDI bool
}

// IPXEFeature is an iPXE feature code: a sub-option of DHCPv4 option 175.
type IPXEFeature uint8

// IPXEInfo is what iPXE tells about itself in option 175 (or, for HTTP
// requests, what the script put in the URL).
type IPXEInfo struct {
	// Features lists the feature sub-options present, in wire order.
	Features []IPXEFeature
	// Version is iPXE's version (sub-option 235), when sent.
	Version    [3]uint8
	HasVersion bool
	// BusID is the network device's bus id (sub-option 177), when sent.
	BusType   uint8
	BusVendor uint16
	BusDevice uint16
	HasBusID  bool
	// Platform and BuildArch are ${platform} and ${buildarch} from an HTTP
	// request ("pcbios", "efi"; "i386", "x86_64", "arm64", ...).
	Platform  string
	BuildArch string
}

// Client describes a booting machine, as far as one message tells.
type Client struct {
	Source Source
	MAC    net.HardwareAddr
	// Archs are all the architecture codes the client offered, in order.
	Archs []Arch
	// Arch is the chosen architecture: the first code offered, else the one
	// in the vendor class; for HTTP requests, a numeric arch value or the
	// code iPXE sends for ${platform}/${buildarch}. HasArch is false when
	// the message tells none.
	Arch    Arch
	HasArch bool
	// ArchName is the IANA name of Arch, or "unknown".
	ArchName  string
	Firmware  Firmware
	CPU       CPU
	Transport Transport
	// UNDI and HasUNDI come from option 94 (DHCPv6 62), else the vendor class.
	UNDI    UNDI
	HasUNDI bool
	// UUID is the machine identifier in canonical RFC 4122 text form:
	// DHCPv4 option 97 or a DHCPv6 DUID-UUID, read in EFI GUID order (see
	// [MachineID.UUID]), or the uuid value of an HTTP request as written.
	// Empty when the message carries none.
	UUID string
	// UUIDRaw is the 16 bytes of option 97 / DUID-UUID exactly as sent
	// (nil for HTTP requests and when absent).
	UUIDRaw     []byte
	VendorClass VendorClass
	// UserClasses are the user classes as parsed by RFC 3004 (or, when the
	// value is not RFC 3004, the whole raw value as one element).
	UserClasses []string
	// UserClassRaw is option 77 exactly as sent.
	UserClassRaw []byte
	// IPXE is true when the client is iPXE (or gPXE): option 175 present or
	// user class "iPXE"/"gPXE".
	IPXE     bool
	IPXEInfo IPXEInfo
	// Relayed is true for a DHCPv6 message that came inside Relay-Forward
	// messages, and for a DHCPv4 message with a relay address (giaddr).
	Relayed bool
	// UserAgent is the HTTP User-Agent (FromHTTP only).
	UserAgent string
	// Problems lists what could not be decoded (truncated or odd options).
	Problems []string
}
