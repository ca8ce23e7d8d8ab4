package pxekit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/pxekit/pxekit"
)

// fleet is an Inventory over a slice: the smallest database there is.
type fleet []pxekit.Machine

func (f fleet) Machine(_ context.Context, k pxekit.MachineKey) (pxekit.Machine, bool, error) {
	i := slices.IndexFunc(f, func(m pxekit.Machine) bool { return m.MAC.String() == k.MAC.String() })
	if i < 0 {
		return pxekit.Machine{}, false, nil
	}
	return f[i], true, nil
}

// ExampleHTTPHandler serves the iPXE scripts and boot files of a fleet;
// clients reach it at the base URL, so every URL it writes is built on it.
func ExampleHTTPHandler() {
	h, err := pxekit.NewHTTPHandler(pxekit.HTTPConfig{
		BaseURL: "http://10.0.0.1:8080",
		Inventory: fleet{{Name: "web01", MAC: []byte{0x52, 0x54, 0, 0, 0, 1},
			Kernel: "images/vmlinuz", Initrds: []string{"images/initrd.img"},
			Cmdline: []string{"console=ttyS0", "hostname=web 01"}}},
		// Files: "/srv/boot" would serve ipxe.efi, images/vmlinuz, ...
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	srv := httptest.NewServer(h) // or pxekit.HTTPLimits{}.Server(h) on your listener
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/machine/52-54-00-00-00-01")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	script, _ := io.ReadAll(resp.Body)
	fmt.Print(string(script))
	// Output:
	// #!ipxe
	// # pxekit: machine web01
	// set _pxk1:hex 68:6f:73:74:6e:61:6d:65:3d:22:77:65:62:20:30:31:22
	// kernel http://10.0.0.1:8080/images/vmlinuz console=ttyS0 ${_pxk1:string} || goto boot-failed-1
	// initrd http://10.0.0.1:8080/images/initrd.img || goto boot-failed-1
	// boot || goto boot-failed-1
	// :boot-failed-1
	// echo Boot failed
	// exit 1
}
