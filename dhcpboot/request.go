package dhcpboot

import (
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit/archdetect"
)

// Request is what a policy decides on: the client as [archdetect] saw it and
// where its message came from.
type Request struct {
	Client archdetect.Client
	// Interface is the name of the interface the message arrived on ("" if
	// unknown).
	Interface string
	// Relay is the relay agent address (giaddr, or the DHCPv6 relay's link
	// address); invalid when the message was not relayed.
	Relay netip.Addr
	// ServerIP is this server's address as the client sees it: the
	// {{server}} placeholder of templates, option 54 and the default next
	// server. The responder sets it from its configuration.
	ServerIP netip.Addr
	// Mode is the kind of reply being built (DHCPv4). The responder sets it
	// from the [Arrival].
	Mode Mode
}

// Mode is the kind of DHCPv4 reply being built.
type Mode uint8

// Reply modes.
const (
	// ModeFull: the reply also gives the client its address (a full DHCP
	// server, or a handler inside one).
	ModeFull Mode = iota
	// ModeProxy: a proxyDHCP offer on port 67 (no address, yiaddr 0).
	ModeProxy
	// ModeProxyAck: the proxyDHCP answer to a DHCPREQUEST on port 4011.
	ModeProxyAck
)

// String returns "full", "proxy" or "proxy-ack".
func (m Mode) String() string {
	switch m {
	case ModeProxy:
		return "proxy"
	case ModeProxyAck:
		return "proxy-ack"
	}
	return "full"
}

// Arrival says where a message arrived: what a server knows about the
// socket it read the message from.
type Arrival struct {
	// Interface is the name of the receiving interface ("" if unknown).
	Interface string
	// Mode is the reply the port calls for (DHCPv4 only; DHCPv6 ignores
	// it): ModeProxy on port 67 of a proxyDHCP, ModeProxyAck on port 4011,
	// ModeFull in a full DHCP server.
	Mode Mode
	// Peer is the sender's address and port (invalid if unknown).
	Peer netip.AddrPort
}

// newRequest is the one place a [Request] is built: the client as
// classified, where the message arrived, the relay, and this server's
// address from the responder's or server's configuration.
func newRequest(c archdetect.Client, a Arrival, relay, server netip.Addr) *Request {
	return &Request{Client: c, Interface: a.Interface, Relay: relay, ServerIP: server, Mode: a.Mode}
}

// relay4 returns m's giaddr, invalid when m was not relayed.
func relay4(m *dhcpv4.DHCPv4) netip.Addr {
	return addrOf(m.GatewayIPAddr)
}

// relay6 returns the link address of the relay next to the client (the
// innermost Relay-forward: RFC 8415 §19.1.1 says it identifies the client's
// link), or that relay's peer address when its link address is
// unspecified; invalid when m was not relayed.
func relay6(m dhcpv6.DHCPv6) netip.Addr {
	rm, ok := m.(*dhcpv6.RelayMessage)
	if !ok {
		return netip.Addr{}
	}
	for {
		in, ok := rm.Options.RelayMessage().(*dhcpv6.RelayMessage)
		if !ok {
			break
		}
		rm = in
	}
	if a, ok := netip.AddrFromSlice(rm.LinkAddr); ok && !a.IsUnspecified() {
		return a
	}
	a, _ := netip.AddrFromSlice(rm.PeerAddr)
	return a
}
