package dhcpboot

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/archdetect"
)

func TestTemplateExpand(t *testing.T) {
	evil := ipxeBIOS()
	evil.UserClasses = []string{"../../x?y=1&z=${root-pass}#"}
	evil.VendorClass.Raw = ".."
	tests := []struct {
		tpl  string
		c    Request
		want string
	}{
		{"undionly.kpxe", Request{Client: biosROM()}, "undionly.kpxe"},
		{"http://{{server}}:8080/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}&uuid={{uuid}}",
			Request{Client: ovmfPXE(), ServerIP: netip.MustParseAddr("10.77.0.1")},
			"http://10.77.0.1:8080/boot.ipxe?mac=52-54-00-77-00-0b&arch=7&uuid=00112233-4455-6677-8899-aabbccddeeff"},
		{"http://{{server}}/{{mac}}", Request{Client: ovmfPXE(), ServerIP: netip.MustParseAddr("fd00::1")}, "http://[fd00::1]/52%3A54%3A00%3A77%3A00%3A0b"},
		{"pxelinux.cfg/01-{{mac_hyphen}}", Request{Client: ovmfPXE()}, "pxelinux.cfg/01-52-54-00-77-00-0b"},
		{"{{mac_hex}} {{firmware}} {{cpu}} {{transport}} {{ipxe}} {{arch_name}}", Request{Client: func() archdetect.Client {
			c := ipxeBIOS()
			c.ArchName = "Intel x86PC"
			return c
		}()}, "52540077000c bios x86 pxe 1 Intel_x86PC"},
		{"http://s/?u={{user_class}}", Request{Client: evil}, "http://s/?u=..%2F..%2Fx%3Fy%3D1%26z%3D%24%7Broot-pass%7D%23"},
		{"files/{{user_class}}", Request{Client: evil}, "files/.._.._x_y_1_z___root-pass__"},
		{"files/{{vendor_class}}/x", Request{Client: evil}, "files/__/x"},
		{"http://s/${net0/mac}/{{arch}}", Request{Client: plainClient()}, "http://s/${net0/mac}/"},
		{"r={{relay}} i={{interface}}", Request{Client: plainClient(), Relay: netip.MustParseAddr("10.1.1.1"), Interface: "eth0"}, "r=10.1.1.1 i=eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.tpl, func(t *testing.T) {
			tp, err := ParseTemplate(tt.tpl)
			if err != nil {
				t.Fatal(err)
			}
			if got := tp.Expand(&tt.c); got != tt.want {
				t.Errorf("Expand = %q\nwant     %q", got, tt.want)
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, s := range []string{"{{mac", "mac}}", "{{nope}}", "a}}{{mac}}", "{{}}"} {
		if _, err := ParseTemplate(s); err == nil || !errors.Is(err, ErrTemplate) {
			t.Errorf("%q: err = %v", s, err)
		}
	}
	var nilT *Template
	if nilT.Expand(&Request{}) != "" || nilT.String() != "" || nilT.IsURL() {
		t.Error("nil template not empty")
	}
}

func FuzzTemplate(f *testing.F) {
	f.Add("http://{{server}}/boot.ipxe?mac={{mac_hyphen}}&u={{user_class}}", "iPXE")
	f.Add("pxelinux.cfg/{{vendor_class}}", "../../etc/passwd")
	f.Add("{{user_class}}", "..")
	f.Fuzz(func(t *testing.T, tpl, value string) {
		tp, err := ParseTemplate(tpl)
		if err != nil {
			return
		}
		c := ipxeBIOS()
		c.UserClasses = []string{value}
		c.VendorClass.Raw = value
		c.UUID = value
		r := &Request{Client: c, ServerIP: netip.MustParseAddr("10.0.0.1"), Interface: value}
		out := tp.Expand(r)
		// The client's value can only appear in escaped form: it never
		// brings '/', '?', '&', '#', '$', '{' or a dot-only segment.
		clean := c
		clean.UserClasses, clean.VendorClass.Raw, clean.UUID = []string{""}, "", ""
		base := tp.Expand(&Request{Client: clean, ServerIP: r.ServerIP})
		for _, ch := range "/?&#${}% " {
			if tp.IsURL() && ch == '%' {
				continue
			}
			if strings.Count(out, string(ch)) != strings.Count(base, string(ch)) {
				t.Fatalf("value %q added %q: %q vs %q", value, ch, out, base)
			}
		}
		var back Template
		if err := back.UnmarshalText([]byte(tpl)); err != nil || back.Expand(r) != out {
			t.Fatalf("text round trip: %v", err)
		}
	})
}
