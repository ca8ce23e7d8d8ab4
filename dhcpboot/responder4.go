package dhcpboot

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// PXEPort is the proxyDHCP port where PXE clients send their second
// DHCPREQUEST (PXE 2.1 §2.2.3).
const PXEPort = 4011

// Responder4 is the DHCPv4 boot handler: a [Policy], this server's
// address, reply options and a classifier. It classifies and decides once
// per message ([Responder4.Decide]), answers as a proxyDHCP
// ([Responder4.Reply]), adds boot data to the replies of a full DHCP server
// ([Responder4.CoreDHCP], coredhcp's plugin shape) or serves insomniacslk's
// server4 ([Responder4.ServeDHCP]). A Responder4 is safe for concurrent
// use once set up; its fields must not change then.
type Responder4 struct {
	// Policy decides; nil answers nobody.
	Policy *Policy
	// PolicyFunc, when set, gives the policy for each message in place of
	// Policy, so that a program can swap its policy while serving (return
	// an atomic.Pointer's Load). It must be safe for concurrent use and
	// quick.
	PolicyFunc func() *Policy
	// ServerIP is this server's IPv4 address as clients reach it: option 54,
	// the default next server and {{server}}. Reply and ServeDHCP need it;
	// CoreDHCP falls back to the reply's option 54 (set by coredhcp's
	// server_id plugin earlier in the chain).
	ServerIP netip.Addr
	// Options tune replies.
	Options ReplyOptions
	// Classify turns a request into a client; nil uses the package default
	// (archdetect's DHCPv4 reader).
	Classify func(*dhcpv4.DHCPv4) archdetect.Client
	// Logger receives one debug record per decision and a warning when a
	// decision cannot be written; nil logs nothing.
	Logger *slog.Logger

	noServer sync.Once // warn once about a missing server address
	badMode  sync.Once // warn once about ServeDHCPFor(ModeFull)
}

// logger returns h.Logger, or a logger that discards everything when it
// is nil.
func (h *Responder4) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// Decide classifies m and runs the policy, once: the [Request] says who
// asked, where (a), through which relay and which server answers.
func (h *Responder4) Decide(m *dhcpv4.DHCPv4, a Arrival) (*Request, Decision) {
	return h.decide(m, a, h.ServerIP)
}

// decide is Decide with the server address given (a lab server's subnet
// has its own).
func (h *Responder4) decide(m *dhcpv4.DHCPv4, a Arrival, server netip.Addr) (*Request, Decision) {
	classify := h.Classify
	if classify == nil {
		classify = classify4
	}
	r := newRequest(classify(m), a, relay4(m), server)
	return r, h.policy().Decide(r)
}

// policy returns the policy of this message: PolicyFunc's, else Policy.
func (h *Responder4) policy() *Policy {
	if h.PolicyFunc != nil {
		return h.PolicyFunc()
	}
	return h.Policy
}

// CoreDHCP has the shape of a coredhcp DHCPv4 plugin handler. Given the
// request and the reply the server built so far (with its address), it adds
// the boot data the policy decides (in ModeFull) and returns (resp, false)
// so the chain goes on. A rule that ignores the client drops the reply
// (nil, true); when no rule matches, or for messages other than DISCOVER,
// REQUEST and INFORM, resp passes unchanged.
//
// The server address is ServerIP, else the reply's option 54: in coredhcp
// the plugin goes after server_id. With neither, the reply passes without
// boot data and the Logger gets one warning.
func (h *Responder4) CoreDHCP(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
	default:
		return resp, false
	}
	server := h.ServerIP
	if !server.IsValid() {
		server = addrOf(resp.ServerIdentifier())
	}
	r, d := h.decide(req, Arrival{Mode: ModeFull}, server)
	h.logger().Debug("dhcpboot: decision", "mac", req.ClientHWAddr.String(), "xid", req.TransactionID.String(), "why", d.Why)
	if d.Ignores() {
		return nil, true
	}
	if !d.Boot() {
		return resp, false
	}
	if !server.IsValid() {
		h.noServer.Do(func() {
			h.logger().Warn("dhcpboot: Responder4.ServerIP is not set and the reply has no option 54 (put the plugin after server_id); no boot data sent")
		})
		return resp, false
	}
	if err := Apply4(d, r, req, resp, h.Options); err != nil {
		h.logger().Warn("dhcpboot: cannot apply decision", "mac", req.ClientHWAddr.String(), "why", d.Why, "err", err)
	}
	return resp, false
}

