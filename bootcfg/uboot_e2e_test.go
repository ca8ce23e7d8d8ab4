package bootcfg

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/qemulab"
)

// TestUBootPXEBoot boots Debian's U-Boot (qemu_arm64, 2023.01) with an
// MMIO virtio-net NIC against dhcpboot.LabServer4 and tftpserve:
// "dhcp" then "pxe get" must walk UBootPXEPaths' names and get the file
// BuildPXELinux made for its MAC (PXELinuxHandler answers the 01-<mac>
// name only); "pxe boot" must fetch the initrd, kernel and device tree the
// file names and show the append line, after U-Boot's own processing
// (which expands ${…} and removes quotes and backslashes), byte for byte
// as built. The kernel is no real arm64 Image, so U-Boot stops there.
func TestUBootPXEBoot(t *testing.T) {
	qemu := qemulab.RequireUBoot(t)
	start := time.Now()
	lab := qemulab.NewLab(t, qemulab.Firmware{})
	root := filepath.Join(lab.Dir, "tftp")
	if err := os.MkdirAll(filepath.Join(root, "dtbs"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"Image-pxekit":       bytes.Repeat([]byte("kernel"), 2000),
		"initrd-pxekit.cpio": qemulab.NewcCPIO([]qemulab.CPIOFile{{Name: "init", Mode: 0o100755, Data: []byte("#!/bin/sh\n")}}),
		"dtbs/board.dtb":     bytes.Repeat([]byte("dtb"), 100),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := openDir(t, root)

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x17, 0x02}
	cfg := mustBuild(t, PXELinuxSpec{
		Default: "pxekit",
		Entries: []PXELinuxEntry{
			{Name: "other", Kernel: "not-this-one"},
			{Name: "pxekit", Kernel: "Image-pxekit", Initrd: "initrd-pxekit.cpio", FDT: "dtbs/board.dtb", Args: e2eArgs},
		},
	})
	macName := "pxelinux.cfg/" + pxlMACName(mac)
	// In the second round, only "default" has a file: U-Boot walks all
	// its names.
	var onlyDefault atomic.Bool
	var handMade atomic.Pointer[PXELinux]
	h := &PXELinuxHandler{
		Config: func(r PXELinuxRequest) (*PXELinux, error) {
			if f := handMade.Load(); f != nil {
				return f, nil
			}
			if onlyDefault.Load() {
				if r.Name == "default" {
					return cfg, nil
				}
				return nil, nil
			}
			if bytes.Equal(r.MAC, mac) {
				return cfg, nil
			}
			return nil, nil
		},
		Next: dir,
	}
	bl := startBootLab(t, lab, "pxelinux.0", h)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	con := lab.BootUBoot(ctx, t, qemu, mac, "virtio-net-device")
	dhcp := con.Run(ctx, t, "setenv autoload no; dhcp; echo ethaddr=${ethaddr}")
	if !slices.ContainsFunc(dhcp, func(l string) bool { return strings.Contains(l, "DHCP client bound to address 10.77.0.") }) {
		t.Fatalf("dhcp: no lease:\n%s", strings.Join(dhcp, "\n"))
	}
	get := con.Run(ctx, t, "pxe get")
	ip, _ := bl.lease(mac)
	if !ip.IsValid() {
		t.Fatalf("no DHCP ACK to %s recorded; dhcp said:\n%s", mac, strings.Join(dhcp, "\n"))
	}
	// U-Boot asks for UBootPXEPaths' names (qemu_arm64: arch "arm", no
	// SoC) until one is found: here the first, 01-<mac>.
	paths := UBootPXEPaths(mac, "", ip, "arm", "", "")
	want := paths[:slices.Index(paths, macName)+1]
	tried := retrieved(get)
	if !slices.Equal(tried, want) {
		t.Errorf("pxe get retrieved %q, want %q (UBootPXEPaths up to 01-<mac>)\n%s", tried, want, strings.Join(get, "\n"))
	}
	// qemu_arm64 sets no fdt_addr_r (QEMU hands U-Boot its own device
	// tree), and without one U-Boot ignores fdt lines.
	boot := con.Run(ctx, t, "setenv fdt_addr_r 0x48000000; pxe boot")
	appendLine, _ := cfg.Labels[1].Value("append")
	shown := appendShown(boot)
	if shown != appendLine {
		t.Errorf("U-Boot's bootargs after its processing = %q\nwant the append line as built %q\nconsole:\n%s", shown, appendLine, strings.Join(boot, "\n"))
	}
	// The default label's initrd, kernel and device tree, in U-Boot's
	// order (label_boot); when booting it fails (no real Image), U-Boot
	// tries the labels it has not tried yet (boot_unattempted_labels).
	wantFetched := []string{macName, "initrd-pxekit.cpio", "Image-pxekit", "dtbs/board.dtb", "not-this-one (refused)"}
	fetched := bl.fetched()
	if !slices.Equal(fetched, wantFetched) {
		t.Errorf("TFTP transfers: %q, want %q (the config, then the initrd, kernel and device tree of its default label, then the other label)", fetched, wantFetched)
	}
	// What the builder refuses, U-Boot really changes: a file written by
	// hand with such arguments boots with other ones.
	mangled := []string{"a=${ethaddr}", "b='q'", `c=\d`}
	if _, err := BuildPXELinux(PXELinuxSpec{Entries: []PXELinuxEntry{{Name: "x", Kernel: "k", Args: mangled}}}); err == nil {
		t.Errorf("BuildPXELinux accepted %q", mangled)
	}
	hand := &PXELinux{Labels: []PXELinuxLabel{{Name: "hand", Directives: []PXELinuxDirective{
		{Keyword: "linux", Value: "Image-pxekit"}, {Keyword: "append", Value: strings.Join(mangled, " ")},
	}}}}
	handMade.Store(hand)
	boot = con.Run(ctx, t, "pxe get; pxe boot")
	handMade.Store(nil)
	if got, changed := appendShown(boot), "a="+mac.String()+" b=q c=d"; got != changed {
		t.Errorf("U-Boot's bootargs for the hand-made append %q = %q, want U-Boot's rewriting %q", strings.Join(mangled, " "), got, changed)
	}

	onlyDefault.Store(true)
	get = con.Run(ctx, t, "pxe get")
	tried2 := retrieved(get)
	if !slices.Equal(tried2, paths) {
		t.Errorf("pxe get with only pxelinux.cfg/default on the server retrieved\n%q\nwant UBootPXEPaths\n%q", tried2, paths)
	}
	t.Logf("U-Boot: pxe get tried %q; pxe boot fetched %q; bootargs %q; then pxe get walked %d names to default (%.1fs)",
		tried, fetched, shown, len(tried2), time.Since(start).Seconds())
}

// appendShown returns the bootargs U-Boot prints ("append: …"), after
// its processing.
func appendShown(console []string) string {
	shown := ""
	for _, l := range console {
		if s, ok := strings.CutPrefix(l, "append: "); ok {
			shown = s
		}
	}
	return shown
}

// retrieved returns the files U-Boot's console says it retrieves.
func retrieved(console []string) []string {
	var out []string
	for _, l := range console {
		if f, ok := strings.CutPrefix(l, "Retrieving file: "); ok {
			out = append(out, f)
		}
	}
	return out
}
