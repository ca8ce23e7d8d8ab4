package pxekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/bootcfg"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

// Default boot file names of LoaderFiles, as Debian's packages install
// them under these names (pxelinux: /usr/lib/PXELINUX/pxelinux.0;
// shim-signed: shimx64.efi.signed; grub-efi-amd64-signed:
// grubnetx64.efi.signed, which shim loads as grubx64.efi).
const (
	DefaultPXELinuxFile = "pxelinux.0"
	DefaultGRUBFile     = "grubx64.efi"
	DefaultShimFile     = "shimx64.efi"
)

// GRUBPrefix is the directory of the TFTP root where the Server answers a
// GRUB machine's configuration: Debian's signed grubnetx64.efi has the
// prefix /grub on its boot server and reads grub/grub.cfg (see
// bootcfg.GRUBConfigNames).
const GRUBPrefix = "grub"

// LoaderFiles are the boot files DHCP names for the machines whose Boot
// is BootPXELinux or BootGRUB: paths on the TFTP root, each read as a
// dhcpboot.Template (so "{{arch}}/shimx64.efi" expands; one that does not
// parse stops the Server from starting). Empty fields take the defaults
// (DefaultPXELinuxFile, DefaultGRUBFile, DefaultShimFile).
// The Server names them only; the files themselves (and PXELINUX's
// ldlinux.c32) are the TFTP root's.
type LoaderFiles struct {
	// PXELinux is handed to the BIOS clients of BootPXELinux machines.
	PXELinux string
	// GRUB is handed to the UEFI x86-64 PXE clients of BootGRUB machines
	// without SecureBoot.
	GRUB string
	// Shim is handed to those with SecureBoot; shim then loads
	// "grubx64.efi" from the same directory, so GRUB's file must be there
	// under that name (Debian's signed grubnetx64.efi).
	Shim string
}

// loaderPolicy is the DHCP side of the PXELINUX and GRUB flows for one
// generation: one rule per MAC address of a BootPXELinux or BootGRUB
// machine DHCP has met, ahead of the generation's own policy. The rules
// are learnt as requests arrive (the Server's DHCPv4 classifier asks the
// inventory), so that an inventory needs no listing and a machine's
// change of Boot is seen at its next request.
type loaderPolicy struct {
	files LoaderFiles
	base  *dhcpboot.Policy

	mu     sync.Mutex
	kinds  map[string]loaderKind // by MAC
	policy atomic.Pointer[dhcpboot.Policy]
}

// loaderKind is what a machine's loader rule depends on.
type loaderKind struct {
	boot   BootKind
	secure bool
}

func newLoaderPolicy(files LoaderFiles, base *dhcpboot.Policy) (*loaderPolicy, error) {
	files.PXELinux = or(files.PXELinux, DefaultPXELinuxFile)
	files.GRUB = or(files.GRUB, DefaultGRUBFile)
	files.Shim = or(files.Shim, DefaultShimFile)
	for _, f := range []string{files.PXELinux, files.GRUB, files.Shim} {
		if _, err := dhcpboot.ParseTemplate(f); err != nil {
			return nil, fmt.Errorf("pxekit: Server.Loaders: %q: %w", f, err)
		}
	}
	lp := &loaderPolicy{files: files, base: base, kinds: map[string]loaderKind{}}
	lp.policy.Store(base)
	return lp, nil
}

// current is the policy in use: the learnt rules, then the base policy.
func (lp *loaderPolicy) current() *dhcpboot.Policy { return lp.policy.Load() }

