package main

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// dhcp6Reply matches pxeserver's log line of a DHCPv6 answer (reply
// "ADVERTISE" or "REPLY") to the machine: client architecture, iPXE or
// not, and a boot URL containing bootfile.
func dhcp6Reply(reply string, arch int, ipxe bool, bootfile string) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		return l.str("kind") == "dhcp" && l.num("version") == 6 && l.str("mac") == st.mac && l.str("reply") == reply &&
			int(l.num("client.arch")) == arch && l.flag("client.ipxe") == ipxe && strings.Contains(l.str("boot_file"), bootfile)
	}
}

// fromIPv6 wraps an HTTP milestone: the request came over IPv6.
func fromIPv6(m func(*bootState, logLine) bool) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		a, err := netip.ParseAddr(l.str("peer"))
		return err == nil && a.Is6() && !a.Is4In6() && m(st, l)
	}
}

// waitMilestones waits (until ctx ends) for the machine's console marker
// and every milestone in the server's log from line start on, logging
// each milestone as it is reached, and returns the console line.
func waitMilestones(ctx context.Context, t *testing.T, srv *serverProc, m *qemulab.Machine, start int, st *bootState, ms []milestone) string {
	t.Helper()
	type consoleResult struct {
		line string
		err  error
	}
	cons := make(chan consoleResult, 3)
	go func() {
		l, err := m.WaitConsole(ctx, pxekit.BootedMarker+" "+m.MAC.String())
		cons <- consoleResult{l, err}
	}()
	for _, fatal := range []string{
		"UEFI Interactive Shell",  // OVMF tried every boot option
		"No more network devices", // iPXE found nothing to boot
	} {
		go func() {
			// No need to wait for the deadline once the boot has failed.
			if l, err := m.WaitConsole(ctx, fatal); err == nil {
				cons <- consoleResult{err: fmt.Errorf("the boot failed: %q on the console", l)}
			}
		}()
	}
	var console *consoleResult
	logged := 0
	for {
		st.ips = map[string]bool{}
		lines := srv.snapshot()[start:]
		reached, at := check(st, lines, ms)
		for ; logged < reached; logged++ {
			t.Logf("  [ok] %-62s (%s) at %s", ms[logged].name, summary(lines[at[logged]]), time.Since(m.Started).Round(100*time.Millisecond))
		}
		if reached == len(ms) && console != nil {
			return console.line
		}
		select {
		case r := <-cons:
			if r.err != nil {
				t.Fatalf("console: %v", r.err)
			}
			console = &r
			t.Logf("  [ok] console: %q after %s", r.line, time.Since(m.Started).Round(100*time.Millisecond))
		case <-srv.changed():
		case <-srv.exited:
			t.Fatal("pxeserver exited")
		case <-ctx.Done():
			for i := reached; i < len(ms); i++ {
				t.Errorf("  [missing] %s", ms[i].name)
			}
			if console == nil {
				t.Errorf("  [missing] console line %s %s", pxekit.BootedMarker, m.MAC)
			}
			t.FailNow()
		}
	}
}

// TestFirmwareBootHTTPv6 boots OVMF's UEFI HTTP boot client over IPv6
// only: no DHCPv4 on the segment and OVMF's IPv4 stack off (fw_cfg
// IPv4Support=no, so that it does not first spend its HTTPv4 attempt).
// Router advertisements carry the M flag (addresses from DHCPv6), as on
// a network with a DHCPv6 server. pxeserver -dhcp6 lab answers OVMF's
// Solicit (arch 16, vendor class HTTPClient) with an address and option
// 59 http://[fd77::1]:8080/ipxe.efi, echoing vendor class HTTPClient
// (EDK2's HttpBootParseDhcp6Packet takes an Advertise as an HTTP offer
// only then); OVMF fetches ipxe.efi over HTTP on IPv6; iPXE does DHCPv6
// (user class iPXE) and is given the script URL, which it fetches over
// IPv6; the script runs and prints the marker.
func TestFirmwareBootHTTPv6(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.AdvertiseIPv6Flags(t, qemulab.RAManaged)
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	// -http-addr on the IPv6 address: the base URL of the scripts
	// (the per-machine chain) names it, as an IPv6-only site would.
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "off", "-tftp-root", root,
		"-dhcp6", "lab", "-addr6", lab.ServerIP6.String(), "-pool6", "fd77::100-fd77::1ff",
		"-http-addr", "[fd77::1]:8080")

	start := len(srv.snapshot())
	m := lab.Boot(t, qemulab.UEFIHTTP, qemulab.Options{})
	mac := m.MAC.String()
	efi := map[string]string{"mac": mac, "buildarch": "x86_64", "platform": "efi", "uuid": qemulab.DefaultUUID}
	const url = "http://[fd77::1]:8080/ipxe.efi"
	ms := []milestone{
		{"DHCPv6: OVMF HTTP boot (arch 16) is advertised " + url, dhcp6Reply("ADVERTISE", 16, false, url)},
		{"DHCPv6: its Request is answered with an address and the URL", dhcp6Reply("REPLY", 16, false, url)},
		{"HTTP/IPv6: GET /ipxe.efi by UefiHttpBoot, whole file", fromIPv6(func(st *bootState, l logLine) bool {
			return httpGet("/ipxe.efi", "file", nil)(st, l) && strings.HasPrefix(l.str("client.user_agent"), "UefiHttpBoot") &&
				int64(l.num("bytes")) == sizes["ipxe.efi"]
		})},
		{"DHCPv6: iPXE (arch 7) is given the script URL on [fd77::1]", dhcp6Reply("REPLY", 7, true, "http://[fd77::1]:8080/boot.ipxe")},
		{"HTTP/IPv6: GET /boot.ipxe", fromIPv6(httpGet("/boot.ipxe", "script", nil))},
		{"HTTP/IPv6: per-machine URL with MAC, x86_64, efi, UUID", fromIPv6(httpGet("/machine/", "machine", efi))},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	line := waitMilestones(ctx, t, srv, m, start, &bootState{mac: mac}, ms)
	if got := strings.Fields(line); len(got) < 4 || got[2] != "x86_64" || got[3] != "efi" {
		t.Errorf("console marker %q, want %s %s x86_64 efi", line, pxekit.BootedMarker, mac)
	}
	t.Logf("UEFI HTTP boot over IPv6: marker %s after power-on", time.Since(m.Started).Round(100*time.Millisecond))
	for _, l := range srv.snapshot()[start:] {
		if l.str("kind") == "dhcp" && l.num("version") != 6 {
			t.Errorf("a DHCPv4 line on an IPv6-only segment: %s", summary(l))
		}
	}
}
