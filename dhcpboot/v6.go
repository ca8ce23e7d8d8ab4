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

// enterprisePXE is Intel's enterprise number, used by EDK2 and iPXE in the
// DHCPv6 vendor class (option 16).
const enterprisePXE = 343

// Apply6 writes decision d into a DHCPv6 reply (Advertise or Reply) for the
// client message req (RFC 5970):
//
//   - option 59 is the boot file URL; a plain file name becomes
//     tftp://[server]/name, the only form EDK2's PXEv6 accepts;
//   - option 60 carries the rule's boot parameters, when any;
//   - option 16 echoes enterprise 343 "PXEClient" or "HTTPClient" to
//     clients that sent it: EDK2 takes an Advertise as a boot offer only then.
//
// server is the server's IPv6 address used for {{server}} and tftp:// URLs.
func Apply6(d Decision, r *Request, req, resp *dhcpv6.Message, server netip.Addr) error {
	if !d.Boot() {
		return ErrNoBoot
	}
	a := &d.Rule.Action
	if !r.ServerIP.IsValid() {
		rr := *r
		rr.ServerIP = server
		r = &rr
	}
	url := a.BootFile.Expand(r)
	if url != "" && !a.BootFile.IsURL() {
		if !server.IsValid() || !server.Is6() || server.Is4In6() {
			return errors.New("dhcpboot: a DHCPv6 boot file name needs the server's IPv6 address")
		}
		if len(url) > 0 && url[0] == '/' {
			url = url[1:]
		}
		url = "tftp://[" + server.String() + "]/" + url
	}
	if url != "" {
		resp.UpdateOption(dhcpv6.OptBootFileURL(url))
	}
	if len(a.BootParams) > 0 {
		resp.UpdateOption(dhcpv6.OptBootFileParam(a.BootParams...))
	}
	for _, vc := range req.Options.VendorClass(enterprisePXE) {
		kind := ""
		switch {
		case len(vc) >= 10 && string(vc[:10]) == "HTTPClient":
			kind = "HTTPClient"
		case len(vc) >= 9 && string(vc[:9]) == "PXEClient":
			kind = "PXEClient"
		}
		if kind != "" {
			resp.UpdateOption(&dhcpv6.OptVendorClass{EnterpriseNumber: enterprisePXE, Data: [][]byte{[]byte(kind)}})
			break
		}
	}
	return nil
}

// Handler6 plugs a [Policy] into DHCPv6 servers: boot URL (option 59),
// parameters (60) by the client's architecture (61), vendor and user class.
// It answers statelessly (boot data, no addresses); a full DHCPv6 server
// adds the boot data to its own replies with [Handler6.CoreDHCP6].
type Handler6 struct {
	Policy *Policy
	// ServerIP is the server's IPv6 address (for {{server}} and tftp:// URLs).
	ServerIP netip.Addr
	// ServerID is the DUID sent in option 2; nil derives a stable DUID-LL
	// from ServerIP.
	ServerID dhcpv6.DUID
	// Interface names the interface requests arrive on.
	Interface string
	// Classify turns a message into a client; nil uses the package default.
	Classify func(dhcpv6.DHCPv6) archdetect.Client
	// Logger receives debug records; nil logs nothing.
	Logger *slog.Logger
}

func (h *Handler6) serverID() dhcpv6.DUID {
	if h.ServerID != nil {
		return h.ServerID
	}
	sum := sha256.Sum256(h.ServerIP.AsSlice())
	mac := net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
	return &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac}
}

// Decide6 classifies m (relayed or not) and runs the policy.
func (h *Handler6) Decide6(m dhcpv6.DHCPv6) (*Request, Decision) {
	classify := h.Classify
	if classify == nil {
		classify = classify6
	}
	r := &Request{Client: classify(m), Interface: h.Interface, ServerIP: h.ServerIP}
	if rm, ok := m.(*dhcpv6.RelayMessage); ok {
		if a, ok := netip.AddrFromSlice(rm.LinkAddr); ok && !a.IsUnspecified() {
			r.Relay = a
		} else if a, ok := netip.AddrFromSlice(rm.PeerAddr); ok {
			r.Relay = a
		}
	}
	return r, h.Policy.Decide(r)
}

// CoreDHCP6 has the shape of a coredhcp DHCPv6 plugin handler: it adds the
// decided boot data to resp (unwrapping relay messages on both sides) and
// lets the chain go on. A rule that ignores the client drops the reply.
func (h *Handler6) CoreDHCP6(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
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
	r, d := h.Decide6(req)
	if d.Matched() && d.Rule.Action.Ignore {
		return nil, true
	}
	if !d.Boot() {
		return resp, false
	}
	if err := Apply6(d, r, inReq, inResp, h.ServerIP); err != nil {
		h.logger().Warn("dhcpboot: cannot apply decision", "why", d.Why, "err", err)
	}
	return resp, false
}

// Reply answers m statelessly: Solicit → Advertise, Request and
// Information-request → Reply, each with the boot data, wrapped in a
// Relay-reply when m was relayed. It returns an error saying why when m
// gets no answer.
func (h *Handler6) Reply(m dhcpv6.DHCPv6) (dhcpv6.DHCPv6, Decision, error) {
	in, err := m.GetInnerMessage()
	if err != nil {
		return nil, Decision{}, fmt.Errorf("dhcpboot: %w", err)
	}
	if in.Options.ClientID() == nil {
		return nil, Decision{}, errors.New("dhcpboot: DHCPv6 message without client ID")
	}
	if len(in.Options.ArchTypes()) == 0 && len(in.Options.VendorClass(enterprisePXE)) == 0 {
		return nil, Decision{}, ErrNotPXEClient
	}
	r, d := h.Decide6(m)
	if !d.Boot() {
		return nil, d, fmt.Errorf("%w (%s)", ErrNoBoot, d.Why)
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
		return nil, d, fmt.Errorf("%w: %s", ErrMessageType, in.Type())
	}
	if err != nil {
		return nil, d, err
	}
	resp.AddOption(dhcpv6.OptServerID(h.serverID()))
	if err := Apply6(d, r, in, resp, h.ServerIP); err != nil {
		return nil, d, err
	}
	if rm, ok := m.(*dhcpv6.RelayMessage); ok {
		out, err := dhcpv6.NewRelayReplFromRelayForw(rm, resp)
		return out, d, err
	}
	return resp, d, nil
}

// ServeDHCP6 is a server6.Handler answering with [Handler6.Reply] to the
// sender (a client's link-local address or a relay).
func (h *Handler6) ServeDHCP6(conn net.PacketConn, peer net.Addr, m dhcpv6.DHCPv6) {
	resp, d, err := h.Reply(m)
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
func (h *Handler6) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}
