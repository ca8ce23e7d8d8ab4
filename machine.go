package pxekit

import (
	"context"
	"net"
)

// MachineKey names a machine as a boot request shows it: the MAC address
// of the booting NIC and, when the firmware sends one, the SMBIOS UUID
// (DHCPv4 option 97, DHCPv6 option 1 DUID-UUID, iPXE's ${uuid}) in the
// canonical lower-case form archdetect.FormatUUID writes. An inventory looks
// a machine up by MAC first, then by UUID (a machine with several NICs, or
// whose NIC was swapped, keeps its UUID).
type MachineKey struct {
	MAC  net.HardwareAddr
	UUID string
}

// BootKind is how a known machine boots.
type BootKind string

// Boot kinds.
const (
	// BootIPXE (the zero value) boots the machine's kernel and initrd from an
	// iPXE script the server builds, or runs the machine's own Script.
	BootIPXE BootKind = ""
	// BootLocal ends network boot: the iPXE script exits so the firmware
	// goes on to the next boot device (the local disk).
	BootLocal BootKind = "local"
	// BootPXELinux boots the machine's kernel and initrd through PXELINUX:
	// a BIOS client is handed Server.Loaders.PXELinux (pxelinux.0) over
	// DHCP, and the Server answers its pxelinux.cfg/01-<mac> (or UUID)
	// name with a file bootcfg.BuildPXELinux makes from Kernel, Initrds
	// and Cmdline. U-Boot's pxe command reads the same file. The
	// machine's other clients (UEFI, say) get the iPXE flow, whose script
	// boots the same kernel.
	BootPXELinux BootKind = "pxelinux"
	// BootGRUB boots the machine's kernel and initrd through a network
	// GRUB: a UEFI x86-64 PXE client is handed Server.Loaders.GRUB
	// (grubx64.efi), or Server.Loaders.Shim (shimx64.efi) when SecureBoot
	// is set, and the Server answers grub/grub.cfg (and the per-machine
	// names GRUB tries) with a file bootcfg.GRUBBuilder makes. The
	// machine's other clients (UEFI HTTP boot, BIOS) get the iPXE flow,
	// whose script boots the same kernel.
	BootGRUB BootKind = "grub"
)

// Machine is what the inventory says about one machine. The zero value
// (no kernel, no script) boots the default flow, like an unknown machine.
type Machine struct {
	// Name is a label for logs, events and the status page.
	Name string `json:"name,omitempty"`
	// MAC and UUID identify the machine; at least one is set.
	MAC  net.HardwareAddr `json:"mac,omitempty"`
	UUID string           `json:"uuid,omitempty"`
	// Boot is how the machine boots (default BootIPXE).
	Boot BootKind `json:"boot,omitempty"`
	// Kernel is the kernel URL or path (relative to the server's base URL)
	// iPXE fetches; Initrds are fetched in order.
	Kernel  string   `json:"kernel,omitempty"`
	Initrds []string `json:"initrds,omitempty"`
	// Cmdline is the kernel command line, one Linux argument per element
	// ("console=ttyS0", "hostname=web 01"): each is quoted as one argument
	// (ipxescript.QuoteKernelArg), and one that Linux could not read back
	// as one argument is refused when the script is built.
	Cmdline []string `json:"cmdline,omitempty"`
	// SecureBoot (BootGRUB only): the machine enforces UEFI Secure Boot, so
	// DHCP names the signed shim, which loads the signed GRUB beside it
	// under the name shim looks for (grubx64.efi); GRUB then loads a
	// signed kernel.
	SecureBoot bool `json:"secure_boot,omitempty"`
	// Script, when set, is the machine's own iPXE script, served verbatim
	// (it must parse). It replaces Kernel, Initrds and Cmdline.
	Script string `json:"script,omitempty"`
	// Template, when set, is the machine's iPXE script with placeholders
	// the server fills per request: {{name}}, {{mac}}, {{uuid}}, {{ip}},
	// {{base_url}}, {{kernel}}, {{initrd}} (the first of Initrds),
	// {{cmdline}} and {{files_url}} (BASE/machine/MAC/files, the base of
	// the Files URLs). Each is written as one iPXE argument that iPXE
	// reads back as exactly the value, whatever it holds (";", spaces,
	// quotes, newlines), through a private setting "_pxkt_NAME" set after
	// the #!ipxe line when it is not plain text; {{cmdline}} is one
	// argument per Cmdline element, each quoted as one Linux argument. A
	// value holding "${...}" (which iPXE would expand) or NUL, or starting
	// with "-" (an option to iPXE), is refused, and so is a placeholder
	// in a command's name or inside a "${...}", where the value would
	// choose what runs or what is read.
	// Another placeholder is an error, and the filled script must parse
	// (Validate fills it with sample values). Template takes the place of
	// Script, and Kernel, Initrds and Cmdline only fill its placeholders;
	// it is for Boot BootIPXE.
	Template string `json:"template,omitempty"`
	// Files are the machine's own files (a preseed, a kickstart, an
	// ignition file): URL name → path relative to the HTTP files directory
	// (HTTPConfig.Files, Server.Files), served to this machine only at
	// BASE/machine/MAC/files/NAME ({{files_url}}/NAME in a Template), with
	// Range, HEAD and If-Modified-Since, regular files only. A name or
	// path must be a clean relative path (no "..", not absolute, no
	// control byte or backslash). A name the machine does not list is
	// 404.
	Files map[string]string `json:"files,omitempty"`
}

// Inventory tells the server what each machine boots. Machine returns
// found = false for a machine it does not know (the server then boots the
// default flow and raises an UnknownMachineEvent); an error means the
// inventory could not answer (the server logs it and boots the default
// flow). Implementations must be safe for concurrent use and should answer
// quickly: Machine is called on the request path (each DHCPv4 message the
// Server's DHCP parts answer, the per-machine iPXE script, PXELINUX and
// GRUB configurations) and its answer is not cached beyond one request.
// Back it with a database by implementing this one method; DirInventory
// is the file-backed default.
type Inventory interface {
	Machine(ctx context.Context, key MachineKey) (m Machine, found bool, err error)
}
