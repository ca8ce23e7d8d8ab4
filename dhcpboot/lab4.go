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

// maxRange bounds the dynamic range (a lab server, not an ISP's).
const maxRange = 1 << 16

// Subnet is one network a [LabServer4] or [Allocator4] gives addresses on.
// Prefix, RangeStart and RangeEnd are required; the other fields have
// usable zero values.
type Subnet struct {
	// Prefix is the network (option 1). A relayed request is served from
	// the subnet whose Prefix holds its giaddr.
	Prefix netip.Prefix
	// ServerIP is the server's address as this subnet's clients reach it
	// (option 54, default next server); zero = the server's own ServerIP.
	ServerIP netip.Addr
	// RangeStart and RangeEnd bound the dynamic addresses, inclusive.
	RangeStart, RangeEnd netip.Addr
	// Router (option 3) and DNS (option 6) are sent when set.
	Router netip.Addr
	DNS    []netip.Addr
	// LeaseTime defaults to one hour.
	LeaseTime time.Duration
	// Reservations are fixed addresses by MAC (inside or outside the range,
	// but inside Prefix).
	Reservations []Reservation
	// Interface, when set, names the interface this subnet is directly on:
	// an unrelayed request arriving there is served from it. Unrelayed
	// requests on other interfaces are served from the subnet whose Prefix
	// holds the server's own address.
	Interface string
}

// subnet is a Subnet checked, with its defaults and lookup tables.
type subnet struct {
	Subnet
	broadcast netip.Addr // never given out
	reserve   map[string]netip.Addr
	resIP     map[netip.Addr]string
}

// Allocator4 is the address half of a lab DHCPv4 server, in coredhcp's
// handler shape ([Allocator4.Handle]): it gives addresses from the ranges
// of its Subnets plus static reservations, keeps leases in memory and,
// when LeaseFile is set, in a file that survives restarts. [LabServer4]
// chains it before [Responder4.CoreDHCP]; use it alone to build another
// chain. Set Subnets (and ServerIP unless every subnet has one); fields
// must not change once it is in use, and it never writes them.
type Allocator4 struct {
	// Subnets are the networks served; they must not overlap.
	Subnets []Subnet
	// ServerIP is the server's own IPv4 address: option 54 for subnets
	// without their own ServerIP, and how an unrelayed request finds its
	// subnet (the one whose Prefix holds it).
	ServerIP netip.Addr
	// LeaseFile, when set, keeps the leases across restarts: it is read at
	// start, then every ACK, RELEASE and DECLINE appends one record to it,
	// written before the ACK is sent and made durable (fsync) before it or
	// just after as LeaseSync says; the file is compacted
	// (rewritten and renamed, crash-safe) when it has grown to four records
	// per live lease. Lines it cannot read are skipped and logged (file and
	// line), and the file is rewritten without them, keeping the old one as
	// LeaseFile+"~"; a LeaseFile that is not a regular file, cannot be read
	// or whose directory cannot be written makes the allocator refuse to
	// start. See [ReadLeases] for the format.
	LeaseFile string
	// LeaseSync chooses when a record is synced with respect to the reply
	// (see [LeaseSync]): by default before it ([SyncBeforeAck]), never
	// losing an acknowledged lease; [WriteBeforeAck] syncs just after, as
	// Kea does, for many more ACKs per second on a slow disk.
	LeaseSync LeaseSync
	// Logger gets warnings about the lease file (skipped lines, failed
	// saves) and declined addresses; nil logs nothing.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	once    sync.Once
	initErr error
	subnets []*subnet
	mu      sync.Mutex
	leases  map[string]*Lease     // by string(MAC)
	byIP    map[netip.Addr]string // address -> MAC of its lease
	// declined holds addresses clients declined, until when.
	declined map[netip.Addr]time.Time
	journal  *leaseJournal // nil without LeaseFile
}

func (s *Allocator4) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *Allocator4) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Init checks the configuration and reads the lease file, once; Handle
// calls it on first use. Call it at start to refuse to run, with the
// reason naming the field, rather than answer nobody.
func (s *Allocator4) Init() error {
	s.once.Do(func() { s.initErr = s.doInit() })
	return s.initErr
}

