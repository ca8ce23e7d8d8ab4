package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// Reservation gives one client (by MAC) a fixed address.
type Reservation struct {
	MAC net.HardwareAddr
	IP  netip.Addr
}

// offerHold is how long an offered, not yet requested address stays held.
const offerHold = time.Minute

// declineHold is how long an address a client declined (DHCPDECLINE: it
// found the address in use) is not given out, as dnsmasq does
// (DECLINE_BACKOFF, 10 minutes). The hold lives in memory only.
const declineHold = 10 * time.Minute

// maxPendingAcks bounds the replies Serve holds while their leases are
// being made durable; beyond it the receive loop waits.
const maxPendingAcks = 1024

// maxRange bounds the dynamic range (a lab server, not an ISP's).
const maxRange = 1 << 16

// LabServer is a small full DHCPv4 server for labs and `make demo`: it
// gives addresses from one range plus static reservations, keeps leases in
// memory and, when LeaseFile is set, in a file that survives restarts, and
// adds the boot data the Policy decides to its offers and ACKs. It is not
// meant to replace Kea.
//
// Set Subnet, RangeStart and RangeEnd (and Interface or a connection); the
// other fields have usable zero values. Fields must not change once serving
// has started.
type LabServer struct {
	// Policy decides boot data; nil gives addresses only. A rule that
	// ignores a client makes the server ignore it entirely.
	Policy *Policy
	// Interface is the interface to serve; ListenAndServe requires it.
	Interface string
	// ServerIP is the server's address on Subnet; zero = the first IPv4
	// address of Interface (looked up like ProxyServer.ServerIP).
	ServerIP netip.Addr
	// Subnet is the network served (option 1); requests relayed from
	// elsewhere (giaddr outside Subnet) are ignored.
	Subnet netip.Prefix
	// RangeStart and RangeEnd bound the dynamic addresses, inclusive.
	RangeStart, RangeEnd netip.Addr
	// Router (option 3) and DNS (option 6) are sent when set.
	Router netip.Addr
	DNS    []netip.Addr
	// LeaseTime defaults to one hour.
	LeaseTime time.Duration
	// Reservations are fixed addresses by MAC (inside or outside the range,
	// but inside Subnet).
	Reservations []Reservation
	// LeaseFile, when set, keeps the leases across restarts: it is read at
	// start, then every ACK, RELEASE and DECLINE appends one record to it,
	// made durable (fsync) before the ACK is sent; the file is compacted
	// (rewritten and renamed, crash-safe) when it has grown to four records
	// per live lease. Lines it cannot read are skipped and logged (file and
	// line), and the file is rewritten without them, keeping the old one as
	// LeaseFile+"~"; a LeaseFile that is not a regular file, cannot be read
	// or whose directory cannot be written makes the server refuse to start.
	// See [ReadLeases] for the format.
	LeaseFile string
	// Reply tunes boot replies (Mode is always ModeFull).
	Reply ReplyOptions
	// Classify overrides the DHCPv4 classifier.
	Classify func(*dhcpv4.DHCPv4) archdetect.Client
	// Logger gets debug records per message, and warnings about the lease
	// file (skipped lines, failed saves); nil logs nothing.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	once    sync.Once
	initErr error
	h       *Handler
	mu      sync.Mutex
	leases  map[string]*Lease     // by string(MAC)
	byIP    map[netip.Addr]string // address -> MAC of its lease
	reserve map[string]netip.Addr
	resIP   map[netip.Addr]string
	// broadcast is the subnet's broadcast address, never given out.
	broadcast netip.Addr
	// declined holds addresses clients declined, until when.
	declined map[netip.Addr]time.Time
	journal  *leaseJournal // nil without LeaseFile
}

func (s *LabServer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *LabServer) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Init checks the configuration and reads the lease file, once; Respond
// and Serve call it on first use. Call it at start to refuse to run, with
// the reason, rather than answer nobody: it fails when the configuration is
// invalid or LeaseFile cannot be used (see LeaseFile).
func (s *LabServer) Init() error { return s.setup() }

