package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/qemulab"
)

// TestUBootPXEGet boots Debian's U-Boot (qemu_arm64, 2023.01) against
// pxeserver in lab mode under the default policy: `dhcp` must bring the
// next server and `pxe get` the PXELINUX config file the policy names
// (option 209, dhcpboot.DefaultUBootConfig); `pxe boot` then shows that
// U-Boot read that very file.
func TestUBootPXEGet(t *testing.T) {
	qemu := qemulab.RequireUBoot(t)
	start := time.Now()
	lab := qemulab.NewLab(t, qemulab.Firmware{})
	root := filepath.Join(lab.Dir, "boot")
	const config = "pxelinux.cfg/default" // dhcpboot.DefaultUBootConfig
	if err := os.MkdirAll(filepath.Join(root, "pxelinux.cfg"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "default pxekit\nlabel pxekit\n  kernel pxekit-uboot-kernel\n"
	if err := os.WriteFile(filepath.Join(root, config), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "lab", "-tftp-root", root)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x21}
	// virtio-net-pci, as before the helper moved to qemulab: U-Boot finds
	// the NIC on PCI and reads its MAC right.
	con := lab.BootUBoot(ctx, t, qemu, mac, "virtio-net-pci")
	booted := time.Since(start)

	// autoload no: `dhcp` alone, without loading a boot file, as a
	// `dhcp; pxe get; pxe boot` boot command has it.
	dhcp := con.Run(ctx, t, "setenv autoload no; dhcp; echo serverip=${serverip}")
	if !contains(dhcp, "DHCP client bound to address 10.77.0.") {
		t.Fatalf("dhcp: no lease:\n%s", strings.Join(dhcp, "\n"))
	}
	if !contains(dhcp, "serverip="+lab.ServerIP.String()) {
		t.Errorf("dhcp: U-Boot's serverip is not pxeserver's %s (no next server in the answer):\n%s", lab.ServerIP, strings.Join(dhcp, "\n"))
	}
	t.Logf("dhcp on U-Boot's console:\n    | %s", strings.Join(dhcp, "\n    | "))
	get := con.Run(ctx, t, "pxe get")
	var retrieved []string
	for _, l := range get {
		if f, ok := strings.CutPrefix(l, "Retrieving file: "); ok {
			retrieved = append(retrieved, f)
		}
	}
	found := false // "Config file found" (2023.01: "Config file '<NULL>' found"), not "Config file not found"
	for _, l := range get {
		found = found || strings.HasPrefix(l, "Config file ") && strings.HasSuffix(l, " found") && !strings.Contains(l, "not found")
	}
	if len(retrieved) == 0 || retrieved[len(retrieved)-1] != config || !found {
		t.Fatalf("pxe get did not retrieve %s:\n%s", config, strings.Join(get, "\n"))
	}
	// Option 209 reached U-Boot: U-Boot 2023.04 and later fetch it first;
	// older ones (Debian 12 ships 2023.01) say they cannot use it and find
	// the same file by their own search (01-<mac>, <hex IP>..., default-arm,
	// default), which DefaultUBootConfig ends.
	switch {
	case retrieved[0] == config:
		t.Logf("U-Boot fetched option 209's %s first", config)
	case contains(dhcp, "Unhandled DHCP Option in OFFER/ACK: 209"):
		t.Logf("U-Boot got option 209 but cannot use it; its own search tried %d names and ended at %s", len(retrieved), config)
	default:
		t.Errorf("U-Boot neither used nor saw option 209; it tried %q", retrieved)
	}
	// pxe boot parses the file: its one label's kernel is asked for (and
	// is missing, so U-Boot stays at its prompt).
	boot := con.Run(ctx, t, "pxe boot")
	if !contains(boot, "Retrieving file: pxekit-uboot-kernel") {
		t.Errorf("pxe boot did not parse %s:\n%s", config, strings.Join(boot, "\n"))
	}
	t.Logf("U-Boot at its prompt %.1fs after the start, config retrieved %.1fs after it",
		booted.Seconds(), time.Since(start).Seconds())

	// pxeserver's log: the U-Boot rule decided, and the config file the
	// policy named is the one U-Boot fetched over TFTP.
	var decided, fetched bool
	var dhcpLines []string
	for _, l := range srv.snapshot() {
		switch l.str("kind") {
		case "dhcp":
			if !strings.HasPrefix(l.str("client.vendor_class"), "U-Boot") {
				continue
			}
			dhcpLines = append(dhcpLines, summary(l))
			if l.str("rule") == "uboot" && l.str("reply") == "ACK" &&
				l.num("client.arch") == 22 && strings.HasPrefix(l.str("client.vendor_class"), "U-Boot.armv8") {
				decided = true
			}
		case "tftp":
			if l.str("filename") == config && l.str("outcome") == "ok" && l.num("bytes") == float64(len(cfg)) {
				fetched = true
			}
		}
	}
	if !decided {
		t.Errorf("no DHCP ACK from rule \"uboot\"; U-Boot's dhcp lines:\n%s", strings.Join(dhcpLines, "\n"))
	}
	if !fetched {
		t.Errorf("pxeserver logged no complete TFTP transfer of %s", config)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