func (s *Allocator4) doInit() error {
	if s.ServerIP.IsValid() && !s.ServerIP.Unmap().Is4() {
		return fmt.Errorf("dhcpboot: Allocator4.ServerIP %v is not an IPv4 address", s.ServerIP)
	}
	if len(s.Subnets) == 0 {
		return errors.New("dhcpboot: Allocator4.Subnets is empty")
	}
	for i, c := range s.Subnets {
		sn, err := newSubnet(c, s.ServerIP.Unmap())
		if err != nil {
			return fmt.Errorf("dhcpboot: Subnets[%d]: %w", i, err)
		}
		for j, o := range s.subnets {
			if o.Prefix.Overlaps(sn.Prefix) {
				return fmt.Errorf("dhcpboot: Subnets[%d] %v overlaps Subnets[%d] %v", i, sn.Prefix, j, o.Prefix)
			}
		}
		s.subnets = append(s.subnets, sn)
	}
	s.leases = map[string]*Lease{}
	s.byIP = map[netip.Addr]string{}
	s.declined = map[netip.Addr]time.Time{}
	if s.LeaseFile != "" {
		j, ls, err := openJournal(s.LeaseFile, s.LeaseSync, s.logger().Warn)
		if err != nil {
			return err
		}
		s.journal = j
		for _, l := range ls {
			if s.subnetOf(l.IP) == nil {
				continue
			}
			if _, taken := s.byIP[l.IP]; taken {
				continue
			}
			s.leases[string(l.MAC)] = &l
			s.byIP[l.IP] = string(l.MAC)
		}
	}
	return nil
}

// newSubnet checks c and fills in its defaults.
func newSubnet(c Subnet, server netip.Addr) (*subnet, error) {
	sn := &subnet{Subnet: c}
	if !sn.ServerIP.IsValid() {
		sn.ServerIP = server
	}
	sn.ServerIP = sn.ServerIP.Unmap()
	switch {
	case !sn.ServerIP.Is4():
		return nil, errors.New("needs a ServerIP (its own or the server's)")
	case !sn.Prefix.IsValid() || !sn.Prefix.Addr().Is4():
		return nil, errors.New("needs an IPv4 Prefix")
	case !sn.Prefix.Contains(sn.RangeStart) || !sn.Prefix.Contains(sn.RangeEnd) || sn.RangeEnd.Less(sn.RangeStart):
		return nil, fmt.Errorf("range %v-%v is not inside %v", sn.RangeStart, sn.RangeEnd, sn.Prefix)
	}
	n := 0
	for a := sn.RangeStart; ; a = a.Next() {
		if n++; n > maxRange {
			return nil, fmt.Errorf("range larger than %d addresses", maxRange)
		}
		if a == sn.RangeEnd {
			break
		}
	}
	sn.Prefix = sn.Prefix.Masked()
	b := sn.Prefix.Addr().As4()
	for i := sn.Prefix.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	sn.broadcast = netip.AddrFrom4(b)
	if sn.LeaseTime <= 0 {
		sn.LeaseTime = time.Hour
	}
	sn.DNS = slices.Clone(sn.DNS)
	sn.Reservations = nil // the maps below hold them
	sn.reserve = map[string]netip.Addr{}
	sn.resIP = map[netip.Addr]string{}
	for _, r := range c.Reservations {
		if !sn.Prefix.Contains(r.IP) || len(r.MAC) == 0 {
			return nil, fmt.Errorf("reservation %v %v outside %v", r.MAC, r.IP, sn.Prefix)
		}
		if other, ok := sn.resIP[r.IP]; ok && other != string(r.MAC) {
			return nil, fmt.Errorf("%v reserved twice", r.IP)
		}
		sn.reserve[string(r.MAC)] = r.IP
		sn.resIP[r.IP] = string(r.MAC)
	}
	return sn, nil
}

// subnetOf returns the subnet whose prefix holds ip, or nil.
func (s *Allocator4) subnetOf(ip netip.Addr) *subnet {
	for _, sn := range s.subnets {
		if sn.Prefix.Contains(ip) {
			return sn
		}
	}
	return nil
}

