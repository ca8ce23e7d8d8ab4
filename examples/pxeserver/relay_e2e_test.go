package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// TestFirmwareBootRelayed boots OVMF's PXE client (B) and the BIOS iPXE ROM
// (A) at once on a subnet behind ISC dhcrelay, against pxeserver in lab
// mode serving that subnet from its config file's subnets: list:
//
//	client ns (lab bridge, QEMU taps)  10.78.6.0/24
//	  -- relay ns: rly0 10.78.6.1, dhcrelay -a, IP forwarding, rly1 10.78.7.2
//	  -- server ns: srv0 10.78.7.1, pxeserver (route to 10.78.6.0/24 via the relay)
//
// DHCP goes through the relay, which adds option 82; TFTP and HTTP are
// routed by it. Both machines must reach the boot marker, and every reply
// pxeserver sent must carry an address of the far subnet, go to the relay
// (giaddr:67), and echo option 82 (the event's relay_agent and
// reply_relay_agent). Before issue 15 pxeserver's lab served only the
// subnet of -iface: "relayed from 10.78.6.1, outside 10.78.7.0/24".
func TestFirmwareBootRelayed(t *testing.T) {
	fw := qemulab.Require(t)
	netlab.RequireTool(t, "dhcrelay") // Debian package isc-dhcp-relay
	lab := qemulab.NewLab(t, fw)
	// The client namespace is a layer-2 segment for IPv4: its router is the
	// relay. It keeps sending IPv6 router advertisements, without which iPXE
	// waits ~15 s for IPv6 router discovery.
	lab.NS.Run(t, "ip", "addr", "del", lab.ServerIP.String()+"/24", "dev", lab.Bridge)
	lab.AdvertiseIPv6(t)
	rly, srvNS := netlab.NewNS(t), netlab.NewNS(t)
	netlab.Veth(t, lab.NS, "relay0", "", rly, "rly0", "10.78.6.1/24")
	lab.NS.Attach(t, "relay0", lab.Bridge)
	netlab.Veth(t, rly, "rly1", "10.78.7.2/24", srvNS, "srv0", "10.78.7.1/24")
	rly.Run(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	srvNS.Run(t, "ip", "route", "add", "10.78.6.0/24", "via", "10.78.7.2")

	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	doc, err := json.Marshal(map[string]any{ // JSON is YAML
		"iface": "srv0", "addr": "10.78.7.1", "dhcp": "lab", "tftp_root": root,
		"subnets": []map[string]any{{"prefix": "10.78.6.0/24", "pool": "10.78.6.100-10.78.6.200", "router": "10.78.6.1", "lease_time": "10m"}},
	})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	conf := filepath.Join(lab.Dir, "pxeserver.yaml")
	if err := os.WriteFile(conf, doc, 0o644); err != nil {
		t.Fatalf("os.WriteFile(conf): %v", err)
	}
	srv := startServer(t, srvNS, "-config", conf)
	relayLog := rly.StartDhcrelay(t, "rly0", "rly1", "10.78.7.1", "-a") // -a adds option 82

	start := time.Now()
	ok := t.Run("boot", func(t *testing.T) {
		for _, sc := range []qemulab.Scenario{qemulab.UEFIPXE, qemulab.BIOSiPXE} {
			t.Run(string(sc), func(t *testing.T) {
				t.Parallel() // two machines booting at once through the relay
				t.Logf("%s (MAC %s)", sc.Describe(), sc.DefaultMAC())
				bootAndCheck(t, lab, srv, sc, sizes, 180*time.Second)
			})
		}
	})
	t.Logf("both machines booted through the relay in %.1fs", time.Since(start).Seconds())
	if !ok {
		t.Logf("dhcrelay said:\n%s", relayLog.String())
		t.FailNow()
	}

	far := netip.MustParsePrefix("10.78.6.0/24")
	acks := map[string]int{}
	for _, l := range srv.snapshot() {
		if l.str("kind") != "dhcp" || l.str("reply") == "" {
			continue
		}
		mac, reply := l.str("mac"), l.str("reply")
		if l.str("relay") != "10.78.6.1" || !l.flag("client.relayed") {
			t.Errorf("%s %s: relay %q, relayed %v; want relayed by 10.78.6.1", mac, reply, l.str("relay"), l.flag("client.relayed"))
		}
		if in, out := l.str("relay_agent"), l.str("reply_relay_agent"); in == "" || out != in {
			t.Errorf("%s %s: option 82 in %q, out %q; want it added by dhcrelay -a and echoed", mac, reply, in, out)
		}
		if to := l.str("to"); to != "10.78.6.1:67" {
			t.Errorf("%s %s: sent to %q, want the relay 10.78.6.1:67", mac, reply, to)
		}
		if a, err := netip.ParseAddr(l.str("ip")); err != nil || !far.Contains(a) {
			t.Errorf("%s %s: ip %q, want an address of the far subnet %v", mac, reply, l.str("ip"), far)
		}
		if reply == "ACK" {
			acks[mac]++
		}
	}
	for _, sc := range []qemulab.Scenario{qemulab.UEFIPXE, qemulab.BIOSiPXE} {
		if acks[sc.DefaultMAC().String()] == 0 {
			t.Errorf("no relayed ACK for %s (scenario %s)", sc.DefaultMAC(), sc)
		}
	}
	if t.Failed() {
		var lines []string
		for _, l := range srv.snapshot() {
			if l.str("kind") == "dhcp" {
				lines = append(lines, summary(l)+" relay="+l.str("relay")+" peer="+l.str("peer"))
			}
		}
		t.Logf("pxeserver's dhcp lines:\n%s\ndhcrelay said:\n%s", strings.Join(lines, "\n"), relayLog.String())
	}
}
