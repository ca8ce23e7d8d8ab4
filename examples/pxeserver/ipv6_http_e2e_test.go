package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// dhcp6Answer matches pxeserver's log line of a DHCPv6 answer (reply
// "ADVERTISE" or "REPLY") to the machine: client architecture, iPXE or
// not, and a boot URL containing bootfile.
func dhcp6Answer(reply string, arch int, ipxe bool, bootfile string) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		return l.str("kind") == "dhcp" && l.num("version") == 6 && l.str("mac") == st.mac && l.str("reply") == reply &&
			int(l.num("client.arch")) == arch && l.flag("client.ipxe") == ipxe && strings.Contains(l.str("boot_file"), bootfile)
	}
}

// overIPv6 wraps an HTTP milestone: the request came over IPv6.
func overIPv6(m func(*bootState, logLine) bool) func(*bootState, logLine) bool {
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
			// No need to wait for the deadline once the boot has failed
			// (before the marker: the built-in machine script exits after
			// it, and iPXE then says "No more network devices").
			if l, err := m.WaitConsole(ctx, fatal); err == nil && !strings.Contains(strings.Join(m.Console(), "\n"), pxekit.BootedMarker+" "+m.MAC.String()) {
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
	lab.Advertise(t, qemulab.RA{Prefix: netip.PrefixFrom(lab.ServerIP6, 64), Managed: true, DHCPv6Only: true})
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
		{"DHCPv6: OVMF HTTP boot (arch 16) is advertised " + url, dhcp6Answer("ADVERTISE", 16, false, url)},
		{"DHCPv6: its Request is answered with an address and the URL", dhcp6Answer("REPLY", 16, false, url)},
		{"HTTP/IPv6: GET /ipxe.efi by UefiHttpBoot, whole file", overIPv6(func(st *bootState, l logLine) bool {
			return httpGet("/ipxe.efi", "file", nil)(st, l) && strings.HasPrefix(l.str("client.user_agent"), "UefiHttpBoot") &&
				int64(l.num("bytes")) == sizes["ipxe.efi"]
		})},
		{"DHCPv6: iPXE (arch 7) is given the script URL on [fd77::1], its MAC in it", dhcp6Answer("REPLY", 7, true,
			"http://[fd77::1]:8080/boot.ipxe?mac="+strings.ReplaceAll(mac, ":", "-"))},
		{"HTTP/IPv6: GET /boot.ipxe", overIPv6(httpGet("/boot.ipxe", "script", nil))},
		{"HTTP/IPv6: per-machine URL with MAC, x86_64, efi, UUID", overIPv6(httpGet("/machine/", "machine", efi))},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 480*time.Second)
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

// stayScript is a per-machine script that prints the marker with a tag
// and stays in iPXE (sleep), as a script that boots a kernel never returns:
// an "exit" would send OVMF on to its next boot option (HTTPv6 after
// HTTPv4) and boot again.
func stayScript(tag string) string {
	return "#!ipxe\necho " + pxekit.BootedMarker + " ${net0/mac} ${buildarch} ${platform} " + tag + "\nsleep 600\n"
}

// count returns how many of lines match.
func count(lines []logLine, match func(logLine) bool) int {
	n := 0
	for _, l := range lines {
		if match(l) {
			n++
		}
	}
	return n
}

// TestFirmwareBootDualStack runs pxeserver -dhcp lab -dhcp6 lab on one
// segment whose router advertisements send hosts to DHCPv6 (M flag), so
// that every client can get a DHCPv4 and a DHCPv6 answer, and boots
// OVMF's HTTP boot client and the BIOS iPXE ROM there. Each boots once,
// on the protocol its firmware picks: one boot file download (OVMF), one
// boot script fetch, one per-machine script.
//
// OVMF picks IPv4: EDK2's boot manager makes one boot option per LoadFile
// handle in handle order (BmEnumerateBootOptions, MdeModulePkg/Library/
// UefiBootManagerLib/BmBoot.c), and HttpBootDxe's entry point installs
// its IPv4 driver binding before its IPv6 one (NetworkPkg/HttpBootDxe/
// HttpBootDxe.c), so "UEFI HTTPv4" is Boot0001 and "UEFI HTTPv6" Boot0002;
// the IPv4 boot succeeds and HTTPv6 is never tried (no DHCPv6 Solicit with
// arch 16). iPXE then configures both (DHCPv4, and DHCPv6 for the M flag)
// and fetches the script once.
func TestFirmwareBootDualStack(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.Advertise(t, qemulab.RA{Prefix: netip.PrefixFrom(lab.ServerIP6, 64), Managed: true, DHCPv6Only: true})
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	for _, sc := range []qemulab.Scenario{qemulab.UEFIHTTP, qemulab.BIOSiPXE} {
		name := strings.ReplaceAll(sc.DefaultMAC().String(), ":", "-") + ".ipxe"
		if err := os.WriteFile(filepath.Join(root, "machines", name), []byte(stayScript("dual-stack")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "lab", "-tftp-root", root,
		"-dhcp6", "lab", "-addr6", lab.ServerIP6.String(), "-pool6", "fd77::100-fd77::1ff")

	for _, sc := range []qemulab.Scenario{qemulab.UEFIHTTP, qemulab.BIOSiPXE} {
		t.Run(string(sc), func(t *testing.T) {
			start := len(srv.snapshot())
			m := lab.Boot(t, sc, qemulab.Options{})
			mac := m.MAC.String()
			ms := []milestone{
				{"HTTP: GET /boot.ipxe", httpGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine script", httpGet("/machine/", "machine", nil)},
			}
			if sc == qemulab.UEFIHTTP {
				ms = append([]milestone{
					{"HTTP: GET /ipxe.efi by UefiHttpBoot, whole file", func(st *bootState, l logLine) bool {
						return httpGet("/ipxe.efi", "file", nil)(st, l) && strings.HasPrefix(l.str("client.user_agent"), "UefiHttpBoot") &&
							int64(l.num("bytes")) == sizes["ipxe.efi"]
					}},
				}, ms...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 480*time.Second)
			defer cancel()
			line := waitMilestones(ctx, t, srv, m, start, &bootState{mac: mac}, ms)
			if !strings.HasSuffix(line, "dual-stack") {
				t.Errorf("console marker %q, want the per-machine script's (ending dual-stack)", line)
			}
			booted := time.Since(m.Started)
			// A second boot would start within seconds (OVMF's next boot
			// option, or iPXE's next try); the script sleeps instead.
			time.Sleep(10 * time.Second)
			lines := srv.snapshot()[start:]
			st := &bootState{mac: mac}
			check(st, lines, nil)
			get := func(path string) func(logLine) bool {
				return func(l logLine) bool {
					return l.str("kind") == "http" && l.str("method") == "GET" && strings.HasPrefix(l.str("path"), path) && st.fromClient(l)
				}
			}
			family := func(match func(logLine) bool) string {
				for _, l := range lines {
					if match(l) {
						if a, err := netip.ParseAddr(l.str("peer")); err == nil && a.Is6() {
							return "IPv6"
						}
						return "IPv4"
					}
				}
				return "none"
			}
			dhcp := func(version int, ipxe bool, reply string) int {
				return count(lines, func(l logLine) bool {
					return l.str("kind") == "dhcp" && l.str("mac") == mac && int(l.num("version")) == version &&
						l.flag("client.ipxe") == ipxe && l.str("reply") == reply
				})
			}
			want := map[string]int{"/boot.ipxe": 1, "/machine/": 1}
			if sc == qemulab.UEFIHTTP {
				want["/ipxe.efi"] = 1
				if n := dhcp(6, false, "ADVERTISE"); n != 0 {
					t.Errorf("OVMF sent %d DHCPv6 Solicits that were answered: its HTTPv4 boot should have ended the boot", n)
				}
				if n := dhcp(4, false, "ACK"); n != 1 {
					t.Errorf("OVMF: %d DHCPv4 ACKs, want 1", n)
				}
			}
			for path, n := range want {
				if got := count(lines, get(path)); got != n {
					t.Errorf("GET %s: %d times, want %d (one boot)", path, got, n)
				}
			}
			v4, v6 := dhcp(4, true, "ACK"), dhcp(6, true, "REPLY")
			if v4 == 0 || v6 == 0 {
				t.Errorf("iPXE got %d DHCPv4 ACKs and %d DHCPv6 Replies, want both answered", v4, v6)
			}
			t.Logf("%s booted once in %s: boot file over %s, script over %s, per-machine script over %s; iPXE answered %d× over DHCPv4, %d× over DHCPv6",
				sc, booted.Round(100*time.Millisecond), family(get("/ipxe.efi")), family(get("/boot.ipxe")), family(get("/machine/")), v4, v6)
			if sc == qemulab.UEFIHTTP && family(get("/ipxe.efi")) != "IPv4" {
				t.Errorf("OVMF fetched ipxe.efi over %s, want IPv4 (HTTPv4 is its first boot option)", family(get("/ipxe.efi")))
			}
		})
	}
}

// startSiteDHCPv6 runs dnsmasq as the site's DHCPv6 server (addresses
// fd77::1000-fd77::1fff, no boot data) in its own namespace, plugged into
// the lab bridge as another host on the segment.
func startSiteDHCPv6(t *testing.T, lab *qemulab.Lab) {
	t.Helper()
	site := netlab.NewNS(t)
	netlab.Veth(t, lab.NS, "site0", "", site, "eth0", "10.77.0.2/24")
	lab.NS.Attach(t, "site0", lab.Bridge)
	site.Run(t, "ip", "addr", "add", "fd77::2/64", "dev", "eth0", "nodad")
	qemulab.StartDnsmasq(t, site, "eth0", t.TempDir(), "dhcp-range=fd77::1000,fd77::1fff,64,10m", "dhcp-authoritative")
}

// fromSite6 reports whether a log line's peer is an address the site's
// DHCPv6 server leases.
func fromSite6(l logLine) bool {
	a, err := netip.ParseAddr(l.str("peer"))
	return err == nil && !a.Less(netip.MustParseAddr("fd77::1000")) && !netip.MustParseAddr("fd77::1fff").Less(a)
}

// TestFirmwareBootHTTPv6Proxy runs pxeserver -dhcp6 proxy beside dnsmasq,
// the site's DHCPv6 server, on an IPv6-only segment (RA M flag) and boots
// OVMF's HTTP boot client: OVMF takes its address from dnsmasq and the
// boot URL from pxeserver's boot-only Advertise (EDK2's
// HttpBootSelectDhcpOffer: DhcpOnly/DhcpDns + ProxyIpUri) and fetches
// ipxe.efi over HTTP on IPv6 from its dnsmasq address.
//
// iPXE then does stateful DHCPv6 and, as its source says (dhcpv6_rx in
// src/net/udp/dhcpv6.c takes options from the server that gives the
// address), learns no boot file from pxeserver, which does not answer it:
// over IPv6 alone the chain stops there (see dhcpboot.ProxyServer6). The
// test checks that iPXE ran and found nothing to boot, so that a change in
// either firmware or in pxeserver shows.
func TestFirmwareBootHTTPv6Proxy(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.Advertise(t, qemulab.RA{Prefix: netip.PrefixFrom(lab.ServerIP6, 64), Managed: true, DHCPv6Only: true})
	startSiteDHCPv6(t, lab)
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "off", "-tftp-root", root,
		"-dhcp6", "proxy", "-addr6", lab.ServerIP6.String())

	start := len(srv.snapshot())
	m := lab.Boot(t, qemulab.UEFIHTTP, qemulab.Options{})
	mac := m.MAC.String()
	const url = "http://[fd77::1]:8080/ipxe.efi"
	ms := []milestone{
		{"DHCPv6 proxy: OVMF HTTP boot (arch 16) is advertised " + url + ", no address", func(st *bootState, l logLine) bool {
			return dhcp6Answer("ADVERTISE", 16, false, url)(st, l) && l.str("ip") == ""
		}},
		{"HTTP/IPv6: GET /ipxe.efi by UefiHttpBoot from a dnsmasq address, whole file", func(st *bootState, l logLine) bool {
			return fromSite6(l) && httpGet("/ipxe.efi", "file", nil)(st, l) && strings.HasPrefix(l.str("client.user_agent"), "UefiHttpBoot") &&
				int64(l.num("bytes")) == sizes["ipxe.efi"]
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 480*time.Second)
	defer cancel()
	st := &bootState{mac: mac, anyIP: true}
	for reached, logged := 0, 0; reached < len(ms); {
		lines := srv.snapshot()[start:]
		reached, _ = check(st, lines, ms)
		for ; logged < reached; logged++ {
			t.Logf("  [ok] %s at %s", ms[logged].name, time.Since(m.Started).Round(100*time.Millisecond))
		}
		if reached == len(ms) {
			break
		}
		select {
		case <-srv.changed():
		case <-time.After(time.Second):
			if m.Exited() {
				t.Fatalf("QEMU exited:\n%s", m.Tail(20))
			}
		case <-ctx.Done():
			for i := reached; i < len(ms); i++ {
				t.Errorf("  [missing] %s", ms[i].name)
			}
			t.FailNow()
		}
	}
	// iPXE runs, gets its address from dnsmasq, and no boot file.
	line, err := m.WaitConsole(ctx, "Nothing to boot")
	if err != nil {
		t.Fatalf("iPXE's end: %v", err)
	}
	t.Logf("  [ok] iPXE: %q at %s", line, time.Since(m.Started).Round(100*time.Millisecond))
	text := strings.Join(m.Console(), "\n")
	if want := "Configuring (net0 " + mac + ")"; !strings.Contains(text, want) {
		t.Errorf("console has no %q: iPXE did not run", want)
	}
	lines := srv.snapshot()[start:]
	for _, l := range lines {
		if l.str("kind") == "dhcp" && (l.str("ip") != "" || (l.flag("client.ipxe") && l.str("reply") != "")) {
			t.Errorf("the DHCPv6 proxy gave an address or answered iPXE: %s", summary(l))
		}
	}
	if n := count(lines, func(l logLine) bool { return l.str("kind") == "dhcp" && l.num("version") == 6 && l.flag("client.ipxe") }); n == 0 {
		t.Errorf("pxeserver saw no DHCPv6 message from iPXE, want its Solicit (left unanswered)")
	}
}
