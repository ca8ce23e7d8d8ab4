package dhcpboot

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
)

// PluginResponder4 builds the [Responder4] of the coredhcp plugin
// (contrib/coredhcp/pxeboot) from the plugin's arguments, the words after
// "pxeboot:" in coredhcp's config.yml. The plugin's handler is the
// responder's CoreDHCP method. Arguments are key=value words:
//
//   - policy=FILE: the policy is the JSON file FILE ([ParsePolicy]);
//   - otherwise the policy is [DefaultPolicy] with the [DefaultConfig]
//     fields script_url=, http_base=, user_class=, next_server=,
//     uboot_config= (none of them is required);
//   - server=IP: the server's address for {{server}}, option 54 and the
//     default next server. Without it the plugin takes option 54 from the
//     reply, which coredhcp's server_id plugin sets: put pxeboot after
//     server_id in the chain.
//
// Unknown keys, repeated keys, and policy= beside a default-policy key are
// errors, as are values that do not parse.
func PluginResponder4(args []string, logger *slog.Logger) (*Responder4, error) {
	p, server, err := parsePluginArgs(args)
	if err != nil {
		return nil, err
	}
	if server.IsValid() && !server.Is4() {
		return nil, fmt.Errorf("dhcpboot: pxeboot plugin: server=%s is not an IPv4 address", server)
	}
	return &Responder4{Policy: p, ServerIP: server, Logger: logger}, nil
}

// PluginResponder6 is [PluginResponder4] for the plugin's server6 section;
// there server= (an IPv6 address) is required: DHCPv6 replies carry no
// server address the plugin could take.
func PluginResponder6(args []string, logger *slog.Logger) (*Responder6, error) {
	p, server, err := parsePluginArgs(args)
	if err != nil {
		return nil, err
	}
	if !server.IsValid() {
		return nil, errors.New("dhcpboot: pxeboot plugin: server= (this server's IPv6 address) is required for DHCPv6")
	}
	if err := checkServerIP6("pxeboot plugin: server=", server); err != nil {
		return nil, err
	}
	return &Responder6{Policy: p, ServerIP: server, Logger: logger}, nil
}

// parsePluginArgs reads the plugin's key=value arguments into a policy and
// the server address (invalid when server= is absent).
func parsePluginArgs(args []string) (*Policy, netip.Addr, error) {
	var (
		cfg        DefaultConfig
		policyFile string
		server     netip.Addr
		defaults   []string // default-policy keys given
	)
	seen := map[string]bool{}
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		if !ok || key == "" {
			return nil, netip.Addr{}, fmt.Errorf("dhcpboot: pxeboot plugin: argument %q is not key=value", arg)
		}
		if seen[key] {
			return nil, netip.Addr{}, fmt.Errorf("dhcpboot: pxeboot plugin: %s= given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "policy":
			policyFile = value
		case "server":
			server, err = netip.ParseAddr(value)
		case "script_url":
			cfg.ScriptURL = value
		case "http_base":
			cfg.HTTPBase = value
		case "user_class":
			cfg.UserClass = value
		case "uboot_config":
			cfg.UBootConfig = value
		case "next_server":
			cfg.NextServer, err = netip.ParseAddr(value)
		default:
			return nil, netip.Addr{}, fmt.Errorf("dhcpboot: pxeboot plugin: unknown key %q (want policy, server, script_url, http_base, user_class, next_server or uboot_config)", key)
		}
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("dhcpboot: pxeboot plugin: %s=: %w", key, err)
		}
		if key != "policy" && key != "server" {
			defaults = append(defaults, key)
		}
	}
	if seen["policy"] {
		if len(defaults) > 0 {
			return nil, netip.Addr{}, fmt.Errorf("dhcpboot: pxeboot plugin: policy= and %s= cannot go together (the default-policy keys configure the default policy only)", defaults[0])
		}
		if policyFile == "" {
			return nil, netip.Addr{}, errors.New("dhcpboot: pxeboot plugin: policy= needs a file name")
		}
		data, err := os.ReadFile(policyFile)
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("dhcpboot: pxeboot plugin: %w", err)
		}
		p, err := ParsePolicy(data)
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("%w (pxeboot plugin, policy=%s)", err, policyFile)
		}
		return p, server, nil
	}
	p, err := DefaultPolicy(cfg)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("%w (pxeboot plugin)", err)
	}
	return p, server, nil
}
