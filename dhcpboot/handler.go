package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// PXEPort is the proxyDHCP port where PXE clients send their second
// DHCPREQUEST (PXE 2.1 §2.2.3).
const PXEPort = 4011

// Handler plugs a [Policy] into DHCPv4 servers: [Handler.CoreDHCP] for a
// full DHCP server (coredhcp plugin shape), [Handler.ServeDHCP4] as a
// proxyDHCP handler for insomniacslk's server4, and [Handler.ProxyReply]
// for servers of your own. A Handler is safe for concurrent use once set up.
type Handler struct {
	// Policy decides; nil answers nobody.
	Policy *Policy
	// ServerIP is this server's IPv4 address as clients reach it (option 54,
	// default next server). When invalid, CoreDHCP uses the reply's option
	// 54 and ServeDHCP4 the socket's local address.
	ServerIP netip.Addr
	// Reply tunes replies; each method sets its Mode, and an invalid
	// Reply.ServerIP defaults to ServerIP.
	Reply ReplyOptions
	// Interface names the interface requests arrive on (for rules that match
	// interfaces).
	Interface string
	// Classify turns a request into a client; nil uses the package default
	// (archdetect's DHCPv4 reader).
	Classify func(*dhcpv4.DHCPv4) archdetect.Client
	// Logger receives one debug record per decision and per ignored
	// message; nil logs nothing.
	Logger *slog.Logger
}

// logger returns h.Logger, or a logger that discards everything when it
// is nil.
func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// Decide4 classifies m and runs the policy.
func (h *Handler) Decide4(m *dhcpv4.DHCPv4) (*Request, Decision) {
	classify := h.Classify
	if classify == nil {
		classify = classify4
	}
	r := &Request{Client: classify(m), Interface: h.Interface, ServerIP: h.ServerIP}
	if gi := m.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() {
		r.Relay = netip.AddrFrom4([4]byte(gi))
	}
	return r, h.Policy.Decide(r)
}

// CoreDHCP has the shape of a coredhcp DHCPv4 plugin handler. Given the
// request and the reply the server built so far (with its address), it adds
// the boot data the policy decides and returns (resp, false) so the chain
// goes on. A rule that ignores the client drops the reply (nil, true);
// when no rule matches, or for messages other than DISCOVER and REQUEST,
// resp passes unchanged.
func (h *Handler) CoreDHCP(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
	default:
		return resp, false
	}
	r, d := h.Decide4(req)
	h.logger().Debug("dhcpboot: decision", "mac", req.ClientHWAddr.String(), "xid", req.TransactionID.String(), "why", d.Why)
	if d.Matched() && d.Rule.Action.Ignore {
		return nil, true
	}
	if !d.Boot() {
		return resp, false
	}
	o := h.Reply
	o.Mode = ModeFull
	if !o.ServerIP.IsValid() {
		o.ServerIP = h.ServerIP
	}
	if !o.ServerIP.IsValid() {
		if sid := resp.ServerIdentifier().To4(); sid != nil {
			o.ServerIP = netip.AddrFrom4([4]byte(sid))
		}
	}
	if err := Apply(d, r, req, resp, o); err != nil {
		h.logger().Warn("dhcpboot: cannot apply decision", "mac", req.ClientHWAddr.String(), "why", d.Why, "err", err)
	}
	return resp, false
}

// Reasons a message gets no proxyDHCP answer; [Handler.ProxyReply] wraps
// them so callers can log them at debug level.
var (
	ErrNotBootRequest = errors.New("dhcpboot: not a BOOTREQUEST with an Ethernet-like address")
	ErrNotPXEClient   = errors.New("dhcpboot: not a PXE or HTTP-boot client")
	ErrMessageType    = errors.New("dhcpboot: message type not answered on this port")
)

