package main

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// dhcp6Reply matches pxeserver's DHCPv6 Reply to the machine: from iPXE
// (user class iPXE) or not, its DUID-UUID read as the machine's UUID, with
// a boot URL starting with bootURL, relayed by relay (its link
// address; "" for a request that came straight from the client).
func dhcp6Reply(ipxe bool, bootURL, relay string) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		classes, _ := l.get("client.user_classes").([]any)
		return l.str("kind") == "dhcp" && l.num("version") == 6 && l.str("mac") == st.mac && l.str("reply") == "REPLY" &&
			l.flag("client.ipxe") == ipxe && slices.Contains(classes, any("iPXE")) == ipxe &&
			strings.HasPrefix(l.str("boot_file"), bootURL) && l.str("relay") == relay && l.flag("client.relayed") == (relay != "") &&
			l.str("client.uuid") == qemulab.DefaultUUID // OVMF's DUID-UUID in GUID order, iPXE's in network order
	}
}

// fromIPv6 reports whether a TFTP or HTTP log line's peer is an IPv6
// address.
func fromIPv6(l logLine) bool {
	peer := l.str("peer")
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		return ap.Addr().Is6() && !ap.Addr().Is4In6()
	}
	a, err := netip.ParseAddr(peer)
	return err == nil && a.Is6() && !a.Is4In6()
}

// windowGranted reports whether a TFTP line's window size is the one the
// client asked for, and more than one block.
func windowGranted(l logLine) bool {
	for _, o := range strings.Fields(l.str("requested")) {
		if v, ok := strings.CutPrefix(o, "windowsize="); ok {
			n, err := strconv.Atoi(v)
			return err == nil && n > 1 && int(l.num("window_size")) == n
		}
	}
	return false
}

// ipv6BootMilestones is what pxeserver must see OVMF's PXE client do over
// IPv6, with the server at server6 (and relay the link address of the
// relay in front of the client, or ""): its DHCPv6 Reply with the TFTP
// URL of ipxe.efi, the file sent whole over IPv6 with the window size
// asked for, iPXE's own DHCPv6 with the script URL, the script and the
// per-machine script fetched over IPv6, all from the addresses leased.
func ipv6BootMilestones(mac, server6, relay string, size int64) []milestone {
	efi := map[string]string{"mac": mac, "buildarch": "x86_64", "platform": "efi", "uuid": qemulab.DefaultUUID}
	v6 := func(f func(*bootState, logLine) bool) func(*bootState, logLine) bool {
		return func(st *bootState, l logLine) bool { return f(st, l) && fromIPv6(l) }
	}
	return []milestone{
		{"DHCPv6: OVMF PXE (arch 7) is given tftp://[" + server6 + "]/ipxe.efi", func(st *bootState, l logLine) bool {
			return dhcp6Reply(false, "tftp://["+server6+"]/ipxe.efi", relay)(st, l) && int(l.num("client.arch")) == 7
		}},
		{"TFTP over IPv6: ipxe.efi sent whole, windowsize granted", v6(func(st *bootState, l logLine) bool {
			return tftpDone("ipxe.efi", "ok", 0, 0)(st, l) && int64(l.num("bytes")) == size && windowGranted(l)
		})},
		{"DHCPv6: iPXE (user class iPXE) is given the script URL", dhcp6Reply(true, "http://["+server6+"]:8080/boot.ipxe", relay)},
		{"HTTP over IPv6: GET /boot.ipxe", v6(httpGet("/boot.ipxe", "script", nil))},
		{"HTTP over IPv6: per-machine URL with MAC, x86_64, efi, UUID", v6(httpGet("/machine/", "machine", efi))},
	}
}

// bootIPv6 boots OVMF's PXE client with IPv4 PXE off on the lab bridge
// and waits (at most limit) for the console marker and every milestone;
// it returns the machine's log lines.
func bootIPv6(t *testing.T, lab *qemulab.Lab, srv *serverProc, mac net.HardwareAddr, ms []milestone, limit time.Duration) []logLine {
	t.Helper()
	start := len(srv.snapshot())
	m := lab.Boot(t, qemulab.UEFIPXE, qemulab.Options{MAC: mac, PXEIPv6Only: true})
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	line, err := m.WaitConsole(ctx, pxekit.BootedMarker+" "+mac.String())
	if err != nil {
		t.Fatalf("m.WaitConsole: %v", err)
	}
	t.Logf("  [ok] console: %q after %.1fs", line, time.Since(m.Started).Seconds())
	if got := strings.Fields(line)[2:]; !slices.Equal(got, []string{"x86_64", "efi"}) {
		t.Errorf("console marker %q: words after the MAC %q, want [x86_64 efi]", line, got)
	}
	// The marker comes after the last request; give the log a moment.
	st := &bootState{mac: mac.String()}
	var lines []logLine
	reached, at := 0, []int(nil)
	for {
		lines = srv.snapshot()[start:]
		st.ips = nil
		if reached, at = check(st, lines, ms); reached == len(ms) || ctx.Err() != nil {
			break
		}
		select {
		case <-srv.changed():
		case <-ctx.Done():
		}
	}
	for i, m := range ms {
		if i < reached {
			t.Logf("  [ok] %-62s (%s)", m.name, summary(lines[at[i]]))
		} else {
			t.Errorf("  [missing] %s", m.name)
		}
	}
	// iPXE configured itself once, by DHCPv6: the boot script found its
	// address and ran no dhcp of its own.
	solicits := 0
	for _, l := range lines {
		if l.str("kind") == "dhcp" && l.str("mac") == mac.String() && l.str("message") == "SOLICIT" && l.flag("client.ipxe") {
			solicits++
		}
	}
	if solicits != 1 {
		t.Errorf("iPXE sent %d DHCPv6 SOLICITs, want 1 (the boot script must not run dhcp again)", solicits)
	}
	for _, l := range lines {
		if k := l.str("kind"); (k == "tftp" || k == "http") && l.str("mac") == mac.String() && !fromIPv6(l) {
			t.Errorf("a request over IPv4: %s", summary(l))
		}
	}
	return lines
}

