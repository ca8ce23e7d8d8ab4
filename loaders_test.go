package pxekit_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/bootcfg"
)

// loaderCmdline is a command line with values PXELINUX and GRUB must
// carry literally.
var loaderCmdline = []string{"console=ttyS0", "pxekit_sp=a b $HOME; reboot", "pxekit_flag", "pxekit_url=http://h/x?a=1&b=$p#f"}

// coreReply runs a DISCOVER of mac through the Server's CoreDHCP4 with a
// reply giving the client 127.0.0.1 (so the session ties the loopback
// address to mac) and returns the reply.
func coreReply(t *testing.T, srv *pxekit.Server, mac string, arch iana.Arch, vendor string, ipxe bool) *dhcpv4.DHCPv4 {
	t.Helper()
	d := bootDiscover(t, mac, arch, vendor, ipxe)
	reply, err := dhcpv4.NewReplyFromRequest(d, dhcpv4.WithYourIP(net.IPv4(127, 0, 0, 1)))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := srv.CoreDHCP4(d, reply)
	if resp == nil {
		t.Fatalf("CoreDHCP4 dropped the reply to %s", mac)
	}
	return resp
}

// startTFTP serves the Server's TFTP part on a loopback socket.
func startTFTP(t *testing.T, srv *pxekit.Server) string {
	t.Helper()
	tc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := srv.TFTPServer()
	go ts.Serve(tc)
	t.Cleanup(func() { ts.Close() })
	return tc.LocalAddr().String()
}