// subnetFor chooses the subnet m is served from: by giaddr when relayed,
// else by the receiving interface, else the one holding the server's own
// address.
func (s *Allocator4) subnetFor(m *dhcpv4.DHCPv4, a Arrival) (*subnet, error) {
	if gi := relay4(m); gi.IsValid() {
		if sn := s.subnetOf(gi); sn != nil {
			return sn, nil
		}
		return nil, fmt.Errorf("relayed from %v, in no subnet served", gi)
	}
	if a.Interface != "" {
		for _, sn := range s.subnets {
			if sn.Interface == a.Interface {
				return sn, nil
			}
		}
	}
	if s.ServerIP.IsValid() {
		if sn := s.subnetOf(s.ServerIP.Unmap()); sn != nil {
			return sn, nil
		}
	}
	for _, sn := range s.subnets {
		if sn.Prefix.Contains(sn.ServerIP) && (sn.Interface == "" || sn.Interface == a.Interface) {
			return sn, nil
		}
	}
	return nil, fmt.Errorf("unrelayed request on interface %q, no subnet served there", a.Interface)
}

// Leases returns the current leases (including held offers), sorted by
// address.
func (s *Allocator4) Leases() []Lease {
	if s.Init() != nil {
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
func (s *Allocator4) free(sn *subnet, ip netip.Addr, mac string, now time.Time) bool {
	if ip == sn.ServerIP || ip == sn.Router || ip == sn.Prefix.Addr() || ip == sn.broadcast || !sn.Prefix.Contains(ip) {
		return false
	}
	if owner, ok := sn.resIP[ip]; ok && owner != mac {
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

func (sn *subnet) inRange(ip netip.Addr) bool {
	return ip.Is4() && !ip.Less(sn.RangeStart) && !sn.RangeEnd.Less(ip)
}

// pick finds mac's address on sn: its reservation, its lease (even
// expired, so a client keeps its address across boot stages), the address
// it asks for, or the first free one. Called with s.mu held.
func (s *Allocator4) pick(sn *subnet, mac string, want netip.Addr, now time.Time) (netip.Addr, bool) {
	if ip, ok := sn.reserve[mac]; ok && s.free(sn, ip, mac, now) {
		return ip, true
	}
	if l, ok := s.leases[mac]; ok && s.free(sn, l.IP, mac, now) {
		return l.IP, true
	}
	if sn.inRange(want) && s.free(sn, want, mac, now) {
		return want, true
	}
	for a := sn.RangeStart; ; a = a.Next() {
		if s.free(sn, a, mac, now) {
			return a, true
		}
		if a == sn.RangeEnd {
			return netip.Addr{}, false
		}
	}
}

// bind records a lease for mac. Called with s.mu held.
func (s *Allocator4) bind(hw net.HardwareAddr, ip netip.Addr, until time.Time) {
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
func (s *Allocator4) unbind(mac string, l *Lease) leaseRecord {
	delete(s.byIP, l.IP)
	delete(s.leases, mac)
	return leaseRecord{Lease: *l, remove: true}
}

// allocation is what the allocator did with one request.
type allocation struct {
	resp  *dhcpv4.DHCPv4 // nil: no reply
	lease *Lease         // the lease given, kept or ended
	batch *commitBatch   // when not nil, the reply waits for it
	why   string         // why no reply
}

// Handle has the shape of a coredhcp DHCPv4 plugin handler: it fills resp,
// the reply to req the server built so far, with the address the client
// gets (yiaddr, options 1, 3, 6, 51, 54, siaddr) and its message type
// (OFFER, ACK or NAK), and returns (resp, false) so the chain goes on.
// Messages that get no reply (RELEASE, DECLINE, a REQUEST for another
// server, no free address) return (nil, true). With a LeaseFile, Handle
// returns once the lease an ACK gives (or a RELEASE ends) is saved (see
// LeaseSync).
// Unrelayed requests are served from the subnet holding ServerIP.
func (s *Allocator4) Handle(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return nil, true
	}
	al := s.allocate(req, resp, Arrival{Mode: ModeFull})
	if al.batch != nil {
		if err := s.journal.wait(al.batch); err != nil {
			s.logger().Warn("dhcpboot: cannot save lease, no reply sent", "file", s.LeaseFile, "mac", req.ClientHWAddr.String(), "err", err)
			return nil, true
		}
	}
	if al.resp == nil {
		return nil, true
	}
	return al.resp, false
}

// allocate does Handle's work without waiting for the lease file: the
// reply must not be sent before al.batch (when not nil) is durable.
func (s *Allocator4) allocate(m, resp *dhcpv4.DHCPv4, a Arrival) (al allocation) {
	if err := s.Init(); err != nil {
		al.why = err.Error()
		return al
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest || len(m.ClientHWAddr) == 0 || len(m.ClientHWAddr) > maxHWLen {
		al.why = "not a BOOTREQUEST with an Ethernet-like address"
		return al
	}
	sn, err := s.subnetFor(m, a)
	if err != nil {
		al.why = err.Error()
		return al
	}
	return s.allocateOn(sn, m, resp)
}

func (s *Allocator4) allocateOn(sn *subnet, m, resp *dhcpv4.DHCPv4) (al allocation) {
	now := s.now()
	mac := string(m.ClientHWAddr)
	server := sn.ServerIP
	// Options 54 and 50 read without the library's copies.
	sid, asked := optAddr4(m, dhcpv4.OptionServerIdentifier), optAddr4(m, dhcpv4.OptionRequestedIPAddress)
	if asked.IsUnspecified() {
		asked = netip.Addr{} // as addrOf(m.RequestedIPAddress()) gives
	}
	var recs []leaseRecord // for the lease file
	s.mu.Lock()
	defer func() {
		if len(recs) > 0 && s.journal != nil {
			// Queued under s.mu: the file sees changes in the order made.
			al.batch = s.journal.add(recs...)
		}
		s.mu.Unlock()
	}()
	switch mt := m.MessageType(); mt {
	case dhcpv4.MessageTypeDiscover:
		ip, ok := s.pick(sn, mac, asked, now)
		if !ok {
			al.why = "no free address in " + sn.Prefix.String()
			return al
		}
		if l, has := s.leases[mac]; !has || l.IP != ip || l.Expiry.Before(now.Add(offerHold)) {
			s.bind(m.ClientHWAddr, ip, now.Add(offerHold))
		}
		al.resp, al.lease = sn.addressReply(m, resp, dhcpv4.MessageTypeOffer, ip), s.copyLease(mac)
	case dhcpv4.MessageTypeRequest:
		if sid.IsValid() && sid != server {
			// The client chose another server; drop a held offer.
			if l, ok := s.leases[mac]; ok && l.Expiry.Before(now.Add(offerHold+time.Second)) {
				delete(s.byIP, l.IP)
				delete(s.leases, mac)
			}
			al.why = "REQUEST for another server"
			return al
		}
		want := asked
		if !want.IsValid() {
			want = addrOf(m.ClientIPAddr)
		}
		ip, ok := s.pick(sn, mac, want, now)
		if !ok || ip != want {
			if !sid.IsValid() && !sn.Prefix.Contains(want) {
				al.why = fmt.Sprintf("REQUEST for %v, not ours", want)
				return al
			}
			resp.YourIPAddr = net.IPv4zero
			resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
			resp.UpdateOption(dhcpv4.OptServerIdentifier(net.IP(server.AsSlice())))
			broadcastWithoutAddress(resp)
			al.resp = resp
			return al
		}
		s.bind(m.ClientHWAddr, ip, now.Add(sn.LeaseTime))
		recs = append(recs, leaseRecord{Lease: *s.leases[mac]})
		al.resp, al.lease = sn.addressReply(m, resp, dhcpv4.MessageTypeAck, ip), s.copyLease(mac)
	case dhcpv4.MessageTypeRelease:
		if l, ok := s.leases[mac]; ok && l.IP == addrOf(m.ClientIPAddr) {
			recs = append(recs, s.unbind(mac, l))
			al.lease = &recs[len(recs)-1].Lease
		}
		al.why = "RELEASE gets no reply"
	case dhcpv4.MessageTypeDecline:
		// RFC 2131 §4.3.3: the client found the address in use. Only the
		// holder of the address can take it out of use (as dnsmasq), so a
		// stray DECLINE cannot empty the range.
		ip := asked
		if sid.IsValid() && sid != server {
			al.why = "DECLINE for another server"
		} else if l, ok := s.leases[mac]; ok && (l.IP == ip || !ip.IsValid()) {
			s.declined[l.IP] = now.Add(declineHold)
			s.logger().Warn("dhcpboot: address declined (in use by another host?), not given out for a while",
				"ip", l.IP.String(), "mac", m.ClientHWAddr.String(), "for", declineHold.String())
			recs = append(recs, s.unbind(mac, l))
			al.lease = &recs[len(recs)-1].Lease
			al.why = "DECLINE gets no reply"
		} else {
			al.why = fmt.Sprintf("DECLINE of %v, not the client's address", ip)
		}
	case dhcpv4.MessageTypeInform:
		al.resp = sn.addressReply(m, resp, dhcpv4.MessageTypeAck, netip.Addr{})
		al.resp.Options.Del(dhcpv4.OptionIPAddressLeaseTime)
	default:
		al.why = fmt.Sprintf("%s is not answered", mt)
	}
	return al
}

// optAddr4 returns the IPv4 address option code of m carries (what
// dhcpv4.GetIP reads, without its copy), invalid when it is absent or not
// 4 bytes long (when GetIP gives nil).
func optAddr4(m *dhcpv4.DHCPv4, code dhcpv4.OptionCode) netip.Addr {
	v := m.Options[code.Code()]
	if len(v) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(v))
}

// copyLease returns a copy of mac's lease. Called with s.mu held.
func (s *Allocator4) copyLease(mac string) *Lease {
	l := *s.leases[mac]
	return &l
}

// addressReply fills resp with the address ip (none for INFORM) on sn.
// Every value is cut from one new buffer: one allocation instead of the
// library's two per option.
func (sn *subnet) addressReply(m, resp *dhcpv4.DHCPv4, mt dhcpv4.MessageType, ip netip.Addr) *dhcpv4.DHCPv4 {
	buf := make([]byte, 0, 1+4*(5+len(sn.DNS)))
	take := func(v ...byte) []byte {
		i := len(buf)
		buf = append(buf, v...)
		return buf[i:len(buf):len(buf)]
	}
	take4 := func(a netip.Addr) []byte { b := a.As4(); return take(b[:]...) }
	resp.Options[dhcpv4.OptionDHCPMessageType.Code()] = take(byte(mt))
	server := take4(sn.ServerIP)
	resp.Options[optServerID] = server
	mask := ^uint32(0) << (32 - sn.Prefix.Bits())
	resp.Options[dhcpv4.OptionSubnetMask.Code()] = take(byte(mask>>24), byte(mask>>16), byte(mask>>8), byte(mask))
	secs := uint32(sn.LeaseTime / time.Second)
	resp.Options[dhcpv4.OptionIPAddressLeaseTime.Code()] = take(byte(secs>>24), byte(secs>>16), byte(secs>>8), byte(secs))
	resp.ServerIPAddr = server
	if ip.IsValid() {
		resp.YourIPAddr = take4(ip)
	}
	if sn.Router.IsValid() {
		resp.Options[dhcpv4.OptionRouter.Code()] = take4(sn.Router)
	}
	if len(sn.DNS) > 0 {
		i := len(buf)
		for _, a := range sn.DNS {
			take4(a)
		}
		resp.Options[dhcpv4.OptionDomainNameServer.Code()] = buf[i:len(buf):len(buf)]
	}
	if mt == dhcpv4.MessageTypeAck && m.ClientIPAddr != nil {
		resp.ClientIPAddr = m.ClientIPAddr
	}
	return resp
}

// LabServer4 is a small full DHCPv4 server for labs and `make demo`, built
// as a chain in coredhcp's shape: an [Allocator4] gives the address, then
// the [Responder4] the package sells adds the boot data the Policy
// decides. It serves several subnets: a relayed request is served from the
// subnet holding its giaddr, and the reply goes back to the relay
// (giaddr:67) with the relay agent option (82) echoed verbatim (RFC 3046
// §2.2); an unrelayed one from the subnet on its interface. It is not
// meant to replace Kea.
//
// It has net/http's server shape: set the fields, call ListenAndServe (or
// Serve with a socket of your own), then Shutdown or Close. The server
// never writes its fields; they must not change once serving has started.
// Set Subnets (and Interface or ServerIP); the other fields have usable
// zero values.
type LabServer4 struct {
	// Policy decides boot data; nil gives addresses only. A rule that
	// ignores a client makes the server ignore it entirely.
	Policy *Policy
	// PolicyFunc, when set, gives the policy for each request in place of
	// Policy (see Responder4.PolicyFunc): a program reloads its policy
	// while serving by returning the new one.
	PolicyFunc func() *Policy
	// Interface is the interface to serve; ListenAndServe requires it.
	Interface string
	// ServerIP is the server's own IPv4 address; zero = the first IPv4
	// address of Interface (looked up at start like ProxyServer.ServerIP).
	ServerIP netip.Addr
	// Subnets are the networks served (see [Subnet]); at least one.
	Subnets []Subnet
	// LeaseFile keeps the leases across restarts (see
	// [Allocator4.LeaseFile]), synced as LeaseSync says (see
	// [Allocator4.LeaseSync]).
	LeaseFile string
	LeaseSync LeaseSync
	// Options tune boot replies.
	Options ReplyOptions
	// Classify overrides the DHCPv4 classifier.
	Classify func(*dhcpv4.DHCPv4) archdetect.Client
	// OnReply and OnInvalid are the hooks of [ProxyServer]; OnReply's
	// [Exchange4] also has the Lease. With a LeaseFile, OnReply for an ACK
	// runs once the lease is saved (see LeaseSync), on the goroutine that
	// writes the lease file and sends the replies of each group of leases.
	// Hooks must not block, and must not change the exchange's messages.
	OnReply   func(Exchange4)
	OnInvalid func(Invalid)
	// Logger gets debug records per message, and warnings about the lease
	// file (skipped lines, failed saves); nil logs nothing.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	once    sync.Once
	initErr error
	alloc   *Allocator4 // built at start from the fields
	h       *Responder4
	life    lifecycle
}

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *LabServer4) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Init checks the configuration and reads the lease file, once; Serve and
// Reply call it on first use. Call it at start to refuse to run, with the
// reason naming the field to set, rather than answer nobody.
func (s *LabServer4) Init() error {
	s.once.Do(func() {
		server, err := serverAddr4("LabServer4", s.ServerIP, s.Interface)
		if err != nil && !s.ServerIP.IsValid() && s.Interface == "" && allSubnetsHaveServer(s.Subnets) {
			err = nil // each subnet names its own
		}
		if err != nil {
			s.initErr = err
			return
		}
		if len(s.Subnets) == 0 {
			s.initErr = errors.New("dhcpboot: LabServer4.Subnets is empty")
			return
		}
		s.alloc = &Allocator4{Subnets: s.Subnets, ServerIP: server, LeaseFile: s.LeaseFile, LeaseSync: s.LeaseSync, Logger: s.Logger, Now: s.Now}
		if err := s.alloc.Init(); err != nil {
			s.initErr = fmt.Errorf("%w (LabServer4)", err)
			return
		}
		s.h = &Responder4{Policy: s.Policy, PolicyFunc: s.PolicyFunc, ServerIP: server, Options: s.Options, Classify: s.Classify, Logger: s.Logger}
	})
	return s.initErr
}

func allSubnetsHaveServer(subnets []Subnet) bool {
	for _, sn := range subnets {
		if !sn.ServerIP.IsValid() {
			return false
		}
	}
	return len(subnets) > 0
}

// Leases returns the current leases (including held offers), sorted by
// address.
func (s *LabServer4) Leases() []Lease {
	if s.Init() != nil {
		return nil
	}
	return s.alloc.Leases()
}

// Reply handles one request that arrived as a says, without sockets: the
// subnet is chosen (by giaddr, else by a.Interface), the policy decides
// once, the allocator gives the address and the responder adds the boot
// data. a.Mode is ignored: a lab server always answers in ModeFull. With a LeaseFile, Reply
// returns once the lease an ACK gives (or a RELEASE ends) is saved (see
// [Allocator4.LeaseSync]); when that fails the exchange has no reply and Err says why. Send x.Reply to
// [ReplyAddr].
func (s *LabServer4) Reply(m *dhcpv4.DHCPv4, a Arrival) Exchange4 {
	x, saved := s.exchange(m, a)
	if saved != nil {
		done := make(chan error, 1)
		saved(func(err error) { done <- err }, func(f func()) { go f() })
		if err := <-done; err != nil {
			x.Reply, x.Err, x.NoReply = nil, err, "lease not saved: "+err.Error()
		}
	}
	return x
}

// exchange is Reply without waiting for the lease file: saved, when not
// nil, calls its first argument once the lease is saved (with the error
// when it could not be), which must succeed before x.Reply may be sent; it
// starts the file's writer with its second when none is running.
func (s *LabServer4) exchange(m *dhcpv4.DHCPv4, a Arrival) (x Exchange4, saved func(then func(error), start func(func()))) {
	a.Mode = ModeFull
	x = Exchange4{Peer: a.Peer, Interface: a.Interface, Request: m}
	if err := s.Init(); err != nil {
		x.NoReply, x.Err = err.Error(), err
		return x, nil
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest || len(m.ClientHWAddr) == 0 || len(m.ClientHWAddr) > maxHWLen {
		x.NoReply = "not a BOOTREQUEST with an Ethernet-like address"
		return x, nil
	}
	sn, err := s.alloc.subnetFor(m, a)
	if err != nil {
		x.NoReply = err.Error()
		return x, nil
	}
	r, d := s.h.decide(m, a, sn.ServerIP)
	x.Boot, x.Decision = r, d
	if d.Ignores() {
		x.NoReply = noReply(nil, d)
		return x, nil
	}
	resp := newReply4(m, replyOptionsHint) // echoes giaddr and option 82
	al := s.alloc.allocateOn(sn, m, resp)
	x.Reply, x.Lease, x.NoReply = al.resp, al.lease, al.why
	if x.Reply != nil && d.Boot() && x.Reply.MessageType() != dhcpv4.MessageTypeNak {
		if err := Apply4(d, r, m, x.Reply, s.h.Options); err != nil {
			s.logger().Warn("dhcpboot: cannot apply decision", "mac", m.ClientHWAddr.String(), "why", d.Why, "err", err)
		}
	}
	if al.batch != nil {
		batch := al.batch
		saved = func(then func(error), start func(func())) {
			s.alloc.journal.then(batch, func(err error) {
				if err != nil {
					s.logger().Warn("dhcpboot: cannot save lease, no reply sent", "file", s.LeaseFile, "mac", m.ClientHWAddr.String(), "err", err)
				}
				then(err)
			}, start)
		}
	}
	return x, saved
}

// ListenAndServe serves port 67 on Interface until Shutdown or Close, then
// returns [ErrServerClosed].
func (s *LabServer4) ListenAndServe() error {
	return listenAndServe("LabServer4", s.Interface, s.Init, listen67, s.Serve)
}

// listen67 opens the DHCP server port on iface.
func listen67(iface string) (net.PacketConn, error) { return ListenUDP4(iface, dhcpv4.ServerPort) }

// Serve answers on conn (port 67, able to broadcast: see [ListenUDP4])
// until Shutdown or Close, then returns [ErrServerClosed]; it returns
// another error when the configuration is invalid or reading fails. Serve
// owns conn and closes it on return. Replies that wait for their lease to
// be durable are sent by their own goroutine, so the receive loop goes on
// and the leases of a burst are synced together.
func (s *LabServer4) Serve(conn net.PacketConn) error {
	log := s.logger()
	return s.life.serve(conn, s.Init, log, func(b []byte, peer net.Addr) {
		if m := decode4(b, peer, s.Interface, s.OnInvalid, log); m != nil {
			x, saved := s.exchange(m, Arrival{Interface: s.Interface, Mode: ModeFull, Peer: addrPortOf(peer)})
			s.life.finish4(conn, x, peer, ModeFull, saved, s.OnReply, log)
		}
	})
}

// Shutdown stops the server reading and waits for the requests being
// handled (replies waiting for their lease to be saved are sent), or until
// ctx ends (then it returns ctx.Err()).
func (s *LabServer4) Shutdown(ctx context.Context) error { return s.life.shutdown(ctx) }

// Close stops the server at once: it closes its socket.
func (s *LabServer4) Close() error { return s.life.close() }
