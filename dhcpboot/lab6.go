package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/server6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
	"golang.org/x/net/ipv6"
)

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

// LabServer6 is a small stateful DHCPv6 server for labs: it gives each
// client (DUID and IA_NA) an address from a range, in memory, and adds the
// boot URL (option 59) the Policy decides, which UEFI PXE and HTTP boot over
// IPv6 need together with an address. It is not meant to replace Kea.
type LabServer6 struct {
	// Policy decides boot data; nil gives addresses only. A rule that
	// ignores a client makes the server ignore it entirely.
	Policy *Policy
	// Interface is the interface to serve; ListenAndServe requires it.
	Interface string
	// ServerIP is the server's (non link-local) IPv6 address, used in boot
	// URLs. Required.
	ServerIP netip.Addr
	// RangeStart and RangeEnd bound the addresses given, inclusive.
	RangeStart, RangeEnd netip.Addr
	// LeaseTime is the valid lifetime (default one hour).
	LeaseTime time.Duration
	// ServerID is the server DUID; nil derives one from ServerIP.
	ServerID dhcpv6.DUID
	// Classify overrides the DHCPv6 classifier.
	Classify func(dhcpv6.DHCPv6) archdetect.Client
	// Logger gets debug records per message; nil logs nothing.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	once    sync.Once
	initErr error
	h       *Handler6
	mu      sync.Mutex
	leases  map[string]*lease6    // by DUID bytes + IAID
	byIP    map[netip.Addr]string // address -> key
}

type lease6 struct {
	ip     netip.Addr
	expiry time.Time
}

func (s *LabServer6) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *LabServer6) setup() error {
	s.once.Do(func() {
		switch {
		case !s.ServerIP.Is6() || s.ServerIP.Is4In6():
			s.initErr = errors.New("dhcpboot: LabServer6 needs an IPv6 ServerIP")
			return
		case !s.RangeStart.Is6() || !s.RangeEnd.Is6() || s.RangeEnd.Less(s.RangeStart):
			s.initErr = fmt.Errorf("dhcpboot: LabServer6 range %v-%v is not an IPv6 range", s.RangeStart, s.RangeEnd)
			return
		}
		n := 0
		for a := s.RangeStart; a != s.RangeEnd; a = a.Next() {
			if n++; n >= maxRange {
				s.initErr = fmt.Errorf("dhcpboot: LabServer6 range larger than %d addresses", maxRange)
				return
			}
		}
		if s.LeaseTime <= 0 {
			s.LeaseTime = time.Hour
		}
		s.h = &Handler6{Policy: s.Policy, ServerIP: s.ServerIP, ServerID: s.ServerID, Interface: s.Interface, Classify: s.Classify, Logger: s.Logger}
		s.leases = map[string]*lease6{}
		s.byIP = map[netip.Addr]string{}
	})
	return s.initErr
}

// pick returns key's address, or the first free one. Called with s.mu held.
func (s *LabServer6) pick(key string, now time.Time) (netip.Addr, bool) {
	if l, ok := s.leases[key]; ok {
		return l.ip, true
	}
	for a := s.RangeStart; ; a = a.Next() {
		owner, taken := s.byIP[a]
		if !taken || s.leases[owner].expiry.Before(now) {
			if taken {
				delete(s.leases, owner)
				delete(s.byIP, a)
			}
			return a, true
		}
		if a == s.RangeEnd {
			return netip.Addr{}, false
		}
	}
}