// A BootPXELinux machine's BIOS client (a PXE ROM, or the iPXE ROM of
// SeaBIOS) is handed pxelinux.0 with option 209 naming its own file; its
// TFTP read of pxelinux.cfg/01-<mac> gets a file ParsePXELinux reads back
// with the machine's kernel, initrd and command line. Another machine's
// name, and the names it does not own, are refused; an unknown machine
// keeps the iPXE flow, and a U-Boot client of the machine gets option 209
// naming the machine's file.
func TestServerPXELinuxMachine(t *testing.T) {
	const macText = "52:54:00:17:00:01"
	mac, _ := net.ParseMAC(macText)
	inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "pxl", MAC: mac, Boot: pxekit.BootPXELinux,
		Kernel: "vmlinuz", Initrds: []string{"initrd.img"}, Cmdline: loaderCmdline})
	if err != nil {
		t.Fatal(err)
	}
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Files: "testdata/boot", Inventory: inv}
	defer srv.Close()

	if r := coreReply(t, srv, "52:54:00:17:00:02", iana.INTEL_X86PC, "PXEClient", false); r.BootFileName != "undionly.kpxe" {
		t.Errorf("unknown BIOS machine: boot file %q, want undionly.kpxe (the iPXE flow)", r.BootFileName)
	}
	for _, ipxe := range []bool{true, false} {
		r := coreReply(t, srv, macText, iana.INTEL_X86PC, "PXEClient", ipxe)
		if r.BootFileName != "pxelinux.0" {
			t.Errorf("pxelinux machine (iPXE %v): boot file %q, want pxelinux.0", ipxe, r.BootFileName)
		}
		if got := string(r.Options.Get(dhcpv4.GenericOptionCode(209))); got != "pxelinux.cfg/01-52-54-00-17-00-01" {
			t.Errorf("pxelinux machine (iPXE %v): option 209 %q, want pxelinux.cfg/01-52-54-00-17-00-01", ipxe, got)
		}
	}
	if r := coreReply(t, srv, macText, iana.Arch(22), "U-Boot.armv8", false); string(r.Options.Get(dhcpv4.GenericOptionCode(209))) != "pxelinux.cfg/01-52-54-00-17-00-01" {
		t.Errorf("U-Boot client of the pxelinux machine: option 209 %q, want its own file", r.Options.Get(dhcpv4.GenericOptionCode(209)))
	}
	if r := coreReply(t, srv, "52:54:00:17:00:03", iana.Arch(22), "U-Boot.armv8", false); string(r.Options.Get(dhcpv4.GenericOptionCode(209))) != "pxelinux.cfg/default" {
		t.Errorf("unknown U-Boot client: option 209 %q, want pxelinux.cfg/default (dhcpboot's default policy)", r.Options.Get(dhcpv4.GenericOptionCode(209)))
	}
	// The session of 127.0.0.1 is the pxelinux machine's again.
	coreReply(t, srv, macText, iana.INTEL_X86PC, "PXEClient", true)

	addr := startTFTP(t, srv)
	b, err := tftpGet(addr, "pxelinux.cfg/01-52-54-00-17-00-01")
	if err != nil {
		t.Fatalf("TFTP pxelinux.cfg/01-<mac>: %v", err)
	}
	f, err := bootcfg.ParsePXELinux(b)
	if err != nil {
		t.Fatalf("ParsePXELinux of the served file: %v\n%s", err, b)
	}
	spec, err := f.Spec()
	if err != nil {
		t.Fatalf("Spec of the served file: %v\n%s", err, b)
	}
	if len(spec.Entries) != 1 || spec.Default != spec.Entries[0].Name {
		t.Fatalf("served file has entries %+v, default %q: want one, the default\n%s", spec.Entries, spec.Default, b)
	}
	e := spec.Entries[0]
	if e.Kernel != "vmlinuz" || e.Initrd != "initrd.img" || !reflect.DeepEqual(e.Args, loaderCmdline) {
		t.Errorf("served entry: kernel %q initrd %q args %q; want vmlinuz, initrd.img, %q\n%s", e.Kernel, e.Initrd, e.Args, loaderCmdline, b)
	}
	for _, name := range []string{"pxelinux.cfg/01-52-54-00-17-00-02", "pxelinux.cfg/default", "pxelinux.cfg/7F000001"} {
		if b, err := tftpGet(addr, name); err == nil {
			t.Errorf("TFTP %s from the pxelinux machine's address: got %q, want file not found", name, b)
		}
	}
	// Files other than the configuration come from the TFTP root. The
	// server reports the configuration's transfer on its last ACK, which
	// can come after a quick client's next request: wait for that report
	// first, as the slower real loaders give it time to arrive (the order
	// of reports is noted in the closing note as a known limit).
	waitFor(func() bool { s, _ := srv.Sessions().ByMAC(mac); return s.Stage == pxekit.StageScript })
	if b, err := tftpGet(addr, "vmlinuz"); err != nil || len(b) == 0 {
		t.Errorf("TFTP vmlinuz: %v", err)
	}
	// The configuration is this flow's script, so vmlinuz is its kernel.
	waitFor(func() bool { s, _ := srv.Sessions().ByMAC(mac); return s.Stage == pxekit.StageKernel })
	if s, _ := srv.Sessions().ByMAC(mac); s.Stage != pxekit.StageKernel {
		t.Errorf("session stage after the configuration and the kernel were served: %v, want kernel", s.Stage)
	}
}

