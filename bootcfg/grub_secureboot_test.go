package bootcfg

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/qemulab"
	"github.com/pxekit/pxekit/kernelcmdline"
	"github.com/pxekit/pxekit/tftpserve"
)

// Debian's Secure Boot chain and the firmware that enforces it.
const (
	sbShim     = "/usr/lib/shim/shimx64.efi.signed"                             // shim-signed (signed by Microsoft)
	sbGRUBNet  = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"        // grub-efi-amd64-signed (by Debian)
	sbBusybox  = "/bin/busybox"                                                 // busybox-static
	sbKernelGl = "/boot/vmlinuz-*"                                              // linux-image-amd64 (signed by Debian)
	sbIPXE     = "/usr/lib/ipxe/ipxe.efi"                                       // ipxe: unsigned
	sbMarker   = "PXEKIT-SB-INIT"                                               // printed by the test's /init
	sbEcho     = "PXEKIT-GRUB-ECHO:"                                            // printed by GRUB from the generated grub.cfg
	sbHostile  = `a'b"c $prefix ${root} $(x) ; } { | & < > \ ` + "`id`" + ` #x` // echoed by GRUB
)

// sbKernelArgs are the hostile kernel arguments the generated grub.cfg
// passes; /proc/cmdline must carry each exactly.
var sbKernelArgs = []string{
	"pxekit_host=node-1;reboot",
	"pxekit_url=http://boot.example/x?a=1&b=$prefix#frag",
	"pxekit_sp=a b ${root} `id` } { $(reboot) ;",
	"pxekit_nl=line one\nline two",
	"pxekit_empty=",
	"pxekit_flag",
}

// tftpLog records the transfers of the lab's TFTP server.
type tftpLog struct {
	mu  sync.Mutex
	all []tftpserve.TransferInfo
}

func (l *tftpLog) add(ti tftpserve.TransferInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, ti)
}

// served reports whether path was sent in full to client.
func (l *tftpLog) served(client netip.Addr, path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ti := range l.all {
		if ti.Client.Addr() == client && ti.Path == path && ti.Outcome == tftpserve.OutcomeOK {
			return true
		}
	}
	return false
}

// names lists "path outcome" per transfer from client, in order.
func (l *tftpLog) names(client netip.Addr) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ti := range l.all {
		if ti.Client.Addr() == client {
			out = append(out, fmt.Sprint(ti.Path, " ", ti.Outcome))
		}
	}
	return out
}

// labVM is a QEMU VM with Secure Boot enforced (qemulab's scenarios have
// no such machine, so the test adds the flags to UEFIPXE's).
type labVM struct {
	mac     net.HardwareAddr
	serial  string
	started time.Time
	done    chan struct{}
	err     error
}

func bootSecure(t *testing.T, lab *qemulab.Lab, n int, mac net.HardwareAddr) *labVM {
	t.Helper()
	fw := lab.Firmware
	tap := fmt.Sprintf("sb%d", n)
	serial := filepath.Join(lab.Dir, tap+".serial")
	args, err := fw.Args(qemulab.UEFIPXE, tap, serial, lab.Dir, qemulab.Options{MAC: mac, SecureBoot: true})
	if err != nil {
		t.Fatal(err)
	}
	return startVM(t, lab, tap, serial, mac, fw.QEMU, args)
}

// startVM creates tap on the lab bridge and runs QEMU (args name tap and
// serial) inside the lab namespace until the test ends (5 minutes at most).
func startVM(t *testing.T, lab *qemulab.Lab, tap, serial string, mac net.HardwareAddr, qemu string, args []string) *labVM {
	t.Helper()
	lab.NS.Tap(t, tap, lab.Bridge)
	m := &labVM{mac: mac, serial: serial, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := lab.NS.Command(ctx, qemu, args...)
	var qlog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qlog, &qlog
	lab.NS.Track(cmd)
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start QEMU: %v", err)
	}
	go func() { m.err = cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		cancel()
		<-m.done
		if t.Failed() {
			t.Logf("machine %s console:\n%s\nQEMU: %s", mac, m.tail(40), qlog.String())
		}
		_ = lab.NS.Command(context.Background(), "ip", "link", "del", tap).Run()
	})
	return m
}

func (m *labVM) console() []string {
	b, _ := os.ReadFile(m.serial)
	return qemulab.Clean(b)
}

func (m *labVM) tail(n int) string {
	l := m.console()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return "    | " + strings.Join(l, "\n    | ")
}

