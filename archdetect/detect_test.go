package archdetect_test

import (
	"errors"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func discover(t testing.TB, opts ...dhcpv4.Option) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := make([]dhcpv4.Modifier, len(opts))
	for i, o := range opts {
		mods[i] = dhcpv4.WithOption(o)
	}
	m, err := dhcpv4.NewDiscovery(mac("52:54:00:12:34:56"), mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseVendorClass(t *testing.T) {
	tests := []struct {
		in      string
		kind    string
		arch    int // -1: none
		undi    string
		hasUNDI bool
	}{
		{"PXEClient:Arch:00000:UNDI:002001", "PXEClient", 0, "UNDI 2.1", true},
		{"PXEClient:Arch:00007:UNDI:003010", "PXEClient", 7, "UNDI 3.10", true},
		{"HTTPClient:Arch:00016:UNDI:003000", "HTTPClient", 16, "UNDI 3.0", true}, // decimal, not 0x16
		{"PXEClient", "PXEClient", -1, "", false},
		{"HTTPClient", "HTTPClient", -1, "", false},
		{"PXEClient:Arch:7", "PXEClient", 7, "", false},                  // lenient width
		{"PXEClient:Arch:0000a:UNDI:0x3000", "PXEClient", -1, "", false}, // not decimal
		{"PXEClient:Arch:99999:UNDI:999999", "PXEClient", -1, "", false}, // out of range
		{"PXEClient:Arch:65535", "PXEClient", 65535, "", false},
		{"PXEClient:UNDI:003000:Arch:00011", "PXEClient", 11, "UNDI 3.0", true},
		{"PXEClient:Arch:", "PXEClient", -1, "", false},
		{"PXEClientX:Arch:00007", "PXEClient", 7, "", false}, // prefix match only, as EDK2
		{"U-Boot.armv8", "U-Boot", -1, "", false},
		{"U-boot.armv8.hikey_aemv8a", "U-Boot", -1, "", false}, // U-Boot before 2016 spelled it so
		{"u-boot", "U-Boot", -1, "", false},
		{"U-Bootless", "U-Boot", -1, "", false},
		{"MSFT 5.0", "", -1, "", false},
		{"pxeclient:Arch:00007", "", -1, "", false}, // case matters on the wire
		{"", "", -1, "", false},
		{"\xff\xfePXEClient", "", -1, "", false},
	}
	for _, tt := range tests {
		v := archdetect.ParseVendorClass(tt.in)
		if v.Raw != tt.in || v.Kind != tt.kind || v.HasArch != (tt.arch >= 0) || (tt.arch >= 0 && int(v.Arch) != tt.arch) || v.HasUNDI != tt.hasUNDI {
			t.Errorf("ParseVendorClass(%q) = %+v", tt.in, v)
		}
		if tt.hasUNDI && v.UNDI.String() != tt.undi {
			t.Errorf("ParseVendorClass(%q) UNDI %s, want %s", tt.in, v.UNDI, tt.undi)
		}
	}
}

func TestParseIPXEOptions(t *testing.T) {
	// The exact option 175 of frame 1 of bios-ipxe-rom-http.pcapng (internal/pcaptest).
	rom := []byte{0xb1, 0x05, 0x01, 0x1a, 0xf4, 0x10, 0x00, 0xeb, 0x03, 0x01, 0x00, 0x00,
		0x17, 0x01, 0x01, 0x22, 0x01, 0x01, 0x13, 0x01, 0x01, 0x11, 0x01, 0x01, 0x27, 0x01, 0x01,
		0x19, 0x01, 0x01, 0x29, 0x01, 0x01, 0x10, 0x01, 0x02, 0x21, 0x01, 0x01, 0x15, 0x01, 0x01,
		0x18, 0x01, 0x01, 0x12, 0x01, 0x01}
	tests := []struct {
		name     string
		in       []byte
		features string
		version  string
		busID    string
		err      error
	}{
		{"iPXE ROM", rom, "dns elf http iscsi menu multiboot nfs pxeext pxe tftp bzimage aoe", "1.0.0", "pci 1af4:1000", nil},
		{"empty", nil, "", "", "", nil},
		{"pad and end", []byte{0, 0, 0x13, 1, 1, 0xff, 0x14, 1, 1}, "http", "", "", nil},
		{"duplicate feature once", []byte{0x13, 1, 1, 0x13, 1, 1}, "http", "", "", nil},
		{"unknown feature", []byte{0x7f, 1, 1}, "feature-0x7f", "", "", nil},
		{"settings are not features", []byte{0x01, 1, 5, 0xb0, 1, 1, 0x80, 0}, "", "", "", nil},
		{"truncated value", []byte{0x13, 1, 1, 0x14, 5, 1}, "http", "", "", archdetect.ErrTruncated},
		{"missing length", []byte{0x13, 1, 1, 0x14}, "http", "", "", archdetect.ErrTruncated},
		{"short version", []byte{0xeb, 2, 1, 0}, "", "", "", archdetect.ErrBadLength},
		{"long bus id", []byte{0xb1, 6, 1, 2, 3, 4, 5, 6}, "", "", "", archdetect.ErrBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := archdetect.ParseIPXEOptions(tt.in)
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if got := strings.Join(info.FeatureNames(), " "); got != tt.features {
				t.Errorf("features %q, want %q", got, tt.features)
			}
			if got := info.VersionString(); got != tt.version {
				t.Errorf("version %q, want %q", got, tt.version)
			}
			if got := info.BusIDString(); got != tt.busID {
				t.Errorf("bus id %q, want %q", got, tt.busID)
			}
		})
	}
}

func TestIPXEFeatureNames(t *testing.T) {
	for f := archdetect.IPXEFeature(0); ; f++ {
		back, err := archdetect.ParseIPXEFeature(f.String())
		if err != nil || back != f {
			t.Errorf("round trip %d: %q -> %d, %v", f, f.String(), back, err)
		}
		if f == 255 {
			break
		}
	}
	if f, err := archdetect.ParseIPXEFeature("HTTPS"); err != nil || f != archdetect.FeatureHTTPS {
		t.Errorf("HTTPS -> %d %v", f, err)
	}
	if _, err := archdetect.ParseIPXEFeature("warp-drive"); err == nil {
		t.Error("unknown name accepted")
	}
}

func TestParseSmallOptions(t *testing.T) {
	if u, err := archdetect.ParseUNDI([]byte{1, 3, 10}); err != nil || u != (archdetect.UNDI{Type: 1, Major: 3, Minor: 10}) {
		t.Errorf("ParseUNDI = %+v %v", u, err)
	}
	for _, b := range [][]byte{nil, {1, 2}, {1, 2, 3, 4}} {
		if _, err := archdetect.ParseUNDI(b); !errors.Is(err, archdetect.ErrBadLength) {
			t.Errorf("ParseUNDI(%x) err = %v", b, err)
		}
	}
	wire := []byte{0, 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	id, err := archdetect.ParseMachineID(wire)
	if err != nil || id.UUID() != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Errorf("ParseMachineID = %s %v", id.UUID(), err)
	}
	if got := archdetect.FormatUUID(id.Raw); got != "33221100-5544-7766-8899-aabbccddeeff" {
		t.Errorf("FormatUUID = %s", got)
	}
	for _, b := range [][]byte{nil, wire[:16], append([]byte{1}, wire[1:]...), append(wire, 0)} {
		if _, err := archdetect.ParseMachineID(b); err == nil {
			t.Errorf("ParseMachineID(%x) accepted", b)
		}
	}
	for in, want := range map[string]string{
		"00112233-4455-6677-8899-AABBCCDDEEFF":   "00112233-4455-6677-8899-aabbccddeeff",
		"{00112233445566778899aabbccddeeff}":     "00112233-4455-6677-8899-aabbccddeeff",
		"00112233-4455-6677-8899-aabbccddeeZZ":   "",
		"0011":                                   "",
		"+0112233-4455-6677-8899-aabbccddeeff":   "",
		"00112233-4455-6677-8899-aabbccddeeff00": "",
	} {
		got, err := archdetect.ParseUUID(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("ParseUUID(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	archs, err := archdetect.ParseArchs([]byte{0, 7, 0, 0x10})
	if err != nil || !slices.Equal(archs, []archdetect.Arch{7, 16}) {
		t.Errorf("ParseArchs = %v %v", archs, err)
	}
	for _, b := range [][]byte{nil, {0}, {0, 7, 0}} {
		if _, err := archdetect.ParseArchs(b); !errors.Is(err, archdetect.ErrBadLength) {
			t.Errorf("ParseArchs(%x) err = %v", b, err)
		}
	}
	for in, want := range map[string][]string{
		"iPXE":            {"iPXE"},
		"\x04iPXE":        {"iPXE"},
		"\x04iPXE\x03foo": {"iPXE", "foo"},
		"\x00":            {"\x00"},
		"":                nil,
	} {
		if got := archdetect.ParseUserClass([]byte(in)); !slices.Equal(got, want) {
			t.Errorf("ParseUserClass(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromDHCPv4(t *testing.T) {
	many := make([]string, 10000)
	for i := range many {
		many[i] = "x"
	}
	tests := []struct {
		name      string
		opts      []dhcpv4.Option
		arch      int // -1: none
		firmware  archdetect.Firmware
		transport archdetect.Transport
		ipxe      bool
		undi      string
		problems  int
		check     func(t *testing.T, c archdetect.Client)
	}{
		{name: "nothing", arch: -1, firmware: "unknown", transport: "unknown"},
		{name: "vendor class only", opts: []dhcpv4.Option{dhcpv4.OptClassIdentifier("PXEClient:Arch:00011:UNDI:003016")},
			arch: 11, firmware: "uefi", transport: "pxe", undi: "UNDI 3.16"},
		{name: "option 93 wins over vendor class", opts: []dhcpv4.Option{dhcpv4.OptClientArch(7), dhcpv4.OptClassIdentifier("PXEClient:Arch:00000")},
			arch: 7, firmware: "uefi", transport: "pxe"},
		{name: "list keeps every code, first chosen", opts: []dhcpv4.Option{dhcpv4.OptClientArch(16, 7)},
			arch: 16, firmware: "uefi", transport: "http",
			check: func(t *testing.T, c archdetect.Client) {
				if !slices.Equal(c.Archs, []archdetect.Arch{16, 7}) {
					t.Errorf("Archs = %v", c.Archs)
				}
			}},
		{name: "HTTPClient forces http", opts: []dhcpv4.Option{dhcpv4.OptClientArch(7), dhcpv4.OptClassIdentifier("HTTPClient:Arch:00007")},
			arch: 7, firmware: "uefi", transport: "http"},
		{name: "U-Boot vendor class", opts: []dhcpv4.Option{dhcpv4.OptClientArch(22), dhcpv4.OptClassIdentifier("U-Boot.armv8")},
			arch: 22, firmware: "uboot", transport: "pxe"},
		{name: "U-Boot without arch", opts: []dhcpv4.Option{dhcpv4.OptClassIdentifier("U-Boot")},
			arch: -1, firmware: "uboot", transport: "unknown"},
		{name: "odd option 93", opts: []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7, 0})},
			arch: -1, firmware: "unknown", transport: "unknown", problems: 1},
		{name: "odd option 93, vendor class fallback", opts: []dhcpv4.Option{
			dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{7}), dhcpv4.OptClassIdentifier("PXEClient:Arch:00006:UNDI:003000")},
			arch: 6, firmware: "uefi", transport: "pxe", undi: "UNDI 3.0", problems: 1},
		{name: "unknown code", opts: []dhcpv4.Option{dhcpv4.OptClientArch(0x1234)}, arch: 0x1234, firmware: "unknown", transport: "unknown",
			check: func(t *testing.T, c archdetect.Client) {
				if c.ArchName != "unknown" || c.CPU != "unknown" {
					t.Errorf("unknown code gave %q %s", c.ArchName, c.CPU)
				}
			}},
		{name: "option 94 wins over vendor class", opts: []dhcpv4.Option{
			dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3, 10}), dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")},
			arch: 7, firmware: "uefi", transport: "pxe", undi: "UNDI 3.10"},
		{name: "bad option 94", opts: []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 3})},
			arch: -1, firmware: "unknown", transport: "unknown", problems: 1},
		{name: "bad option 97", opts: []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, []byte{0, 1, 2})},
			arch: -1, firmware: "unknown", transport: "unknown", problems: 1,
			check: func(t *testing.T, c archdetect.Client) {
				if c.UUID != "" || c.UUIDRaw != nil {
					t.Errorf("UUID %q from a bad option", c.UUID)
				}
			}},
		{name: "raw iPXE user class", opts: []dhcpv4.Option{dhcpv4.OptUserClass("iPXE")}, arch: -1, firmware: "unknown", transport: "unknown", ipxe: true},
		{name: "RFC 3004 iPXE user class", opts: []dhcpv4.Option{dhcpv4.OptRFC3004UserClass([]string{"foo", "iPXE"})},
			arch: -1, firmware: "unknown", transport: "unknown", ipxe: true,
			check: func(t *testing.T, c archdetect.Client) {
				if !slices.Equal(c.UserClasses, []string{"foo", "iPXE"}) || string(c.UserClassRaw) != "\x03foo\x04iPXE" {
					t.Errorf("user classes %q raw %q", c.UserClasses, c.UserClassRaw)
				}
			}},
		{name: "gPXE user class", opts: []dhcpv4.Option{dhcpv4.OptUserClass("gPXE")}, arch: -1, firmware: "unknown", transport: "unknown", ipxe: true},
		{name: "other user class", opts: []dhcpv4.Option{dhcpv4.OptUserClass("pixiecore")}, arch: -1, firmware: "unknown", transport: "unknown"},
		{name: "iPXE prefix is not iPXE", opts: []dhcpv4.Option{dhcpv4.OptUserClass("iPXEfoo")}, arch: -1, firmware: "unknown", transport: "unknown"},
		{name: "empty user class", opts: []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionUserClassInformation, []byte{})},
			arch: -1, firmware: "unknown", transport: "unknown", problems: 1},
		{name: "10000 user classes", opts: []dhcpv4.Option{dhcpv4.OptRFC3004UserClass(many)},
			arch: -1, firmware: "unknown", transport: "unknown", problems: 1,
			check: func(t *testing.T, c archdetect.Client) {
				if len(c.UserClasses) != 64 {
					t.Errorf("kept %d user classes", len(c.UserClasses))
				}
			}},
		{name: "option 175 alone means iPXE", opts: []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, []byte{0x24, 1, 1})},
			arch: -1, firmware: "unknown", transport: "unknown", ipxe: true,
			check: func(t *testing.T, c archdetect.Client) {
				if !c.IPXEInfo.Has(archdetect.FeatureEFI) {
					t.Error("EFI feature missing")
				}
			}},
		{name: "bad option 175 still iPXE", opts: []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, []byte{0x13, 1, 1, 0xeb, 9})},
			arch: -1, firmware: "unknown", transport: "unknown", ipxe: true, problems: 1,
			check: func(t *testing.T, c archdetect.Client) {
				if !c.IPXEInfo.Has(archdetect.FeatureHTTP) {
					t.Error("features decoded before the error were lost")
				}
			}},
		{name: "non-UTF-8 vendor class", opts: []dhcpv4.Option{dhcpv4.OptClassIdentifier("\xff\xfe\xfd")},
			arch: -1, firmware: "unknown", transport: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := archdetect.FromDHCPv4(discover(t, tt.opts...))
			if c.Source != archdetect.SourceDHCPv4 || c.MAC.String() != "52:54:00:12:34:56" {
				t.Errorf("source %s MAC %s", c.Source, c.MAC)
			}
			if c.HasArch != (tt.arch >= 0) || (tt.arch >= 0 && int(c.Arch) != tt.arch) {
				t.Errorf("arch %d (has %v), want %d", c.Arch, c.HasArch, tt.arch)
			}
			if !c.HasArch && (c.ArchName != "unknown" || c.CPU != archdetect.CPUUnknown) {
				t.Errorf("no arch but name %q cpu %s", c.ArchName, c.CPU)
			}
			if c.Firmware != tt.firmware || c.Transport != tt.transport || c.IPXE != tt.ipxe {
				t.Errorf("firmware %s transport %s ipxe %v, want %s %s %v", c.Firmware, c.Transport, c.IPXE, tt.firmware, tt.transport, tt.ipxe)
			}
			if got := ""; c.HasUNDI {
				got = c.UNDI.String()
				if got != tt.undi {
					t.Errorf("UNDI %s, want %s", got, tt.undi)
				}
			} else if tt.undi != "" {
				t.Errorf("no UNDI, want %s", tt.undi)
			}
			if len(c.Problems) != tt.problems {
				t.Errorf("problems %q, want %d", c.Problems, tt.problems)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		c := archdetect.FromDHCPv4(nil)
		if len(c.Problems) != 1 || c.HasArch || c.Firmware != archdetect.FirmwareUnknown {
			t.Errorf("FromDHCPv4(nil) = %+v", c)
		}
	})
	t.Run("relayed", func(t *testing.T) {
		m := discover(t)
		m.GatewayIPAddr = net.IPv4(10, 0, 0, 1)
		if c := archdetect.FromDHCPv4(m); !c.Relayed {
			t.Error("giaddr set but not Relayed")
		}
	})
}