// A BootGRUB machine's UEFI x86-64 PXE client is handed shimx64.efi with
// SecureBoot, grubx64.efi without (names from Server.Loaders when set);
// its TFTP read of grub/grub.cfg (what Debian's signed grubnetx64 reads)
// and of grub/grub.cfg-01-<mac> gets a grub.cfg booting the machine's
// kernel with its command line quoted by GRUB's rules. Another machine's
// client at another address gets the TFTP root's grub/grub.cfg (none
// here).
func TestServerGRUBMachine(t *testing.T) {
	const sbText, plainText = "52:54:00:17:00:11", "52:54:00:17:00:12"
	sb, _ := net.ParseMAC(sbText)
	plain, _ := net.ParseMAC(plainText)
	inv, err := pxekit.NewMapInventory(
		pxekit.Machine{Name: "sb 'one'", MAC: sb, Boot: pxekit.BootGRUB, SecureBoot: true, Kernel: "vmlinuz", Initrds: []string{"initrd.img"}, Cmdline: loaderCmdline},
		pxekit.Machine{Name: "plain", MAC: plain, Boot: pxekit.BootGRUB, Kernel: "/boot/vmlinuz"},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		loaders         pxekit.LoaderFiles
		wantSB, wantRaw string
	}{
		{pxekit.LoaderFiles{}, "shimx64.efi", "grubx64.efi"},
		{pxekit.LoaderFiles{Shim: "sb/shimx64.efi", GRUB: "efi/grubnetx64.efi"}, "sb/shimx64.efi", "efi/grubnetx64.efi"},
	} {
		srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Files: "testdata/boot",
			Inventory: inv, Loaders: tc.loaders}
		defer srv.Close()
		if r := coreReply(t, srv, "52:54:00:17:00:13", iana.EFI_X86_64, "PXEClient", false); r.BootFileName != "ipxe.efi" {
			t.Errorf("unknown UEFI machine: boot file %q, want ipxe.efi (the iPXE flow)", r.BootFileName)
		}
		if r := coreReply(t, srv, plainText, iana.EFI_X86_64, "PXEClient", false); r.BootFileName != tc.wantRaw {
			t.Errorf("grub machine: boot file %q, want %s", r.BootFileName, tc.wantRaw)
		}
		if r := coreReply(t, srv, sbText, iana.EFI_X86_64, "PXEClient", false); r.BootFileName != tc.wantSB {
			t.Errorf("grub machine with Secure Boot: boot file %q, want %s", r.BootFileName, tc.wantSB)
		}
	}
	bad := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Loaders: pxekit.LoaderFiles{Shim: "{{nope}}"}}
	if err := bad.Serve(pxekit.Listeners{}); err == nil || !strings.Contains(err.Error(), "Server.Loaders") {
		t.Errorf("Serve with a Loaders name that is no template: %v, want an error naming Server.Loaders", err)
	}
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Files: "testdata/boot", Inventory: inv}
	defer srv.Close()
	coreReply(t, srv, sbText, iana.EFI_X86_64, "PXEClient", false)
	addr := startTFTP(t, srv)
	args, err := bootcfg.GRUBKernelArgs(loaderCmdline)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if args[i], err = bootcfg.GRUBQuote(a); err != nil {
			t.Fatal(err)
		}
	}
	wantLinux := "\tlinux '/vmlinuz' " + strings.Join(args, " ") + "\n\tinitrd '/initrd.img'\n"
	for _, name := range []string{"grub/grub.cfg", "grub/x86_64-efi/grub.cfg", "grub/grub.cfg-01-52-54-00-17-00-11", "grub/grub.cfg-7F000001"} {
		b, err := tftpGet(addr, name)
		if err != nil {
			t.Fatalf("TFTP %s: %v", name, err)
		}
		if !strings.Contains(string(b), wantLinux) || !strings.Contains(string(b), "set default='pxekit'") ||
			!strings.Contains(string(b), `menuentry 'sb '\''one'\''' --id 'pxekit'`) {
			t.Errorf("TFTP %s:\n%s\nwant a default entry with\n%s", name, b, wantLinux)
		}
	}
	for _, name := range []string{"grub/grub.cfg-01-52-54-00-17-00-12", "pxelinux.cfg/01-52-54-00-17-00-11"} {
		if b, err := tftpGet(addr, name); err == nil {
			t.Errorf("TFTP %s from the Secure Boot machine's address: got %q, want file not found", name, b)
		}
	}
}

// switchInventory is an Inventory whose one machine changes.
type switchInventory struct {
	mu sync.Mutex
	m  pxekit.Machine
}

func (i *switchInventory) set(m pxekit.Machine) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.m = m
}

func (i *switchInventory) Machine(_ context.Context, key pxekit.MachineKey) (pxekit.Machine, bool, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.m, bytes.Equal(key.MAC, i.m.MAC), nil
}

