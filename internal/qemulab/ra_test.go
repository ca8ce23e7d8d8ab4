package qemulab

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// TestAdvertiseFollowsBridgeMAC: the bridge's MAC changes as ports join
// it (to the lowest of theirs), and each router advertisement names the
// MAC it has then. Before, every one named the MAC the bridge had when
// Advertise started: a client routing through the lab (a default router)
// sent its packets to a MAC nobody had, and OVMF's TFTP request never
// reached the router ("PXE-E18: Server response timeout").
func TestAdvertiseFollowsBridgeMAC(t *testing.T) {
	netlab.Require(t)
	lab := NewLab(t, Firmware{})
	peer := netlab.NewNS(t)
	netlab.Veth(t, lab.NS, "v0", "", peer, "eth0", "")
	lab.NS.Attach(t, "v0", lab.Bridge)
	c, err := peer.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		t.Fatalf("ICMPv6 listener: %v", err)
	}
	defer c.Close()
	lab.Advertise(t, RA{Prefix: netip.PrefixFrom(lab.ServerIP6, 64), Managed: true, RouterLifetime: time.Minute})
	// What a tap with a lower MAC than the bridge's does to it.
	want := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	lab.NS.Run(t, "ip", "link", "set", lab.Bridge, "address", want.String())

	var last net.HardwareAddr
	buf := make([]byte, 1500)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		b := buf[:n]
		if len(b) < 24 || b[0] != 134 || b[16] != 1 || b[17] != 1 {
			continue // not an RA with a source link-layer address first
		}
		if last = net.HardwareAddr(b[18:24]); bytes.Equal(last, want) {
			return
		}
	}
	t.Fatalf("router advertisements after the bridge's MAC became %s: last named %s, want %s", want, last, want)
}