// wait waits until a console line contains one of texts (or QEMU exits,
// after which the console is checked once more).
func (m *labVM) wait(ctx context.Context, texts ...string) (string, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		exited := false
		select {
		case <-m.done:
			exited = true
		default:
		}
		for _, l := range m.console() {
			for _, s := range texts {
				if strings.Contains(l, s) {
					return l, nil
				}
			}
		}
		if exited {
			return "", fmt.Errorf("QEMU exited (%v) after %s before %q appeared; last lines:\n%s", m.err, time.Since(m.started).Round(time.Second), texts, m.tail(20))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%q not on the console after %s: %w; last lines:\n%s", texts, time.Since(m.started).Round(time.Second), ctx.Err(), m.tail(20))
		case <-tick.C:
		}
	}
}

// TestSecureBootShimGRUB boots OVMF with Secure Boot enforced (Microsoft
// keys enrolled) from the network: LabServer4 names Debian's signed shim,
// shim loads Debian's signed netboot GRUB as grubx64.efi, GRUB reads the
// grub.cfg the GRUBBuilder generated for this machine (served per client
// at grub/grub.cfg), and boots Debian's signed kernel with an initramfs the
// test builds, whose /init prints /proc/cmdline. The hostile kernel
// arguments and the echoed value must arrive exactly. Then a machine given
// Debian's unsigned ipxe.efi fetches it and the firmware refuses to run it.
func TestSecureBootShimGRUB(t *testing.T) {
	fw := qemulab.Require(t)
	if testing.Short() {
		t.Skip("two UEFI boots and a kernel under TCG take minutes")
	}
	kernel := qemulab.RequireFile(t, sbKernelGl, "linux-image-amd64")
	for f, pkg := range map[string]string{sbShim: "shim-signed", sbGRUBNet: "grub-efi-amd64-signed",
		qemulab.SecureBootCode: "ovmf", qemulab.SecureBootVars: "ovmf", sbBusybox: "busybox", sbIPXE: "ipxe"} {
		qemulab.RequireFile(t, f, pkg)
	}
	initrd, err := qemulab.BusyboxInitramfs(sbBusybox, qemulab.CmdlineScript(sbMarker))
	if err != nil {
		t.Fatal(err)
	}
	lab := qemulab.NewLab(t, fw)

	root := lab.Files(t, map[string]string{"shimx64.efi": sbShim, "grubx64.efi": sbGRUBNet, "vmlinuz": kernel, "ipxe.efi": sbIPXE},
		map[string][]byte{"initrd.img": initrd})

	macGRUB := net.HardwareAddr{0x52, 0x54, 0x00, 0x5b, 0x00, 0x01}
	macIPXE := net.HardwareAddr{0x52, 0x54, 0x00, 0x5b, 0x00, 0x02}
	tmpl := func(s string) *dhcpboot.Template {
		tp, err := dhcpboot.ParseTemplate(s)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	policy, err := dhcpboot.NewPolicy(
		dhcpboot.Rule{Name: "unsigned iPXE (must be refused)", Match: dhcpboot.Match{MAC: []dhcpboot.MACPattern{dhcpboot.ExactMAC(macIPXE)}},
			Action: dhcpboot.Action{BootFile: tmpl("ipxe.efi")}},
		dhcpboot.Rule{Name: "UEFI x64 PXE: shim", Match: dhcpboot.Match{
			Firmware: []archdetect.Firmware{archdetect.FirmwareUEFI}, CPU: []archdetect.CPU{archdetect.CPUX8664},
			Transport: []archdetect.Transport{archdetect.TransportPXE}},
			Action: dhcpboot.Action{BootFile: tmpl("shimx64.efi")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	dhcp, tlog := serveGRUBLab(t, lab, root, policy, func(mac net.HardwareAddr) ([]byte, error) {
		var b GRUBBuilder
		b.SetTimeout(0)
		b.SetDefault("pxekit")
		b.Cmd("echo", "PXEKIT-GRUB-CFG for "+mac.String())
		b.Entry(GRUBEntry{Title: "pxekit 'secure' $boot } {", ID: "pxekit",
			Commands: []GRUBCommand{{Name: "echo", Args: []string{sbEcho + sbHostile}}},
			Kernel:   "/vmlinuz", Args: append([]string{"console=ttyS0", "quiet", "panic=-1"}, sbKernelArgs...),
			Initrds: []string{"/initrd.img"}})
		return b.Bytes()
	})

	t.Run("shim-grub-kernel", func(t *testing.T) {
		m := bootSecure(t, lab, 1, macGRUB)
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		if line, err := m.wait(ctx, sbMarker+"-END", "PXE-E"); err != nil {
			t.Fatal(err)
		} else if strings.Contains(line, "PXE-E") {
			t.Fatalf("PXE failed: %q", line)
		}
		booted := time.Since(m.started)
		select { // /init powers off
		case <-m.done:
		case <-ctx.Done():
			t.Error("the machine did not power off after the marker")
		}
		t.Logf("Secure Boot PXE → shim → GRUB → kernel → /init marker: %s", booted.Round(100*time.Millisecond))
		lines := m.console()
		ip := leaseOf(dhcp, macGRUB)
		t.Logf("TFTP from %s: %q", ip, tlog.names(ip))
		for _, f := range []string{"shimx64.efi", "grubx64.efi", "grub/grub.cfg", "vmlinuz", "initrd.img"} {
			if !tlog.served(ip, f) {
				t.Errorf("TFTP never sent %s to %s in full; transfers: %q", f, ip, tlog.names(ip))
			}
		}
		if !slices.Contains(lines, sbEcho+sbHostile) {
			t.Errorf("GRUB did not echo %q exactly; console lines with the marker: %q", sbEcho+sbHostile, grepLines(lines, sbEcho))
		}
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "PXEKIT-GRUB-CFG for "+macGRUB.String()) }) {
			t.Errorf("GRUB did not run this machine's grub.cfg (no %q)", "PXEKIT-GRUB-CFG for "+macGRUB.String())
		}
		cmdline, err := qemulab.CmdlineFromConsole(lines, sbMarker)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("/proc/cmdline: %q", cmdline)
		got := kernelcmdline.Split(cmdline)
		want := wantLinuxArgs(sbKernelArgs)
		if len(got) < len(want) || !reflect.DeepEqual(got[len(got)-len(want):], want) {
			t.Errorf("Linux read the arguments\n%+v\nwant them to end with\n%+v", got, want)
		}
	})

	t.Run("unsigned-ipxe-refused", func(t *testing.T) {
		m := bootSecure(t, lab, 2, macIPXE)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		line, err := m.wait(ctx, "Access Denied", "Security Violation", "PXE-E")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "PXE-E") {
			t.Fatalf("PXE failed: %q", line)
		}
		t.Logf("firmware refused after %s: %q", time.Since(m.started).Round(100*time.Millisecond), line)
		ip := leaseOf(dhcp, macIPXE)
		if !tlog.served(ip, "ipxe.efi") {
			t.Errorf("ipxe.efi was never fetched in full, so the refusal proves nothing; transfers: %q", tlog.names(ip))
		}
		// Give a wrongly started iPXE time to print its banner.
		time.Sleep(5 * time.Second)
		if l := grepLines(m.console(), "iPXE"); len(l) > 0 {
			t.Errorf("iPXE ran under Secure Boot: %q", l)
		}
	})
}

