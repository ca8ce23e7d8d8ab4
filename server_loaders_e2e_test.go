package pxekit_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
	"github.com/pxekit/pxekit/kernelcmdline"
	"github.com/pxekit/pxekit/tftpserve"
)

// e2eLoaderMarker is what the test's /init prints around /proc/cmdline.
const e2eLoaderMarker = "PXEKIT-SERVER-INIT"

// e2eLoaderArgs are hostile kernel arguments the machine's Cmdline holds;
// /proc/cmdline must carry each exactly.
var e2eLoaderArgs = []string{
	"console=ttyS0", "panic=-1",
	"pxekit_host=node-1;reboot",
	"pxekit_url=http://boot.example/x?a=1&b=$prefix#frag",
	"pxekit_sp=a b ${root} `id` } { $(reboot) ;",
	"pxekit_flag",
}

// tftpPaths records the paths the Server's TFTP part sent in full.
type tftpPaths struct {
	mu  sync.Mutex
	all []string
}

func (p *tftpPaths) add(e pxekit.Event) {
	if te, ok := e.(pxekit.TFTPEvent); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.all = append(p.all, fmt.Sprint(te.Path, " ", te.Outcome))
	}
}

func (p *tftpPaths) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.all...)
}

// serveIn runs srv (DHCP on iface, TFTP from one socket and HTTP on ip)
// with listeners made inside the namespace ns, until the test ends; then
// it shuts srv down, which must end Serve with ErrServerClosed.
func serveIn(t *testing.T, ns *netlab.NS, iface string, ip netip.Addr, srv *pxekit.Server) {
	t.Helper()
	var l pxekit.Listeners
	if err := ns.Do(func() (err error) {
		if l.DHCP, err = dhcpboot.ListenUDP4(iface, dhcpv4.ServerPort); err != nil {
			return err
		}
		if l.TFTP, err = net.ListenPacket("udp4", ip.String()+":69"); err != nil {
			return err
		}
		l.HTTP, err = net.Listen("tcp4", ip.String()+":80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != pxekit.ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
}

// labServer is a lab-mode Server for lab serving root, with inv; its TFTP
// part answers from its one socket (SinglePort: a per-transfer socket
// would be opened in the test's own namespace).
func labServer(lab *qemulab.Lab, root string, inv pxekit.Inventory, onEvent func(pxekit.Event)) *pxekit.Server {
	return &pxekit.Server{DHCP: pxekit.DHCPLab, Interface: lab.Bridge, Addr: lab.ServerIP,
		Lab: pxekit.LabDHCP{Subnets: []dhcpboot.Subnet{{Prefix: lab.Prefix,
			RangeStart: netip.MustParseAddr("10.77.0.50"), RangeEnd: netip.MustParseAddr("10.77.0.99")}}},
		Files: root, Inventory: inv, OnEvent: onEvent, TFTP: pxekit.TFTPLimits{SinglePort: true}}
}

// loaderBoot is one machine's boot through a lab-mode Server: the
// loader files the Server's Files hold, the machine the inventory holds
// (its Kernel and Initrds are set to Debian's kernel and the test's
// initramfs), how QEMU boots it, and the files TFTP must send in full.
type loaderBoot struct {
	scenario qemulab.Scenario
	opts     qemulab.Options
	files    map[string]string // name under Files → source file
	machine  pxekit.Machine
	fetched  []string
	bootFile string // the session's boot file
}

// run boots lb.machine through pxekit.Server alone (lab DHCP, TFTP and
// HTTP in a qemulab namespace) with Debian's kernel and an initramfs
// whose /init prints /proc/cmdline; the machine's Cmdline must arrive
// exactly, and the session must reach the kernel stage.
func (lb loaderBoot) run(t *testing.T, fw qemulab.Firmware) {
	t.Helper()
	lb.files["vmlinuz"] = qemulab.RequireFile(t, "/boot/vmlinuz-*", "linux-image-amd64")
	_, busybox := qemulab.DebianKernel()
	if busybox == "" {
		busybox = qemulab.RequireFile(t, "/bin/busybox", "busybox")
	}
	initrd, err := qemulab.BusyboxInitramfs(busybox, qemulab.CmdlineScript(e2eLoaderMarker))
	if err != nil {
		t.Fatal(err)
	}
	lab := qemulab.NewLab(t, fw)
	root := lab.Files(t, lb.files, map[string][]byte{"initrd.img": initrd})
	lb.machine.Kernel, lb.machine.Initrds = "vmlinuz", []string{"initrd.img"}
	inv, err := pxekit.NewMapInventory(lb.machine)
	if err != nil {
		t.Fatal(err)
	}
	var paths tftpPaths
	srv := labServer(lab, root, inv, paths.add)
	serveIn(t, lab.NS, lab.Bridge, lab.ServerIP, srv)

	lb.opts.MAC = lb.machine.MAC
	m := lab.Boot(t, lb.scenario, lb.opts)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := m.WaitConsole(ctx, e2eLoaderMarker+"-END"); err != nil {
		t.Fatalf("%v\nTFTP: %q", err, paths.list())
	}
	t.Logf("network boot to /init through the Server's generated configuration: %s", time.Since(m.Started).Round(100*time.Millisecond))
	got := paths.list()
	t.Logf("TFTP: %q", got)
	for _, f := range append(lb.fetched, "vmlinuz", "initrd.img") {
		if !containsPrefix(got, f+" "+string(tftpserve.OutcomeOK)) {
			t.Errorf("TFTP never sent %s in full; transfers: %q", f, got)
		}
	}
	cmdline, err := qemulab.CmdlineFromConsole(m.Console(), e2eLoaderMarker)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("/proc/cmdline: %q", cmdline)
	// The loader adds its own (BOOT_IMAGE= first, PXELINUX's initrd= last).
	checkArgs(t, cmdline, lb.machine.Cmdline)
	if s, ok := srv.Sessions().ByMAC(lb.machine.MAC); !ok || s.Stage != pxekit.StageKernel || !s.Known || s.BootFile != lb.bootFile {
		t.Errorf("session = %+v (found %v), want stage kernel, known, boot file %s", s, ok, lb.bootFile)
	}
}

// OVMF with Secure Boot enforced boots a BootGRUB machine with SecureBoot
// through pxekit.Server alone: the lab DHCP names Debian's signed shim,
// shim loads Debian's signed netboot GRUB (served as grubx64.efi), GRUB
// reads the grub.cfg the Server generates for this machine from the
// inventory (grub/grub.cfg, answered per client), and boots Debian's
// signed kernel with the test's initramfs, whose /init prints
// /proc/cmdline: the machine's Cmdline, hostile values included, exactly.
func TestServerSecureBootGRUBBoot(t *testing.T) {
	fw := qemulab.Require(t)
	if testing.Short() {
		t.Skip("a UEFI boot and a kernel under TCG take minutes")
	}
	qemulab.RequireFile(t, qemulab.SecureBootCode, "ovmf")
	qemulab.RequireFile(t, qemulab.SecureBootVars, "ovmf")
	loaderBoot{
		scenario: qemulab.UEFIPXE, opts: qemulab.Options{SecureBoot: true},
		files: map[string]string{
			"shimx64.efi": qemulab.RequireFile(t, "/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
			"grubx64.efi": qemulab.RequireFile(t, "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed"),
		},
		machine: pxekit.Machine{Name: "secure 'one' $x", MAC: net.HardwareAddr{0x52, 0x54, 0x00, 0x17, 0x5b, 0x01},
			Boot: pxekit.BootGRUB, SecureBoot: true, Cmdline: e2eLoaderArgs},
		fetched:  []string{"shimx64.efi", "grubx64.efi", "grub/grub.cfg"},
		bootFile: "shimx64.efi",
	}.run(t, fw)
}

// containsPrefix reports whether an element of list starts with p.
func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// SeaBIOS with the iPXE option ROM boots a BootPXELinux machine through
// pxekit.Server alone: the lab DHCP names pxelinux.0 (with option 209
// naming the machine's file), PXELINUX reads the pxelinux.cfg/01-<mac>
// the Server generates from the inventory, and loads the kernel and
// initrd it names; /init prints /proc/cmdline, which must hold the
// machine's Cmdline exactly.
func TestServerPXELinuxBoot(t *testing.T) {
	fw := qemulab.Require(t)
	if testing.Short() {
		t.Skip("a BIOS boot and a kernel under TCG take minutes")
	}
	loaderBoot{
		scenario: qemulab.BIOSiPXE, opts: qemulab.Options{Memory: 512},
		files: map[string]string{
			"pxelinux.0":  qemulab.RequireFile(t, "/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
			"ldlinux.c32": qemulab.RequireFile(t, "/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
		},
		// PXELINUX and U-Boot drop single quotes and backslashes from
		// append lines (bootcfg refuses them); the other hostile values
		// stay.
		machine: pxekit.Machine{Name: "pxl", MAC: net.HardwareAddr{0x52, 0x54, 0x00, 0x17, 0x5c, 0x01}, Boot: pxekit.BootPXELinux,
			Cmdline: []string{"console=ttyS0", "panic=-1", "pxekit_host=node-1;reboot", "pxekit_url=http://boot.example/x?a=1&b=$HOME#frag",
				"pxekit_sp=two  words; rm -rf / & echo $HOME | x>y #no-comment", "pxekit_flag"}},
		fetched:  []string{"pxelinux.0", "ldlinux.c32", "pxelinux.cfg/01-52-54-00-17-5c-01"},
		bootFile: "pxelinux.0",
	}.run(t, fw)
}

// checkArgs checks that Linux read the machine's command line params, in
// order, one after the other, within cmdline.
func checkArgs(t *testing.T, cmdline string, params []string) {
	t.Helper()
	got := kernelcmdline.Split(cmdline)
	var want []kernelcmdline.Arg
	for _, p := range params {
		n, v, ok := strings.Cut(p, "=")
		want = append(want, kernelcmdline.Arg{Name: n, Value: v, HasValue: ok})
	}
	for i := 0; i+len(want) <= len(got); i++ {
		if reflect.DeepEqual(got[i:i+len(want)], want) {
			return
		}
	}
	t.Errorf("Linux read the arguments\n%+v\nwant them to hold, in a row,\n%+v", got, want)
}