func (s *LabServer) setup() error {
	s.once.Do(func() { s.initErr = s.doSetup() })
	return s.initErr
}

func (s *LabServer) doSetup() error {
	if !s.ServerIP.IsValid() && s.Interface != "" {
		ip, err := InterfaceIPv4(s.Interface)
		if err != nil {
			return err
		}
		s.ServerIP = ip
	}
	switch {
	case !s.ServerIP.Is4():
		return errors.New("dhcpboot: LabServer needs an IPv4 ServerIP")
	case !s.Subnet.IsValid() || !s.Subnet.Addr().Is4():
		return errors.New("dhcpboot: LabServer needs an IPv4 Subnet")
	case !s.Subnet.Contains(s.RangeStart) || !s.Subnet.Contains(s.RangeEnd) || s.RangeEnd.Less(s.RangeStart):
		return fmt.Errorf("dhcpboot: LabServer range %v-%v is not inside %v", s.RangeStart, s.RangeEnd, s.Subnet)
	}
	n := 0
	for a := s.RangeStart; ; a = a.Next() {
		if n++; n > maxRange {
			return fmt.Errorf("dhcpboot: LabServer range larger than %d addresses", maxRange)
		}
		if a == s.RangeEnd {
			break
		}
	}
	s.Subnet = s.Subnet.Masked()
	b := s.Subnet.Addr().As4()
	for i := s.Subnet.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	s.broadcast = netip.AddrFrom4(b)
	if s.LeaseTime <= 0 {
		s.LeaseTime = time.Hour
	}
	s.leases = map[string]*Lease{}
	s.byIP = map[netip.Addr]string{}
	s.reserve = map[string]netip.Addr{}
	s.resIP = map[netip.Addr]string{}
	s.declined = map[netip.Addr]time.Time{}
	for _, r := range s.Reservations {
		if !s.Subnet.Contains(r.IP) || len(r.MAC) == 0 {
			return fmt.Errorf("dhcpboot: reservation %v %v outside %v", r.MAC, r.IP, s.Subnet)
		}
		if other, ok := s.resIP[r.IP]; ok && other != string(r.MAC) {
			return fmt.Errorf("dhcpboot: %v reserved twice", r.IP)
		}
		s.reserve[string(r.MAC)] = r.IP
		s.resIP[r.IP] = string(r.MAC)
	}
	if s.LeaseFile != "" {
		j, ls, err := openJournal(s.LeaseFile, s.logger().Warn)
		if err != nil {
			return err
		}
		s.journal = j
		for _, l := range ls {
			if !s.Subnet.Contains(l.IP) {
				continue
			}
			if _, taken := s.byIP[l.IP]; taken {
				continue
			}
			s.leases[string(l.MAC)] = &l
			s.byIP[l.IP] = string(l.MAC)
		}
	}
	s.h = &Handler{Policy: s.Policy, ServerIP: s.ServerIP, Reply: s.Reply, Interface: s.Interface, Classify: s.Classify, Logger: s.Logger}
	s.h.Reply.Mode, s.h.Reply.ServerIP = ModeFull, s.ServerIP
	return nil
}