// Respond handles one DHCPv6 message (relayed or not) and returns the
// reply to send to the sender, or nil and an error saying why not.
func (s *LabServer6) Respond(m dhcpv6.DHCPv6) (dhcpv6.DHCPv6, error) {
	if err := s.setup(); err != nil {
		return nil, err
	}
	in, err := m.GetInnerMessage()
	if err != nil {
		return nil, fmt.Errorf("dhcpboot: %w", err)
	}
	cid := in.Options.ClientID()
	if cid == nil {
		return nil, errors.New("dhcpboot: DHCPv6 message without client ID")
	}
	if sid := in.Options.ServerID(); sid != nil && !sid.Equal(s.h.serverID()) {
		return nil, errors.New("dhcpboot: DHCPv6 message for another server")
	}
	r, d := s.h.Decide6(m)
	if d.Matched() && d.Rule.Action.Ignore {
		return nil, fmt.Errorf("dhcpboot: ignored: %s", d.Why)
	}
	var resp *dhcpv6.Message
	commit, release := false, false
	switch in.Type() {
	case dhcpv6.MessageTypeSolicit:
		if in.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
			resp, err = dhcpv6.NewReplyFromMessage(in)
			commit = true
		} else {
			resp, err = dhcpv6.NewAdvertiseFromSolicit(in)
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind:
		resp, err = dhcpv6.NewReplyFromMessage(in)
		commit = true
	case dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
		resp, err = dhcpv6.NewReplyFromMessage(in)
		release = true
	case dhcpv6.MessageTypeInformationRequest:
		resp, err = dhcpv6.NewReplyFromMessage(in)
	default:
		return nil, fmt.Errorf("%w: %s", ErrMessageType, in.Type())
	}
	if err != nil {
		return nil, err
	}
	resp.AddOption(dhcpv6.OptServerID(s.h.serverID()))
	now := s.now()
	if in.Type() != dhcpv6.MessageTypeInformationRequest {
		s.mu.Lock()
		for _, ia := range in.Options.IANA() {
			key := string(cid.ToBytes()) + string(ia.IaId[:])
			out := &dhcpv6.OptIANA{IaId: ia.IaId}
			switch {
			case release:
				if l, ok := s.leases[key]; ok {
					delete(s.byIP, l.ip)
					delete(s.leases, key)
				}
				out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess})
			default:
				ip, ok := s.pick(key, now)
				if !ok {
					out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "range exhausted"})
					break
				}
				hold := offerHold
				if commit {
					hold = s.LeaseTime
				}
				if l, ok := s.leases[key]; !ok || l.expiry.Before(now.Add(hold)) {
					s.leases[key] = &lease6{ip: ip, expiry: now.Add(hold)}
					s.byIP[ip] = key
				}
				out.T1, out.T2 = s.LeaseTime/2, s.LeaseTime*4/5
				out.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.IP(ip.AsSlice()), PreferredLifetime: s.LeaseTime, ValidLifetime: s.LeaseTime})
			}
			resp.AddOption(out)
		}
		s.mu.Unlock()
	}
	if d.Boot() {
		if err := Apply6(d, r, in, resp, s.ServerIP); err != nil {
			s.logger().Warn("dhcpboot: cannot apply decision", "why", d.Why, "err", err)
		}
	}
	if rm, ok := m.(*dhcpv6.RelayMessage); ok {
		return dhcpv6.NewRelayReplFromRelayForw(rm, resp)
	}
	return resp, nil
}

// ListenAndServe serves DHCPv6 on Interface until ctx is done.
func (s *LabServer6) ListenAndServe(ctx context.Context) error {
	if s.Interface == "" {
		return errors.New("dhcpboot: LabServer6.Interface is required")
	}
	c, err := ListenUDP6(s.Interface)
	if err != nil {
		return err
	}
	return s.Serve(ctx, c)
}

// Serve answers on conn (see [ListenUDP6]) until ctx is done, then closes
// conn and returns nil.
func (s *LabServer6) Serve(ctx context.Context, conn net.PacketConn) error {
	if err := s.setup(); err != nil {
		conn.Close()
		return err
	}
	return serveUDP(ctx, conn, s.logger(), func(b []byte, peer net.Addr) {
		m, err := dhcpv6.FromBytes(b)
		if err != nil {
			s.logger().Debug("dhcpboot: malformed DHCPv6", "peer", peer.String(), "err", err)
			return
		}
		resp, err := s.Respond(m)
		if err != nil {
			s.logger().Debug("dhcpboot: no DHCPv6 answer", "peer", peer.String(), "err", err)
			return
		}
		if _, err := conn.WriteTo(resp.ToBytes(), peer); err != nil {
			s.logger().Warn("dhcpboot: DHCPv6 send failed", "to", peer.String(), "err", err)
		}
	})
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *LabServer6) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
