package dhcpboot

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/server6"
	"github.com/pxekit/pxekit/internal/sockbuf"
	"golang.org/x/net/ipv6"
)

// ListenUDP4 opens a UDP socket on port for DHCP serving: bound to the
// interface iface (SO_BINDTODEVICE; "" for none), allowed to broadcast,
// sharing the port with another DHCP server on the same host
// (SO_REUSEADDR, SO_REUSEPORT), as proxyDHCP beside dnsmasq needs, and with
// a receive buffer of ReadBufferSize where the system allows it.
func ListenUDP4(iface string, port int) (net.PacketConn, error) {
	c, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: port})
	if err != nil {
		return nil, fmt.Errorf("dhcpboot: listen %s udp/%d: %w", iface, port, err)
	}
	sockbuf.GrowReceive(c, ReadBufferSize)
	return c, nil
}

// ReadBufferSize is the receive buffer ListenUDP4 asks for. The kernel's
// default (about 208 KiB, a few hundred DISCOVERs) overflows when a rack
// powers on at once and the server pauses for a moment: perfdhcp at 16 000
// DISCOVERs/s lost 0.2 % of them to it.
const ReadBufferSize = 4 << 20

// ListenUDP6 opens the DHCPv6 server socket ([::]:547) on the interface
// iface and joins the All_DHCP_Relay_Agents_and_Servers group (ff02::1:2)
// there.
func ListenUDP6(iface string) (net.PacketConn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcpboot: %w", err)
	}
	c, err := server6.NewIPv6UDPConn(iface, &net.UDPAddr{IP: net.IPv6unspecified, Port: dhcpv6.DefaultServerPort})
	if err != nil {
		return nil, fmt.Errorf("dhcpboot: listen %s udp6/547: %w", iface, err)
	}
	if err := ipv6.NewPacketConn(c).JoinGroup(ifi, &net.UDPAddr{IP: dhcpv6.AllDHCPRelayAgentsAndServers}); err != nil {
		c.Close()
		return nil, fmt.Errorf("dhcpboot: %s: join ff02::1:2: %w", iface, err)
	}
	return c, nil
}

// InterfaceIPv4 returns the first IPv4 address of the named interface (in
// the network namespace of the calling thread).
func InterfaceIPv4(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dhcpboot: %w", err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dhcpboot: %s: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return netip.AddrFrom4([4]byte(v4)), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("dhcpboot: interface %s has no IPv4 address", name)
}