// Leases returns the current leases (including held offers), sorted by
// address.
func (s *LabServer) Leases() []Lease {
	if s.setup() != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Lease, 0, len(s.leases))
	for _, l := range s.leases {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

// free reports whether ip may be given to mac. Called with s.mu held.
func (s *LabServer) free(ip netip.Addr, mac string, now time.Time) bool {
	if ip == s.ServerIP || ip == s.Router || ip == s.Subnet.Addr() || ip == s.broadcast || !s.Subnet.Contains(ip) {
		return false
	}
	if owner, ok := s.resIP[ip]; ok && owner != mac {
		return false
	}
	if until, ok := s.declined[ip]; ok {
		if now.Before(until) {
			return false
		}
		delete(s.declined, ip)
	}
	if owner, ok := s.byIP[ip]; ok && owner != mac && s.leases[owner].Expiry.After(now) {
		return false
	}
	return true
}

func (s *LabServer) inRange(ip netip.Addr) bool {
	return ip.Is4() && !ip.Less(s.RangeStart) && !s.RangeEnd.Less(ip)
}

// pick finds mac's address: its reservation, its lease (even expired, so a
// client keeps its address across boot stages), the address it asks for,
// or the first free one. Called with s.mu held.
func (s *LabServer) pick(mac string, want netip.Addr, now time.Time) (netip.Addr, bool) {
	if ip, ok := s.reserve[mac]; ok && s.free(ip, mac, now) {
		return ip, true
	}
	if l, ok := s.leases[mac]; ok && s.free(l.IP, mac, now) {
		return l.IP, true
	}
	if s.inRange(want) && s.free(want, mac, now) {
		return want, true
	}
	for a := s.RangeStart; ; a = a.Next() {
		if s.free(a, mac, now) {
			return a, true
		}
		if a == s.RangeEnd {
			return netip.Addr{}, false
		}
	}
}

// bind records a lease for mac. Called with s.mu held.
func (s *LabServer) bind(hw net.HardwareAddr, ip netip.Addr, until time.Time) {
	mac := string(hw)
	if old, ok := s.leases[mac]; ok && old.IP != ip {
		delete(s.byIP, old.IP)
	}
	if owner, ok := s.byIP[ip]; ok && owner != mac {
		delete(s.leases, owner)
	}
	s.leases[mac] = &Lease{MAC: slices.Clone(hw), IP: ip, Expiry: until.UTC().Truncate(time.Second)}
	s.byIP[ip] = mac
}

// unbind ends mac's lease (RELEASE, DECLINE) and returns the journal
// record saying so. Called with s.mu held.
func (s *LabServer) unbind(mac string, l *Lease) leaseRecord {
	delete(s.byIP, l.IP)
	delete(s.leases, mac)
	return leaseRecord{Lease: *l, remove: true}
}

// Respond handles one request and returns the reply to send (nil and an
// error saying why when there is none). Use [ReplyAddr] for the destination.
// With a LeaseFile, Respond returns once the lease an ACK gives (or a
// RELEASE ends) is durable in the file; when that fails it returns no reply
// and the error.
func (s *LabServer) Respond(m *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	resp, b, err := s.respond(m)
	if b != nil {
		if werr := s.journal.wait(b); werr != nil {
			s.logger().Warn("dhcpboot: cannot save lease, no reply sent", "file", s.LeaseFile, "mac", m.ClientHWAddr.String(), "err", werr)
			return nil, werr
		}
	}
	return resp, err
}

// respond is Respond without waiting for the lease file: the reply must
// not be sent before b (when not nil) is durable (s.journal.wait).
func (s *LabServer) respond(m *dhcpv4.DHCPv4) (_ *dhcpv4.DHCPv4, b *commitBatch, _ error) {
	if err := s.setup(); err != nil {
		return nil, nil, err
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest || len(m.ClientHWAddr) == 0 || len(m.ClientHWAddr) > maxHWLen {
		return nil, nil, ErrNotBootRequest
	}
	if gi := m.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() && !s.Subnet.Contains(netip.AddrFrom4([4]byte(gi))) {
		return nil, nil, fmt.Errorf("dhcpboot: relayed from %v, outside %v", gi, s.Subnet)
	}
	r, d := s.h.Decide4(m)
	if d.Matched() && d.Rule.Action.Ignore {
		return nil, nil, fmt.Errorf("dhcpboot: ignored: %s", d.Why)
	}
	now := s.now()
	mac := string(m.ClientHWAddr)
	var (
		resp *dhcpv4.DHCPv4
		err  error
		recs []leaseRecord // for the lease file
	)
	s.mu.Lock()
	switch mt := m.MessageType(); mt {
	case dhcpv4.MessageTypeDiscover:
		ip, ok := s.pick(mac, addrOf(m.RequestedIPAddress()), now)
		if !ok {
			s.mu.Unlock()
			return nil, nil, errors.New("dhcpboot: address range exhausted")
		}
		if l, has := s.leases[mac]; !has || l.IP != ip || l.Expiry.Before(now.Add(offerHold)) {
			s.bind(m.ClientHWAddr, ip, now.Add(offerHold))
		}
		resp, err = s.addressReply(m, dhcpv4.MessageTypeOffer, ip)
	case dhcpv4.MessageTypeRequest:
		sid := m.ServerIdentifier()
		if sid != nil && !sid.Equal(net.IP(s.ServerIP.AsSlice())) {
			// The client chose another server; drop a held offer.
			if l, ok := s.leases[mac]; ok && l.Expiry.Before(now.Add(offerHold+time.Second)) {
				delete(s.byIP, l.IP)
				delete(s.leases, mac)
			}
			s.mu.Unlock()
			return nil, nil, errors.New("dhcpboot: REQUEST for another server")
		}
		want := addrOf(m.RequestedIPAddress())
		if !want.IsValid() {
			want = addrOf(m.ClientIPAddr)
		}
		ip, ok := s.pick(mac, want, now)
		if !ok || ip != want {
			s.mu.Unlock()
			if sid == nil && !s.Subnet.Contains(want) {
				return nil, nil, fmt.Errorf("dhcpboot: REQUEST for %v, not ours", want)
			}
			nak, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP(s.ServerIP.AsSlice()))))
			if err != nil {
				return nil, nil, err
			}
			broadcastWithoutAddress(nak)
			return nak, nil, nil
		}
		s.bind(m.ClientHWAddr, ip, now.Add(s.LeaseTime))
		recs = append(recs, leaseRecord{Lease: *s.leases[mac]})
		resp, err = s.addressReply(m, dhcpv4.MessageTypeAck, ip)
	case dhcpv4.MessageTypeRelease:
		if l, ok := s.leases[mac]; ok && l.IP == addrOf(m.ClientIPAddr) {
			recs = append(recs, s.unbind(mac, l))
		}
	case dhcpv4.MessageTypeDecline:
		// RFC 2131 §4.3.3: the client found the address in use. Only the
		// holder of the address can take it out of use (as dnsmasq), so a
		// stray DECLINE cannot empty the range.
		ip := addrOf(m.RequestedIPAddress())
		if sid := m.ServerIdentifier(); sid != nil && !sid.Equal(net.IP(s.ServerIP.AsSlice())) {
			err = errors.New("dhcpboot: DECLINE for another server")
		} else if l, ok := s.leases[mac]; ok && (l.IP == ip || !ip.IsValid()) {
			s.declined[l.IP] = now.Add(declineHold)
			s.h.logger().Warn("dhcpboot: address declined (in use by another host?), not given out for a while",
				"ip", l.IP.String(), "mac", m.ClientHWAddr.String(), "for", declineHold.String())
			recs = append(recs, s.unbind(mac, l))
		} else {
			err = fmt.Errorf("dhcpboot: DECLINE of %v, not the client's address", ip)
		}
	case dhcpv4.MessageTypeInform:
		resp, err = s.addressReply(m, dhcpv4.MessageTypeAck, netip.Addr{})
		if resp != nil {
			resp.Options.Del(dhcpv4.OptionIPAddressLeaseTime)
		}
	default:
		err = fmt.Errorf("%w: %s", ErrMessageType, mt)
	}
	if len(recs) > 0 && s.journal != nil {
		// Queued under s.mu: the file sees changes in the order made.
		b = s.journal.add(recs...)
	}
	s.mu.Unlock()
	if err != nil || resp == nil {
		return nil, b, err
	}
	if d.Boot() {
		if aerr := Apply(d, r, m, resp, s.h.Reply); aerr != nil {
			s.h.logger().Warn("dhcpboot: cannot apply decision", "mac", m.ClientHWAddr.String(), "err", aerr)
		}
	}
	s.h.logger().Debug("dhcpboot: lab answer", "mac", m.ClientHWAddr.String(),
		"type", resp.MessageType().String(), "ip", resp.YourIPAddr.String(), "why", d.Why)
	return resp, b, nil
}

