package main

import (
	"github.com/pxekit/pxekit/ipxescript"
)

// bootScript returns the built-in /boot.ipxe for a server at base
// ("http://host:port"), made with the ipxescript builder: get an address if
// iPXE has none (retrying), say who is booting, and chain the per-machine
// URL carrying the MAC, build architecture, platform, UUID and NIC driver
// as iPXE sees them.
func bootScript(base string) ([]byte, error) {
	S, R := ipxescript.Setting, ipxescript.Raw
	b := ipxescript.NewBuilder()
	b.Comment("pxekit pxeserver: built-in boot script")
	b.Label("start")
	b.Cmd("isset", S("net0/ip")).Or("dhcp").Or("goto", R("retry"))
	b.Cmd("echo", R("pxekit:"), R("booting"), S("net0/mac"), R("as"), S("buildarch"), S("platform"),
		R("uuid"), S("uuid"), R("chip"), S("net0/chip"))
	b.Cmd("chain", ipxescript.Flag("autofree"), ipxescript.Concat(
		ipxescript.Value(base+"/machine/"), S("net0/mac:hexhyp"),
		R("?mac="), S("net0/mac:hexhyp"),
		R("&buildarch="), S("buildarch"),
		R("&platform="), S("platform"),
		R("&uuid="), S("uuid"),
		R("&chip="), S("net0/chip:uristring"),
	)).Or("goto", R("retry"))
	b.Cmd("exit")
	b.Label("retry")
	b.Cmd("echo", ipxescript.Text("pxekit: boot failed, retrying in 5 seconds"))
	b.Cmd("sleep", R("5"))
	b.Cmd("goto", R("start"))
	return b.Script()
}

// machineScript returns the built-in per-machine script, served when the
// HTTP root has no machines/MAC.ipxe: it prints BootedMarker with what iPXE
// knows and exits, so the firmware goes on to its next boot device.
func machineScript() ([]byte, error) {
	S := ipxescript.Setting
	b := ipxescript.NewBuilder()
	b.Cmd("echo", ipxescript.Raw(BootedMarker), S("net0/mac"), S("buildarch"), S("platform"))
	b.Cmd("echo", ipxescript.Text("pxekit: no system assigned to this machine, exiting to the next boot device"))
	b.Cmd("exit")
	return b.Script()
}
