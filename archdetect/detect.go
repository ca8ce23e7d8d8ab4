package archdetect

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// Limits that keep hostile input cheap.
const (
	maxUserClasses = 64  // user classes kept; the rest are counted in Problems
	maxRelayHops   = 32  // RFC 8415 HOP_COUNT_LIMIT is 8
	maxHTTPValue   = 256 // longer query values are ignored
)

// newClient returns a Client with every derived field "unknown".
func newClient(src Source) Client {
	return Client{
		Source:    src,
		ArchName:  "unknown",
		Firmware:  FirmwareUnknown,
		CPU:       CPUUnknown,
		Transport: TransportUnknown,
	}
}

func (c *Client) problem(format string, args ...any) {
	c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
}

// FromDHCPv4 describes the client that sent DHCPv4 message m (normally a
// DISCOVER or REQUEST). It reads chaddr and options 60, 77, 93, 94, 97 and
// 175 through the dhcpv4 package. It never panics: options it cannot decode
// are listed in Problems and the fields they feed stay unknown.
func FromDHCPv4(m *dhcpv4.DHCPv4) Client {
	c := newClient(SourceDHCPv4)
	if m == nil {
		c.problem("no DHCPv4 message")
		c.classify()
		return c
	}
	if len(m.ClientHWAddr) > 0 {
		c.MAC = bytes.Clone(m.ClientHWAddr)
	}
	c.Relayed = m.GatewayIPAddr != nil && !m.GatewayIPAddr.IsUnspecified()
	opts := m.Options
	if raw, ok := opts[dhcpv4.OptionClientSystemArchitectureType.Code()]; ok {
		if archs, err := ParseArchs(raw); err != nil {
			c.problem("option 93: %v", err)
		} else {
			c.Archs = archs
		}
	}
	if opts.Has(dhcpv4.OptionClassIdentifier) {
		c.VendorClass = ParseVendorClass(m.ClassIdentifier())
	}
	if raw, ok := opts[dhcpv4.OptionClientNetworkInterfaceIdentifier.Code()]; ok {
		if u, err := ParseUNDI(raw); err != nil {
			c.problem("option 94: %v", err)
		} else {
			c.UNDI, c.HasUNDI = u, true
		}
	}
	if raw, ok := opts[dhcpv4.OptionClientMachineIdentifier.Code()]; ok {
		if id, err := ParseMachineID(raw); err != nil {
			c.problem("option 97: %v", err)
		} else {
			c.UUID, c.UUIDRaw = id.UUID(), bytes.Clone(id.Raw[:])
		}
	}
	if raw, ok := opts[dhcpv4.OptionUserClassInformation.Code()]; ok {
		c.UserClassRaw = bytes.Clone(raw)
		if len(raw) == 0 {
			c.problem("option 77: empty")
		} else {
			c.setUserClasses(m.UserClass())
		}
	}
	if raw, ok := opts[dhcpv4.OptionEtherboot.Code()]; ok {
		c.IPXE = true
		info, err := ParseIPXEOptions(raw)
		if err != nil {
			c.problem("option 175: %v", err)
		}
		c.IPXEInfo = info
	}
	c.classify()
	return c
}