// learn records what the inventory said of mac (m nil: not a machine with
// a loader rule) and rebuilds the policy when that changes its rules.
func (lp *loaderPolicy) learn(mac net.HardwareAddr, m *Machine) error {
	var k loaderKind
	if m != nil && (m.Boot == BootPXELinux || m.Boot == BootGRUB) {
		k = loaderKind{boot: m.Boot, secure: m.SecureBoot}
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if old, ok := lp.kinds[string(mac)]; ok == (k.boot != "") && old == k {
		return nil
	}
	if k.boot == "" {
		delete(lp.kinds, string(mac))
	} else {
		lp.kinds[string(mac)] = k
	}
	var rules []dhcpboot.Rule
	for _, key := range slices.Sorted(maps.Keys(lp.kinds)) {
		rules = append(rules, lp.rules(net.HardwareAddr(key), lp.kinds[key])...)
	}
	p, err := dhcpboot.NewPolicy(append(rules, lp.base.Rules()...)...)
	if err != nil {
		return fmt.Errorf("pxekit: loader rules: %w", err)
	}
	lp.policy.Store(p)
	return nil
}

// rules are the DHCP rules of one machine. A BootPXELinux machine: its
// BIOS clients get PXELINUX, and they and its U-Boot clients option 209
// naming its own file (pxelinux.cfg/01-<mac>), which PXELINUX and
// U-Boot's pxe get read first (U-Boot reads only that one). A BootGRUB
// machine: its UEFI x86-64 PXE clients get GRUB, or shim with
// SecureBoot. The machine's other clients (UEFI HTTP boot, other
// architectures) fall through to the base policy.
func (lp *loaderPolicy) rules(mac net.HardwareAddr, k loaderKind) []dhcpboot.Rule {
	name := "pxekit machine " + mac.String() + ": " + string(k.boot)
	byMAC := []dhcpboot.MACPattern{dhcpboot.ExactMAC(mac)}
	file := func(f string) *dhcpboot.Template {
		t, _ := dhcpboot.ParseTemplate(f) // checked by newLoaderPolicy
		return t
	}
	if k.boot == BootPXELinux {
		opts := &dhcpboot.PXELinux{ConfigFile: bootcfg.PXELinuxDir + "/" + pxelinuxMACName(mac)}
		return []dhcpboot.Rule{
			{Name: name, Match: dhcpboot.Match{MAC: byMAC, Firmware: []archdetect.Firmware{archdetect.FirmwareBIOS}},
				Action: dhcpboot.Action{BootFile: file(lp.files.PXELinux), PXELinux: opts}},
			{Name: name + " (U-Boot)", Match: dhcpboot.Match{MAC: byMAC, Firmware: []archdetect.Firmware{archdetect.FirmwareUBoot}},
				Action: dhcpboot.Action{PXELinux: opts}},
		}
	}
	f := lp.files.GRUB
	if k.secure {
		f = lp.files.Shim
	}
	return []dhcpboot.Rule{{Name: name, Match: dhcpboot.Match{MAC: byMAC, Firmware: []archdetect.Firmware{archdetect.FirmwareUEFI},
		CPU: []archdetect.CPU{archdetect.CPUX8664}, Transport: []archdetect.Transport{archdetect.TransportPXE}},
		Action: dhcpboot.Action{BootFile: file(f)}}}
}

// pxelinuxMACName is the name PXELINUX tries for mac: "01-" and the MAC
// in lower-case hex with "-".
func pxelinuxMACName(mac net.HardwareAddr) string {
	return "01-" + strings.ReplaceAll(mac.String(), ":", "-")
}

// ClassifyDHCP4 is the DHCPv4 classifier of the Server's DHCP parts
// (archdetect.FromDHCPv4) that also asks the Inventory about the client,
// so that a BootPXELinux or BootGRUB machine's rule is in DHCPPolicy
// before the policy decides: the Classify hook of a program's own
// dhcpboot server whose PolicyFunc is DHCPPolicy. It also notes when m
// arrived, so that ObserveDHCP4, which such a server calls once its reply
// has gone, does not take a late report for a new boot.
func (s *Server) ClassifyDHCP4(m *dhcpv4.DHCPv4) archdetect.Client {
	c := archdetect.FromDHCPv4(m)
	s.ensure()
	s.arrivals.note(m)
	g := s.gen.Load()
	if g == nil || g.inv == nil || len(c.MAC) == 0 {
		return c
	}
	mach, found, err := g.inv.Machine(context.Background(), MachineKey{MAC: c.MAC, UUID: c.UUID})
	if err != nil {
		s.logger().Warn("pxekit: inventory", "mac", c.MAC.String(), "err", err)
		return c // keep what was learnt: the inventory did not answer
	}
	var mp *Machine
	if found {
		mp = &mach
	}
	if err := g.loaders.learn(c.MAC, mp); err != nil {
		s.logger().Warn("pxekit: loader rule", "mac", c.MAC.String(), "err", err)
	}
	return c
}

// loaderConfigPath reports whether p (a TFTP path) is one of the names
// the Server may answer with a generated PXELINUX or GRUB configuration.
func loaderConfigPath(p string) bool {
	return strings.HasPrefix(p, bootcfg.PXELinuxDir+"/") ||
		strings.HasPrefix(p, GRUBPrefix+"/") && strings.HasPrefix(path.Base(p), "grub.cfg")
}

// loaderMachine finds the machine whose generated configuration p (a
// path relative to the TFTP root or the base URL) may be: the one the
// session of the client's IP names, else (a client DHCP did not tie to
// its address) the one whose MAC a pxelinux.cfg/01-<mac> or
// grub.cfg-01-<mac> name holds. key is what it was looked up by; ok is
// false when p is no configuration name or the machine is unknown.
func (s *Server) loaderMachine(ctx context.Context, g *generation, ip netip.Addr, p string) (m Machine, key MachineKey, ok bool) {
	if g.inv == nil || !loaderConfigPath(p) {
		return Machine{}, key, false
	}
	if sess, found := s.sessions.ByIP(ip); found {
		key = MachineKey{MAC: sess.MAC, UUID: sess.UUID}
	} else if key.MAC = macInConfigName(path.Base(p)); key.MAC == nil {
		return Machine{}, key, false
	}
	m, found, err := g.inv.Machine(ctx, key)
	if err != nil {
		s.logger().Warn("pxekit: inventory", "mac", key.MAC.String(), "err", err)
		return Machine{}, key, false
	}
	return m, key, found
}

// grubConfigFor returns the grub.cfg of a BootGRUB machine m when p is
// one of the names its GRUB reads (bootcfg.GRUBConfigNames under
// GRUBPrefix, and grub/x86_64-efi/grub.cfg, which Debian's netboot GRUB
// sources when it exists); ok is false for another name or machine.
func grubConfigFor(m Machine, key MachineKey, ip netip.Addr, p string) (b []byte, ok bool, err error) {
	if m.Boot != BootGRUB {
		return nil, false, nil
	}
	names := append(bootcfg.GRUBConfigNames(GRUBPrefix, m.UUID, key.MAC, ip), GRUBPrefix+"/x86_64-efi/grub.cfg")
	if !slices.Contains(names, p) {
		return nil, false, nil
	}
	b, err = grubConfig(m)
	return b, true, err
}

// pxelinuxName reports whether name (under pxelinux.cfg/) is one the
// machine m owns as the client key sees it: 01-<the client's MAC> (which
// may not be m.MAC when the inventory knew it by UUID) or m's UUID.
func pxelinuxName(m Machine, key MachineKey, name string, nameMAC net.HardwareAddr, nameUUID string) bool {
	return m.Boot == BootPXELinux && (strings.HasPrefix(name, "01-") && len(nameMAC) > 0 && bytes.Equal(nameMAC, key.MAC) ||
		m.UUID != "" && nameUUID == m.UUID)
}

// serveLoaderConfig answers a TFTP request for the generated
// configuration of the client's machine (see loaderMachine), and reports
// whether it did: pxelinux.cfg/ names of a BootPXELinux machine through
// bootcfg.PXELinuxHandler (another machine's 01-<mac> name and names the
// machine does not own are refused), GRUB's names of a BootGRUB machine.
// Clients of other machines, and other names, are left to the TFTP root.
func (s *Server) serveLoaderConfig(g *generation, w tftpserve.ResponseWriter, r *tftpserve.Request) bool {
	ip := r.RemoteAddr.Addr().Unmap()
	m, key, ok := s.loaderMachine(context.Background(), g, ip, r.Path)
	if !ok {
		return false
	}
	if m.Boot == BootPXELinux && strings.HasPrefix(r.Path, bootcfg.PXELinuxDir+"/") {
		h := &bootcfg.PXELinuxHandler{
			Config: func(req bootcfg.PXELinuxRequest) (*bootcfg.PXELinux, error) {
				if pxelinuxName(m, key, req.Name, req.MAC, req.UUID) {
					return pxelinuxConfig(m)
				}
				return nil, nil
			},
			ClientMAC: func(netip.Addr) (net.HardwareAddr, bool) { return key.MAC, len(key.MAC) > 0 },
			Logger:    s.Logger,
		}
		h.ServeTFTP(w, r)
		return true
	}
	b, ok, err := grubConfigFor(m, key, ip, r.Path)
	switch {
	case !ok:
		return false
	case err != nil:
		s.logger().Warn("pxekit: grub.cfg", "file", r.Path, "machine", m.Name, "err", err)
		w.WriteError(tftpserve.ErrNotFound)
	default:
		_ = w.ServeContent(bytes.NewReader(b), int64(len(b)))
	}
	return true
}

// serveLoaderConfigHTTP is serveLoaderConfig for an HTTP request under
// the base URL's path (GRUB and U-Boot can read their configuration over
// HTTP too): it answers GET and HEAD for the client's machine's names,
// with the HTTPRequest (a file, kind HTTPFile) handed to the session
// table and OnEvent as the HTTP part's own, and reports whether it did.
func (s *Server) serveLoaderConfigHTTP(g *generation, w http.ResponseWriter, r *http.Request) bool {
	p, ok := strings.CutPrefix(r.URL.Path, g.http.prefix+"/")
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	m, key, ok := s.loaderMachine(r.Context(), g, ip, p)
	if !ok {
		return false
	}
	var b []byte
	if name, isPXE := strings.CutPrefix(p, bootcfg.PXELinuxDir+"/"); isPXE {
		uuid, _ := archdetect.ParseUUID(name)
		if !pxelinuxName(m, key, name, macInConfigName(name), uuid) {
			return false
		}
		f, err := pxelinuxConfig(m)
		if err == nil {
			b, err = f.Format()
		}
		if err != nil {
			s.logger().Warn("pxekit: pxelinux config", "file", p, "machine", m.Name, "err", err)
			return false
		}
	} else if b, ok, err = grubConfigFor(m, key, ip, p); !ok || err != nil {
		if err != nil {
			s.logger().Warn("pxekit: grub.cfg", "file", p, "machine", m.Name, "err", err)
		}
		return false
	}
	start := time.Now()
	pw := NewProgressWriter(w, g.http.stall)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	http.ServeContent(pw, r, "", time.Time{}, bytes.NewReader(b))
	s.observeHTTP(HTTPRequest{Method: r.Method, Path: r.URL.Path, Client: archdetect.FromHTTP(r), Kind: HTTPFile, File: p,
		Peer: ip, Status: pw.Status(), Bytes: pw.Bytes(), Err: pw.Err(),
		Duration: time.Since(start)})
	return true
}

// macInConfigName returns the MAC address of a "01-<mac>" or
// "grub.cfg-01-<mac>" file name, nil for another name.
func macInConfigName(name string) net.HardwareAddr {
	name = strings.TrimPrefix(name, "grub.cfg-")
	rest, ok := strings.CutPrefix(name, "01-")
	if !ok || len(rest) != 17 {
		return nil
	}
	mac, err := net.ParseMAC(strings.ReplaceAll(rest, "-", ":"))
	if err != nil {
		return nil
	}
	return mac
}

// pxelinuxConfig is the PXELINUX/extlinux file of a BootPXELinux
// machine: one label, "pxekit", booted at once, with the machine's kernel,
// initrd (at most one: U-Boot reads an initrd line as one name) and
// command line.
func pxelinuxConfig(m Machine) (*bootcfg.PXELinux, error) {
	if len(m.Initrds) > 1 {
		return nil, errors.New("pxekit: machine: boot pxelinux takes at most one initrd (U-Boot reads one name; concatenate the cpio archives)")
	}
	e := bootcfg.PXELinuxEntry{Name: "pxekit", Kernel: m.Kernel, Args: m.Cmdline}
	if len(m.Initrds) == 1 {
		e.Initrd = m.Initrds[0]
	}
	f, err := bootcfg.BuildPXELinux(bootcfg.PXELinuxSpec{Default: "pxekit", Entries: []bootcfg.PXELinuxEntry{e}})
	if err != nil {
		return nil, fmt.Errorf("pxekit: machine: pxelinux config: %w", err)
	}
	return f, nil
}

// grubConfig is the grub.cfg of a BootGRUB machine: one menu entry,
// "pxekit", booted at once, with the machine's kernel, initrds and
// command line. Kernel and initrds are paths on the TFTP root (GRUB's
// $root is the boot server): a relative path gets a leading "/"; URLs
// are refused (GRUB names HTTP files "(http,host)/path").
func grubConfig(m Machine) ([]byte, error) {
	grubPath := func(p string) (string, error) {
		if strings.Contains(p, "://") {
			return "", fmt.Errorf("pxekit: machine: boot grub: %q: give a path on the TFTP root, not a URL", p)
		}
		if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "(") {
			return p, nil
		}
		return "/" + p, nil
	}
	kernel, err := grubPath(m.Kernel)
	if err != nil {
		return nil, err
	}
	initrds := make([]string, len(m.Initrds))
	for i, p := range m.Initrds {
		if initrds[i], err = grubPath(p); err != nil {
			return nil, err
		}
	}
	var b bootcfg.GRUBBuilder
	b.SetTimeout(0)
	b.SetDefault("pxekit")
	b.Entry(bootcfg.GRUBEntry{Title: or(m.Name, "pxekit"), ID: "pxekit", Kernel: kernel, Args: m.Cmdline, Initrds: initrds})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("pxekit: machine: grub.cfg: %w", err)
	}
	return out, nil
}
