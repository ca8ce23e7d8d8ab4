package qemulab_test

import (
	"fmt"

	"github.com/pxekit/pxekit/internal/qemulab"
)

// Serial consoles carry terminal escapes, carriage returns and spinners;
// Clean turns them into the lines a person would read.
func ExampleClean() {
	raw := "\x1b[0m\x1b[37mConfiguring (net0 52:54:00:77:00:0a)...|\b/\b-\b ok\r\n\r\nPXEKIT-BOOTED 52:54:00:77:00:0a i386 pcbios\r\n"
	for _, l := range qemulab.Clean([]byte(raw)) {
		fmt.Println(l)
	}
	// Output:
	// Configuring (net0 52:54:00:77:00:0a)... ok
	// PXEKIT-BOOTED 52:54:00:77:00:0a i386 pcbios
}

func ExampleFirmware_Args() {
	fw := qemulab.Firmware{IPXEDir: "/usr/lib/ipxe"}
	args, err := fw.Args(qemulab.BIOSiPXE, "tap1", "/tmp/a.serial", "/tmp", qemulab.Options{})
	fmt.Println(args, err)
	// Output:
	// [-accel tcg -nographic -no-reboot -serial file:/tmp/a.serial -monitor none -uuid 00112233-4455-6677-8899-aabbccddeeff -m 256 -netdev tap,id=n0,ifname=tap1,script=no,downscript=no -machine pc -boot n -device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0a] <nil>
}