// TestFirmwareBootIPv6 boots OVMF x64 PXE over IPv6 only: no DHCPv4 on
// the segment (pxeserver -dhcp off) and OVMF's IPv4 PXE off, router
// advertisements with the M flag (so that iPXE asks DHCPv6 too),
// pxeserver -dhcp6 lab. DHCPv6 → TFTP of ipxe.efi over IPv6 → iPXE →
// DHCPv6 → HTTP script over IPv6 → the script's marker on the console.
func TestFirmwareBootIPv6(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	// A default router too, as every IPv6 network has: without one OVMF
	// waits 10 s for a route to the server before it sets its address
	// (PxeBcCheckRouteTable, PXEBC_IP6_ROUTE_TABLE_TIMEOUT). Everything
	// here is on-link, so nothing goes through the lab's namespace.
	lab.Advertise(t, qemulab.RA{Prefix: netip.PrefixFrom(lab.ServerIP6, 64), Managed: true, RouterLifetime: 30 * time.Minute})
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "off", "-tftp-root", root,
		"-dhcp6", "lab", "-addr6", lab.ServerIP6.String(), "-pool6", "fd77::100-fd77::1ff")
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x6b}
	start := time.Now()
	lines := bootIPv6(t, lab, srv, mac, ipv6BootMilestones(mac.String(), lab.ServerIP6.String(), "", sizes["ipxe.efi"]), 240*time.Second)
	t.Logf("booted over IPv6 in %.1fs", time.Since(start).Seconds())
	for _, l := range lines {
		if l.str("kind") == "dhcp" && l.num("version") != 6 {
			t.Errorf("a DHCPv4 line on an IPv6-only segment: %s", summary(l))
		}
	}
}

// TestFirmwareBootIPv6Relayed is TestFirmwareBootIPv6 across ISC
// dhcrelay -6, the server on another /64:
//
//	lab ns: br0 fd77::1/64 (QEMU taps), the router: IPv6 forwarding,
//	        RAs (M flag, default router), dhcrelay -6 -I -l br0 -u fd78::1%rtr0
//	  -- rtr0 fd78::2/64 -- srv0 fd78::1/64: server ns, pxeserver
//
// pxeserver gives addresses of the client's /64 (-pool6) and names its
// own address fd78::1 in the URLs; every DHCPv6 exchange of the machine
// must have come through the relay (link address fd77::1).
func TestFirmwareBootIPv6Relayed(t *testing.T) {
	fw := qemulab.Require(t)
	netlab.RequireTool(t, "dhcrelay") // Debian package isc-dhcp-relay
	lab := qemulab.NewLab(t, fw)
	srvNS := netlab.NewNS(t)
	netlab.Veth(t, lab.NS, "rtr0", "", srvNS, "srv0", "10.78.9.1/24")
	lab.NS.Run(t, "ip", "addr", "add", "fd78::2/64", "dev", "rtr0", "nodad")
	srvNS.Run(t, "ip", "addr", "add", "fd78::1/64", "dev", "srv0", "nodad")
	lab.NS.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
	srvNS.Run(t, "ip", "-6", "route", "add", "fd77::/64", "via", "fd78::2")
	lab.Advertise(t, qemulab.RA{Prefix: netip.PrefixFrom(lab.ServerIP6, 64), Managed: true, RouterLifetime: 30 * time.Minute})

	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	srv := startServer(t, srvNS, "-iface", "srv0", "-addr", "10.78.9.1", "-dhcp", "off", "-tftp-root", root,
		"-dhcp6", "lab", "-addr6", "fd78::1", "-pool6", "fd77::100-fd77::1ff")
	// -I: the relay adds an interface-id and sends a reply on only when
	// the Relay-reply echoes it (RFC 8415 §19.3).
	relayLog := lab.NS.StartDhcrelay6(t, lab.Bridge, "rtr0", netip.MustParseAddr("fd78::1"), "-I")

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x6c}
	start := time.Now()
	lines := bootIPv6(t, lab, srv, mac, ipv6BootMilestones(mac.String(), "fd78::1", lab.ServerIP6.String(), sizes["ipxe.efi"]), 240*time.Second)
	t.Logf("booted across the DHCPv6 relay in %.1fs", time.Since(start).Seconds())
	pool := netip.MustParsePrefix("fd77::/64")
	for _, l := range lines {
		if l.str("kind") != "dhcp" || l.str("mac") != mac.String() {
			continue
		}
		if l.str("relay") != lab.ServerIP6.String() || !l.flag("client.relayed") || l.str("peer") != "[fd78::2]:547" {
			t.Errorf("%s %s not relayed by %s from [fd78::2]:547: relay %q, peer %q", l.str("message"), l.str("reply"), lab.ServerIP6, l.str("relay"), l.str("peer"))
		}
		if ip := l.str("ip"); ip != "" {
			if a, err := netip.ParseAddr(ip); err != nil || !pool.Contains(a) {
				t.Errorf("%s %s gives %s, want an address of the client's %v", l.str("message"), l.str("reply"), ip, pool)
			}
		}
	}
	if t.Failed() {
		t.Logf("dhcrelay said:\n%s", relayLog.String())
	}
}