func solicit(t testing.TB, opts ...dhcpv6.Option) *dhcpv6.Message {
	t.Helper()
	m, err := dhcpv6.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	m.MessageType = dhcpv6.MessageTypeSolicit
	for _, o := range opts {
		m.AddOption(o)
	}
	return m
}

func TestFromDHCPv6(t *testing.T) {
	vc := &dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("PXEClient:Arch:00011:UNDI:003000")}}
	inner := solicit(t,
		dhcpv6.OptClientID(&dhcpv6.DUIDLLT{HWType: iana.HWTypeEthernet, Time: 1, LinkLayerAddr: mac("52:54:00:aa:bb:cc")}),
		dhcpv6.OptClientArchType(iana.EFI_ARM64),
		&dhcpv6.OptNetworkInterfaceID{Typ: 1, Major: 3, Minor: 10},
		vc,
		&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}},
	)
	check := func(t *testing.T, c archdetect.Client, wantMAC string, relayed bool) {
		t.Helper()
		if c.Source != archdetect.SourceDHCPv6 || c.MAC.String() != wantMAC || c.Relayed != relayed {
			t.Errorf("source %s MAC %s relayed %v", c.Source, c.MAC, c.Relayed)
		}
		if !c.HasArch || c.Arch != iana.EFI_ARM64 || c.CPU != archdetect.CPUARM64 || c.Firmware != archdetect.FirmwareUEFI || c.Transport != archdetect.TransportPXE {
			t.Errorf("arch %d cpu %s fw %s transport %s", c.Arch, c.CPU, c.Firmware, c.Transport)
		}
		if c.UNDI.String() != "UNDI 3.10" || c.VendorClass.Kind != "PXEClient" || !c.IPXE || !slices.Equal(c.UserClasses, []string{"iPXE"}) {
			t.Errorf("undi %s vc %+v ipxe %v uc %q", c.UNDI, c.VendorClass, c.IPXE, c.UserClasses)
		}
		if len(c.Problems) != 0 {
			t.Errorf("problems %q", c.Problems)
		}
	}
	t.Run("direct", func(t *testing.T) { check(t, archdetect.FromDHCPv6(inner), "52:54:00:aa:bb:cc", false) })
	t.Run("relayed twice", func(t *testing.T) {
		r1, err := dhcpv6.EncapsulateRelay(inner, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8::1"), net.ParseIP("fe80::1"))
		if err != nil {
			t.Fatal(err)
		}
		r2, err := dhcpv6.EncapsulateRelay(r1, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8::2"), net.ParseIP("2001:db8::1"))
		if err != nil {
			t.Fatal(err)
		}
		// Through the wire format too, as a server receives it.
		parsed, err := dhcpv6.FromBytes(r2.ToBytes())
		if err != nil {
			t.Fatal(err)
		}
		check(t, archdetect.FromDHCPv6(parsed), "52:54:00:aa:bb:cc", true)
	})
	t.Run("relay link-layer address gives the MAC", func(t *testing.T) {
		noMAC := solicit(t, dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: [16]byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}}))
		r, err := dhcpv6.EncapsulateRelay(noMAC, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8::1"), net.ParseIP("fe80::1"))
		if err != nil {
			t.Fatal(err)
		}
		r.AddOption(dhcpv6.OptClientLinkLayerAddress(iana.HWTypeEthernet, mac("52:54:00:de:ad:01")))
		c := archdetect.FromDHCPv6(r)
		if c.MAC.String() != "52:54:00:de:ad:01" || c.UUID != "00112233-4455-6677-8899-aabbccddeeff" || !c.Relayed {
			t.Errorf("MAC %s UUID %s relayed %v", c.MAC, c.UUID, c.Relayed)
		}
	})
	t.Run("relay without message", func(t *testing.T) {
		r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward}
		if c := archdetect.FromDHCPv6(r); len(c.Problems) != 1 || c.HasArch {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("nil", func(t *testing.T) {
		var m *dhcpv6.Message
		for _, in := range []dhcpv6.DHCPv6{nil, m} {
			if c := archdetect.FromDHCPv6(in); len(c.Problems) != 1 {
				t.Errorf("problems %q", c.Problems)
			}
		}
	})
	t.Run("generic options", func(t *testing.T) {
		// Options built by hand as OptionGeneric must not trip type assertions.
		m := solicit(t,
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionClientArchType, OptionData: []byte{0, 7, 1}},
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionNII, OptionData: []byte{1}},
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionVendorClass, OptionData: []byte{0, 0}},
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionUserClass, OptionData: []byte{0, 9, 'i'}},
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionClientID, OptionData: []byte{0}},
		)
		c := archdetect.FromDHCPv6(m)
		if len(c.Problems) != 5 || c.HasArch || c.HasUNDI {
			t.Errorf("problems %q arch %v undi %v", c.Problems, c.HasArch, c.HasUNDI)
		}
	})
}

