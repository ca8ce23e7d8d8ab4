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
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/archdetect"
)

// LabServer6 is a small stateful DHCPv6 server for labs: it gives each
// client (DUID and IA_NA) an address from a range, in memory, and adds the
// boot URL (option 59) the Policy decides, which UEFI PXE and HTTP boot over
// IPv6 need together with an address. It is not meant to replace Kea.
//
// It has net/http's server shape, like [LabServer4]: set the fields, call
// ListenAndServe (or Serve), then Shutdown or Close. The server never
// writes its fields.
type LabServer6 struct {
	// Policy decides boot data; nil gives addresses only. A rule that
	// ignores a client makes the server ignore it entirely.
	Policy *Policy
	// PolicyFunc, when set, gives the policy for each request in place of
	// Policy (see Responder4.PolicyFunc): a program reloads its policy
	// while serving by returning the new one.
	PolicyFunc func() *Policy
	// Interface is the interface to serve; ListenAndServe requires it.
	Interface string
	// ServerIP is the server's IPv6 address, used in boot URLs. Required;
	// Init refuses a link-local address (a URL to it would need a zone,
	// which means nothing to the client). A zone is never sent.
	ServerIP netip.Addr
	// RangeStart and RangeEnd bound the addresses given, inclusive, when
	// Subnets is empty: then every request, relayed or not, is served
	// from this one range.
	RangeStart, RangeEnd netip.Addr
	// Subnets, when set, are the links served (in place of RangeStart and
	// RangeEnd), like [LabServer4.Subnets]: a relayed request is served
	// from the subnet whose Prefix holds the link address of the relay
	// next to the client (no answer when none does), an unrelayed one
	// from the subnet holding ServerIP, else the first.
	Subnets []Subnet6
	// LeaseTime is the valid lifetime (default one hour).
	LeaseTime time.Duration
	// ServerID is the server DUID; nil derives one from ServerIP.
	ServerID dhcpv6.DUID
	// Classify overrides the DHCPv6 classifier.
	Classify func(dhcpv6.DHCPv6) archdetect.Client
	// OnReply and OnInvalid are the hooks of [ProxyServer], for DHCPv6.
	// They run on the serving goroutine and must not block.
	OnReply   func(Exchange6)
	OnInvalid func(Invalid)
	// Logger gets debug records per message; nil logs nothing.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	once      sync.Once
	initErr   error
	h         *Responder6
	leaseTime time.Duration // LeaseTime or its default
	subnets   []Subnet6     // Subnets checked, or the one range
	mu        sync.Mutex
	leases    map[string]*lease6    // by DUID bytes + IAID
	byIP      map[netip.Addr]string // address -> key
	life      lifecycle
}

