// Package qemulab boots real network-boot firmware under QEMU inside a private
// network namespace, for end-to-end tests of pxekit's servers.
//
// The firmware is Debian's, written by nobody on this project: the iPXE option
// ROM for QEMU's virtio-net NIC under SeaBIOS, iPXE's undionly.kpxe and
// ipxe.efi, and OVMF (EDK2) with its own PXE and HTTP boot clients. QEMU runs
// with software emulation (-accel tcg): KVM hangs or crashes these firmwares on
// the machines this was tried on.
//
// A [Lab] is a netlab namespace holding a bridge with the server's address; each
// [Machine] gets its own tap device on that bridge, its serial console written to
// a file, and is killed when the test ends.
//
//	fw := qemulab.Require(t)
//	lab := qemulab.NewLab(t, fw)
//	// start the servers inside lab.NS, listening on lab.Bridge / lab.ServerIP
//	m := lab.Boot(t, qemulab.BIOSiPXE, qemulab.Options{})
//	line, err := m.WaitConsole(ctx, "PXEKIT-BOOTED")
package qemulab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// Scenario is one way of booting over the network, with its own firmware and
// NIC setup.
type Scenario string

// The scenarios the lab can boot.
const (
	// BIOSiPXE is SeaBIOS with Debian's iPXE option ROM for virtio-net:
	// DHCP (arch 0, user class iPXE, option 175), then the boot script.
	BIOSiPXE Scenario = "A"
	// BIOSUndionly is the same machine as BIOSiPXE; the server is expected to
	// make it chain-load undionly.kpxe over TFTP, so that a second iPXE (on the
	// PXE UNDI stack) does DHCP again before it runs the script.
	BIOSUndionly Scenario = "A2"
	// UEFIPXE is OVMF's own PXE client (the NIC's option ROM is disabled):
	// DHCP arch 7 without user class, TFTP ipxe.efi, then iPXE.
	UEFIPXE Scenario = "B"
	// UEFIHTTP is OVMF's HTTP boot client (PXE disabled through fw_cfg):
	// DHCP arch 16 with vendor class HTTPClient, HTTP ipxe.efi, then iPXE.
	UEFIHTTP Scenario = "C"
)

// Scenarios lists every scenario in the order a demo boots them.
func Scenarios() []Scenario { return []Scenario{BIOSiPXE, BIOSUndionly, UEFIPXE, UEFIHTTP} }

// ParseScenario returns the scenario named s ("A", "A2", "B" or "C").
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios() {
		if strings.EqualFold(string(sc), s) {
			return sc, nil
		}
	}
	return "", fmt.Errorf("qemulab: unknown scenario %q (want A, A2, B or C)", s)
}

// Describe says in one line what booting the scenario does.
func (s Scenario) Describe() string {
	switch s {
	case BIOSiPXE:
		return "BIOS: SeaBIOS + iPXE virtio-net option ROM -> HTTP script"
	case BIOSUndionly:
		return "BIOS: iPXE ROM -> TFTP undionly.kpxe -> iPXE (UNDI) -> HTTP script"
	case UEFIPXE:
		return "UEFI: OVMF PXE (NIC ROM disabled) -> TFTP ipxe.efi -> iPXE -> HTTP script"
	case UEFIHTTP:
		return "UEFI: OVMF HTTP boot (PXE disabled) -> HTTP ipxe.efi -> iPXE -> HTTP script"
	}
	return "unknown scenario"
}

// UEFI reports whether the scenario boots OVMF rather than SeaBIOS.
func (s Scenario) UEFI() bool { return s == UEFIPXE || s == UEFIHTTP }

// DefaultMAC is the MAC address a scenario's NIC gets unless Options says
// otherwise; each scenario has its own so that server logs tell them apart.
func (s Scenario) DefaultMAC() net.HardwareAddr {
	last := map[Scenario]byte{BIOSiPXE: 0x0a, UEFIPXE: 0x0b, BIOSUndionly: 0x0c, UEFIHTTP: 0x0d}[s]
	return net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, last}
}

// DefaultUUID is the SMBIOS UUID given to every machine unless Options says
// otherwise (the one in the reference captures).
const DefaultUUID = "00112233-4455-6677-8899-aabbccddeeff"

// Firmware holds the paths of QEMU and the firmware files the scenarios use.
type Firmware struct {
	QEMU     string // qemu-system-x86_64
	IPXEDir  string // Debian's /usr/lib/ipxe: undionly.kpxe, ipxe.efi, qemu/ ROMs
	OVMFCode string // read-only UEFI code
	OVMFVars string // UEFI variable store template (copied per machine)
}

// Undionly is the path of iPXE's undionly.kpxe (BIOS PXE network boot program).
func (f Firmware) Undionly() string { return filepath.Join(f.IPXEDir, "undionly.kpxe") }

