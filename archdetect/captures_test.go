package archdetect_test

import (
	"fmt"
	"testing"

	"github.com/pxekit/pxekit/archdetect"
)

// profile is what one kind of client message in a capture must decode to.
// The captures are the project's own (internal/pcaptest/testdata, made by
// `make captures`); expected values were read from them with `tshark -V`,
// an independent decoder, and agree with testdata/README.md.
type profile struct {
	name        string
	source      archdetect.Source
	arch        archdetect.Arch
	firmware    archdetect.Firmware
	cpu         archdetect.CPU
	transport   archdetect.Transport
	vendorClass string
	undi        archdetect.UNDI
	ipxe        bool
	userClass   []string
	userRaw     string
	features    []archdetect.IPXEFeature // must all be present
	version     string
	busID       string
	uuid        string
	min         int // at least this many messages
}

const qemuUUID = "00112233-4455-6677-8899-aabbccddeeff" // qemulab.DefaultUUID, QEMU -uuid

var (
	biosIPXE = profile{
		name: "iPXE BIOS", source: archdetect.SourceDHCPv4, arch: 0,
		firmware: archdetect.FirmwareBIOS, cpu: archdetect.CPUX86, transport: archdetect.TransportPXE,
		vendorClass: "PXEClient:Arch:00000:UNDI:002001", undi: archdetect.UNDI{Type: 1, Major: 2, Minor: 1},
		ipxe: true, userClass: []string{"iPXE"}, userRaw: "iPXE",
		features: []archdetect.IPXEFeature{archdetect.FeatureHTTP, archdetect.FeatureISCSI,
			archdetect.FeatureMenu, archdetect.FeatureBzImage, archdetect.FeaturePXEExt},
		version: "1.0.0", busID: "pci 1af4:1000", uuid: qemuUUID, min: 2,
	}
	ovmfPXE = profile{
		name: "OVMF PXE", source: archdetect.SourceDHCPv4, arch: 7,
		firmware: archdetect.FirmwareUEFI, cpu: archdetect.CPUX8664, transport: archdetect.TransportPXE,
		vendorClass: "PXEClient:Arch:00007:UNDI:003000", undi: archdetect.UNDI{Type: 1, Major: 3, Minor: 0},
		uuid: qemuUUID, min: 2,
	}
	ipxeEFI = profile{
		name: "iPXE EFI", source: archdetect.SourceDHCPv4, arch: 7,
		firmware: archdetect.FirmwareUEFI, cpu: archdetect.CPUX8664, transport: archdetect.TransportPXE,
		vendorClass: "PXEClient:Arch:00007:UNDI:003010", undi: archdetect.UNDI{Type: 1, Major: 3, Minor: 10},
		ipxe: true, userClass: []string{"iPXE"}, userRaw: "iPXE",
		features: []archdetect.IPXEFeature{archdetect.FeatureEFI, archdetect.FeatureHTTP},
		version:  "1.0.0", uuid: qemuUUID, min: 2,
	}
	ovmfHTTP = profile{
		name: "OVMF HTTP boot", source: archdetect.SourceDHCPv4, arch: 16,
		firmware: archdetect.FirmwareUEFI, cpu: archdetect.CPUX8664, transport: archdetect.TransportHTTP,
		vendorClass: "HTTPClient:Arch:00016:UNDI:003000", undi: archdetect.UNDI{Type: 1, Major: 3, Minor: 0},
		uuid: qemuUUID, min: 2,
	}
	ovmfPXEv6 = profile{
		name: "OVMF PXE DHCPv6", source: archdetect.SourceDHCPv6, arch: 7,
		firmware: archdetect.FirmwareUEFI, cpu: archdetect.CPUX8664, transport: archdetect.TransportPXE,
		vendorClass: "PXEClient:Arch:00007:UNDI:003000", undi: archdetect.UNDI{Type: 1, Major: 3, Minor: 0},
		uuid: qemuUUID, min: 2,
	}
)

func with(p profile, f func(*profile)) profile { f(&p); return p }

