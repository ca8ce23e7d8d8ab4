package dhcpboot

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// Responder6 is the DHCPv6 boot handler, the twin of [Responder4]: boot
// URL (option 59) and parameters (60) by the client's architecture (61),
// vendor and user class. [Responder6.Reply] answers statelessly (boot data,
// no addresses); a full DHCPv6 server adds the boot data to its own replies
// with [Responder6.CoreDHCP]; [Responder6.ServeDHCP] serves insomniacslk's
// server6. Safe for concurrent use once set up.
type Responder6 struct {
	// Policy decides; nil answers nobody.
	Policy *Policy
	// PolicyFunc is Responder4.PolicyFunc.
	PolicyFunc func() *Policy
	// ServerIP is the server's IPv6 address (for {{server}} and tftp://
	// URLs), not link-local; a zone is never sent.
	ServerIP netip.Addr
	// ServerID is the DUID sent in option 2; nil derives a stable DUID-LL
	// from ServerIP.
	ServerID dhcpv6.DUID
	// Options has the same type as Responder4's; its fields are DHCPv4 only.
	Options ReplyOptions
	// Classify turns a message into a client; nil uses the package default.
	Classify func(dhcpv6.DHCPv6) archdetect.Client
	// Logger receives debug records; nil logs nothing.
	Logger *slog.Logger
}

func (h *Responder6) serverID() dhcpv6.DUID {
	if h.ServerID != nil {
		return h.ServerID
	}
	sum := sha256.Sum256(h.ServerIP.AsSlice())
	mac := net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
	return &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac}
}

// Decide classifies m (relayed or not) and runs the policy, once; a says
// where m arrived (its Mode is ignored). A client whose DUID carries no MAC
// is given the one of its link-local address (see [MACFromEUI64]): a.Peer,
// or the peer address of the relay next to it.
func (h *Responder6) Decide(m dhcpv6.DHCPv6, a Arrival) (*Request, Decision) {
	classify := h.Classify
	if classify == nil {
		classify = classify6
	}
	a.Mode = ModeFull
	c := classify(m)
	if len(c.MAC) == 0 {
		// A DUID-UUID (UEFI firmware, iPXE) carries no MAC: take the one
		// in the client's link-local address, as dnsmasq does.
		c.MAC = MACFromEUI64(clientPeer6(m, a.Peer.Addr()))
	}
	r := newRequest(c, a, relay6(m), h.ServerIP)
	if h.PolicyFunc != nil {
		return r, h.PolicyFunc().Decide(r)
	}
	return r, h.Policy.Decide(r)
}

// CoreDHCP has the shape of a coredhcp DHCPv6 plugin handler: it adds the
// decided boot data to resp (unwrapping relay messages on both sides) and
// lets the chain go on. A rule that ignores the client drops the reply.
func (h *Responder6) CoreDHCP(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	inReq, err := req.GetInnerMessage()
	if err != nil {
		return resp, false
	}
	inResp, err := resp.GetInnerMessage()
	if err != nil {
		return resp, false
	}
	r, d := h.Decide(req, Arrival{})
	if d.Ignores() {
		return nil, true
	}
	if !d.Boot() {
		return resp, false
	}
	if err := Apply6(d, r, inReq, inResp, h.Options); err != nil {
		h.logger().Warn("dhcpboot: cannot apply decision", "why", d.Why, "err", err)
	}
	return resp, false
}

// Reply answers m statelessly: Solicit → Advertise, Request and
// Information-request → Reply, each with the boot data, wrapped in a
// Relay-reply when m was relayed. It returns the request and decision it
// made, and an error saying why when m gets no answer.
func (h *Responder6) Reply(m dhcpv6.DHCPv6, a Arrival) (dhcpv6.DHCPv6, *Request, Decision, error) {
	in, err := m.GetInnerMessage()
	if err != nil {
		return nil, nil, Decision{}, fmt.Errorf("dhcpboot: %w", err)
	}
	if in.Options.ClientID() == nil {
		return nil, nil, Decision{}, errors.New("dhcpboot: DHCPv6 message without client ID")
	}
	r, d := h.Decide(m, a)
	// iPXE's DHCPv6 sends neither option 61 nor 16, only user class iPXE.
	if len(in.Options.ArchTypes()) == 0 && len(in.Options.VendorClass(enterprisePXE)) == 0 && !r.Client.IPXE {
		return nil, r, d, ErrNotPXEClient
	}
	if !d.Boot() {
		return nil, r, d, fmt.Errorf("%w (%s)", ErrNoBoot, d.Why)
	}
	var resp *dhcpv6.Message
	switch in.Type() {
	case dhcpv6.MessageTypeSolicit:
		if in.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
			resp, err = dhcpv6.NewReplyFromMessage(in)
		} else {
			resp, err = dhcpv6.NewAdvertiseFromSolicit(in)
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeInformationRequest:
		resp, err = dhcpv6.NewReplyFromMessage(in)
	default:
		return nil, r, d, fmt.Errorf("%w: %s", ErrMessageType, in.Type())
	}
	if err != nil {
		return nil, r, d, fmt.Errorf("dhcpboot: %w", err)
	}
	resp.AddOption(dhcpv6.OptServerID(h.serverID()))
	if err := Apply6(d, r, in, resp, h.Options); err != nil {
		return nil, r, d, err
	}
	out, err := wrapRelay6(m, resp)
	return out, r, d, err
}