// IPXEEFI is the path of iPXE's ipxe.efi (x86_64 UEFI). On Debian it is a
// symbolic link to /boot/ipxe.efi.
func (f Firmware) IPXEEFI() string { return filepath.Join(f.IPXEDir, "ipxe.efi") }

// VirtioROM is the path of the iPXE option ROM (BIOS and UEFI images in one)
// that Debian's QEMU loads for virtio-net by default.
func (f Firmware) VirtioROM() string { return filepath.Join(f.IPXEDir, "qemu", "efi-virtio.rom") }

// FindFirmware looks for QEMU and the Debian firmware files (packages
// qemu-system-x86, ipxe, ipxe-qemu, ovmf). The error names everything missing.
func FindFirmware() (Firmware, error) {
	f := Firmware{
		IPXEDir:  "/usr/lib/ipxe",
		OVMFCode: "/usr/share/OVMF/OVMF_CODE_4M.fd",
		OVMFVars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
	}
	var missing []string
	q, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		missing = append(missing, "qemu-system-x86_64 (package qemu-system-x86)")
	}
	f.QEMU = q
	for _, p := range []struct{ path, pkg string }{
		{f.Undionly(), "ipxe"}, {f.IPXEEFI(), "ipxe"}, {f.VirtioROM(), "ipxe-qemu"},
		{f.OVMFCode, "ovmf"}, {f.OVMFVars, "ovmf"},
	} {
		if _, err := os.Stat(p.path); err != nil { // Stat follows the ipxe.efi link
			missing = append(missing, fmt.Sprintf("%s (package %s)", p.path, p.pkg))
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = append(missing, "/dev/net/tun (tap devices)")
	}
	if len(missing) > 0 {
		return f, fmt.Errorf("qemulab: missing %s", strings.Join(missing, ", "))
	}
	return f, nil
}

// Require skips the test unless network namespaces can be made (see
// netlab.Require) and QEMU and the firmware files are installed. When the
// environment variable CI is set it fails instead of skipping: CI installs
// them and must run these tests.
func Require(t testing.TB) Firmware {
	t.Helper()
	netlab.Require(t)
	f, err := FindFirmware()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set: firmware tests must run here)", err)
		}
		t.Skipf("skipping: %v; install them with: apt-get install qemu-system-x86 ipxe ipxe-qemu ovmf", err)
	}
	return f
}

// CopyFile copies src to dst, following symbolic links (Debian's ipxe.efi is
// one, and TFTP roots that refuse links would not serve it).
func CopyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("qemulab: copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// CopyBootFiles copies undionly.kpxe and ipxe.efi into dir (created if
// needed), following links, and returns dir.
func (f Firmware) CopyBootFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, src := range []string{f.Undionly(), f.IPXEEFI()} {
		if err := CopyFile(filepath.Join(dir, filepath.Base(src)), src); err != nil {
			return err
		}
	}
	return nil
}

// Lab is a private network for booting machines: a netlab namespace with a
// bridge that carries the server's address. Servers run inside NS and listen
// on Bridge / ServerIP; each machine's tap device joins the bridge.
type Lab struct {
	NS       *netlab.NS
	Firmware Firmware
	// Bridge is the bridge interface name ("br0").
	Bridge string
	// ServerIP is the address of the bridge (10.77.0.1); Prefix is its /24.
	ServerIP netip.Addr
	Prefix   netip.Prefix
	// ServerIP6 is the bridge's IPv6 address (fd77::1, in prefix fd77::/64,
	// which router advertisements from [Lab.AdvertiseIPv6] announce).
	ServerIP6 netip.Addr
	// Dir is a scratch directory removed when the test ends: serial
	// consoles, UEFI variable stores and QEMU logs live there.
	Dir string

	mu   sync.Mutex
	taps int
}

