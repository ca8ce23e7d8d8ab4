package pxekit_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/archdetect"
)

// One machine's boot as the server's hooks report it: DHCP ties the
// leased IP to the MAC, so the TFTP and HTTP fetches (which show only the
// peer's IP) land in the same session, and each observation says which
// stage change to announce.
func ExampleSessions() {
	sessions := &pxekit.Sessions{} // 10 000 machines, 1 h idle expiry
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	ip := netip.MustParseAddr("10.0.0.50")
	firmware := archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mac, Firmware: archdetect.FirmwareUEFI}
	ipxe := firmware
	ipxe.IPXE = true

	show := func(s pxekit.Session, c pxekit.StageChange, ok bool) {
		if c.Changed() {
			fmt.Printf("%s: %s → %s (new boot %v)\n", s.MAC, c.From, c.To, c.NewBoot)
		}
	}
	show(sessions.ObserveDHCP(pxekit.DHCPObservation{Client: firmware, IP: ip, Discover: true, Sent: true, Rule: "uefi-x64"}))
	show(sessions.ObserveFetch(pxekit.FetchObservation{IP: ip, Kind: pxekit.FetchBootFile, Path: "ipxe.efi", Failed: true})) // tsize probe
	show(sessions.ObserveFetch(pxekit.FetchObservation{IP: ip, Kind: pxekit.FetchBootFile, Path: "ipxe.efi", Bytes: 1 << 20}))
	show(sessions.ObserveDHCP(pxekit.DHCPObservation{Client: ipxe, IP: ip, Discover: true, Sent: true, Rule: "ipxe"}))
	show(sessions.ObserveFetch(pxekit.FetchObservation{IP: ip, Kind: pxekit.FetchScript, Path: "/boot.ipxe"}))
	show(sessions.ObserveFetch(pxekit.FetchObservation{IP: ip, Kind: pxekit.FetchKernel, Path: "/vmlinuz"}))
	show(sessions.ObserveFetch(pxekit.FetchObservation{IP: ip, Kind: pxekit.FetchKernel, Path: "/initrd.img"}))
	show(sessions.ObserveDHCP(pxekit.DHCPObservation{Client: firmware, IP: ip, Discover: true, Sent: true, Rule: "uefi-x64"})) // reboot

	s, _ := sessions.ByIP(ip)
	fmt.Println(s.Rule, s.Boots, s.LastFile, s.Client.Firmware)
	// Output:
	// 52:54:00:12:34:56: unknown → dhcp (new boot false)
	// 52:54:00:12:34:56: dhcp → bootfile (new boot false)
	// 52:54:00:12:34:56: bootfile → ipxe (new boot false)
	// 52:54:00:12:34:56: ipxe → script (new boot false)
	// 52:54:00:12:34:56: script → kernel (new boot false)
	// 52:54:00:12:34:56: kernel → dhcp (new boot true)
	// uefi-x64 2 /initrd.img uefi
}

// A directory of machine files: one YAML file per machine, looked up by
// MAC or UUID. A bad file is skipped and reported; Watch would reload the
// directory whenever a file changes.
func ExampleDirInventory() {
	dir, err := os.MkdirTemp("", "machines")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "web01.yaml"), []byte(`
mac: 52:54:00:12:34:56
kernel: http://10.0.0.1/debian/linux
initrds: [http://10.0.0.1/debian/initrd.gz]
cmdline: [console=ttyS0, "hostname=web 01"]
`), 0o644)
	os.WriteFile(filepath.Join(dir, "typo.yaml"), []byte("mac: 52:54:00:12:34:57\nkernal: linux\n"), 0o644)

	inv := &pxekit.DirInventory{Dir: dir}
	if err := inv.Reload(); err != nil {
		fmt.Println(err) // the good files are in use all the same
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	m, found, err := inv.Machine(context.Background(), pxekit.MachineKey{MAC: mac})
	fmt.Println(m.Name, found, err, m.Kernel, m.Cmdline)
	// Output:
	// pxekit: inventory: typo.yaml: machine: line 2: unknown key "kernal"
	// web01 true <nil> http://10.0.0.1/debian/linux [console=ttyS0 hostname=web 01]
}
