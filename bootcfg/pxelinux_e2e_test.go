package bootcfg

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/qemulab"
)

// Debian's PXELINUX (packages pxelinux and syslinux-common;
// scripts/install-deps.sh installs them).
const (
	pxelinuxBin = "/usr/lib/PXELINUX/pxelinux.0"
	ldlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// e2eArgs are the kernel arguments the end-to-end tests put in generated
// files: hostile values that must reach Linux literally. pxekitvalue has
// no dot, so Linux hands it to init as an environment variable.
var e2eArgs = []string{
	"console=ttyS0",
	"panic=-1",
	"pxekitvalue=two  words; rm -rf / & echo $HOME | x>y #no-comment",
	"pxekithost=node-7.rack-3.example.com",
	"pxekiturl=http://10.77.0.1:8080/boot?mac=52-54-00&step=2",
}

// e2eMarker is what init prints before the value it got.
const e2eMarker = "PXEKIT-VALUE"

// e2eScript is the init script: it prints the environment variable and
// the command line Linux got.
const e2eScript = `echo "` + e2eMarker + `=[$pxekitvalue]"
echo "PXEKIT-CMDLINE=[$(/bin/busybox cat /proc/cmdline)]"`

// TestPXELinuxBoot boots SeaBIOS with the iPXE option ROM, which gets
// pxelinux.0 from dhcpboot.LabServer4; PXELINUX 6.04 then asks tftpserve
// for its configuration by the names PXELinuxPaths lists, and
// PXELinuxHandler answers the machine's 01-<mac> name with a file
// BuildPXELinux made. PXELINUX must load the kernel and initrd it names;
// with Debian's kernel and a static busybox installed, the kernel boots
// and init prints the command line and a hostile value it got.
func TestPXELinuxBoot(t *testing.T) {
	fw := qemulab.Require(t)
	qemulab.RequireFile(t, pxelinuxBin, "pxelinux syslinux-common")
	qemulab.RequireFile(t, ldlinuxC32, "pxelinux syslinux-common")
	start := time.Now()
	lab := qemulab.NewLab(t, fw)
	root := filepath.Join(lab.Dir, "tftp")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{pxelinuxBin, ldlinuxC32} {
		if err := qemulab.CopyFile(filepath.Join(root, filepath.Base(f)), f); err != nil {
			t.Fatal(err)
		}
	}
	kernel, busybox := qemulab.DebianKernel()
	boots := kernel != ""
	if boots {
		if err := qemulab.CopyFile(filepath.Join(root, "vmlinuz"), kernel); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "initrd.img"), busyboxInitramfs(t, busybox, e2eScript), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("booting %s with a busybox initramfs", kernel)
	} else {
		// PXELINUX still fetches both; it fails to boot them, which is
		// after what this test checks.
		t.Logf("no Debian kernel (linux-image-amd64) or static busybox: checking the files PXELINUX fetches only")
		for _, f := range []string{"vmlinuz", "initrd.img"} {
			if err := os.WriteFile(filepath.Join(root, f), bytes.Repeat([]byte(f), 4096), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := openDir(t, root)

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x17, 0x01}
	cfg := mustBuild(t, PXELinuxSpec{
		Default: "pxekit",
		Entries: []PXELinuxEntry{{Name: "pxekit", Kernel: "vmlinuz", Initrd: "initrd.img", Args: e2eArgs}},
	})
	macName := "pxelinux.cfg/" + pxlMACName(mac)
	h := &PXELinuxHandler{
		Config: func(r PXELinuxRequest) (*PXELinux, error) {
			if bytes.Equal(r.MAC, mac) {
				return cfg, nil
			}
			return nil, nil
		},
		Next: dir,
	}
	bl := startBootLab(t, lab, "pxelinux.0", h)
	m := lab.Boot(t, qemulab.BIOSiPXE, qemulab.Options{MAC: mac, Limit: 4 * time.Minute})

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if err := bl.waitFetched(ctx, "initrd.img"); err != nil {
		t.Fatalf("PXELINUX did not load the initrd its configuration names: %v\nconsole:\n%s", err, m.Tail(20))
	}
	loaded := time.Since(start)

	// The configuration names PXELINUX asked for, up to the one it got,
	// are PXELinuxPaths' list up to 01-<mac>, then the kernel and initrd.
	ip, uuid := bl.lease(mac)
	want := PXELinuxPaths(mac, uuid, ip)
	want = want[:slices.Index(want, macName)+1]
	var got []string
	for _, f := range bl.fetched() {
		if strings.HasPrefix(f, "pxelinux.cfg/") || f == "vmlinuz" || f == "initrd.img" {
			got = append(got, strings.TrimSuffix(f, " (refused)"))
		}
	}
	want = append(want, "vmlinuz", "initrd.img")
	if !slices.Equal(got, want) {
		t.Errorf("PXELINUX fetched %q\nwant (PXELinuxPaths for %s, %s, UUID %x, then the files named) %q", got, mac, ip, uuid, want)
	}
	t.Logf("PXELINUX fetched, in order: %q (%.1fs after start)", got, loaded.Seconds())

	if !boots {
		return
	}
	line, err := m.WaitConsole(ctx, e2eMarker+"=")
	if err != nil {
		t.Fatalf("the kernel PXELINUX loaded did not run init: %v", err)
	}
	value := strings.TrimPrefix(e2eArgs[2], "pxekitvalue=")
	if line != e2eMarker+"=["+value+"]" {
		t.Errorf("init got pxekitvalue %q, want %q", line, e2eMarker+"=["+value+"]")
	}
	cmdline, err := m.WaitConsole(ctx, "PXEKIT-CMDLINE=")
	if err != nil {
		t.Fatal(err)
	}
	cfgText, _ := cfg.Format()
	appendLine, _ := cfg.Labels[0].Value("append")
	if !strings.Contains(cmdline, appendLine) {
		t.Errorf("/proc/cmdline %q does not hold the append line %q of\n%s", cmdline, appendLine, cfgText)
	}
	t.Logf("/proc/cmdline: %s (%.1fs after start)", cmdline, time.Since(start).Seconds())
}
