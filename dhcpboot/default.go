package dhcpboot

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pxekit/pxekit/archdetect"
)

// Defaults used by [DefaultRules] for empty [DefaultConfig] fields; the
// iPXE builds are in [DefaultBootFiles].
const (
	DefaultScriptURL = "http://{{server}}/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}&uuid={{uuid}}"
	DefaultHTTPBase  = "http://{{server}}/"
	// DefaultUBootConfig is the PXELINUX config file (option 209) U-Boot
	// clients get: the catch-all name of PXELINUX and the last one U-Boot's
	// `pxe get` tries by itself, so a U-Boot too old to read option 209
	// (before 2023.04) ends up with the same file when no more specific one
	// (pxelinux.cfg/01-<mac>, <hex IP>, default-<arch>) exists.
	DefaultUBootConfig = "pxelinux.cfg/default"
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
	// Files are the iPXE builds per architecture, templates like the
	// other fields; empty fields are those of [DefaultBootFiles].
	Files BootFiles
	// UBootConfig is the PXELINUX config file path (option 209, relative
	// to the TFTP root) handed to U-Boot, whose `pxe get` fetches it from
	// NextServer (default [DefaultUBootConfig]).
	UBootConfig string
}

// DefaultRules returns the rules of [DefaultPolicy], to extend: put your own
// rules (per MAC, per subnet) before them.
//
//  1. "ipxe": iPXE (option 175 or user class iPXE) gets the script URL, which
//     breaks the chainload loop;
//  2. "ipxe-marker": the configured user class, likewise;
//  3. "uboot": U-Boot (arch 21-24, or option 60 "U-Boot.<arch>" whatever
//     the arch code, as RISC-V U-Boot sends 25/27 and old U-Boot 0x100)
//     gets the next server (siaddr) and option 209 naming the PXELINUX
//     config file its `pxe get` loads ([DefaultConfig.UBootConfig]), and
//     no boot file;
//  4. "http-ia32", "http-x64", "http-arm32", "http-arm64", "http-riscv32",
//     "http-riscv64", "http-loong64": UEFI HTTP boot (arch 15, 16, 18,
//     19, 26, 28, 40) gets the URL of the iPXE binary under HTTPBase
//     (option 60 "HTTPClient" is echoed by [Apply4]);
//  5. "bios", "uefi-ia32", "uefi-x64", "uefi-arm32", "uefi-arm64",
//     "uefi-riscv32", "uefi-riscv64", "uefi-loong64": PXE (arch 0, 6, 7
//     and 9, 10, 11, 25, 27, 39) gets the iPXE binary of [BootFiles] over
//     TFTP.
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
	if t, err := ParseTemplate(base); err != nil {
		return nil, err
	} else if !t.IsURL() {
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
	rules = append(rules, Rule{
		Name:   "uboot",
		Match:  Match{Firmware: []archdetect.Firmware{archdetect.FirmwareUBoot}},
		Action: Action{NextServer: next, PXELinux: &PXELinux{ConfigFile: or(cfg.UBootConfig, DefaultUBootConfig)}},
	})
	files := cfg.Files.withDefaults()
	var pxe []Rule
	for _, f := range bootFamilies {
		name := *f.field(&files)
		file, err := ParseTemplate(name)
		if err != nil {
			return nil, fmt.Errorf("dhcpboot: boot file of rule %q: %w", f.pxeRule, err)
		}
		pxe = append(pxe, Rule{Name: f.pxeRule, Match: Match{Archs: f.pxe}, Action: Action{BootFile: file, NextServer: next}})
		if f.http == nil {
			continue
		}
		url, err := ParseTemplate(base + name)
		if err != nil {
			return nil, fmt.Errorf("dhcpboot: boot file of rule %q: %w", f.httpRule, err)
		}
		rules = append(rules, Rule{Name: f.httpRule, Match: Match{Archs: f.http}, Action: Action{BootFile: url}})
	}
	return append(rules, pxe...), nil
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