// IsPXEClient reports whether m comes from a network-boot client: option 60
// starting with "PXEClient" or "HTTPClient", or option 93 present (as
// pixiecore requires). Plain DHCP clients get nothing from a proxy.
func IsPXEClient(m *dhcpv4.DHCPv4) bool {
	vc := m.ClassIdentifier()
	return strings.HasPrefix(vc, "PXEClient") || strings.HasPrefix(vc, "HTTPClient") ||
		m.Options.Has(dhcpv4.OptionClientSystemArchitectureType)
}

// ProxyReply builds the proxyDHCP answer to m: on port 67 (port4011 false)
// a proxy DHCPOFFER to a DISCOVER, on port 4011 a DHCPACK to a REQUEST or
// INFORM. It returns a nil reply and an error saying why when m gets no
// answer (wrong message, not a PXE client, no rule, ignored).
func (h *Handler) ProxyReply(m *dhcpv4.DHCPv4, port4011 bool) (*dhcpv4.DHCPv4, Decision, error) {
	if m.OpCode != dhcpv4.OpcodeBootRequest || len(m.ClientHWAddr) == 0 || len(m.ClientHWAddr) > maxHWLen {
		return nil, Decision{}, ErrNotBootRequest
	}
	mt := m.MessageType()
	var rt dhcpv4.MessageType
	mode := ModeProxy
	switch {
	case !port4011 && mt == dhcpv4.MessageTypeDiscover:
		rt = dhcpv4.MessageTypeOffer
	case port4011 && (mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform):
		rt, mode = dhcpv4.MessageTypeAck, ModeProxyAck
	default:
		return nil, Decision{}, fmt.Errorf("%w: %s", ErrMessageType, mt)
	}
	if !IsPXEClient(m) {
		return nil, Decision{}, ErrNotPXEClient
	}
	r, d := h.Decide4(m)
	if !d.Boot() {
		return nil, d, fmt.Errorf("%w (%s)", ErrNoBoot, d.Why)
	}
	resp, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(rt))
	if err != nil {
		return nil, d, err
	}
	resp.ClientIPAddr = m.ClientIPAddr
	if !port4011 {
		broadcastWithoutAddress(resp)
	}
	o := h.Reply
	o.Mode = mode
	if !o.ServerIP.IsValid() {
		o.ServerIP = h.ServerIP
	}
	if err := Apply(d, r, m, resp, o); err != nil {
		return nil, d, err
	}
	return resp, d, nil
}

// ServeDHCP4 is a server4.Handler that makes a server4.Server a proxyDHCP:
// on a socket bound to port 67 it answers DISCOVERs of PXE/HTTP-boot
// clients with proxy offers (to giaddr:67 when relayed, else broadcast);
// on a socket bound to port 4011 it answers REQUESTs with an ACK sent back
// to the request's source address and port. Everything else is ignored
// (logged at debug level).
func (h *Handler) ServeDHCP4(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	local, _ := conn.LocalAddr().(*net.UDPAddr)
	port4011 := local != nil && local.Port == PXEPort
	hh := h
	if !h.ServerIP.IsValid() && local != nil && local.IP.To4() != nil && !local.IP.IsUnspecified() {
		c := *h
		c.ServerIP = netip.AddrFrom4([4]byte(local.IP.To4()))
		hh = &c
	}
	resp, d, err := hh.ProxyReply(m, port4011)
	if err != nil {
		level := slog.LevelDebug
		if !hh.ServerIP.IsValid() && !hh.Reply.ServerIP.IsValid() {
			level = slog.LevelWarn // a configuration error, not a client's
		}
		h.logger().Log(context.Background(), level, "dhcpboot: no proxy answer", "peer", peer.String(), "mac", m.ClientHWAddr.String(), "err", err)
		return
	}
	dst := peer
	if !port4011 {
		dst = ReplyAddr(m, resp)
	}
	if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
		h.logger().Warn("dhcpboot: send failed", "to", dst.String(), "err", err)
		return
	}
	h.logger().Debug("dhcpboot: answered", "to", dst.String(), "mac", m.ClientHWAddr.String(), "type", resp.MessageType().String(), "why", d.Why)
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
