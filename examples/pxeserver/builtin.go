package main

import (
	"github.com/pxekit/pxekit/ipxescript"
)

// bootScript returns the built-in /boot.ipxe for a server at base
// ("http://host:port"): get an address if iPXE has none (retrying), say who
// is booting, and chain the per-machine URL carrying the MAC, build
// architecture, platform, UUID and NIC driver as iPXE sees them.
func bootScript(base string) ([]byte, error) {
	src := "#!ipxe\n" +
		":start\n" +
		"isset ${net0/ip} || dhcp || goto retry\n" +
		"echo pxekit: booting ${net0/mac} as ${buildarch}/${platform} uuid ${uuid} chip ${net0/chip}\n" +
		"chain --autofree " + base + "/machine/${net0/mac:hexhyp}?mac=${net0/mac:hexhyp}&buildarch=${buildarch}&platform=${platform}&uuid=${uuid}&chip=${net0/chip} || goto retry\n" +
		"exit\n" +
		":retry\n" +
		"echo pxekit: boot failed, retrying in 5 seconds\n" +
		"sleep 5\n" +
		"goto start\n"
	if _, err := ipxescript.Parse([]byte(src), "boot.ipxe"); err != nil {
		return nil, err
	}
	return []byte(src), nil
}

// machineScript returns the built-in per-machine script, served when the
// HTTP root has no machines/MAC.ipxe: it prints BootedMarker with what iPXE
// knows and exits, so the firmware goes on to its next boot device.
func machineScript() ([]byte, error) {
	src := "#!ipxe\n" +
		"echo " + BootedMarker + " ${net0/mac} ${buildarch} ${platform}\n" +
		"echo pxekit: no system assigned to this machine, exiting to the next boot device\n" +
		"exit\n"
	if _, err := ipxescript.Parse([]byte(src), "machine.ipxe"); err != nil {
		return nil, err
	}
	return []byte(src), nil
}
