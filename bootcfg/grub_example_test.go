package bootcfg_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pxekit/pxekit/bootcfg"
)

func ExampleGRUBBuilder() {
	host := "node-7; reboot" // from an inventory: never trusted
	var b bootcfg.GRUBBuilder
	b.SetDefault("install")
	b.SetTimeout(5)
	b.Entry(bootcfg.GRUBEntry{
		Title:   "Install Debian on " + host,
		ID:      "install",
		Kernel:  "/debian/linux",
		Args:    []string{"auto=true", "hostname=" + host, "console=ttyS0,115200"},
		Initrds: []string{"/debian/initrd.gz"},
	})
	cfg, err := b.Bytes()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(cfg))

	b.Entry(bootcfg.GRUBEntry{Title: "bad", Kernel: "/k", Args: []string{`path=C:\boot`}})
	_, err = b.Bytes()
	fmt.Println(err)
	// Output:
	// set default='install'
	// set timeout='5'
	// menuentry 'Install Debian on node-7; reboot' --id 'install' {
	// 	linux '/debian/linux' 'auto=true' 'hostname=node-7; reboot' 'console=ttyS0,115200'
	// 	initrd '/debian/initrd.gz'
	// }
	// bootcfg: grub: item 3: entry "bad": kernel argument 0: kernelcmdline: argument "path"="C:\\boot": contains "\" or "'", or a tab, newline or other Linux space without an ASCII space (GRUB's linux command would change it)
}

func ExampleGRUBConfigNames() {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	for _, n := range bootcfg.GRUBConfigNames("grub", "", mac, netip.MustParseAddr("10.0.0.5"))[:3] {
		fmt.Println(n)
	}
	// Output:
	// grub/grub.cfg-01-52-54-00-12-34-56
	// grub/grub.cfg-0A000005
	// grub/grub.cfg-0A00000
}