func TestFromHTTP(t *testing.T) {
	tests := []struct {
		name      string
		url, ua   string
		mac, uuid string
		arch      int
		firmware  archdetect.Firmware
		cpu       archdetect.CPU
		ipxe      bool
		version   string
		problems  int
	}{
		{name: "demo stage2 URL, BIOS iPXE", url: "/stage2.ipxe?mac=52:54:00:77:00:0a&buildarch=i386&platform=pcbios&chip=virtio-net&uuid=00112233-4455-6677-8899-AABBCCDDEEFF",
			ua: "iPXE/1.0.0+", mac: "52:54:00:77:00:0a", uuid: "00112233-4455-6677-8899-aabbccddeeff", arch: 0, firmware: "bios", cpu: "x86", ipxe: true, version: "1.0.0"},
		{name: "EFI x86_64 hexhyp", url: "/boot.ipxe?mac=52-54-00-77-00-0b&arch=x86_64&platform=efi",
			mac: "52:54:00:77:00:0b", arch: 7, firmware: "uefi", cpu: "x86_64", ipxe: true},
		{name: "64-bit BIOS build", url: "/b?platform=pcbios&buildarch=x86_64", arch: 0, firmware: "bios", cpu: "x86_64", ipxe: true},
		{name: "arm64 EFI in path", url: "/boot/efi/arm64/525400770011/menu.ipxe", ua: "iPXE/1.21.1+ (g3f5b6)", mac: "52:54:00:77:00:11", arch: 11, firmware: "uefi", cpu: "arm64", ipxe: true, version: "1.21.1"},
		{name: "loong64", url: "/x?platform=efi&buildarch=loong64", arch: 39, firmware: "uefi", cpu: "loongarch64", ipxe: true},
		{name: "numeric arch", url: "/x?arch=16", arch: 16, firmware: "uefi", cpu: "x86_64"},
		{name: "UEFI HTTP boot", url: "/ipxe.efi", ua: "UefiHttpBoot/1.0", arch: -1, firmware: "uefi", cpu: "unknown"},
		{name: "UEFI HTTP boot, file laid out by arch", url: "/efi/x86_64/ipxe.efi", ua: "UefiHttpBoot/1.0", arch: -1, firmware: "uefi", cpu: "x86_64"},
		{name: "UEFI HTTP boot, platform in query", url: "/x?platform=efi", ua: "UefiHttpBoot/1.0", arch: -1, firmware: "uefi", cpu: "unknown"},
		{name: "path alone is not iPXE", url: "/pcbios/i386/undionly.kpxe", arch: -1, firmware: "bios", cpu: "x86"},
		{name: "version from setting", url: "/x?version=1.21.1%2B+(g3f5b6)", ua: "iPXE/2.0.0", arch: -1, firmware: "unknown", cpu: "unknown", ipxe: true, version: "1.21.1"},
		{name: "unexpanded settings", url: "/x?mac=${net0/mac}&platform=${platform}", arch: -1, firmware: "unknown", cpu: "unknown", problems: 2},
		{name: "bad mac and uuid", url: "/x?mac=zz&uuid=nope", arch: -1, firmware: "unknown", cpu: "unknown", problems: 2},
		{name: "sbi riscv64", url: "/x?platform=sbi&buildarch=riscv64", arch: -1, firmware: "other", cpu: "riscv64", ipxe: true},
		{name: "user class iPXE", url: "/x?user-class=iPXE", arch: -1, firmware: "unknown", cpu: "unknown", ipxe: true},
		{name: "bad query", url: "/x?a=%zz", arch: -1, firmware: "unknown", cpu: "unknown", problems: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.ua != "" {
				r.Header.Set("User-Agent", tt.ua)
			}
			c := archdetect.FromHTTP(r)
			if c.Source != archdetect.SourceHTTP || c.Transport != archdetect.TransportHTTP || c.UserAgent != tt.ua {
				t.Errorf("source %s transport %s ua %q", c.Source, c.Transport, c.UserAgent)
			}
			if got := c.MAC.String(); got != tt.mac {
				t.Errorf("MAC %q, want %q", got, tt.mac)
			}
			if c.UUID != tt.uuid {
				t.Errorf("UUID %q, want %q", c.UUID, tt.uuid)
			}
			if c.HasArch != (tt.arch >= 0) || (tt.arch >= 0 && int(c.Arch) != tt.arch) {
				t.Errorf("arch %d (has %v), want %d", c.Arch, c.HasArch, tt.arch)
			}
			if len(c.Archs) != 0 {
				t.Errorf("Archs %v from HTTP", c.Archs)
			}
			if c.Firmware != tt.firmware || c.CPU != tt.cpu || c.IPXE != tt.ipxe {
				t.Errorf("firmware %s cpu %s ipxe %v, want %s %s %v", c.Firmware, c.CPU, c.IPXE, tt.firmware, tt.cpu, tt.ipxe)
			}
			if got := c.IPXEInfo.VersionString(); got != tt.version {
				t.Errorf("version %q, want %q", got, tt.version)
			}
			if len(c.Problems) != tt.problems {
				t.Errorf("problems %q, want %d", c.Problems, tt.problems)
			}
		})
	}
	if c := archdetect.FromHTTP(nil); len(c.Problems) != 1 {
		t.Errorf("FromHTTP(nil) problems %q", c.Problems)
	}
}
