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

// RA is what the router advertisements of [Lab.Advertise] announce.
type RA struct {
	// Prefix is announced on-link and for stateless autoconfiguration.
	Prefix netip.Prefix
	// Managed sets the M flag: addresses come from DHCPv6. iPXE runs
	// stateful DHCPv6 only then (ndp.c: without M or O it runs none).
	Managed bool
	// Other sets the O flag: other configuration comes from DHCPv6; iPXE
	// then sends an Information-request (when Managed is not set).
	Other bool
	// DHCPv6Only clears the prefix's autonomous flag (on-link only): hosts
	// take their addresses from DHCPv6 alone, so a server knows each
	// client's address from its own leases.
	DHCPv6Only bool
	// RouterLifetime, when above zero, makes the sender a default router
	// for that long (RFC 4861 caps it at 9000 s); zero: not a router.
	RouterLifetime time.Duration
}

// Marshal returns the ICMPv6 router advertisement (RFC 4861) with, when
// mac is not nil, a source link-layer address option. The checksum is
// left zero: the kernel fills it in on raw ICMPv6 sockets.
func (ra RA) Marshal(mac net.HardwareAddr) []byte {
	b := []byte{
		134, 0, 0, 0, // type, code, checksum
		64, 0, 0, 0, // cur hop limit, flags, router lifetime
		0, 0, 0, 0, // reachable time
		0, 0, 0, 0, // retrans timer
	}
	if ra.Managed {
		b[5] |= 0x80
	}
	if ra.Other {
		b[5] |= 0x40
	}
	binary.BigEndian.PutUint16(b[6:], uint16(min(ra.RouterLifetime/time.Second, 9000)))
	if len(mac) == 6 {
		b = append(b, 1, 1)
		b = append(b, mac...)
	}
	opt := make([]byte, 32)
	opt[0], opt[1] = 3, 4 // prefix information, 4 × 8 bytes
	opt[2] = byte(ra.Prefix.Bits())
	opt[3] = 0xc0 // on-link, autonomous
	if ra.DHCPv6Only {
		opt[3] = 0x80 // on-link only
	}
	binary.BigEndian.PutUint32(opt[4:], 3600)
	binary.BigEndian.PutUint32(opt[8:], 1800)
	a := ra.Prefix.Masked().Addr().As16()
	copy(opt[16:], a[:])
	return append(b, opt...)
}

// RouterAdvertisement returns an ICMPv6 router advertisement (RFC 4861) that
// announces prefix for stateless autoconfiguration, with router lifetime 0
// (not a default router), no M or O flag (no DHCPv6) and, when mac is not
// nil, a source link-layer address option (see [RA.Marshal]).
func RouterAdvertisement(prefix netip.Prefix, mac net.HardwareAddr) []byte {
	return RA{Prefix: prefix}.Marshal(mac)
}

// AdvertiseIPv6 sends a router advertisement for the lab's IPv6 prefix on the
// bridge every second until the test ends. iPXE waits up to ~15 s for IPv6
// router discovery before it goes on with a boot; with these advertisements it
// goes on at once. Sends fail (and are retried) until a machine's tap gives
// the bridge a carrier.
func (l *Lab) AdvertiseIPv6(t testing.TB) {
	t.Helper()
	l.Advertise(t, RA{Prefix: netip.PrefixFrom(l.ServerIP6, 64)})
}

// Advertise is [Lab.AdvertiseIPv6] with the advertisement's content given:
// ra.Managed makes iPXE ask DHCPv6 for its address and boot file.
func (l *Lab) Advertise(t testing.TB, ra RA) {
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
	// The bridge's MAC changes as taps join it (it takes the lowest of
	// its ports'): each advertisement names the current one, or clients
	// would send to the router at a MAC nobody has.
	mac := func() net.HardwareAddr {
		if cur, err := l.interfaceByName(l.Bridge); err == nil {
			return cur.HardwareAddr
		}
		return ifi.HardwareAddr
	}
	// The zone is the index: the name means nothing outside the namespace.
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: strconv.Itoa(ifi.Index)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			_, _ = pc.WriteTo(ra.Marshal(mac()), nil, dst) // fails while the bridge has no carrier
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