func addrOf(ip net.IP) netip.Addr {
	if v4 := ip.To4(); v4 != nil && !v4.IsUnspecified() {
		return netip.AddrFrom4([4]byte(v4))
	}
	return netip.Addr{}
}

func (s *LabServer) addressReply(m *dhcpv4.DHCPv4, mt dhcpv4.MessageType, ip netip.Addr) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP(s.ServerIP.AsSlice()))),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(s.Subnet.Bits(), 32))),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(s.LeaseTime)),
		dhcpv4.WithServerIP(net.IP(s.ServerIP.AsSlice())),
	}
	if ip.IsValid() {
		mods = append(mods, dhcpv4.WithYourIP(net.IP(ip.AsSlice())))
	}
	if s.Router.IsValid() {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRouter(net.IP(s.Router.AsSlice()))))
	}
	if len(s.DNS) > 0 {
		ips := make([]net.IP, len(s.DNS))
		for i, a := range s.DNS {
			ips[i] = net.IP(a.AsSlice())
		}
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(ips...)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		return nil, err
	}
	if mt == dhcpv4.MessageTypeAck && m.ClientIPAddr != nil {
		resp.ClientIPAddr = m.ClientIPAddr
	}
	return resp, nil
}

// ListenAndServe serves port 67 on Interface until ctx is done.
func (s *LabServer) ListenAndServe(ctx context.Context) error {
	if s.Interface == "" {
		return errors.New("dhcpboot: LabServer.Interface is required (a DHCP server never serves every interface)")
	}
	c, err := ListenUDP4(s.Interface, dhcpv4.ServerPort)
	if err != nil {
		return err
	}
	return s.Serve(ctx, c)
}

