package qemulab

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/ipv6"
)

// RouterAdvertisement returns an ICMPv6 router advertisement (RFC 4861) that
// announces prefix for stateless autoconfiguration, with router lifetime 0
// (not a default router) and, when mac is not nil, a source link-layer
// address option. The checksum is left zero: the kernel fills it in on raw
// ICMPv6 sockets.
func RouterAdvertisement(prefix netip.Prefix, mac net.HardwareAddr) []byte {
	return RouterAdvertisementFlags(prefix, mac, 0)
}

// Router advertisement flags (RFC 4861 §4.2) that send hosts to DHCPv6.
const (
	// RAManaged (M): addresses come from DHCPv6; iPXE then runs stateful
	// DHCPv6 (Solicit, Request).
	RAManaged byte = 0x80
	// RAOther (O): other configuration comes from DHCPv6; iPXE then sends
	// an Information-request (when M is not set).
	RAOther byte = 0x40
)

// RouterAdvertisementFlags is RouterAdvertisement with flags (RAManaged,
// RAOther) in its flags byte. With RAManaged the prefix is on-link but not
// autonomous (A flag clear): hosts take their addresses from DHCPv6 only,
// so that a server knows each client's address from its own leases.
func RouterAdvertisementFlags(prefix netip.Prefix, mac net.HardwareAddr, flags byte) []byte {
	b := []byte{
		134, 0, 0, 0, // type, code, checksum
		64, flags, 0, 0, // cur hop limit, flags, router lifetime 0
		0, 0, 0, 0, // reachable time
		0, 0, 0, 0, // retrans timer
	}
	if len(mac) == 6 {
		b = append(b, 1, 1)
		b = append(b, mac...)
	}
	opt := make([]byte, 32)
	opt[0], opt[1] = 3, 4 // prefix information, 4 × 8 bytes
	opt[2] = byte(prefix.Bits())
	opt[3] = 0xc0 // on-link, autonomous
	if flags&RAManaged != 0 {
		opt[3] = 0x80 // on-link only: addresses come from DHCPv6 alone
	}
	binary.BigEndian.PutUint32(opt[4:], 3600)
	binary.BigEndian.PutUint32(opt[8:], 1800)
	a := prefix.Masked().Addr().As16()
	copy(opt[16:], a[:])
	return append(b, opt...)
}

// AdvertiseIPv6 sends a router advertisement for the lab's IPv6 prefix on the
// bridge every second until the test ends. iPXE waits up to ~15 s for IPv6
// router discovery before it goes on with a boot; with these advertisements it
// goes on at once. Sends fail (and are retried) until a machine's tap gives
// the bridge a carrier.
func (l *Lab) AdvertiseIPv6(t testing.TB) {
	t.Helper()
	l.AdvertiseIPv6Flags(t, 0)
}

// AdvertiseIPv6Flags is AdvertiseIPv6 with flags (RAManaged, RAOther) set
// in the advertisements, as a router on a network with DHCPv6 sends them.
func (l *Lab) AdvertiseIPv6Flags(t testing.TB, flags byte) {
	t.Helper()
	c, err := l.NS.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		t.Fatalf("qemulab: router advertisements: %v", err)
	}
	ifi, err := l.interfaceByName(l.Bridge)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	pc := ipv6.NewPacketConn(c)
	if err := pc.SetMulticastHopLimit(255); err != nil {
		c.Close()
		t.Fatalf("qemulab: router advertisements: hop limit: %v", err)
	}
	if err := pc.SetMulticastInterface(ifi); err != nil {
		c.Close()
		t.Fatalf("qemulab: router advertisements: interface: %v", err)
	}
	msg := RouterAdvertisementFlags(netip.PrefixFrom(l.ServerIP6, 64), ifi.HardwareAddr, flags)
	// The zone is the index: the name means nothing outside the namespace.
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: strconv.Itoa(ifi.Index)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			_, _ = pc.WriteTo(msg, nil, dst) // fails while the bridge has no carrier
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		c.Close()
	})
}

// interfaceByName looks up an interface of the lab's namespace.
func (l *Lab) interfaceByName(name string) (*net.Interface, error) {
	var ifi *net.Interface
	err := l.NS.Do(func() (err error) {
		ifi, err = net.InterfaceByName(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("qemulab: interface %s in %s: %w", name, l.NS.Name, err)
	}
	return ifi, nil
}