// FromDHCPv6 describes the client that sent DHCPv6 message m. A
// Relay-Forward message is unwrapped to the client message inside (Relayed
// is then true, and the relay's Client Link-Layer Address option, RFC 6939,
// gives the MAC). It reads options 1 (DUID-LL/LLT give the MAC, DUID-UUID
// the UUID: in GUID order as EDK2 sends it, in network order from iPXE),
// 15, 16, 61 and 62 with the dhcpv6 package's decoders. It never
// panics: what it cannot decode is listed in Problems.
func FromDHCPv6(m dhcpv6.DHCPv6) Client {
	c := newClient(SourceDHCPv6)
	var msg *dhcpv6.Message
	for hop := 0; msg == nil; hop++ {
		switch v := m.(type) {
		case nil:
			c.problem("no DHCPv6 message")
		case *dhcpv6.Message:
			if v == nil {
				c.problem("no DHCPv6 message")
				break
			}
			msg = v
			continue
		case *dhcpv6.RelayMessage:
			if v == nil {
				c.problem("no DHCPv6 message")
				break
			}
			if hop >= maxRelayHops {
				c.problem("more than %d relay hops", maxRelayHops)
				break
			}
			c.Relayed = true
			if t, mac := v.Options.ClientLinkLayerAddress(); len(mac) > 0 && t == iana.HWTypeEthernet {
				c.MAC = bytes.Clone(mac) // the innermost relay, nearest the client, wins
			}
			inner := v.Options.RelayMessage()
			if inner == nil {
				c.problem("relay message without a Relay Message option")
				break
			}
			m = inner
			continue
		default:
			c.problem("unsupported DHCPv6 message type %T", m)
		}
		c.classify()
		return c
	}
	opts := msg.Options.Options
	if o := opts.GetOne(dhcpv6.OptionClientID); o != nil {
		duid, err := dhcpv6.DUIDFromBytes(o.ToBytes())
		switch d := duid.(type) {
		case *dhcpv6.DUIDLL:
			if c.MAC == nil && d.HWType == iana.HWTypeEthernet && len(d.LinkLayerAddr) > 0 {
				c.MAC = bytes.Clone(d.LinkLayerAddr)
			}
		case *dhcpv6.DUIDLLT:
			if c.MAC == nil && d.HWType == iana.HWTypeEthernet && len(d.LinkLayerAddr) > 0 {
				c.MAC = bytes.Clone(d.LinkLayerAddr)
			}
		case *dhcpv6.DUIDUUID:
			c.UUID, c.UUIDRaw = FormatGUID(d.UUID), bytes.Clone(d.UUID[:])
		default:
			if err != nil {
				c.problem("option 1: %v", err)
			}
		}
	}
	if o := opts.GetOne(dhcpv6.OptionClientArchType); o != nil {
		if archs, err := ParseArchs(o.ToBytes()); err != nil {
			c.problem("option 61: %v", err)
		} else {
			c.Archs = archs
		}
	}
	if o := opts.GetOne(dhcpv6.OptionNII); o != nil {
		if u, err := ParseUNDI(o.ToBytes()); err != nil {
			c.problem("option 62: %v", err)
		} else {
			c.UNDI, c.HasUNDI = u, true
		}
	}
	if o := opts.GetOne(dhcpv6.OptionVendorClass); o != nil {
		var vc dhcpv6.OptVendorClass
		if err := vc.FromBytes(o.ToBytes()); err != nil {
			c.problem("option 16: %v", err)
		} else {
			c.VendorClass = ParseVendorClass(string(vc.Data[0]))
		}
	}
	if o := opts.GetOne(dhcpv6.OptionUserClass); o != nil {
		raw := o.ToBytes()
		c.UserClassRaw = bytes.Clone(raw)
		var uc dhcpv6.OptUserClass
		if err := uc.FromBytes(raw); err != nil {
			c.problem("option 15: %v", err)
			c.setUserClasses([]string{string(raw)})
		} else {
			l := make([]string, len(uc.UserClasses))
			for i, u := range uc.UserClasses {
				l[i] = string(u)
			}
			c.setUserClasses(l)
		}
	}
	c.classify()
	if c.IPXE && len(c.UUIDRaw) == 16 {
		// iPXE writes its DUID-UUID in RFC 6355's network order (no
		// uuid_mangle, unlike its DHCPv4 option 97); EDK2 in GUID order.
		c.UUID = FormatUUID([16]byte(c.UUIDRaw))
	}
	return c
}

func (c *Client) setUserClasses(l []string) {
	if len(l) > maxUserClasses {
		c.problem("%d user classes, kept the first %d", len(l), maxUserClasses)
		l = l[:maxUserClasses]
	}
	c.UserClasses = l
}

// isIPXEUserClass reports whether a user class marks iPXE or its ancestor gPXE.
func isIPXEUserClass(s string) bool { return s == "iPXE" || s == "gPXE" }