// NewLab creates the namespace and its bridge br0 with 10.77.0.1/24 and
// fd77::1/64 (duplicate address detection off, so IPv6 works at once).
func NewLab(t testing.TB, fw Firmware) *Lab {
	t.Helper()
	l := &Lab{
		NS:        netlab.NewNS(t),
		Firmware:  fw,
		Bridge:    "br0",
		ServerIP:  netip.MustParseAddr("10.77.0.1"),
		Prefix:    netip.MustParsePrefix("10.77.0.0/24"),
		ServerIP6: netip.MustParseAddr("fd77::1"),
		Dir:       t.TempDir(),
	}
	l.NS.Run(t, "ip", "link", "add", l.Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	l.NS.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf."+l.Bridge+".accept_dad=0")
	l.NS.Run(t, "ip", "addr", "add", l.ServerIP.String()+"/24", "dev", l.Bridge)
	l.NS.Run(t, "ip", "addr", "add", l.ServerIP6.String()+"/64", "dev", l.Bridge, "nodad")
	l.NS.Run(t, "ip", "link", "set", l.Bridge, "up")
	return l
}

// Options tune one machine. The zero value is the scenario's defaults.
type Options struct {
	// MAC is the NIC's address; nil means Scenario.DefaultMAC.
	MAC net.HardwareAddr
	// UUID is the SMBIOS UUID; "" means DefaultUUID.
	UUID string
	// Memory is the RAM size in MiB; 0 means 256 (BIOS) or 512 (UEFI).
	Memory int
	// Limit bounds how long QEMU may run at all (it is killed after); 0
	// means 5 minutes. Tests wait for much shorter times with WaitConsole.
	Limit time.Duration
	// SecureBoot (UEFI scenarios) boots SecureBootCode with SecureBootVars
	// (Microsoft's keys enrolled, Secure Boot enforced) on a q35 machine
	// with SMM, its variable flash writable from SMM only.
	SecureBoot bool
	// PXEIPv6Only (UEFIPXE only) turns OVMF's IPv4 PXE off through fw_cfg
	// (opt/org.tianocore/IPv4PXESupport=no), so that it boots over IPv6 at
	// once, as on an IPv6-only network, rather than after its DHCPv4 times
	// out.
	PXEIPv6Only bool
}

// Machine is one QEMU virtual machine booting from the network.
type Machine struct {
	Scenario Scenario
	MAC      net.HardwareAddr
	// Tap is the machine's tap device on the lab bridge.
	Tap string
	// Serial is the file QEMU writes the serial console to.
	Serial string
	// Log holds QEMU's own stdout and stderr.
	Log string
	// Started is when QEMU was started.
	Started time.Time

	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{}
	err    error // QEMU's exit status, valid after done is closed
}

// Args returns QEMU's command-line arguments for booting sc from the network
// through tap device tap, with the serial console written to serial and
// per-machine files (UEFI variables) in dir. It copies the OVMF variable
// store for UEFI scenarios.
func (f Firmware) Args(sc Scenario, tap, serial, dir string, o Options) ([]string, error) {
	mac := o.MAC
	if mac == nil {
		mac = sc.DefaultMAC()
	}
	uuid := o.UUID
	if uuid == "" {
		uuid = DefaultUUID
	}
	mem := o.Memory
	if mem == 0 {
		mem = 256
		if sc.UEFI() {
			mem = 512
		}
	}
	args := []string{
		// -nographic: SeaBIOS copies int 10h text (the iPXE ROM's too) to
		// the serial port; OVMF and ipxe.efi write to it themselves.
		"-accel", "tcg", "-nographic", "-no-reboot",
		"-serial", "file:" + serial, "-monitor", "none",
		"-uuid", uuid, "-m", fmt.Sprint(mem),
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
	}
	switch sc {
	case BIOSiPXE, BIOSUndionly:
		args = append(args, "-machine", "pc", "-boot", "n",
			"-device", "virtio-net-pci,netdev=n0,mac="+mac.String())
	case UEFIPXE, UEFIHTTP:
		code, varsTemplate, machine := f.OVMFCode, f.OVMFVars, "q35"
		if o.SecureBoot {
			code, varsTemplate, machine = SecureBootCode, SecureBootVars, "q35,smm=on"
		}
		vars := filepath.Join(dir, "vars-"+tap+".fd")
		if err := CopyFile(vars, varsTemplate); err != nil {
			return nil, fmt.Errorf("qemulab: OVMF variables: %w", err)
		}
		args = append(args, "-machine", machine,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
		if o.SecureBoot {
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		if sc == UEFIHTTP {
			args = append(args,
				"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
				"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no")
		}
		if o.PXEIPv6Only {
			args = append(args, "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no")
		}
		// romfile= (empty): no iPXE option ROM, so EDK2's own PXE/HTTP client runs.
		args = append(args, "-device", "virtio-net-pci,netdev=n0,mac="+mac.String()+",romfile=,bootindex=1")
	default:
		return nil, fmt.Errorf("qemulab: unknown scenario %q", sc)
	}
	if o.SecureBoot && !sc.UEFI() {
		return nil, fmt.Errorf("qemulab: scenario %s: Secure Boot needs UEFI", sc)
	}
	if o.PXEIPv6Only && sc != UEFIPXE {
		return nil, fmt.Errorf("qemulab: scenario %s: PXEIPv6Only is for UEFIPXE", sc)
	}
	return args, nil
}

// Boot creates a tap device on the lab bridge and starts QEMU booting sc from
// the network. QEMU is killed when the test ends (or after Options.Limit).
func (l *Lab) Boot(t testing.TB, sc Scenario, o Options) *Machine {
	t.Helper()
	l.mu.Lock()
	l.taps++
	tap := fmt.Sprintf("tap%d", l.taps)
	l.mu.Unlock()
	if o.MAC == nil {
		o.MAC = sc.DefaultMAC()
	}
	l.NS.Tap(t, tap, l.Bridge)
	m := &Machine{
		Scenario: sc,
		MAC:      o.MAC,
		Tap:      tap,
		Serial:   filepath.Join(l.Dir, tap+".serial"),
		Log:      filepath.Join(l.Dir, tap+".qemu.log"),
		done:     make(chan struct{}),
	}
	args, err := l.Firmware.Args(sc, tap, m.Serial, l.Dir, o)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(m.Log)
	if err != nil {
		t.Fatal(err)
	}
	limit := o.Limit
	if limit == 0 {
		limit = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	m.cancel = cancel
	m.cmd = l.NS.Command(ctx, l.Firmware.QEMU, args...)
	m.cmd.Stdin = nil
	m.cmd.Stdout = logf
	m.cmd.Stderr = logf
	l.NS.Track(m.cmd)
	m.Started = time.Now()
	if err := m.cmd.Start(); err != nil {
		cancel()
		logf.Close()
		t.Fatalf("qemulab: start QEMU: %v", err)
	}
	go func() {
		m.err = m.cmd.Wait()
		logf.Close()
		close(m.done)
	}()
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Logf("qemulab: %v", err)
		}
		if t.Failed() {
			t.Logf("qemulab: scenario %s (%s) console, last lines:\n%s", sc, m.MAC, m.Tail(25))
			if b, _ := os.ReadFile(m.Log); len(bytes.TrimSpace(b)) > 0 {
				t.Logf("qemulab: QEMU log:\n%s", bytes.TrimSpace(b))
			}
		}
		// The tap goes with the namespace; delete it now so that a lab
		// booting many machines does not keep them all.
		_ = l.NS.Command(context.Background(), "ip", "link", "del", tap).Run()
	})
	return m
}

// Stop kills QEMU (if it still runs) and waits for it to end.
func (m *Machine) Stop() error {
	m.cancel()
	select {
	case <-m.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("qemulab: QEMU for scenario %s did not exit 10 s after kill", m.Scenario)
	}
}

// Exited reports whether QEMU has ended.
func (m *Machine) Exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

var (
	ansiRE   = regexp.MustCompile(`\x1b\[[0-9;=?]*[A-Za-z]|\x1b[c78]|\x1b\([AB0]`)
	ctrlRepl = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "")
)