// Serve answers on conn (port 67, able to broadcast: see [ListenUDP4])
// until ctx is done, then closes conn and returns nil.
func (s *LabServer) Serve(ctx context.Context, conn net.PacketConn) error {
	if err := s.setup(); err != nil {
		conn.Close()
		return err
	}
	// Replies that wait for their lease to be durable are sent by their
	// own goroutine, so the receive loop goes on and the leases of a burst
	// are synced together.
	var pending sync.WaitGroup
	slots := make(chan struct{}, maxPendingAcks)
	err := serveUDP(ctx, conn, s.logger(), func(b []byte, peer net.Addr) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			s.h.logger().DebugContext(ctx, "dhcpboot: malformed DHCPv4", "peer", peer.String(), "err", err)
			return
		}
		resp, batch, err := s.respond(m)
		if err != nil {
			s.h.logger().DebugContext(ctx, "dhcpboot: no answer", "peer", peer.String(), "mac", m.ClientHWAddr.String(), "err", err)
		}
		send := func() {
			if resp == nil {
				return
			}
			dst := ReplyAddr(m, resp)
			if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
				s.h.logger().WarnContext(ctx, "dhcpboot: send failed", "to", dst.String(), "err", err)
			}
		}
		if batch == nil {
			send()
			return
		}
		slots <- struct{}{}
		pending.Add(1)
		go func() {
			defer func() { <-slots; pending.Done() }()
			if err := s.journal.wait(batch); err != nil {
				s.logger().Warn("dhcpboot: cannot save lease, no reply sent", "file", s.LeaseFile, "mac", m.ClientHWAddr.String(), "err", err)
				return
			}
			send()
		}()
	})
	pending.Wait()
	return err
}