// wrapRelay6 wraps resp, the reply to m's inner message, in Relay-reply
// messages of the same nesting when m was relayed (RFC 8415 §19.3): each
// level copies its Relay-forward's hop count, link and peer addresses and
// echoes its Interface-Id (§21.18) and Remote-Id (RFC 4649 §3, which asks
// the server to echo it). The relay sends the outermost on to the client.
func wrapRelay6(m dhcpv6.DHCPv6, resp *dhcpv6.Message) (dhcpv6.DHCPv6, error) {
	fw, ok := m.(*dhcpv6.RelayMessage)
	if !ok {
		return resp, nil
	}
	if fw.Type() != dhcpv6.MessageTypeRelayForward {
		return nil, fmt.Errorf("%w: %s", ErrMessageType, fw.Type())
	}
	in := fw.Options.RelayMessage()
	if in == nil {
		return nil, errors.New("dhcpboot: Relay-forward without a relay message option")
	}
	inner, err := wrapRelay6(in, resp)
	if err != nil {
		return nil, err
	}
	out := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayReply, HopCount: fw.HopCount, LinkAddr: fw.LinkAddr, PeerAddr: fw.PeerAddr}
	out.AddOption(dhcpv6.OptRelayMessage(inner))
	for _, code := range []dhcpv6.OptionCode{dhcpv6.OptionInterfaceID, dhcpv6.OptionRemoteID} {
		if o := fw.GetOneOption(code); o != nil {
			out.AddOption(o)
		}
	}
	return out, nil
}

// ServeDHCP is a server6.Handler answering with [Responder6.Reply] to the
// sender (a client's link-local address or a relay).
func (h *Responder6) ServeDHCP(conn net.PacketConn, peer net.Addr, m dhcpv6.DHCPv6) {
	resp, _, d, err := h.Reply(m, Arrival{Peer: addrPortOf(peer)})
	if err != nil {
		h.logger().Debug("dhcpboot: no DHCPv6 answer", "peer", peer.String(), "err", err)
		return
	}
	if _, err := conn.WriteTo(resp.ToBytes(), peer); err != nil {
		h.logger().Warn("dhcpboot: DHCPv6 send failed", "to", peer.String(), "err", err)
		return
	}
	h.logger().Debug("dhcpboot: DHCPv6 answered", "to", peer.String(), "why", d.Why)
}

// logger returns h.Logger, or a logger that discards everything when it
// is nil.
func (h *Responder6) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// clientPeer6 returns the client's own address: the peer address of the
// innermost Relay-forward when m was relayed, else peer.
func clientPeer6(m dhcpv6.DHCPv6, peer netip.Addr) netip.Addr {
	rm, ok := m.(*dhcpv6.RelayMessage)
	for ok {
		peer, _ = netip.AddrFromSlice(rm.PeerAddr)
		rm, ok = rm.Options.RelayMessage().(*dhcpv6.RelayMessage)
	}
	return peer
}

// MACFromEUI64 returns the MAC a link-local IPv6 address's modified EUI-64
// interface identifier was made from (RFC 4291 appendix A), nil when a is
// not link-local or its identifier is not one (no ff:fe in its middle).
func MACFromEUI64(a netip.Addr) net.HardwareAddr {
	if !a.Is6() || !a.IsLinkLocalUnicast() {
		return nil
	}
	b := a.As16()
	if b[11] != 0xff || b[12] != 0xfe {
		return nil
	}
	return net.HardwareAddr{b[8] ^ 0x02, b[9], b[10], b[13], b[14], b[15]}
}
