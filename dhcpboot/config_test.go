package dhcpboot

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

const samplePolicy = `{"rules": [
  {"name": "lab-uefi", "match": {"archs": [7, 9], "ipxe": "no", "mac": ["52:54:00"], "relay_net": ["10.0.0.0/8"]},
   "action": {"boot_file": "ipxe.efi", "next_server": "10.0.0.5",
              "options": [{"code": 252, "text": "wpad"}, {"code": 150, "hex": "0a000005"}],
              "pxe": {"discovery_control": 8}, "pxelinux": {"config_file": "x", "reboot_seconds": 30}}},
  {"name": "ipxe", "match": {"ipxe": "yes", "firmware": ["uefi"], "ipxe_features": [19, "efi"]},
   "action": {"boot_file": "http://{{server}}/boot.ipxe?mac={{mac_hyphen}}"}},
  {"name": "rest", "action": {"ignore": true}}
]}`

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(samplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	rules := p.Rules()
	if len(rules) != 3 || rules[0].Action.NextServer != netip.MustParseAddr("10.0.0.5") ||
		string(rules[0].Action.Options[1].Value) != "\x0a\x00\x00\x05" || rules[0].Action.PXELinux.RebootSeconds != 30 {
		t.Fatalf("%+v", rules)
	}
	c := ovmfPXE()
	d := p.Decide(&Request{Client: c, Relay: netip.MustParseAddr("10.1.1.1")})
	if !d.Matched() || d.RuleName() != "lab-uefi" {
		t.Errorf("decision %v", d)
	}
	if f := rules[1].Match.IPXEFeatures; len(f) != 2 || f[0] != 19 || f[1] != 36 {
		t.Errorf("features %v", f)
	}
	// Round trip.
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ParsePolicy(out)
	if err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	out2, _ := json.Marshal(p2)
	if !bytes.Equal(out, out2) {
		t.Errorf("round trip differs:\n%s\n%s", out, out2)
	}
	for _, bad := range []string{
		`{"rules": [{"name": "a", "match": {"mak": ["52:54:00"]}}]}`,
		`{"rules": [{"name": "a", "match": {"mac": ["52:54:zz"]}}]}`,
		`{"rules": [{"name": "a", "match": {"ipxe": "maybe"}}]}`,
		`{"rules": [{"name": "a", "action": {"boot_file": "{{nope}}"}}]}`,
		`{"rules": [{"name": "a", "action": {"options": [{"code": 1, "hex": "zz"}]}}]}`,
		`{"rules": [{"name": "a", "action": {"options": [{"code": 1, "hex": "00", "text": "a"}]}}]}`,
		`{"rules": [{"name": "a"}, {"name": "a"}]}`,
		`{"rules": []} {}`,
		`[`,
		`{"rules": [{"name": "a", "match": {"ipxe_features": ["warp-drive"]}}]}`,
		`{"rules": [{"name": "a", "match": {"ipxe_features": [true]}}]}`,
	} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(samplePolicy))
	f.Add([]byte(`{"rules":[{"name":"x","match":{"uuid":["a"],"interface":["eth0"],"relayed":"yes"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		p2, err := ParsePolicy(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		out2, _ := json.Marshal(p2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		// Deciding never panics.
		for _, c := range []Request{{Client: ovmfPXE()}, {Client: plainClient(), Relay: netip.MustParseAddr("10.0.0.1")}} {
			d := p.Decide(&c)
			if d.Boot() && d.BootFile() != nil {
				_ = strings.TrimSpace(d.BootFile().Expand(&c))
			}
		}
	})
}
