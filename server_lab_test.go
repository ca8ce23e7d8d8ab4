package pxekit_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/netlab"
)

// One machine's whole boot through a lab-mode Server in a network
// namespace: its DHCP (nclient4, as UEFI PXE firmware, then as iPXE) gets
// a lease, and its TFTP and HTTP fetches (curl, from the leased address)
// land in the same session, every stage in order, each StageEvent naming
// the protocol that moved it.
func TestServerLabBootInNamespace(t *testing.T) {
	netlab.Require(t)
	netlab.RequireTool(t, "curl")
	netlab.RequireTool(t, "busybox")
	p := netlab.NewPair(t)
	var events eventLog
	cliHW := p.Client.InterfaceMAC(t, p.ClientIf)
	inv, err := pxekit.NewMapInventory(pxekit.Machine{Name: "lab01", MAC: cliHW, Kernel: "vmlinuz", Cmdline: []string{"console=ttyS0"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &pxekit.Server{DHCP: pxekit.DHCPLab, Interface: p.ServerIf, Addr: p.ServerIP,
		Lab: pxekit.LabDHCP{Subnets: []dhcpboot.Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"),
			RangeStart: netip.MustParseAddr("10.99.0.100"), RangeEnd: netip.MustParseAddr("10.99.0.110")}},
			LeaseFile: filepath.Join(t.TempDir(), "leases")},
		Files: "testdata/boot", Inventory: inv, OnEvent: events.add,
		// One TFTP socket: the test process opens sockets in the root
		// namespace, where a per-transfer socket on 10.99.0.1 cannot be;
		// busybox's lock-step fetch runs in its batched loop.
		TFTP: pxekit.TFTPLimits{SinglePort: true, BatchedLockstep: true}}
	serveIn(t, p.Server, p.ServerIf, p.ServerIP, srv)

	c := p.Client.DHCPClient(t, p.ClientIf, cliHW, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	firmware := []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010"))}
	lease, err := c.Request(ctx, firmware...)
	if err != nil {
		t.Fatal(err)
	}
	ip := lease.ACK.YourIPAddr.String()
	if lease.ACK.BootFileName != "ipxe.efi" || !strings.HasPrefix(ip, "10.99.0.1") {
		t.Fatalf("firmware lease: ip %s, boot file %q; want one from the range and ipxe.efi", ip, lease.ACK.BootFileName)
	}
	// The machine takes its lease: from now on its requests come from ip.
	p.Client.Run(t, "ip", "addr", "flush", "dev", p.ClientIf)
	p.Client.Run(t, "ip", "addr", "add", ip+"/24", "dev", p.ClientIf)
	curl := func(url string) string {
		return p.Client.Run(t, "curl", "-sS", "--fail", "--max-time", "10", url)
	}
	got := p.Client.Run(t, netlab.RequireTool(t, "busybox"), "tftp", "-g", "-r", "ipxe.efi", "-l", "-", "10.99.0.1")
	if !strings.HasPrefix(got, "not a real ipxe.efi") {
		t.Fatalf("TFTP ipxe.efi: %q", got)
	}
	waitFor(func() bool { s, _ := srv.Sessions().ByMAC(cliHW); return s.Stage == pxekit.StageBootFile })

	lease, err = c.Request(ctx, append(firmware, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))...)
	if err != nil {
		t.Fatal(err)
	}
	if got := lease.ACK.YourIPAddr.String(); got != ip || !strings.HasPrefix(lease.ACK.BootFileName, "http://10.99.0.1/boot.ipxe?mac=") {
		t.Fatalf("iPXE lease: ip %s (firmware had %s), boot file %q", got, ip, lease.ACK.BootFileName)
	}
	if got := curl("http://10.99.0.1/boot.ipxe"); !strings.HasPrefix(got, "#!ipxe") {
		t.Fatalf("boot script: %q", got)
	}
	script := curl("http://10.99.0.1/machine/" + strings.ReplaceAll(cliHW.String(), ":", "-"))
	if !strings.Contains(script, "kernel http://10.99.0.1/vmlinuz console=ttyS0") {
		t.Fatalf("machine script:\n%s", script)
	}
	curl("http://10.99.0.1/vmlinuz")

	s, ok := srv.Sessions().ByMAC(cliHW)
	if !ok || s.IP.String() != ip || s.Stage != pxekit.StageKernel || !s.Known || s.Boots != 1 || s.LastFile != "/vmlinuz" {
		t.Errorf("session = %+v (found %v), want IP %s, stage kernel, known, one boot", s, ok, ip)
	}
	want := "dhcp:unknown→dhcp tftp:dhcp→bootfile dhcp:bootfile→ipxe http:ipxe→script http:script→kernel"
	if got := strings.Join(events.stages(cliHW), " "); got != want {
		t.Errorf("stage events:\n got %s\nwant %s", got, want)
	}
}