// Clean turns raw console bytes into plain lines: terminal escape sequences,
// NULs removed, backspaces applied (spinners vanish), carriage returns made
// line ends, blank lines dropped.
func Clean(raw []byte) []string {
	s := ctrlRepl.Replace(ansiRE.ReplaceAllString(string(raw), ""))
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "\b") {
			rs := make([]rune, 0, len(l))
			for _, r := range l {
				switch {
				case r != '\b':
					rs = append(rs, r)
				case len(rs) > 0:
					rs = rs[:len(rs)-1]
				}
			}
			l = string(rs)
		}
		if l = strings.TrimRight(l, " \t"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// Console returns the serial console so far as plain lines (see Clean).
func (m *Machine) Console() []string {
	b, _ := os.ReadFile(m.Serial)
	return Clean(b)
}

// Tail returns the last n console lines joined by newlines, each indented.
func (m *Machine) Tail(n int) string {
	lines := m.Console()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    | " + strings.Join(lines, "\n    | ")
}

// ErrExited is returned by WaitConsole when QEMU ended before the text was seen.
var ErrExited = errors.New("qemulab: QEMU exited")

// WaitConsole waits until a console line contains text and returns that line
// (from the first occurrence of text on). It gives up when ctx ends or QEMU
// exits; the error then carries the last console lines.
func (m *Machine) WaitConsole(ctx context.Context, text string) (string, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		exited := m.Exited() // read before the console, so a last line written at exit counts
		raw, _ := os.ReadFile(m.Serial)
		if !exited {
			// Only whole lines: QEMU may be half-way through writing the last one.
			raw = raw[:bytes.LastIndexAny(raw, "\r\n")+1]
		}
		for _, l := range Clean(raw) {
			if i := strings.Index(l, text); i >= 0 {
				return l[i:], nil
			}
		}
		if exited {
			return "", fmt.Errorf("%w (%v) after %s before %q appeared on the console; last lines:\n%s",
				ErrExited, m.err, time.Since(m.Started).Round(time.Millisecond), text, m.Tail(15))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("qemulab: %q not on the console of scenario %s after %s: %w; last lines:\n%s",
				text, m.Scenario, time.Since(m.Started).Round(time.Millisecond), ctx.Err(), m.Tail(15))
		case <-tick.C:
		case <-m.done:
		}
	}
}
