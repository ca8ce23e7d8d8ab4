// Package pxeboot is a coredhcp plugin that adds network-boot data (next
// server, boot file or iPXE script URL, PXE and PXELINUX options) to the
// replies coredhcp builds, as decided by a pxekit [dhcpboot.Policy].
//
// Its place in the chain is after server_id: it takes this server's
// address from the option 54 that server_id puts in the reply (unless its
// server= argument gives one), and after the plugin that gives the address
// (range, file), since a rule that ignores a client drops the reply and
// ends the chain. See README.md for the arguments and a config.yml.
//
// All the logic is in pxekit's dhcpboot ([dhcpboot.PluginResponder4],
// [dhcpboot.Responder4.CoreDHCP]); this package only registers it.
package pxeboot

import (
	"log/slog"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/pxekit/pxekit/dhcpboot"
)

var log = logger.GetLogger("plugins/pxeboot")

// Plugin is the plugin's registration, for coredhcp-generator's main.go.
var Plugin = plugins.Plugin{
	Name:   "pxeboot",
	Setup4: setup4,
	Setup6: setup6,
}

// slogger sends dhcpboot's records (warnings; info and above) to coredhcp's
// logger.
func slogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(log.Writer(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func setup4(args ...string) (handler.Handler4, error) {
	h, err := dhcpboot.PluginResponder4(args, slogger())
	if err != nil {
		return nil, err
	}
	log.Printf("loaded plugin for DHCPv4 with args %v", args)
	return h.CoreDHCP, nil
}

func setup6(args ...string) (handler.Handler6, error) {
	h, err := dhcpboot.PluginResponder6(args, slogger())
	if err != nil {
		return nil, err
	}
	log.Printf("loaded plugin for DHCPv6 with args %v", args)
	return h.CoreDHCP, nil
}