// Reasons a message gets no answer; [Responder4.Reply] and
// [Responder6.Reply] wrap them.
var (
	ErrNotBootRequest = errors.New("dhcpboot: not a BOOTREQUEST with an Ethernet-like address")
	ErrNotPXEClient   = errors.New("dhcpboot: not a PXE or HTTP-boot client")
	ErrMessageType    = errors.New("dhcpboot: message type not answered on this port")
)

// IsPXEClient reports whether m comes from a network-boot client: option 60
// starting with "PXEClient" or "HTTPClient", or option 93 present (as
// pixiecore requires). Plain DHCP clients get nothing from a proxy.
func IsPXEClient(m *dhcpv4.DHCPv4) bool {
	vc := m.Options[dhcpv4.OptionClassIdentifier.Code()] // not ClassIdentifier(): no string copy
	return bytes.HasPrefix(vc, []byte("PXEClient")) || bytes.HasPrefix(vc, []byte("HTTPClient")) ||
		m.Options.Has(dhcpv4.OptionClientSystemArchitectureType)
}

// Reply builds the proxyDHCP answer to m, in the mode a.Mode names: in
// ModeProxy (port 67) a proxy DHCPOFFER to a DISCOVER, in ModeProxyAck
// (port 4011) a DHCPACK to a REQUEST or INFORM. It returns the request and
// decision it made, and a nil reply with an error saying why when m gets
// no answer (wrong message or mode, not a PXE client, no rule, ignored,
// no ServerIP).
func (h *Responder4) Reply(m *dhcpv4.DHCPv4, a Arrival) (*dhcpv4.DHCPv4, *Request, Decision, error) {
	if m.OpCode != dhcpv4.OpcodeBootRequest || len(m.ClientHWAddr) == 0 || len(m.ClientHWAddr) > maxHWLen {
		return nil, nil, Decision{}, ErrNotBootRequest
	}
	mt := m.MessageType()
	var rt dhcpv4.MessageType
	switch {
	case a.Mode == ModeProxy && mt == dhcpv4.MessageTypeDiscover:
		rt = dhcpv4.MessageTypeOffer
	case a.Mode == ModeProxyAck && (mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform):
		rt = dhcpv4.MessageTypeAck
	case a.Mode == ModeFull:
		return nil, nil, Decision{}, errors.New("dhcpboot: Responder4.Reply answers ModeProxy and ModeProxyAck arrivals; a full server uses CoreDHCP")
	default:
		return nil, nil, Decision{}, fmt.Errorf("%w: %s in mode %s", ErrMessageType, mt, a.Mode)
	}
	if !IsPXEClient(m) {
		return nil, nil, Decision{}, ErrNotPXEClient
	}
	if !h.ServerIP.Is4() {
		return nil, nil, Decision{}, errors.New("dhcpboot: Responder4.ServerIP is not set (an IPv4 address)")
	}
	r, d := h.Decide(m, a)
	if !d.Boot() {
		return nil, r, d, fmt.Errorf("%w (%s)", ErrNoBoot, d.Why)
	}
	resp := newReply4(m, replyOptionsHint)
	resp.Options[dhcpv4.OptionDHCPMessageType.Code()] = []byte{byte(rt)}
	resp.ClientIPAddr = m.ClientIPAddr
	if a.Mode == ModeProxy {
		broadcastWithoutAddress(resp)
	}
	if err := Apply4(d, r, m, resp, h.Options); err != nil {
		return nil, r, d, err
	}
	return resp, r, d, nil
}

