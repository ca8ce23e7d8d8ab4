package dhcpboot

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// classify4 is the classifier handlers use when none is configured.
// TODO(archdetect): replace by archdetect.FromDHCPv4 when it is committed.
var classify4 = interimFromDHCPv4

// interimFromDHCPv4 reads the fields dhcpboot's rules use. It is a stand-in
// for archdetect.FromDHCPv4 and never panics.
func interimFromDHCPv4(m *dhcpv4.DHCPv4) archdetect.Client {
	c := archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: m.ClientHWAddr,
		Firmware: archdetect.FirmwareUnknown, CPU: archdetect.CPUUnknown, Transport: archdetect.TransportUnknown, ArchName: "unknown"}
	vc := m.ClassIdentifier()
	c.VendorClass.Raw = vc
	switch {
	case strings.HasPrefix(vc, "PXEClient"):
		c.VendorClass.Kind = "PXEClient"
	case strings.HasPrefix(vc, "HTTPClient"):
		c.VendorClass.Kind = "HTTPClient"
	case strings.HasPrefix(vc, "U-Boot"):
		c.VendorClass.Kind = "U-Boot"
	}
	if i := strings.Index(vc, ":Arch:"); i >= 0 && len(vc) >= i+11 {
		if n, err := strconv.ParseUint(vc[i+6:i+11], 10, 16); err == nil {
			c.VendorClass.Arch, c.VendorClass.HasArch = archdetect.Arch(n), true
		}
	}
	if raw := m.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(raw) >= 2 {
		for i := 0; i+1 < len(raw); i += 2 {
			c.Archs = append(c.Archs, archdetect.Arch(uint16(raw[i])<<8|uint16(raw[i+1])))
		}
		c.Arch, c.HasArch = c.Archs[0], true
	} else if c.VendorClass.HasArch {
		c.Arch, c.HasArch = c.VendorClass.Arch, true
	}
	if c.HasArch {
		c.ArchName = c.Arch.String()
		switch c.Arch {
		case iana.INTEL_X86PC:
			c.Firmware, c.CPU, c.Transport = archdetect.FirmwareBIOS, archdetect.CPUX86, archdetect.TransportPXE
		case iana.EFI_X86_64, iana.EFI_BC:
			c.Firmware, c.CPU, c.Transport = archdetect.FirmwareUEFI, archdetect.CPUX8664, archdetect.TransportPXE
		case iana.EFI_IA32:
			c.Firmware, c.CPU, c.Transport = archdetect.FirmwareUEFI, archdetect.CPUX86, archdetect.TransportPXE
		case iana.EFI_ARM64:
			c.Firmware, c.CPU, c.Transport = archdetect.FirmwareUEFI, archdetect.CPUARM64, archdetect.TransportPXE
		case iana.EFI_X86_64_HTTP:
			c.Firmware, c.CPU, c.Transport = archdetect.FirmwareUEFI, archdetect.CPUX8664, archdetect.TransportHTTP
		case iana.EFI_ARM64_HTTP:
			c.Firmware, c.CPU, c.Transport = archdetect.FirmwareUEFI, archdetect.CPUARM64, archdetect.TransportHTTP
		}
	}
	if c.VendorClass.Kind == "HTTPClient" {
		c.Transport = archdetect.TransportHTTP
	}
	if raw := m.Options.Get(dhcpv4.OptionUserClassInformation); len(raw) > 0 {
		c.UserClassRaw = raw
		c.UserClasses = m.UserClass()
	}
	if raw := m.Options.Get(dhcpv4.OptionEtherboot); raw != nil {
		c.IPXE = true
		for b := raw; len(b) >= 2 && len(b) >= 2+int(b[1]); b = b[2+int(b[1]):] {
			if b[0] < 177 {
				c.IPXEInfo.Features = append(c.IPXEInfo.Features, archdetect.IPXEFeature(b[0]))
			}
		}
	}
	for _, u := range c.UserClasses {
		if u == "iPXE" || u == "gPXE" {
			c.IPXE = true
		}
	}
	if u := m.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(u) == 17 && u[0] == 0 {
		g := u[1:]
		c.UUID = fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15])
	}
	return c
}

// classify6 is the DHCPv6 classifier handlers use when none is configured.
// TODO(archdetect): replace by archdetect.FromDHCPv6 when it is committed.
var classify6 = interimFromDHCPv6

func interimFromDHCPv6(m dhcpv6.DHCPv6) archdetect.Client {
	c := archdetect.Client{Source: archdetect.SourceDHCPv6, Firmware: archdetect.FirmwareUnknown,
		CPU: archdetect.CPUUnknown, Transport: archdetect.TransportUnknown, ArchName: "unknown"}
	var llAddr net.HardwareAddr
	if rm, ok := m.(*dhcpv6.RelayMessage); ok {
		_, llAddr = rm.Options.ClientLinkLayerAddress()
	}
	in, err := m.GetInnerMessage()
	if err != nil {
		c.Problems = append(c.Problems, err.Error())
		return c
	}
	switch d := in.Options.ClientID().(type) {
	case *dhcpv6.DUIDLL:
		c.MAC = d.LinkLayerAddr
	case *dhcpv6.DUIDLLT:
		c.MAC = d.LinkLayerAddr
	}
	if c.MAC == nil {
		c.MAC = llAddr
	}
	for _, vc := range in.Options.VendorClass(enterprisePXE) {
		v4 := &dhcpv4.DHCPv4{Options: dhcpv4.Options{}}
		v4.UpdateOption(dhcpv4.OptClassIdentifier(string(vc)))
		cc := interimFromDHCPv4(v4)
		c.VendorClass = cc.VendorClass
		break
	}
	if archs := in.Options.ArchTypes(); len(archs) > 0 {
		v4 := &dhcpv4.DHCPv4{Options: dhcpv4.Options{}}
		v4.UpdateOption(dhcpv4.OptClientArch(archs...))
		v4.UpdateOption(dhcpv4.OptClassIdentifier(c.VendorClass.Raw))
		cc := interimFromDHCPv4(v4)
		c.Archs, c.Arch, c.HasArch, c.ArchName = cc.Archs, cc.Arch, cc.HasArch, cc.ArchName
		c.Firmware, c.CPU, c.Transport = cc.Firmware, cc.CPU, cc.Transport
	}
	for _, uc := range in.Options.UserClasses() {
		c.UserClasses = append(c.UserClasses, string(uc))
		if string(uc) == "iPXE" {
			c.IPXE = true
		}
	}
	return c
}