// Subnet6 is one link [LabServer6] gives addresses on.
type Subnet6 struct {
	// Prefix is the link's prefix; it must hold the range.
	Prefix netip.Prefix
	// ServerIP is the server's address as this link's clients reach it
	// (boot URLs); zero = LabServer6.ServerIP.
	ServerIP netip.Addr
	// RangeStart and RangeEnd bound the addresses given, inclusive.
	RangeStart, RangeEnd netip.Addr
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

// Init checks the configuration, once; Serve and Reply call it on first
// use.
func (s *LabServer6) Init() error {
	s.once.Do(func() {
		if s.initErr = checkServerIP6("LabServer6.ServerIP", s.ServerIP); s.initErr != nil {
			return
		}
		if s.subnets, s.initErr = s.checkSubnets(); s.initErr != nil {
			return
		}
		s.leaseTime = s.LeaseTime
		if s.leaseTime <= 0 {
			s.leaseTime = time.Hour
		}
		s.h = &Responder6{Policy: s.Policy, PolicyFunc: s.PolicyFunc, ServerIP: s.ServerIP, ServerID: s.ServerID, Classify: s.Classify, Logger: s.Logger}
		s.leases = map[string]*lease6{}
		s.byIP = map[netip.Addr]string{}
	})
	return s.initErr
}

// checkSubnets returns the subnets served: Subnets checked, or the one
// range RangeStart-RangeEnd.
func (s *LabServer6) checkSubnets() ([]Subnet6, error) {
	subs := s.Subnets
	if len(subs) == 0 {
		if err := checkRange6(s.RangeStart, s.RangeEnd); err != nil {
			return nil, fmt.Errorf("dhcpboot: LabServer6 %w", err)
		}
		return []Subnet6{{ServerIP: s.ServerIP, RangeStart: s.RangeStart, RangeEnd: s.RangeEnd}}, nil
	}
	out := make([]Subnet6, len(subs))
	for i, sn := range subs {
		field := fmt.Sprintf("LabServer6.Subnets[%d]", i)
		if !sn.Prefix.IsValid() || !sn.Prefix.Addr().Is6() {
			return nil, fmt.Errorf("dhcpboot: %s.Prefix %v is not an IPv6 prefix", field, sn.Prefix)
		}
		if err := checkRange6(sn.RangeStart, sn.RangeEnd); err != nil {
			return nil, fmt.Errorf("dhcpboot: %s %w", field, err)
		}
		if !sn.Prefix.Contains(sn.RangeStart) || !sn.Prefix.Contains(sn.RangeEnd) {
			return nil, fmt.Errorf("dhcpboot: %s range %v-%v is outside its prefix %v", field, sn.RangeStart, sn.RangeEnd, sn.Prefix)
		}
		if !sn.ServerIP.IsValid() {
			sn.ServerIP = s.ServerIP
		} else if err := checkServerIP6(field+".ServerIP", sn.ServerIP); err != nil {
			return nil, err
		}
		for j := range i {
			if subs[j].Prefix.Overlaps(sn.Prefix) {
				return nil, fmt.Errorf("dhcpboot: %s %v overlaps Subnets[%d] %v", field, sn.Prefix, j, subs[j].Prefix)
			}
		}
		out[i] = sn
	}
	return out, nil
}

// checkRange6 says why start-end is no usable IPv6 range.
func checkRange6(start, end netip.Addr) error {
	if !start.Is6() || !end.Is6() || end.Less(start) {
		return fmt.Errorf("range %v-%v is not an IPv6 range", start, end)
	}
	n := 0
	for a := start; a != end; a = a.Next() {
		if n++; n >= maxRange {
			return fmt.Errorf("range larger than %d addresses", maxRange)
		}
	}
	return nil
}

// subnet returns the subnet serving m: see [LabServer6.Subnets].
func (s *LabServer6) subnet(m dhcpv6.DHCPv6) (*Subnet6, error) {
	if len(s.Subnets) == 0 {
		return &s.subnets[0], nil
	}
	link, find := relay6(m), s.ServerIP
	if link.IsValid() {
		find = link
	}
	for i := range s.subnets {
		if s.subnets[i].Prefix.Contains(find.WithZone("")) {
			return &s.subnets[i], nil
		}
	}
	if link.IsValid() {
		return nil, fmt.Errorf("dhcpboot: no LabServer6 subnet holds link address %v", link)
	}
	return &s.subnets[0], nil
}

// pick returns key's address in sn, or the first free one. Called with
// s.mu held.
func (s *LabServer6) pick(sn *Subnet6, key string, now time.Time) (netip.Addr, bool) {
	if l, ok := s.leases[key]; ok {
		return l.ip, true
	}
	for a := sn.RangeStart; ; a = a.Next() {
		owner, taken := s.byIP[a]
		if !taken || s.leases[owner].expiry.Before(now) {
			if taken {
				delete(s.leases, owner)
				delete(s.byIP, a)
			}
			return a, true
		}
		if a == sn.RangeEnd {
			return netip.Addr{}, false
		}
	}
}

// Reply handles one DHCPv6 message (relayed or not) that arrived as a
// says, without sockets: x.Reply is the reply to send to the sender, or nil
// and x.NoReply says why not.
func (s *LabServer6) Reply(m dhcpv6.DHCPv6, a Arrival) Exchange6 {
	x := Exchange6{Peer: a.Peer, Interface: a.Interface, Request: m}
	resp, r, d, err := s.reply(m, a)
	x.Reply, x.Boot, x.Decision = resp, r, d
	if err != nil {
		x.NoReply = noReply(err, d)
	}
	return x
}

func (s *LabServer6) reply(m dhcpv6.DHCPv6, a Arrival) (_ dhcpv6.DHCPv6, _ *Request, d Decision, _ error) {
	if err := s.Init(); err != nil {
		return nil, nil, d, err
	}
	in, err := m.GetInnerMessage()
	if err != nil {
		return nil, nil, d, fmt.Errorf("dhcpboot: %w", err)
	}
	cid := in.Options.ClientID()
	if cid == nil {
		return nil, nil, d, errors.New("dhcpboot: DHCPv6 message without client ID")
	}
	if sid := in.Options.ServerID(); sid != nil && !sid.Equal(s.h.serverID()) {
		return nil, nil, d, errors.New("dhcpboot: DHCPv6 message for another server")
	}
	sn, err := s.subnet(m)
	if err != nil {
		return nil, nil, d, err
	}
	r, d := s.h.Decide(m, a)
	r.ServerIP = sn.ServerIP
	if d.Ignores() {
		return nil, r, d, fmt.Errorf("dhcpboot: ignored: %s", d.Why)
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
		return nil, r, d, fmt.Errorf("%w: %s", ErrMessageType, in.Type())
	}
	if err != nil {
		return nil, r, d, fmt.Errorf("dhcpboot: %w", err)
	}
	resp.AddOption(dhcpv6.OptServerID(s.h.serverID()))
	now := s.now()
	if in.Type() != dhcpv6.MessageTypeInformationRequest {
		s.mu.Lock()
		for _, ia := range in.Options.IANA() {
			key := sn.RangeStart.String() + "/" + string(cid.ToBytes()) + string(ia.IaId[:])
			out := &dhcpv6.OptIANA{IaId: ia.IaId}
			switch {
			case release:
				if l, ok := s.leases[key]; ok {
					delete(s.byIP, l.ip)
					delete(s.leases, key)
				}
				out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess})
			default:
				ip, ok := s.pick(sn, key, now)
				if !ok {
					out.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "range exhausted"})
					break
				}
				hold := offerHold
				if commit {
					hold = s.leaseTime
				}
				if l, ok := s.leases[key]; !ok || l.expiry.Before(now.Add(hold)) {
					s.leases[key] = &lease6{ip: ip, expiry: now.Add(hold)}
					s.byIP[ip] = key
				}
				out.T1, out.T2 = s.leaseTime/2, s.leaseTime*4/5
				out.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.IP(ip.AsSlice()), PreferredLifetime: s.leaseTime, ValidLifetime: s.leaseTime})
			}
			resp.AddOption(out)
		}
		s.mu.Unlock()
	}
	if d.Boot() {
		if err := Apply6(d, r, in, resp, s.h.Options); err != nil {
			s.logger().Warn("dhcpboot: cannot apply decision", "why", d.Why, "err", err)
		}
	}
	out, err := wrapRelay6(m, resp)
	return out, r, d, err
}

