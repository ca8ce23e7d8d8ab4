package bootcfg

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/qemulab"
	"github.com/pxekit/pxekit/tftpserve"
)

// bootLab is a qemulab namespace with pxekit's own servers in it: a
// dhcpboot.LabServer4 on the bridge and a tftpserve.Server on port 69,
// recording what they did.
type bootLab struct {
	*qemulab.Lab
	dhcp *dhcpboot.LabServer4

	mu        sync.Mutex
	transfers []tftpserve.TransferInfo
	exchanges []dhcpboot.Exchange4
}

// startBootLab serves DHCP (boot file bootFile for every client) and TFTP
// (handler h) in lab's namespace until the test ends.
func startBootLab(t *testing.T, lab *qemulab.Lab, bootFile string, h tftpserve.Handler) *bootLab {
	t.Helper()
	bl := &bootLab{Lab: lab}
	tmpl, err := dhcpboot.ParseTemplate(bootFile)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := dhcpboot.NewPolicy(dhcpboot.Rule{Name: "pxelinux", Action: dhcpboot.Action{BootFile: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	bl.dhcp = &dhcpboot.LabServer4{
		Policy:    policy,
		Interface: lab.Bridge,
		ServerIP:  lab.ServerIP,
		Subnets: []dhcpboot.Subnet{{
			Prefix:     lab.Prefix,
			RangeStart: netip.MustParseAddr("10.77.0.100"),
			RangeEnd:   netip.MustParseAddr("10.77.0.199"),
		}},
		OnReply: func(x dhcpboot.Exchange4) {
			bl.mu.Lock()
			bl.exchanges = append(bl.exchanges, x)
			bl.mu.Unlock()
		},
	}
	var dconn net.PacketConn
	if err := lab.NS.Do(func() (err error) {
		dconn, err = dhcpboot.ListenUDP4(lab.Bridge, 67)
		return err
	}); err != nil {
		t.Fatalf("DHCP socket in the namespace: %v", err)
	}
	go bl.dhcp.Serve(dconn)
	tconn, err := lab.NS.ListenPacket("udp4", lab.ServerIP.String()+":69")
	if err != nil {
		t.Fatalf("TFTP socket in the namespace: %v", err)
	}
	tsrv := &tftpserve.Server{Handler: h, ListenPacket: lab.NS.ListenPacket, OnTransfer: func(ti tftpserve.TransferInfo) {
		bl.mu.Lock()
		bl.transfers = append(bl.transfers, ti)
		bl.mu.Unlock()
	}}
	go tsrv.Serve(tconn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tsrv.Shutdown(ctx)
		_ = bl.dhcp.Shutdown(ctx)
		if t.Failed() {
			t.Logf("TFTP transfers:\n%s", strings.Join(bl.transferLog(), "\n"))
		}
	})
	return bl
}

// transferLog returns one line per finished TFTP transfer.
func (bl *bootLab) transferLog() []string {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	var out []string
	for _, ti := range bl.transfers {
		out = append(out, fmt.Sprintf("  %s %q %s bytes=%d err=%v", ti.Client.Addr(), ti.Filename, ti.Outcome, ti.Bytes, ti.Err))
	}
	return out
}

// fetched returns the paths of the transfers so far with their outcome:
// "path" for a complete one, "path (refused)" for a refusal, in order.
func (bl *bootLab) fetched() []string {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	var out []string
	for _, ti := range bl.transfers {
		switch ti.Outcome {
		case tftpserve.OutcomeOK:
			out = append(out, ti.Path)
		case tftpserve.OutcomeRefused:
			out = append(out, ti.Path+" (refused)")
		}
	}
	return out
}

// waitFetched waits until path has been transferred completely.
func (bl *bootLab) waitFetched(ctx context.Context, path string) error {
	for {
		if slices.Contains(bl.fetched(), path) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not fetched: %w; transfers:\n%s", path, ctx.Err(), strings.Join(bl.transferLog(), "\n"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lease returns the address and the client UUID (option 97 as sent) of
// the DHCP ACK sent to mac.
func (bl *bootLab) lease(mac net.HardwareAddr) (netip.Addr, []byte) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	for _, x := range slices.Backward(bl.exchanges) {
		if x.Reply == nil || !bytes.Equal(x.Request.ClientHWAddr, mac) || x.Reply.MessageType().String() != "ACK" {
			continue
		}
		ip, _ := netip.AddrFromSlice(x.Reply.YourIPAddr.To4())
		var uuid []byte
		if x.Boot != nil {
			uuid = x.Boot.Client.UUIDRaw
		}
		return ip, uuid
	}
	return netip.Addr{}, nil
}

// busyboxInitramfs is qemulab.BusyboxInitramfs, ending the test on error.
func busyboxInitramfs(t *testing.T, busybox, script string) []byte {
	t.Helper()
	b, err := qemulab.BusyboxInitramfs(busybox, script)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openDir serves root until the test ends.
func openDir(t *testing.T, root string) *tftpserve.Dir {
	t.Helper()
	dir, err := tftpserve.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

// mustBuild builds spec or ends the test.
func mustBuild(t *testing.T, spec PXELinuxSpec) *PXELinux {
	t.Helper()
	f, err := BuildPXELinux(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