// A machine whose Boot changes in the inventory gets its new loader at
// its next DHCP request, and the iPXE flow again once it is BootIPXE.
func TestServerLoaderRuleFollowsInventory(t *testing.T) {
	const macText = "52:54:00:17:00:21"
	mac, _ := net.ParseMAC(macText)
	inv := &switchInventory{}
	inv.set(pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, Kernel: "vmlinuz"})
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Inventory: inv}
	defer srv.Close()
	for _, step := range []struct {
		m    pxekit.Machine
		want string
	}{
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, Kernel: "vmlinuz"}, "grubx64.efi"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, SecureBoot: true, Kernel: "vmlinuz"}, "shimx64.efi"},
		{pxekit.Machine{MAC: mac, Kernel: "vmlinuz"}, "ipxe.efi"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, Kernel: "vmlinuz"}, "grubx64.efi"},
	} {
		inv.set(step.m)
		if r := coreReply(t, srv, macText, iana.EFI_X86_64, "PXEClient", false); r.BootFileName != step.want {
			t.Errorf("machine %+v: boot file %q, want %s", step.m, r.BootFileName, step.want)
		}
	}
	if rules := srv.DHCPPolicy().Rules(); !strings.Contains(rules[0].Name, macText) {
		t.Errorf("DHCPPolicy's first rule %q, want the machine's loader rule", rules[0].Name)
	}
}

// Machine.Validate and the YAML form know the two loader kinds and
// secure_boot, and refuse what their files cannot carry.
func TestMachineLoaderKinds(t *testing.T) {
	m, err := pxekit.ParseMachineYAML([]byte("mac: 52:54:00:17:00:31\nboot: grub\nsecure_boot: true\nkernel: vmlinuz\ncmdline: [console=ttyS0]\n"))
	if err != nil || m.Boot != pxekit.BootGRUB || !m.SecureBoot {
		t.Fatalf("ParseMachineYAML of a grub machine: %+v, %v", m, err)
	}
	if m, err := pxekit.ParseMachineYAML([]byte("mac: 52:54:00:17:00:31\nboot: pxelinux\nkernel: vmlinuz\n")); err != nil || m.Boot != pxekit.BootPXELinux {
		t.Fatalf("ParseMachineYAML of a pxelinux machine: %+v, %v", m, err)
	}
	mac, _ := net.ParseMAC("52:54:00:17:00:31")
	for _, tc := range []struct {
		m    pxekit.Machine
		want string
	}{
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootPXELinux}, "needs a kernel"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, Script: "#!ipxe\nexit\n"}, "needs a kernel"},
		{pxekit.Machine{MAC: mac, SecureBoot: true, Kernel: "vmlinuz"}, "secure_boot"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootPXELinux, SecureBoot: true, Kernel: "vmlinuz"}, "secure_boot"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootPXELinux, Kernel: "vmlinuz", Initrds: []string{"a", "b"}}, "at most one initrd"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, Kernel: "http://10.0.0.1/vmlinuz"}, "not a URL"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootPXELinux, Kernel: "vm linuz"}, "pxelinux"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootPXELinux, Kernel: "vmlinuz", Cmdline: []string{"x=it's"}}, "single quote"},
		{pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, Kernel: "vmlinuz", Cmdline: []string{"x=it's"}}, "GRUB"},
		{pxekit.Machine{MAC: mac, Boot: "syslinux", Kernel: "vmlinuz"}, "want"},
	} {
		err := tc.m.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error about %q", tc.m, err, tc.want)
		}
	}
	if _, err := pxekit.ParseMachineYAML([]byte("mac: 52:54:00:17:00:31\nsecure_boot: true\nkernel: vmlinuz\n")); err == nil {
		t.Error("ParseMachineYAML took secure_boot on an iPXE machine")
	}
}