// ListenAndServe serves DHCPv6 on Interface until Shutdown or Close, then
// returns [ErrServerClosed].
func (s *LabServer6) ListenAndServe() error {
	return listenAndServe("LabServer6", s.Interface, s.Init, ListenUDP6, s.Serve)
}

// Serve answers on conn (see [ListenUDP6]) until Shutdown or Close, then
// returns [ErrServerClosed]; it returns another error when the
// configuration is invalid or reading fails. Serve owns conn and closes it
// on return.
func (s *LabServer6) Serve(conn net.PacketConn) error {
	log := s.logger()
	return s.life.serve(conn, s.Init, log, func(b []byte, peer net.Addr) {
		if m := decode6(b, peer, s.Interface, s.OnInvalid, log); m != nil {
			finish6(conn, s.Reply(m, Arrival{Interface: s.Interface, Peer: addrPortOf(peer)}), peer, s.OnReply, log)
		}
	})
}

// Shutdown stops the server reading and waits for the requests being
// handled, or until ctx ends (then it returns ctx.Err()).
func (s *LabServer6) Shutdown(ctx context.Context) error { return s.life.shutdown(ctx) }

// Close stops the server at once: it closes its socket.
func (s *LabServer6) Close() error { return s.life.close() }

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *LabServer6) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