// classify fills the derived fields from what the message carried.
func (c *Client) classify() {
	switch {
	case len(c.Archs) > 0:
		c.Arch, c.HasArch = c.Archs[0], true
	case !c.HasArch && c.VendorClass.HasArch:
		c.Arch, c.HasArch = c.VendorClass.Arch, true
	}
	if c.HasArch {
		info, _ := Lookup(c.Arch)
		c.ArchName, c.Firmware, c.CPU, c.Transport = info.Name, info.Firmware, info.CPU, info.Transport
	}
	switch c.VendorClass.Kind {
	case "HTTPClient":
		c.Transport = TransportHTTP
	case "PXEClient":
		c.Transport = TransportPXE
	case "U-Boot":
		c.Firmware = FirmwareUBoot
	}
	if !c.HasUNDI && c.VendorClass.HasUNDI {
		c.UNDI, c.HasUNDI = c.VendorClass.UNDI, true
	}
	if !c.IPXE {
		for _, u := range c.UserClasses {
			if isIPXEUserClass(u) {
				c.IPXE = true
				break
			}
		}
	}
	if !c.IPXE && isIPXEUserClass(string(c.UserClassRaw)) {
		c.IPXE = true
	}
}

// httpArchs maps iPXE's ${platform}/${buildarch} to the code that build
// sends in option 93 (iPXE src/arch/*/include/ipxe/*/dhcparch.h).
var httpArchs = map[[2]string]Arch{
	{"pcbios", "i386"}:   iana.INTEL_X86PC,
	{"pcbios", "x86_64"}: iana.INTEL_X86PC,
	{"efi", "i386"}:      iana.EFI_IA32,
	{"efi", "x86_64"}:    iana.EFI_X86_64,
	{"efi", "arm32"}:     iana.EFI_ARM32,
	{"efi", "arm64"}:     iana.EFI_ARM64,
	{"efi", "riscv32"}:   iana.EFI_RISCV32,
	{"efi", "riscv64"}:   iana.EFI_RISCV64,
	{"efi", "loong64"}:   ArchLoongArch64UEFI,
}

// buildArchCPU maps iPXE's ${buildarch} to the CPU family the code runs on.
var buildArchCPU = map[string]CPU{
	"i386": CPUX86, "x86_64": CPUX8664, "arm32": CPUARM32, "arm64": CPUARM64,
	"riscv32": CPURISCV32, "riscv64": CPURISCV64, "loong64": CPULoongArch64,
	"s390x": CPUS390,
}

// platformFirmware maps iPXE's ${platform} to a firmware family.
var platformFirmware = map[string]Firmware{
	"pcbios": FirmwareBIOS, "efi": FirmwareUEFI, "linux": FirmwareOther, "sbi": FirmwareOther,
}

