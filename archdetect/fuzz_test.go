package archdetect_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit/archdetect"
)

// seedCaptures adds every client message of the captures to a fuzz corpus.
func seedCaptures(f *testing.F, v6 bool) {
	for _, tc := range captureCases {
		for _, m := range readClientMessages(f, tc.file) {
			switch {
			case !v6 && m.v4 != nil:
				f.Add(m.v4.ToBytes())
			case v6 && m.v6 != nil:
				f.Add(m.v6.ToBytes())
			}
		}
	}
}

// FuzzFromDHCPv4 feeds whole packets to dhcpv4.FromBytes and FromDHCPv4, and
// the same bytes as raw values of options 60/77/93/94/97/175 in a message
// built directly, so hostile option values reach FromDHCPv4 even when the
// packet parser would reject the packet.
func FuzzFromDHCPv4(f *testing.F) {
	seedCaptures(f, false)
	f.Add([]byte{0, 7, 0})
	f.Add([]byte("\x04iPXE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := dhcpv4.FromBytes(b); err == nil {
			_ = archdetect.FromDHCPv4(m)
		}
		m := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, ClientHWAddr: b[:min(len(b), 16)], Options: dhcpv4.Options{}}
		for _, code := range []uint8{60, 77, 93, 94, 97, 175} {
			m.Options[code] = b
		}
		c := archdetect.FromDHCPv4(m)
		if c.HasArch != (len(c.Archs) > 0 || c.VendorClass.HasArch) {
			t.Fatalf("HasArch %v with archs %v and vendor class %+v", c.HasArch, c.Archs, c.VendorClass)
		}
		if !c.IPXE {
			t.Fatal("option 175 present but not iPXE")
		}
	})
}

// FuzzFromDHCPv6 feeds packets to dhcpv6.FromBytes and FromDHCPv6.
func FuzzFromDHCPv6(f *testing.F) {
	seedCaptures(f, true)
	f.Add([]byte{12, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 0, 4, 1, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv6.FromBytes(b)
		if err != nil {
			return
		}
		c := archdetect.FromDHCPv6(m)
		if c.Source != archdetect.SourceDHCPv6 {
			t.Fatalf("source %s", c.Source)
		}
	})
}

// FuzzFromHTTP feeds raw HTTP requests to http.ReadRequest and FromHTTP.
func FuzzFromHTTP(f *testing.F) {
	f.Add("GET /stage2.ipxe?mac=52:54:00:77:00:0a&buildarch=i386&platform=pcbios&uuid=00112233-4455-6677-8899-aabbccddeeff HTTP/1.1\r\nHost: x\r\nUser-Agent: iPXE/1.0.0+\r\n\r\n")
	f.Add("GET /boot/efi/arm64/52-54-00-77-00-0b/x HTTP/1.1\r\nHost: x\r\nUser-Agent: UefiHttpBoot/1.0\r\n\r\n")
	f.Add("GET /x?version=1.21.1&arch=7 HTTP/1.1\r\nHost: x\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		c := archdetect.FromHTTP(r)
		if c.Transport != archdetect.TransportHTTP {
			t.Fatalf("transport %s", c.Transport)
		}
	})
}

// FuzzParseVendorClass checks the vendor class parser on any string.
func FuzzParseVendorClass(f *testing.F) {
	for _, s := range []string{"PXEClient:Arch:00000:UNDI:002001", "HTTPClient:Arch:00016:UNDI:003000", "U-Boot.armv8", "PXEClient:Arch:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := archdetect.ParseVendorClass(s)
		if v.Raw != s {
			t.Fatal("Raw changed")
		}
		if (v.HasArch || v.HasUNDI) && v.Kind == "" {
			t.Fatalf("fields read from an unknown kind: %+v", v)
		}
	})
}

// FuzzParseIPXEOptions checks the option 175 decoder.
func FuzzParseIPXEOptions(f *testing.F) {
	f.Add([]byte{0xb1, 0x05, 0x01, 0x1a, 0xf4, 0x10, 0x00, 0xeb, 0x03, 0x01, 0x00, 0x00, 0x13, 0x01, 0x01})
	f.Add([]byte{0x13, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := archdetect.ParseIPXEOptions(b)
		if len(info.Features) > 0x70 {
			t.Fatalf("%d features", len(info.Features))
		}
		for _, x := range info.Features {
			if x < 0x10 || x > 0x7f {
				t.Fatalf("feature code %#x", x)
			}
		}
		if err == nil && bytes.IndexByte(b, 0xeb) < 0 && info.HasVersion {
			t.Fatal("version without sub-option 235")
		}
	})
}

// FuzzParseSmallOptions covers options 93, 94, 97 and 77.
func FuzzParseSmallOptions(f *testing.F) {
	f.Add([]byte{0, 7})
	f.Add([]byte{1, 3, 10})
	f.Add(append([]byte{0}, make([]byte, 16)...))
	f.Add([]byte("\x04iPXE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := archdetect.ParseArchs(b); err == nil && len(a)*2 != len(b) {
			t.Fatalf("%d codes from %d bytes", len(a), len(b))
		}
		if _, err := archdetect.ParseUNDI(b); (err == nil) != (len(b) == 3) {
			t.Fatalf("ParseUNDI(%x) err %v", b, err)
		}
		if id, err := archdetect.ParseMachineID(b); err == nil {
			u := id.UUID()
			if back, err := archdetect.ParseUUID(u); err != nil || back != u {
				t.Fatalf("UUID %q does not round-trip: %q %v", u, back, err)
			}
		}
		if uc := archdetect.ParseUserClass(b); len(b) > 0 && len(uc) == 0 {
			t.Fatal("no user class from a non-empty value")
		}
		_, _ = archdetect.ParseUUID(string(b))
	})
}
