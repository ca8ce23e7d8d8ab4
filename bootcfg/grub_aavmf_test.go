package bootcfg

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

const (
	aaCode = "/usr/share/AAVMF/AAVMF_CODE.fd" // qemu-efi-aarch64
	aaVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
	// aaGRUBNet is Debian's netboot GRUB for arm64 (grub-efi-arm64-signed,
	// a package of the other architecture): scripts/install-deps.sh fetches
	// the .deb with apt-get download and keeps this one file.
	aaGRUBNet = "/usr/local/share/pxekit/grubnetaa64.efi.signed"
)

// TestAAVMFGRUB boots ARM64 UEFI (AAVMF, qemu-system-aarch64 -M virt) from
// the network: LabServer4 names Debian's grubnetaa64.efi for arm64 UEFI PXE
// clients, and GRUB runs the grub.cfg the GRUBBuilder generated for this
// machine: it echoes a hostile value and a value holding a newline (which
// must arrive literally), then halts.
func TestAAVMFGRUB(t *testing.T) {
	fw := qemulab.Require(t)
	if testing.Short() {
		t.Skip("ARM64 UEFI under TCG takes a minute")
	}
	qemu := netlab.RequireTool(t, "qemu-system-aarch64")
	for f, pkg := range map[string]string{aaCode: "qemu-efi-aarch64", aaVars: "qemu-efi-aarch64",
		aaGRUBNet: "grub-efi-arm64-signed:arm64 (fetched by scripts/install-deps.sh)"} {
		qemulab.RequireFile(t, f, pkg)
	}
	lab := qemulab.NewLab(t, fw)
	root := filepath.Join(lab.Dir, "tftp")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := qemulab.CopyFile(filepath.Join(root, "grubnetaa64.efi"), aaGRUBNet); err != nil {
		t.Fatal(err)
	}
	tmpl, err := dhcpboot.ParseTemplate("grubnetaa64.efi")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := dhcpboot.NewPolicy(dhcpboot.Rule{Name: "UEFI arm64 PXE: GRUB",
		Match: dhcpboot.Match{Firmware: []archdetect.Firmware{archdetect.FirmwareUEFI},
			CPU: []archdetect.CPU{archdetect.CPUARM64}, Transport: []archdetect.Transport{archdetect.TransportPXE}},
		Action: dhcpboot.Action{BootFile: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	const nl = "PXEKIT-NL-1\nPXEKIT-NL-2"
	dhcp, tlog := serveGRUBLab(t, lab, root, policy, func(mac net.HardwareAddr) ([]byte, error) {
		var b GRUBBuilder
		b.Cmd("echo", "PXEKIT-AA64-GRUB for "+mac.String())
		b.Cmd("echo", sbEcho+sbHostile)
		b.Cmd("echo", nl)
		b.Cmd("halt")
		return b.Bytes()
	})

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0xaa, 0x64, 0x01}
	serial := filepath.Join(lab.Dir, "aa1.serial")
	vars := filepath.Join(lab.Dir, "aa1-vars.fd")
	if err := qemulab.CopyFile(vars, aaVars); err != nil {
		t.Fatal(err)
	}
	args := []string{"-M", "virt", "-cpu", "cortex-a57", "-accel", "tcg", "-m", "512",
		"-nographic", "-no-reboot", "-serial", "file:" + serial, "-monitor", "none",
		"-drive", "if=pflash,format=raw,readonly=on,file=" + aaCode,
		"-drive", "if=pflash,format=raw,file=" + vars,
		"-netdev", "tap,id=n0,ifname=aa1,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + mac.String() + ",romfile=,bootindex=1"}
	m := startVM(t, lab, "aa1", serial, mac, qemu, args)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	line, err := m.wait(ctx, "PXEKIT-NL-2", "PXE-E")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(line, "PXE-E") {
		t.Fatalf("PXE failed: %q", line)
	}
	t.Logf("AAVMF PXE → GRUB arm64 → generated grub.cfg: %s", time.Since(m.started).Round(100*time.Millisecond))
	ip := leaseOf(dhcp, mac)
	t.Logf("TFTP from %s: %q", ip, tlog.names(ip))
	if !tlog.served(ip, "grub/grub.cfg") {
		t.Errorf("grub/grub.cfg was not sent to %s; transfers: %q", ip, tlog.names(ip))
	}
	lines := m.console()
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "PXEKIT-AA64-GRUB for "+mac.String()) }) {
		t.Errorf("GRUB did not run this machine's grub.cfg")
	}
	if !slices.Contains(lines, sbEcho+sbHostile) {
		t.Errorf("GRUB did not echo %q exactly; lines with the marker: %q", sbEcho+sbHostile, grepLines(lines, sbEcho))
	}
	if i := slices.Index(lines, "PXEKIT-NL-1"); i < 0 || i+1 >= len(lines) || lines[i+1] != "PXEKIT-NL-2" {
		t.Errorf("GRUB did not echo the value with a newline as two lines %q; lines: %q", nl, grepLines(lines, "PXEKIT-NL"))
	}
	select { // halt powers the machine off
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Log("the machine did not power off 30 s after GRUB's halt")
	}
}