// A BootPXELinux machine the inventory knows by its SMBIOS UUID only (a
// swapped NIC) gets PXELINUX for the MAC it boots from, and its config
// under that MAC's name and under its UUID's.
func TestServerPXELinuxMachineByUUID(t *testing.T) {
	d := bootDiscover(t, "52:54:00:17:00:41", iana.INTEL_X86PC, "PXEClient", false)
	d.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier,
		[]byte{0, 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}))
	uuid := archdetect.FromDHCPv4(d).UUID
	if uuid == "" {
		t.Fatal("archdetect read no UUID from option 97")
	}
	inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "by-uuid", UUID: uuid, Boot: pxekit.BootPXELinux, Kernel: "vmlinuz", Cmdline: loaderCmdline})
	if err != nil {
		t.Fatal(err)
	}
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Files: "testdata/boot", Inventory: inv}
	defer srv.Close()
	reply, err := dhcpv4.NewReplyFromRequest(d, dhcpv4.WithYourIP(net.IPv4(127, 0, 0, 1)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := srv.CoreDHCP4(d, reply)
	if r == nil || r.BootFileName != "pxelinux.0" || string(r.Options.Get(dhcpv4.GenericOptionCode(209))) != "pxelinux.cfg/01-52-54-00-17-00-41" {
		t.Fatalf("reply to the machine known by UUID: %v", r)
	}
	addr := startTFTP(t, srv)
	for _, name := range []string{"pxelinux.cfg/01-52-54-00-17-00-41", "pxelinux.cfg/" + uuid} {
		b, err := tftpGet(addr, name)
		if err != nil {
			t.Fatalf("TFTP %s: %v", name, err)
		}
		if f, err := bootcfg.ParsePXELinux(b); err != nil || f.Label("pxekit") == nil {
			t.Errorf("TFTP %s: %q (%v), want the machine's file", name, b, err)
		}
	}
}

// getFrom runs GET path on h from the client at remote ("ip:port") and
// returns the status and body.
func getFrom(h http.Handler, remote, path string) (int, string) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = remote
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// The HTTP part answers the same configuration names as TFTP, under the
// base URL's path, for the client's machine; the request is an HTTP event
// of the machine's session and its script stage.
func TestServerLoaderConfigHTTP(t *testing.T) {
	pm, _ := net.ParseMAC("52:54:00:17:00:51")
	gm, _ := net.ParseMAC("52:54:00:17:00:52")
	inv, err := pxekit.NewMapInventory(
		pxekit.Machine{Name: "pxl", MAC: pm, Boot: pxekit.BootPXELinux, Kernel: "vmlinuz", Cmdline: loaderCmdline},
		pxekit.Machine{Name: "grub", MAC: gm, Boot: pxekit.BootGRUB, Kernel: "vmlinuz", Cmdline: loaderCmdline})
	if err != nil {
		t.Fatal(err)
	}
	var events eventLog
	srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080/pxe", Files: "testdata/boot",
		Inventory: inv, OnEvent: events.add}
	defer srv.Close()
	h := srv.HTTPHandler()

	coreReply(t, srv, gm.String(), iana.EFI_X86_64, "PXEClient", false)
	if code, body := getFrom(h, "127.0.0.1:5000", "/pxe/grub/grub.cfg"); code != http.StatusOK || !strings.Contains(body, "linux '/vmlinuz' 'console=ttyS0'") {
		t.Errorf("GET grub/grub.cfg from the grub machine: %d %q", code, body)
	}
	if code, _ := getFrom(h, "127.0.0.9:5000", "/pxe/grub/grub.cfg"); code != http.StatusNotFound {
		t.Errorf("GET grub/grub.cfg from an address no session knows: %d, want 404 (no such file in Files)", code)
	}
	if code, body := getFrom(h, "127.0.0.9:5000", "/pxe/grub/grub.cfg-01-52-54-00-17-00-52"); code != http.StatusOK || !strings.Contains(body, "--id 'pxekit'") {
		t.Errorf("GET grub.cfg-01-<mac> from an address no session knows: %d %q", code, body)
	}
	if s, _ := srv.Sessions().ByMAC(gm); s.Stage != pxekit.StageScript {
		t.Errorf("grub machine's stage after its grub.cfg over HTTP: %v, want script", s.Stage)
	}

	coreReply(t, srv, pm.String(), iana.INTEL_X86PC, "PXEClient", false)
	code, body := getFrom(h, "127.0.0.1:5000", "/pxe/pxelinux.cfg/01-52-54-00-17-00-51")
	if code != http.StatusOK {
		t.Fatalf("GET pxelinux.cfg/01-<mac>: %d %q", code, body)
	}
	if f, err := bootcfg.ParsePXELinux([]byte(body)); err != nil || f.Label("pxekit") == nil {
		t.Errorf("GET pxelinux.cfg/01-<mac>: %q (%v)", body, err)
	}
	for _, p := range []string{"/pxe/pxelinux.cfg/01-52-54-00-17-00-52", "/pxe/grub/grub.cfg"} {
		if code, body := getFrom(h, "127.0.0.1:5000", p); code != http.StatusNotFound {
			t.Errorf("GET %s from the pxelinux machine: %d %q, want 404", p, code, body)
		}
	}
	var paths []string
	for _, e := range events.events {
		if he, ok := e.(pxekit.HTTPEvent); ok && bytes.Equal(he.MAC, pm) {
			paths = append(paths, he.Path)
		}
	}
	if len(paths) == 0 || paths[0] != "/pxe/pxelinux.cfg/01-52-54-00-17-00-51" {
		t.Errorf("HTTP events of the pxelinux machine: %q, want its configuration first", paths)
	}
}

