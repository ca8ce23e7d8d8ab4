package pxekit_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/ipxescript"
)

// discover builds the DHCPDISCOVER a firmware would send.
func discover(mac string, arch iana.Arch, userClass string) *dhcpv4.DHCPv4 {
	hw, _ := net.ParseMAC(mac)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003010", arch))),
	}
	if userClass != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionUserClassInformation, []byte(userClass))))
	}
	m, _ := dhcpv4.NewDiscovery(hw, mods...)
	return m
}

// A complete boot server: TFTP and HTTP on sockets of its own, DHCP off
// (the zero value: a boot server answers DHCP only when asked to).
func Example() {
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), Files: "testdata/boot"}
	tftp, _ := net.ListenPacket("udp", "127.0.0.1:0")
	web, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(pxekit.Listeners{TFTP: tftp, HTTP: web}) // or srv.ListenAndServe(ctx) on :69 and :80
	defer srv.Close()

	resp, err := http.Get("http://" + web.Addr().String() + "/boot.ipxe")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	script, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.SplitN(string(script), "\n", 2)[0])
	// Output:
	// #!ipxe
}

// The whole boot story in one policy: what each stage of a boot is told.
// archdetect reads the request, dhcpboot decides, ipxescript writes the
// script iPXE finally gets.
func Example_policy() {
	policy, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{ScriptURL: "http://{{server}}/boot.ipxe"})
	if err != nil {
		panic(err)
	}
	h := &dhcpboot.Responder4{Policy: policy, ServerIP: netip.MustParseAddr("10.0.0.1"),
		Classify: archdetect.FromDHCPv4} // the default, shown: archdetect reads the request
	stages := []struct {
		what string
		req  *dhcpv4.DHCPv4
	}{
		{"BIOS PXE ROM", discover("52:54:00:00:00:01", iana.INTEL_X86PC, "")},
		{"UEFI x64 PXE", discover("52:54:00:00:00:02", iana.EFI_X86_64, "")},
		{"iPXE, chainloaded", discover("52:54:00:00:00:01", iana.INTEL_X86PC, "iPXE")},
	}
	for _, s := range stages {
		r, d := h.Decide(s.req, dhcpboot.Arrival{}) // classify, then decide, once
		resp, _ := dhcpv4.NewReplyFromRequest(s.req)
		if err := dhcpboot.Apply4(d, r, s.req, resp, dhcpboot.ReplyOptions{}); err != nil {
			panic(err)
		}
		fmt.Printf("%-18s firmware=%-4s ipxe=%-5v → %s\n", s.what, r.Client.Firmware, r.Client.IPXE, resp.BootFileName)
	}

	script, err := ipxescript.BootScript(ipxescript.BootConfig{URL: "http://10.0.0.1/machine"})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Contains(string(script), "chain"), strings.HasPrefix(string(script), "#!ipxe"))
	// Output:
	// BIOS PXE ROM       firmware=bios ipxe=false → undionly.kpxe
	// UEFI x64 PXE       firmware=uefi ipxe=false → ipxe.efi
	// iPXE, chainloaded  firmware=bios ipxe=true  → http://10.0.0.1/boot.ipxe
	// true true
}
