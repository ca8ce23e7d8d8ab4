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
// With pxeboot before server_id the client gets its address but no boot
// data, and coredhcp's log says why.
func TestCoreDHCPBinary(t *testing.T) {
	netlab.Require(t)
	gotool := netlab.RequireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "coredhcp")
	build := exec.Command(gotool, "build", "-o", bin, "./cmd/coredhcp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/coredhcp: %v\n%s", err, out)
	}
	const pxeboot = "- pxeboot: script_url=http://{{server}}/boot.ipxe?mac={{mac_hyphen}}"
	t.Run("after server_id", func(t *testing.T) {
		p := netlab.NewPair(t)
		startCoreDHCP(t, p, bin, "- server_id: "+p.ServerIP.String(), "- netmask: 255.255.255.0", "- lease_time: 3600s",
			"- range: "+filepath.Join(t.TempDir(), "leases.sqlite3")+" 10.99.0.100 10.99.0.110 3600s", pxeboot)
		c, hw := dhcpClient(t, p)
		script := "http://" + p.ServerIP.String() + "/boot.ipxe?mac=" + strings.ReplaceAll(hw.String(), ":", "-")
		exchange(t, c, p, "BIOS PXE ROM", "undionly.kpxe", biosPXE...)
		exchange(t, c, p, "iPXE", script, append(biosPXE, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))...)
	})
	t.Run("before server_id", func(t *testing.T) {
		p := netlab.NewPair(t)
		logs := startCoreDHCP(t, p, bin, pxeboot, "- server_id: "+p.ServerIP.String(), "- netmask: 255.255.255.0",
			"- lease_time: 3600s", "- range: "+filepath.Join(t.TempDir(), "leases.sqlite3")+" 10.99.0.100 10.99.0.110 3600s")
		c, _ := dhcpClient(t, p)
		exchange(t, c, p, "BIOS PXE ROM", "", biosPXE...)
		if !strings.Contains(logs.String(), "put the plugin after server_id") {
			t.Errorf("coredhcp's log has no warning naming server_id:\n%s", logs.String())
		}
	})
}

var biosPXE = []dhcpv4.Modifier{
	dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
	dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
}

// startCoreDHCP runs bin in p's server namespace with a config.yml serving
// DHCPv4 on the server interface with the plugins given (YAML list items),
// until the test ends. It returns coredhcp's log.
func startCoreDHCP(t *testing.T, p *netlab.Pair, bin string, plugins ...string) *syncbuf.Buffer {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "config.yml")
	yml := fmt.Sprintf("server4:\n  listen:\n    - \"%%%s\"\n  plugins:\n    %s\n", p.ServerIf, strings.Join(plugins, "\n    "))
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := new(syncbuf.Buffer)
	cmd := p.Server.Command(context.Background(), bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.Server.Track(cmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("config.yml:\n%s\ncoredhcp's log:\n%s", yml, logs.String())
		}
	})
	return logs
}

// dhcpClient is an nclient4 client on p's client interface, port 68.
func dhcpClient(t *testing.T, p *netlab.Pair) (*nclient4.Client, net.HardwareAddr) {
	t.Helper()
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
	t.Cleanup(func() { c.Close() })
	return c, hw
}

// exchange does DISCOVER, OFFER, REQUEST, ACK with mods and checks that
// both replies give an address of the range, next server and option 54 =
// the server, and wantFile as boot file.
func exchange(t *testing.T, c *nclient4.Client, p *netlab.Pair, name, wantFile string, mods ...dhcpv4.Modifier) {
	t.Helper()
	// A UDP socket cannot take a unicast to an address the client does not
	// have yet: ask for broadcast replies.
	mods = append(mods, dhcpv4.WithBroadcast(true))
	var (
		lease *nclient4.Lease
		err   error
	)
	// The server may still be starting: the first tries can go unanswered.
	for try := 0; try < 5 && lease == nil; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lease, err = c.Request(ctx, mods...)
		cancel()
	}
	if err != nil {
		t.Fatalf("%s: DHCP exchange with coredhcp: %v", name, err)
	}
	server := net.IP(p.ServerIP.AsSlice())
	for _, m := range []*dhcpv4.DHCPv4{lease.Offer, lease.ACK} {
		t.Logf("%s: %s yiaddr %v next server %v file %q", name, m.MessageType(), m.YourIPAddr, m.ServerIPAddr, m.BootFileNameOption())
		ip := m.YourIPAddr.To4()
		if ip == nil || ip[2] != 0 || ip[3] < 100 || ip[3] > 110 || !m.ServerIPAddr.Equal(server) ||
			m.BootFileNameOption() != wantFile || m.BootFileName != wantFile || !m.ServerIdentifier().Equal(server) {
			t.Errorf("%s: %s = %s\nwant an address in 10.99.0.100-110, next server and option 54 %v, boot file %q",
				name, m.MessageType(), m.Summary(), server, wantFile)
		}
	}
}
