package bootcfg_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pxekit/pxekit/bootcfg"
	"github.com/pxekit/pxekit/tftpserve"
)

// A per-machine file: the kernel arguments are quoted for Linux, and a
// value neither loader can read back is refused with the field and the
// reason.
func ExampleBuildPXELinux() {
	f, err := bootcfg.BuildPXELinux(bootcfg.PXELinuxSpec{
		Default: "install",
		Timeout: 30,
		Entries: []bootcfg.PXELinuxEntry{{
			Name:   "install",
			Kernel: "debian/linux",
			Initrd: "debian/initrd.gz",
			Args:   []string{"console=ttyS0", "hostname=web 01; reboot", "url=http://10.0.0.1/preseed.cfg"},
		}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(f)

	_, err = bootcfg.BuildPXELinux(bootcfg.PXELinuxSpec{Entries: []bootcfg.PXELinuxEntry{{
		Name: "x", Kernel: "linux", Args: []string{"hostname=a\nkernel evil.c32"},
	}}})
	fmt.Println(errors.Is(err, bootcfg.ErrPXELinuxValue), err)
	// Output:
	// default install
	// timeout 30
	// label install
	//   linux debian/linux
	//   initrd debian/initrd.gz
	//   append console=ttyS0 hostname="web 01; reboot" url=http://10.0.0.1/preseed.cfg
	// true bootcfg: pxelinux: Entries[0].Args[0] "hostname=a\nkernel evil.c32": control byte '\n' at 10 (a line break ends the directive)
}

// The names PXELINUX and U-Boot ask for, in order.
func ExamplePXELinuxPaths() {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	ip := netip.MustParseAddr("192.168.10.11")
	fmt.Println(bootcfg.PXELinuxPaths(mac, nil, ip))
	fmt.Println(bootcfg.UBootPXEPaths(mac, "", ip, "arm", "", ""))
	// Output:
	// [pxelinux.cfg/01-52-54-00-12-34-56 pxelinux.cfg/C0A80A0B pxelinux.cfg/C0A80A0 pxelinux.cfg/C0A80A pxelinux.cfg/C0A80 pxelinux.cfg/C0A8 pxelinux.cfg/C0A pxelinux.cfg/C0 pxelinux.cfg/C pxelinux.cfg/default]
	// [pxelinux.cfg/01-52-54-00-12-34-56 pxelinux.cfg/C0A80A0B pxelinux.cfg/C0A80A0 pxelinux.cfg/C0A80A pxelinux.cfg/C0A80 pxelinux.cfg/C0A8 pxelinux.cfg/C0A pxelinux.cfg/C0 pxelinux.cfg/C pxelinux.cfg/default-arm pxelinux.cfg/default]
}

// Serving a generated file per machine: PXELINUX and U-Boot ask for
// pxelinux.cfg/01-<mac> (and other names, which get "file not found"
// unless Config knows the client by them); the kernels come from a
// directory.
func ExamplePXELinuxHandler() {
	files, err := tftpserve.OpenDir("/srv/tftp")
	if err != nil {
		panic(err)
	}
	machines := map[string]string{"52:54:00:12:34:56": "web01"}
	h := &bootcfg.PXELinuxHandler{
		Config: func(r bootcfg.PXELinuxRequest) (*bootcfg.PXELinux, error) {
			host, ok := machines[r.MAC.String()]
			if !ok {
				return nil, nil // not found: the loader tries its next name
			}
			return bootcfg.BuildPXELinux(bootcfg.PXELinuxSpec{
				Default: "boot",
				Entries: []bootcfg.PXELinuxEntry{{Name: "boot", Kernel: "linux", Args: []string{"hostname=" + host}}},
			})
		},
		Next: files,
	}
	srv := &tftpserve.Server{Handler: h}
	_ = srv // srv.ListenAndServe()
}