// FromHTTP describes the client behind an HTTP request, as iPXE scripts and
// UEFI HTTP Boot send them. It reads these query values (first value wins):
//
//	mac        ${net0/mac} or ${net0/mac:hexhyp}
//	buildarch  ${buildarch} (i386, x86_64, arm32, arm64, riscv32, riscv64, loong64)
//	arch       the same as buildarch, or a numeric architecture code
//	platform   ${platform} (pcbios, efi, linux, sbi)
//	uuid       ${uuid} (canonical form, kept as written)
//	version    ${version}
//	user-class ${user-class}
//
// Values still missing are looked for in the path segments: a segment that
// is exactly a known buildarch or platform, a MAC or a UUID. The User-Agent
// "iPXE/x.y.z" (or "gPXE/") marks iPXE and gives its version, as do platform
// or buildarch query values (unless the User-Agent is "UefiHttpBoot/", which
// marks UEFI firmware). A value left unexpanded ("${...}") is reported in
// Problems and ignored. Archs stays empty: an HTTP request offers no codes;
// for iPXE, Arch is the code its build sends, derived from platform and
// buildarch when both are known.
func FromHTTP(r *http.Request) Client {
	c := newClient(SourceHTTP)
	if r == nil {
		c.problem("no HTTP request")
		c.classify()
		return c
	}
	c.Transport = TransportHTTP
	ua := r.UserAgent()
	if len(ua) > maxHTTPValue {
		ua = ua[:maxHTTPValue]
	}
	c.UserAgent = ua
	var q url.Values
	if r.URL != nil {
		var err error
		q, err = url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			c.problem("query: %v", err)
		}
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			v := q.Get(k)
			if v == "" {
				continue
			}
			if len(v) > maxHTTPValue {
				c.problem("query %s: value longer than %d bytes", k, maxHTTPValue)
				continue
			}
			if strings.Contains(v, "${") {
				c.problem("query %s: unexpanded iPXE setting %q", k, v)
				continue
			}
			return v
		}
		return ""
	}
	var macText, uuidText, platform, buildarch string
	macText = get("mac", "net0/mac", "hwaddr")
	uuidText = get("uuid")
	platform = strings.ToLower(get("platform"))
	buildarch = strings.ToLower(get("buildarch"))
	if a := get("arch"); a != "" {
		if n, err := strconv.ParseUint(a, 10, 16); err == nil {
			c.Arch, c.HasArch = Arch(n), true
		} else if buildarch == "" {
			buildarch = strings.ToLower(a)
		}
	}
	if uc := get("user-class", "userclass"); uc != "" {
		c.UserClasses = []string{uc}
	}
	if v := get("version"); v != "" {
		c.IPXEInfo.Version, c.IPXEInfo.HasVersion = parseVersion(v)
	}
	// Only iPXE expands ${platform} and ${buildarch}: query values with those
	// names mark iPXE, unless the User-Agent says otherwise. Path segments
	// are weaker evidence (a server may lay files out by arch for any client).
	settingsInQuery := platform != "" || buildarch != ""
	// Path segments fill what the query did not give.
	if r.URL != nil {
		for _, seg := range strings.Split(r.URL.Path, "/") {
			if len(seg) == 0 || len(seg) > maxHTTPValue {
				continue
			}
			l := strings.ToLower(seg)
			switch {
			case buildarch == "" && buildArchCPU[l] != "":
				buildarch = l
			case platform == "" && platformFirmware[l] != "":
				platform = l
			case macText == "" && parseMAC(seg) != nil:
				macText = seg
			case uuidText == "" && len(seg) == 36:
				if _, err := ParseUUID(seg); err == nil {
					uuidText = seg
				}
			}
		}
	}
	if macText != "" {
		if mac := parseMAC(macText); mac != nil {
			c.MAC = mac
		} else {
			c.problem("mac %q is not a MAC address", macText)
		}
	}
	if uuidText != "" {
		if u, err := ParseUUID(uuidText); err == nil {
			c.UUID = u
		} else {
			c.problem("uuid: %v", err)
		}
	}
	c.IPXEInfo.Platform, c.IPXEInfo.BuildArch = platform, buildarch
	switch {
	case strings.HasPrefix(ua, "iPXE/"), strings.HasPrefix(ua, "gPXE/"):
		c.IPXE = true
		if !c.IPXEInfo.HasVersion {
			c.IPXEInfo.Version, c.IPXEInfo.HasVersion = parseVersion(ua[5:])
		}
	case settingsInQuery && !strings.HasPrefix(ua, "UefiHttpBoot/"):
		c.IPXE = true
	}
	// The code that iPXE build sends in option 93; other clients fetching a
	// file laid out by platform and arch get no code (only firmware and CPU).
	if !c.HasArch && c.IPXE {
		if a, ok := httpArchs[[2]string{platform, buildarch}]; ok {
			c.Arch, c.HasArch = a, true
		}
	}
	c.classify()
	c.Transport = TransportHTTP
	if f, ok := platformFirmware[platform]; ok {
		c.Firmware = f
	} else if strings.HasPrefix(ua, "UefiHttpBoot/") {
		c.Firmware = FirmwareUEFI
	}
	if cpu, ok := buildArchCPU[buildarch]; ok {
		c.CPU = cpu
	}
	return c
}

// parseMAC accepts aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff and
// aabbccddeeff (6-byte addresses only).
func parseMAC(s string) net.HardwareAddr {
	if len(s) == 12 {
		var b [6]byte
		for i := range b {
			v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
			if err != nil {
				return nil
			}
			b[i] = byte(v)
		}
		return net.HardwareAddr(b[:])
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil
	}
	return mac
}

// parseVersion reads a leading "major.minor.patch" (as in "1.21.1+ (g3f5b6)").
func parseVersion(s string) (v [3]uint8, ok bool) {
	for i := 0; i < 3; i++ {
		j := 0
		for j < len(s) && j < 4 && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 {
			return [3]uint8{}, false
		}
		n, err := strconv.ParseUint(s[:j], 10, 8)
		if err != nil {
			return [3]uint8{}, false
		}
		v[i] = uint8(n)
		s = s[j:]
		if i < 2 {
			if !strings.HasPrefix(s, ".") {
				return [3]uint8{}, false
			}
			s = s[1:]
		}
	}
	return v, true
}