var captureCases = []struct {
	file     string
	mac      string
	profiles []profile
}{
	{
		file: "bios-ipxe-rom-http.pcapng", mac: "52:54:00:77:00:0a",
		profiles: []profile{biosIPXE}, // DISCOVER ×2, REQUEST
	},
	{
		file: "bios-ipxe-rom-tftp-undionly-chain.pcapng", mac: "52:54:00:77:00:0c",
		// ROM and undionly.kpxe send the same options: one profile, 6 messages.
		profiles: []profile{with(biosIPXE, func(p *profile) { p.min = 6 })},
	},
	{
		file: "ovmf-pxe-tftp-ipxe-efi.pcapng", mac: "52:54:00:77:00:0b",
		profiles: []profile{ovmfPXE, ipxeEFI},
	},
	{
		file: "ovmf-pxe-tftp-windowsize4.pcapng", mac: "52:54:00:77:00:0b",
		profiles: []profile{ovmfPXE, ipxeEFI},
	},
	{
		file: "ovmf-httpboot-ipxe-efi.pcapng", mac: "52:54:00:77:00:0d",
		profiles: []profile{ovmfHTTP, ipxeEFI},
	},
	{
		file: "ovmf-no-dhcpv4-answer-dhcpv6.pcapng", mac: "52:54:00:77:00:0b",
		// Nobody answers: OVMF tries PXE over IPv4 and IPv6, then HTTP boot
		// over IPv4 and IPv6; the HTTP Solicits carry arch 16 and HTTPClient.
		profiles: []profile{
			with(ovmfPXE, func(p *profile) { p.min = 4 }),
			with(ovmfHTTP, func(p *profile) { p.min = 4 }),
			with(ovmfPXEv6, func(p *profile) { p.min = 4 }),
			with(ovmfHTTP, func(p *profile) { p.name, p.source = "OVMF HTTP boot DHCPv6", archdetect.SourceDHCPv6 }),
		},
	},
}

// mismatch returns why c does not fit p, or "" when it does.
func (p profile) mismatch(c archdetect.Client) string {
	var d []string
	chk := func(what string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			d = append(d, fmt.Sprintf("%s=%v want %v", what, got, want))
		}
	}
	chk("source", c.Source, p.source)
	chk("hasArch", c.HasArch, true)
	chk("arch", c.Arch, p.arch)
	chk("archs", c.Archs, []archdetect.Arch{p.arch})
	chk("firmware", c.Firmware, p.firmware)
	chk("cpu", c.CPU, p.cpu)
	chk("transport", c.Transport, p.transport)
	chk("vendorClass", c.VendorClass.Raw, p.vendorClass)
	chk("undi", c.UNDI, p.undi)
	chk("hasUNDI", c.HasUNDI, true)
	chk("ipxe", c.IPXE, p.ipxe)
	chk("userClasses", c.UserClasses, p.userClass)
	chk("userRaw", string(c.UserClassRaw), p.userRaw)
	chk("uuid", c.UUID, p.uuid)
	chk("problems", c.Problems, []string(nil))
	for _, f := range p.features {
		if !c.IPXEInfo.Has(f) {
			d = append(d, "missing feature "+f.String())
		}
	}
	if !p.ipxe && len(c.IPXEInfo.Features) > 0 {
		d = append(d, fmt.Sprint("unexpected features ", c.IPXEInfo.FeatureNames()))
	}
	chk("version", c.IPXEInfo.VersionString(), p.version)
	if p.busID != "" {
		chk("busid", c.IPXEInfo.BusIDString(), p.busID)
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func TestCaptures(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			msgs := readClientMessages(t, tc.file)
			if len(msgs) == 0 {
				t.Fatal("no DHCP client messages found")
			}
			counts := make([]int, len(tc.profiles))
			for _, m := range msgs {
				var c archdetect.Client
				if m.v4 != nil {
					c = archdetect.FromDHCPv4(m.v4)
					if got := c.MAC.String(); got != tc.mac {
						t.Errorf("frame %d: MAC %s, want %s", m.frame, got, tc.mac)
					}
				} else {
					c = archdetect.FromDHCPv6(m.v6)
					// OVMF's DHCPv6 client ID is a DUID-UUID: no MAC in the message.
					if c.MAC != nil {
						t.Errorf("frame %d: DHCPv6 MAC %s, want none", m.frame, c.MAC)
					}
				}
				var why []string
				matched := -1
				for i, p := range tc.profiles {
					if w := p.mismatch(c); w == "" {
						matched = i
						break
					} else {
						why = append(why, p.name+": "+w)
					}
				}
				if matched < 0 {
					t.Errorf("frame %d fits no profile:\n%v", m.frame, why)
					continue
				}
				counts[matched]++
			}
			for i, p := range tc.profiles {
				if counts[i] < p.min {
					t.Errorf("profile %q matched %d messages, want at least %d", p.name, counts[i], p.min)
				}
			}
		})
	}
}