// ServeDHCP is a server4.Handler that makes insomniacslk's server4 a
// proxyDHCP, guessing the role of its socket from the port: on a socket
// bound to port 4011 it works as [Responder4.ServeDHCPFor](ModeProxyAck),
// on any other port as ServeDHCPFor(ModeProxy). ServerIP must be set.
func (h *Responder4) ServeDHCP(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	mode := ModeProxy
	if local, ok := conn.LocalAddr().(*net.UDPAddr); ok && local.Port == PXEPort {
		mode = ModeProxyAck
	}
	h.serveDHCP(mode, conn, peer, m)
}

// ServeDHCPFor returns a handler for insomniacslk's server4 (assignable to
// server4.Handler) that serves one socket in the role mode names, whatever
// port the socket has: ModeProxy (the port-67 role) answers DISCOVERs of
// PXE/HTTP-boot clients with proxy offers, sent to giaddr:67 when relayed,
// else as [ReplyAddr] says; ModeProxyAck (the port-4011 role) answers
// REQUESTs and INFORMs with an ACK sent back to the sender. Everything else
// is ignored (logged at debug level). ModeFull answers nobody (a full
// server adds boot data with [Responder4.CoreDHCP]); the Logger gets one
// warning. ServerIP must be set.
func (h *Responder4) ServeDHCPFor(mode Mode) func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	return func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) { h.serveDHCP(mode, conn, peer, m) }
}

// serveDHCP answers m, which arrived on conn from peer, in mode.
func (h *Responder4) serveDHCP(mode Mode, conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	if !h.ServerIP.Is4() {
		h.noServer.Do(func() {
			h.logger().Warn("dhcpboot: Responder4.ServerIP is not set (an IPv4 address); ServeDHCP answers nobody")
		})
		return
	}
	if mode != ModeProxy && mode != ModeProxyAck {
		h.badMode.Do(func() {
			h.logger().Warn("dhcpboot: Responder4.ServeDHCPFor serves ModeProxy or ModeProxyAck; this socket answers nobody", "mode", mode.String())
		})
		return
	}
	a := Arrival{Mode: mode, Peer: addrPortOf(peer)}
	resp, _, d, err := h.Reply(m, a)
	if err != nil {
		h.logger().Debug("dhcpboot: no proxy answer", "peer", peer.String(), "mac", m.ClientHWAddr.String(), "err", err)
		return
	}
	dst := replyDest(m, resp, a, peer)
	if _, err := send4(conn, resp, dst); err != nil {
		h.logger().Warn("dhcpboot: send failed", "to", dst.String(), "err", err)
		return
	}
	h.logger().Debug("dhcpboot: answered", "to", dst.String(), "mac", m.ClientHWAddr.String(), "type", resp.MessageType().String(), "why", d.Why)
}

// replyDest is where the reply to m goes: back to the sender on port 4011
// (ModeProxyAck), else as [ReplyAddr] says.
func replyDest(m, resp *dhcpv4.DHCPv4, a Arrival, peer net.Addr) net.Addr {
	if a.Mode == ModeProxyAck {
		return peer
	}
	return ReplyAddr(m, resp)
}

// broadcastWithoutAddress sets the broadcast flag of a reply that gives the
// client no address (yiaddr 0: a proxy OFFER, a NAK), as dnsmasq does: a
// relay agent delivers a reply without the flag by unicast to yiaddr, here
// 0.0.0.0, and a client without an address cannot take unicast anyway
// (RFC 2131 §4.1, §4.3.2).
func broadcastWithoutAddress(resp *dhcpv4.DHCPv4) {
	if ip := resp.YourIPAddr.To4(); ip == nil || ip.IsUnspecified() {
		resp.SetBroadcast()
	}
}

// addrOf returns ip as a netip.Addr, invalid when ip is nil, not IPv4 or
// 0.0.0.0.
func addrOf(ip net.IP) netip.Addr {
	if v4 := ip.To4(); v4 != nil && !v4.IsUnspecified() {
		return netip.AddrFrom4([4]byte(v4))
	}
	return netip.Addr{}
}

// addrPortOf returns a UDP address as a netip.AddrPort (invalid for other
// kinds of address).
func addrPortOf(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
