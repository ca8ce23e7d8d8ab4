package dhcpboot

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// Defaults used by [DefaultRules] for empty [DefaultConfig] fields.
const (
	DefaultScriptURL = "http://{{server}}/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}&uuid={{uuid}}"
	DefaultHTTPBase  = "http://{{server}}/"
	DefaultBIOSFile  = "undionly.kpxe"
	DefaultX64File   = "ipxe.efi"
	DefaultARM64File = "snp.efi"
)

// DefaultConfig configures [DefaultRules]. The zero value is usable.
type DefaultConfig struct {
	// ScriptURL is the template of the iPXE script URL handed to iPXE
	// clients (default [DefaultScriptURL]).
	ScriptURL string
	// UserClass is an extra user class that marks our own iPXE (set by an
	// embedded script with `set user-class`), treated like iPXE.
	UserClass string
	// HTTPBase is the template of the URL directory holding the iPXE
	// binaries for UEFI HTTP boot clients (default [DefaultHTTPBase]).
	HTTPBase string
	// NextServer is the TFTP server; invalid = the server itself.
	NextServer netip.Addr
	// BIOSFile, X64File and ARM64File are the iPXE builds for BIOS PXE,
	// x86-64 UEFI and ARM64 UEFI (defaults undionly.kpxe, ipxe.efi, snp.efi).
	BIOSFile, X64File, ARM64File string
}

// DefaultRules returns the rules of [DefaultPolicy], to extend: put your own
// rules (per MAC, per subnet) before them.
//
//  1. "ipxe": iPXE (option 175 or user class iPXE) gets the script URL, which
//     breaks the chainload loop;
//  2. "ipxe-marker": the configured user class, likewise;
//  3. "http-x64", "http-arm64": UEFI HTTP boot (arch 16, 19) gets the URL
//     of the iPXE binary (option 60 "HTTPClient" is echoed by [Apply4]);
//  4. "bios": arch 0 gets undionly.kpxe over TFTP;
//  5. "uefi-x64": arch 7 and 9 (9 is x86-64 in practice) get ipxe.efi;
//  6. "uefi-arm64": arch 11 gets snp.efi.
//
// Other clients match no rule: a proxy ignores them.
func DefaultRules(cfg DefaultConfig) ([]Rule, error) {
	or := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	script, err := ParseTemplate(or(cfg.ScriptURL, DefaultScriptURL))
	if err != nil {
		return nil, err
	}
	base := or(cfg.HTTPBase, DefaultHTTPBase)
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	file := func(s string) (*Template, error) { return ParseTemplate(s) }
	bios, err := file(or(cfg.BIOSFile, DefaultBIOSFile))
	if err != nil {
		return nil, err
	}
	x64, err := file(or(cfg.X64File, DefaultX64File))
	if err != nil {
		return nil, err
	}
	arm64, err := file(or(cfg.ARM64File, DefaultARM64File))
	if err != nil {
		return nil, err
	}
	httpX64, err := ParseTemplate(base + x64.String())
	if err != nil {
		return nil, err
	}
	httpARM64, err := ParseTemplate(base + arm64.String())
	if err != nil {
		return nil, err
	}
	if !httpX64.IsURL() {
		return nil, fmt.Errorf("dhcpboot: HTTPBase %q is not a URL", base)
	}
	next := cfg.NextServer
	rules := []Rule{{
		Name:   "ipxe",
		Match:  Match{IPXE: Yes},
		Action: Action{BootFile: script},
	}}
	if cfg.UserClass != "" {
		rules = append(rules, Rule{
			Name:   "ipxe-marker",
			Match:  Match{UserClass: []string{cfg.UserClass}},
			Action: Action{BootFile: script},
		})
	}
	rules = append(rules,
		Rule{Name: "http-x64", Match: Match{Archs: []archdetect.Arch{iana.EFI_X86_64_HTTP}}, Action: Action{BootFile: httpX64}},
		Rule{Name: "http-arm64", Match: Match{Archs: []archdetect.Arch{iana.EFI_ARM64_HTTP}}, Action: Action{BootFile: httpARM64}},
		Rule{Name: "bios", Match: Match{Archs: []archdetect.Arch{iana.INTEL_X86PC}}, Action: Action{BootFile: bios, NextServer: next}},
		Rule{Name: "uefi-x64", Match: Match{Archs: []archdetect.Arch{iana.EFI_X86_64, iana.EFI_BC}}, Action: Action{BootFile: x64, NextServer: next}},
		Rule{Name: "uefi-arm64", Match: Match{Archs: []archdetect.Arch{iana.EFI_ARM64}}, Action: Action{BootFile: arm64, NextServer: next}},
	)
	return rules, nil
}

// DefaultPolicy returns a policy that boots iPXE everywhere and breaks the
// iPXE loop out of the box; see [DefaultRules].
func DefaultPolicy(cfg DefaultConfig) (*Policy, error) {
	rules, err := DefaultRules(cfg)
	if err != nil {
		return nil, err
	}
	return NewPolicy(rules...)
}