// serveGRUBLab starts LabServer4 (with policy) and a TFTP server inside the
// lab: files from root, and grub/grub.cfg made per client by cfg from the
// MAC of the client's lease (Debian's netboot GRUBs source
// $prefix/grub.cfg, prefix /grub on the boot server).
func serveGRUBLab(t *testing.T, lab *qemulab.Lab, root string, policy *dhcpboot.Policy, cfg func(net.HardwareAddr) ([]byte, error)) (*dhcpboot.LabServer4, *tftpLog) {
	t.Helper()
	dhcp := &dhcpboot.LabServer4{Policy: policy, Interface: lab.Bridge, ServerIP: lab.ServerIP,
		Subnets: []dhcpboot.Subnet{{Prefix: lab.Prefix, RangeStart: netip.MustParseAddr("10.77.0.50"), RangeEnd: netip.MustParseAddr("10.77.0.99")}}}
	var dconn net.PacketConn
	if err := lab.NS.Do(func() (err error) { dconn, err = dhcpboot.ListenUDP4(lab.Bridge, 67); return err }); err != nil {
		t.Fatal(err)
	}
	go func() { _ = dhcp.Serve(dconn) }()
	t.Cleanup(func() { _ = dhcp.Close() })
	mux := tftpserve.NewServeMux()
	mux.Handle("grub/grub.cfg", tftpserve.ContentFunc(func(r *tftpserve.Request) ([]byte, error) {
		for _, l := range dhcp.Leases() {
			if l.IP == r.RemoteAddr.Addr() {
				return cfg(l.MAC)
			}
		}
		return nil, tftpserve.ErrNotFound
	}))
	mux.Handle("", tftpserve.FS(os.DirFS(root)))
	tlog := &tftpLog{}
	tsrv := &tftpserve.Server{Handler: mux, OnTransfer: tlog.add, ListenPacket: lab.NS.ListenPacket}
	tconn, err := lab.NS.ListenPacket("udp4", lab.ServerIP.String()+":69")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tsrv.Serve(tconn) }()
	t.Cleanup(func() { _ = tsrv.Close() })
	return dhcp, tlog
}

func leaseOf(s *dhcpboot.LabServer4, mac net.HardwareAddr) netip.Addr {
	for _, l := range s.Leases() {
		if bytes.Equal(l.MAC, mac) {
			return l.IP
		}
	}
	return netip.Addr{}
}

func grepLines(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}
