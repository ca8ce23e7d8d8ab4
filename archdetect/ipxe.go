package archdetect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// iPXE feature codes: sub-options of DHCPv4 option 175 that iPXE puts in every
// request for each feature linked into the build (iPXE src/include/ipxe/features.h).
// Feature codes lie in 0x10–0x7f.
const (
	FeaturePXEExt    IPXEFeature = 0x10 // PXE API extensions (BIOS)
	FeatureISCSI     IPXEFeature = 0x11
	FeatureAoE       IPXEFeature = 0x12
	FeatureHTTP      IPXEFeature = 0x13
	FeatureHTTPS     IPXEFeature = 0x14
	FeatureTFTP      IPXEFeature = 0x15
	FeatureFTP       IPXEFeature = 0x16
	FeatureDNS       IPXEFeature = 0x17
	FeatureBzImage   IPXEFeature = 0x18
	FeatureMultiboot IPXEFeature = 0x19
	FeatureSLAM      IPXEFeature = 0x1a
	FeatureSRP       IPXEFeature = 0x1b
	FeatureNBI       IPXEFeature = 0x20
	FeaturePXE       IPXEFeature = 0x21 // PXE image format
	FeatureELF       IPXEFeature = 0x22
	FeatureCOMBOOT   IPXEFeature = 0x23
	FeatureEFI       IPXEFeature = 0x24 // EFI image format
	FeatureFCoE      IPXEFeature = 0x25
	FeatureVLAN      IPXEFeature = 0x26
	FeatureMenu      IPXEFeature = 0x27
	FeatureSDI       IPXEFeature = 0x28
	FeatureNFS       IPXEFeature = 0x29
)

// Other option 175 sub-options a client sends.
const (
	// IPXEBusID is sub-option 177: bus type, vendor (BE16), device (BE16).
	IPXEBusID = 177
	// IPXEVersion is sub-option 235: major, minor, patch.
	IPXEVersion = 235
	// IPXENoPXEDHCP is sub-option 176, which a server sends so that iPXE
	// does not wait for ProxyDHCP offers.
	IPXENoPXEDHCP = 176
)

var featureNames = map[IPXEFeature]string{
	FeaturePXEExt: "pxeext", FeatureISCSI: "iscsi", FeatureAoE: "aoe",
	FeatureHTTP: "http", FeatureHTTPS: "https", FeatureTFTP: "tftp",
	FeatureFTP: "ftp", FeatureDNS: "dns", FeatureBzImage: "bzimage",
	FeatureMultiboot: "multiboot", FeatureSLAM: "slam", FeatureSRP: "srp",
	FeatureNBI: "nbi", FeaturePXE: "pxe", FeatureELF: "elf",
	FeatureCOMBOOT: "comboot", FeatureEFI: "efi", FeatureFCoE: "fcoe",
	FeatureVLAN: "vlan", FeatureMenu: "menu", FeatureSDI: "sdi", FeatureNFS: "nfs",
}

// String returns the lower-case name of the feature ("http", "efi", ...) or
// "feature-0xNN" for a code iPXE does not define.
func (f IPXEFeature) String() string {
	if n, ok := featureNames[f]; ok {
		return n
	}
	return fmt.Sprintf("feature-0x%02x", uint8(f))
}

// ParseIPXEFeature is the inverse of [IPXEFeature.String]; it also accepts a
// decimal or 0x-prefixed code.
func ParseIPXEFeature(s string) (IPXEFeature, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for f, n := range featureNames {
		if n == l {
			return f, nil
		}
	}
	l = strings.TrimPrefix(l, "feature-")
	if v, err := strconv.ParseUint(l, 0, 8); err == nil {
		return IPXEFeature(v), nil
	}
	return 0, fmt.Errorf("archdetect: unknown iPXE feature %q", s)
}

// Has reports whether iPXE announced feature f.
func (i IPXEInfo) Has(f IPXEFeature) bool { return slices.Contains(i.Features, f) }

// FeatureNames returns the names of the announced features, in wire order.
func (i IPXEInfo) FeatureNames() []string {
	out := make([]string, len(i.Features))
	for k, f := range i.Features {
		out[k] = f.String()
	}
	return out
}

// VersionString returns "major.minor.patch", or "" when no version was sent.
func (i IPXEInfo) VersionString() string {
	if !i.HasVersion {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", i.Version[0], i.Version[1], i.Version[2])
}

// ParseIPXEOptions decodes the value of DHCPv4 option 175 as iPXE sends it:
// code(1) len(1) value sub-options, 0 as a one-byte pad, 255 as an optional
// end. Feature codes (0x10–0x7f) are collected in wire order, each once;
// bus id (177, 5 bytes) and version (235, 3 bytes) are decoded. Other
// sub-options are skipped. A truncated sub-option or a bus id or version of
// the wrong length is an error; what was decoded before it is returned.
func ParseIPXEOptions(b []byte) (IPXEInfo, error) {
	var info IPXEInfo
	for i := 0; i < len(b); {
		code := b[i]
		if code == 0 {
			i++
			continue
		}
		if code == 255 {
			break
		}
		if i+1 >= len(b) {
			return info, fmt.Errorf("%w: option 175 sub-option %d has no length", ErrTruncated, code)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return info, fmt.Errorf("%w: option 175 sub-option %d wants %d bytes, %d left", ErrTruncated, code, n, len(b)-i-2)
		}
		val := b[i+2 : i+2+n]
		i += 2 + n
		switch {
		case code >= 0x10 && code <= 0x7f:
			if f := IPXEFeature(code); !slices.Contains(info.Features, f) {
				info.Features = append(info.Features, f)
			}
		case code == IPXEBusID:
			if n != 5 {
				return info, fmt.Errorf("%w: option 175.177 bus id has %d bytes, want 5", ErrBadLength, n)
			}
			info.BusType = val[0]
			info.BusVendor = uint16(val[1])<<8 | uint16(val[2])
			info.BusDevice = uint16(val[3])<<8 | uint16(val[4])
			info.HasBusID = true
		case code == IPXEVersion:
			if n != 3 {
				return info, fmt.Errorf("%w: option 175.235 version has %d bytes, want 3", ErrBadLength, n)
			}
			copy(info.Version[:], val)
			info.HasVersion = true
		}
	}
	return info, nil
}

// busTypes are iPXE's bus types (src/include/ipxe/device.h).
var busTypes = map[uint8]string{
	1: "pci", 2: "isapnp", 3: "eisa", 4: "mca", 5: "isa", 6: "tap",
	7: "efi", 8: "xen", 9: "hyperv", 10: "usb", 11: "dt",
}

// BusIDString formats the bus id as iPXE's ${busid} naming does
// ("pci 1af4:1000"), or "" when none was sent.
func (i IPXEInfo) BusIDString() string {
	if !i.HasBusID {
		return ""
	}
	t, ok := busTypes[i.BusType]
	if !ok {
		t = fmt.Sprintf("bus-%d", i.BusType)
	}
	return fmt.Sprintf("%s %04x:%04x", t, i.BusVendor, i.BusDevice)
}
