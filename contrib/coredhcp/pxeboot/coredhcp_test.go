package pxeboot_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/syncbuf"
)

// The coredhcp binary of cmd/coredhcp (coredhcp-generator's main.go with
// the core plugins and pxeboot) serves a network namespace with the chain
// of README.md: server_id, netmask, range, pxeboot. nclient4 does DISCOVER,
// OFFER, REQUEST, ACK as a PXE ROM and then as iPXE; the replies carry an
// address from the range and the boot data pxekit's default policy decides.
func TestCoreDHCPBinary(t *testing.T) {
	netlab.Require(t)
	gotool := netlab.RequireTool(t, "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredhcp")
	build := exec.Command(gotool, "build", "-o", bin, "./cmd/coredhcp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/coredhcp: %v\n%s", err, out)
	}

	p := netlab.NewPair(t)
	conf := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf(`server4:
  listen:
    - "%%%s"
  plugins:
    - server_id: %s
    - netmask: 255.255.255.0
    - lease_time: 3600s
    - range: %s 10.99.0.100 10.99.0.110 3600s
    - pxeboot: script_url=http://{{server}}/boot.ipxe?mac={{mac_hyphen}}
`, p.ServerIf, p.ServerIP, filepath.Join(dir, "leases.sqlite3"))
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	cmd := p.Server.Command(context.Background(), bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.Server.Track(cmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("coredhcp's log:\n%s", logs.String())
		}
	})

	var (
		conn net.PacketConn
		hw   net.HardwareAddr
	)
	if err := p.Client.Do(func() (err error) {
		ifi, err := net.InterfaceByName(p.ClientIf)
		if err != nil {
			return err
		}
		hw = ifi.HardwareAddr
		conn, err = dhcpboot.ListenUDP4(p.ClientIf, dhcpv4.ClientPort)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c, err := nclient4.NewWithConn(conn, hw, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	server := net.IP(p.ServerIP.AsSlice())
	for _, tc := range []struct {
		name     string
		mods     []dhcpv4.Modifier
		wantFile string
	}{
		{"BIOS PXE ROM", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))}, "undionly.kpxe"},
		{"iPXE", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
			dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))},
			"http://" + p.ServerIP.String() + "/boot.ipxe?mac=" + strings.ReplaceAll(hw.String(), ":", "-")},
	} {
		// The server may still be starting: the first tries can go unanswered.
		var lease *nclient4.Lease
		for try := 0; try < 5 && lease == nil; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// A UDP socket cannot take a unicast to an address the client
			// does not have yet: ask for broadcast replies.
			lease, err = c.Request(ctx, append(tc.mods, dhcpv4.WithBroadcast(true))...)
			cancel()
		}
		if err != nil {
			t.Fatalf("%s: DHCP exchange with coredhcp: %v", tc.name, err)
		}
		for _, m := range []*dhcpv4.DHCPv4{lease.Offer, lease.ACK} {
			t.Logf("%s: %s yiaddr %v next server %v file %q", tc.name, m.MessageType(), m.YourIPAddr, m.ServerIPAddr, m.BootFileNameOption())
			ip := m.YourIPAddr.To4()
			if ip == nil || ip[2] != 0 || ip[3] < 100 || ip[3] > 110 || !m.ServerIPAddr.Equal(server) ||
				m.BootFileNameOption() != tc.wantFile || m.BootFileName != tc.wantFile || !m.ServerIdentifier().Equal(server) {
				t.Errorf("%s: %s = %s\nwant an address in 10.99.0.100-110, next server and option 54 %v, boot file %q",
					tc.name, m.MessageType(), m.Summary(), server, tc.wantFile)
			}
		}
	}
}