// A pxelinux or grub machine's client that reaches the iPXE flow anyway
// (a client the loader rule does not match: UEFI HTTP boot, another
// architecture) boots the same kernel, initrds and command line from its
// iPXE script.
func TestServerLoaderMachineIPXEScript(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:17:00:61")
	for _, boot := range []pxekit.BootKind{pxekit.BootPXELinux, pxekit.BootGRUB} {
		inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "m", MAC: mac, Boot: boot, Kernel: "vmlinuz", Initrds: []string{"initrd.img"}, Cmdline: []string{"console=ttyS0"}})
		if err != nil {
			t.Fatal(err)
		}
		srv := &pxekit.Server{Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Inventory: inv}
		defer srv.Close()
		script, err := fetchHTTP(srv.HTTPHandler(), "/machine/52-54-00-17-00-61")
		if err != nil || !strings.Contains(script, "kernel http://127.0.0.1:8080/vmlinuz console=ttyS0") || !strings.Contains(script, "initrd http://127.0.0.1:8080/initrd.img") {
			t.Errorf("boot %s: iPXE script %q (%v), want the machine's kernel and initrd", boot, script, err)
		}
	}
}

// The Server's own proxyDHCP (its port-4011 socket on loopback) names
// shim for a BootGRUB machine with SecureBoot, as the lab server does in
// TestServerSecureBootGRUBBoot; an unknown machine keeps ipxe.efi.
func TestServerProxyLoaderRule(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:17:00:71")
	inv, err := pxekit.NewMapInventory(pxekit.Machine{MAC: mac, Boot: pxekit.BootGRUB, SecureBoot: true, Kernel: "vmlinuz"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080", Inventory: inv}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pxekit.Listeners{DHCP4011: pc}) }()
	defer func() {
		srv.Close()
		<-done
	}()
	if r := exchange(t, pc.LocalAddr(), proxyRequest(t, "52:54:00:17:00:72", iana.EFI_X86_64, false)); r.BootFileName != "ipxe.efi" {
		t.Errorf("unknown machine: proxy ACK boot file %q, want ipxe.efi", r.BootFileName)
	}
	if r := exchange(t, pc.LocalAddr(), proxyRequest(t, mac.String(), iana.EFI_X86_64, false)); r.BootFileName != "shimx64.efi" {
		t.Errorf("grub machine with Secure Boot: proxy ACK boot file %q, want shimx64.efi", r.BootFileName)
	}
}
