package pxekit

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pxekit/pxekit/archdetect"
)

// Session is what the server knows of one machine, as a copy. Its slices
// (MAC, the Client's) are shared with the table: treat them as read-only.
type Session struct {
	// MAC identifies the session.
	MAC net.HardwareAddr
	// UUID is the machine's SMBIOS UUID when a request carried one, in
	// canonical lower-case form; a value that is no UUID is ignored.
	UUID string
	// IP is the address last tied to the machine (lab lease, DHCP ciaddr or
	// requested address, or an iPXE HTTP request naming the MAC); zero when
	// none is known. A dual-stack machine's IPv4 and IPv6 boots replace
	// each other.
	IP netip.Addr
	// Client is the last classification from DHCP (from iPXE's HTTP query
	// only while no DHCP request was seen).
	Client archdetect.Client
	// Stage is how far the current boot got, reached at StageAt.
	Stage   Stage
	StageAt time.Time
	// FirstSeen and LastSeen bound the session's life.
	FirstSeen, LastSeen time.Time
	// Rule and Why are the last DHCP decision: the rule's name and why it
	// matched (or why nothing was sent).
	Rule, Why string
	// BootFile is the boot file name or URL the last DHCP reply with boot
	// data named; a TFTP or HTTP fetch of it is the StageBootFile fetch.
	BootFile string
	// Known is true when the inventory knows the machine (see SetKnown).
	Known bool
	// Boots counts the boots seen: 1 for the first, plus one each time a
	// DHCP request starts a new boot.
	Boots int
	// LastFile is the file or URL path of the last fetch tied to the
	// machine, LastFileFailed whether it failed; Bytes adds up the bytes
	// of every fetch tied to it.
	LastFile       string
	LastFileFailed bool
	Bytes          int64
}

// StageChange is the stage move an observation caused, for a StageEvent.
// The zero value means no change.
type StageChange struct {
	From, To Stage
	// NewBoot is true when a DHCP request started a new boot: To is then
	// StageDHCP, StageIPXE (iPXE in ROM) or StageUnknown (not answered),
	// and From may be later than To.
	NewBoot bool
}

// Changed reports whether the observation moved the stage.
func (c StageChange) Changed() bool { return c.From != c.To || c.NewBoot }

// DHCPObservation is one DHCP exchange as the server saw it.
type DHCPObservation struct {
	// Client is archdetect's reading of the request. Its MAC identifies
	// the machine; its UUID and IPXE fields are used too.
	Client archdetect.Client
	// IP is the address the machine has or gets: the lab lease (yiaddr),
	// the request's ciaddr (a proxyDHCP REQUEST to port 4011 carries it),
	// or option 50 of a broadcast REQUEST that another server will answer.
	// Zero when the message tells none.
	IP netip.Addr
	// Discover is true for a DHCPDISCOVER or DHCPv6 SOLICIT, the start of
	// an exchange; it may start a new boot.
	Discover bool
	// Rule and Why are the decision (Why may say why nothing was sent).
	Rule, Why string
	// BootFile is the boot file name or URL the reply named (kept in the
	// session only when Sent).
	BootFile string
	// Sent is true when the reply carried boot data.
	Sent bool
	// Arrived is when the request arrived, on the clock of Sessions.Now
	// (zero: not known). A server that sends its reply before it reports
	// the exchange may report it after the machine has moved on (fetched
	// the boot file, asked again): a Discover that arrived before the
	// request that moved the session to its stage is such a late report,
	// not a new boot.
	Arrived time.Time
	// XID is the request's transaction ID (0: not known). Firmware and
	// iPXE keep one per DHCP exchange and send it again when they
	// retransmit, so a Discover with the ID of an exchange already seen in
	// this boot is no new boot (a retransmission the server got to late).
	XID uint32
}

// FetchKind says what a TFTP or HTTP fetch was in the boot chain.
type FetchKind uint8

// Fetch kinds.
const (
	// FetchOther is any other file: it updates LastSeen, not the stage.
	FetchOther FetchKind = iota
	// FetchBootFile is the boot file DHCP handed out: StageBootFile.
	FetchBootFile
	// FetchScript is an iPXE script: StageScript.
	FetchScript
	// FetchKernel is a kernel or initrd named by a script: StageKernel.
	FetchKernel
)

var fetchStages = [...]Stage{FetchOther: StageUnknown, FetchBootFile: StageBootFile, FetchScript: StageScript, FetchKernel: StageKernel}

// FetchObservation is one TFTP transfer or HTTP response, tied to a
// machine by the peer's IP.
type FetchObservation struct {
	IP   netip.Addr
	Kind FetchKind
	// Path is the file name or URL path.
	Path string
	// Bytes is what was sent.
	Bytes int64
	// Failed is true when the transfer did not complete (a TFTP client
	// that stops after the tsize answer, an HTTP error status, a reset):
	// a failed fetch never moves the stage.
	Failed bool
	// Started is when the request came, on the clock of Sessions.Now
	// (zero: not known). A FetchKernel fetch that started before the
	// request that brought the session to StageScript is the late report
	// of an earlier fetch (the boot file, whose transfer ended as iPXE
	// began), not a kernel: it does not move the stage.
	Started time.Time
}

// Defaults of Sessions.
const (
	DefaultMaxSessions = 10000
	DefaultSessionTTL  = time.Hour
)

// Sessions is the table of machines seen, one Session per MAC, also
// indexed by IP and UUID, so a TFTP or HTTP request (which shows only the
// peer's IP) finds what DHCP learned. The zero value is ready to use;
// set the fields before the first call and do not change them after.
// Safe for concurrent use; every call takes constant time (plus the
// expired sessions it drops).
type Sessions struct {
	// MaxSessions bounds the table (0 = DefaultMaxSessions): the
	// least recently seen session makes room for a new one.
	MaxSessions int
	// TTL drops a session that has not been seen for that long
	// (0 = DefaultSessionTTL; negative = never).
	TTL time.Duration
	// Now is the clock (nil = time.Now), for tests.
	Now func() time.Time

	mu     sync.Mutex
	byMAC  map[string]*sessionEntry
	byIP   map[netip.Addr]*sessionEntry
	byUUID map[string]*sessionEntry
	// lru is the sentinel of a circular list, most recently seen first.
	lru    sessionEntry
	stages [StageKernel + 1]int
}

// sessionEntry is one session in the table and in the recency list.
type sessionEntry struct {
	prev, next *sessionEntry
	key        string // string(MAC)
	s          Session
	reported   bool // SetKnown(false) already answered true
	// since is when the request that moved the session to its stage
	// arrived or started (its observation time when not known).
	since time.Time
	// xids are the last DHCP transaction IDs seen in this boot.
	xids [4]uint32
	nxid int
}

// seenXID reports whether xid (not 0) is one of e's in this boot.
func (e *sessionEntry) seenXID(xid uint32) bool {
	if xid == 0 {
		return false
	}
	for _, x := range e.xids {
		if x == xid {
			return true
		}
	}
	return false
}

// noteXID adds xid (not 0) to e's, forgetting the oldest.
func (e *sessionEntry) noteXID(xid uint32) {
	if xid == 0 || e.seenXID(xid) {
		return
	}
	e.xids[e.nxid%len(e.xids)] = xid
	e.nxid++
}

func (t *Sessions) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// init prepares the maps and list; t.mu is held.
func (t *Sessions) init() {
	if t.byMAC == nil {
		t.byMAC = map[string]*sessionEntry{}
		t.byIP = map[netip.Addr]*sessionEntry{}
		t.byUUID = map[string]*sessionEntry{}
		t.lru.next, t.lru.prev = &t.lru, &t.lru
	}
}

// normIP drops a zone and unmaps an IPv4-mapped IPv6 address, so that a
// peer on a dual-stack socket matches its DHCP lease.
func normIP(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// expire drops sessions idle past the TTL, oldest first; t.mu is held.
func (t *Sessions) expire(now time.Time) {
	ttl := t.TTL
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if ttl < 0 {
		return
	}
	for e := t.lru.prev; e != &t.lru && now.Sub(e.s.LastSeen) >= ttl; e = t.lru.prev {
		t.remove(e)
	}
}

// remove drops e from the list and every index that points at it.
func (t *Sessions) remove(e *sessionEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(t.byMAC, e.key)
	if e.s.IP.IsValid() && t.byIP[e.s.IP] == e {
		delete(t.byIP, e.s.IP)
	}
	if e.s.UUID != "" && t.byUUID[e.s.UUID] == e {
		delete(t.byUUID, e.s.UUID)
	}
	t.stages[e.s.Stage]--
}

// touch marks e seen at now: front of the list.
func (t *Sessions) touch(e *sessionEntry, now time.Time) {
	e.s.LastSeen = now
	if t.lru.next == e {
		return
	}
	if e.prev != nil {
		e.prev.next, e.next.prev = e.next, e.prev
	}
	e.prev, e.next = &t.lru, t.lru.next
	t.lru.next.prev = e
	t.lru.next = e
}

// entry returns the session for mac, making it (and room for it) when
// there is none; t.mu is held.
func (t *Sessions) entry(mac net.HardwareAddr, now time.Time) *sessionEntry {
	if e := t.byMAC[string(mac)]; e != nil {
		return e
	}
	limit := t.MaxSessions
	if limit <= 0 {
		limit = DefaultMaxSessions
	}
	for len(t.byMAC) >= limit {
		t.remove(t.lru.prev)
	}
	e := &sessionEntry{key: string(mac)}
	e.s.MAC = net.HardwareAddr(e.key)
	e.s.FirstSeen, e.s.StageAt = now, now
	e.s.Boots = 1
	t.byMAC[e.key] = e
	t.stages[StageUnknown]++
	t.touch(e, now)
	return e
}

// setIP ties ip to e, untying it from any other session.
func (t *Sessions) setIP(e *sessionEntry, ip netip.Addr) {
	ip = normIP(ip)
	if !ip.IsValid() || ip.IsUnspecified() || e.s.IP == ip {
		return
	}
	if old := t.byIP[ip]; old != nil && old != e {
		old.s.IP = netip.Addr{}
	}
	if e.s.IP.IsValid() && t.byIP[e.s.IP] == e {
		delete(t.byIP, e.s.IP)
	}
	e.s.IP = ip
	t.byIP[ip] = e
}

// setUUID records the machine's UUID; the index points at the session
// that showed it last (a machine with several NICs has several sessions).
func (t *Sessions) setUUID(e *sessionEntry, uuid string) {
	if uuid == e.s.UUID {
		return
	}
	if uuid = canonUUID(uuid); uuid == "" {
		return
	}
	if e.s.UUID != uuid && e.s.UUID != "" && t.byUUID[e.s.UUID] == e {
		delete(t.byUUID, e.s.UUID)
	}
	e.s.UUID = uuid
	t.byUUID[uuid] = e
}

// canonUUID returns uuid in archdetect's canonical form (iPXE's query
// value is taken as written), or "" when it is not a UUID.
func canonUUID(uuid string) string {
	if uuid == "" || canonicalUUID(uuid) {
		return uuid
	}
	u, err := archdetect.ParseUUID(uuid)
	if err != nil {
		return ""
	}
	return u
}

// canonicalUUID reports whether s is already in canonical form, so that
// the common case allocates nothing.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// setStage moves e to st (forward only unless newBoot) and says what
// changed; since is when the request that moved it came (zero: now).
func (t *Sessions) setStage(e *sessionEntry, st Stage, newBoot bool, now, since time.Time) StageChange {
	from := e.s.Stage
	if !newBoot && st <= from {
		return StageChange{}
	}
	t.stages[from]--
	t.stages[st]++
	e.s.Stage, e.s.StageAt, e.since = st, now, since
	if since.IsZero() {
		e.since = now
	}
	if newBoot {
		e.s.Boots++
	}
	return StageChange{From: from, To: st, NewBoot: newBoot}
}

// ObserveDHCP records a DHCP exchange, tying its IP (when known) to the
// machine's MAC. The stage moves to StageDHCP, or StageIPXE for a request
// from iPXE, when Sent. A Discover starts a new boot when the machine is
// already past the stage it would reach: a firmware DISCOVER past
// StageDHCP, an iPXE DISCOVER past StageIPXE (a machine whose ROM is iPXE
// begins every boot there); the stage then goes back to that stage, or to
// StageUnknown when nothing was sent. ok is false, and nothing is
// recorded, when the request carries no MAC.
func (t *Sessions) ObserveDHCP(o DHCPObservation) (s Session, c StageChange, ok bool) {
	if len(o.Client.MAC) == 0 {
		return Session{}, StageChange{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	now := t.now()
	t.expire(now)
	e := t.entry(o.Client.MAC, now)
	t.touch(e, now)
	e.s.Client = o.Client
	e.s.Rule, e.s.Why = o.Rule, o.Why
	if o.Sent {
		e.s.BootFile = o.BootFile
	}
	t.setUUID(e, o.Client.UUID)
	t.setIP(e, o.IP)
	target := StageDHCP
	if o.Client.IPXE {
		target = StageIPXE
	}
	late := e.seenXID(o.XID) || !o.Arrived.IsZero() && o.Arrived.Before(e.since)
	switch {
	case o.Discover && !late && e.s.Stage > target && o.Sent:
		c = t.setStage(e, target, true, now, o.Arrived)
	case o.Discover && !late && e.s.Stage > target:
		c = t.setStage(e, StageUnknown, true, now, o.Arrived)
	case o.Sent:
		c = t.setStage(e, target, false, now, o.Arrived)
	}
	if c.NewBoot {
		e.xids, e.nxid = [4]uint32{}, 0
	}
	e.noteXID(o.XID)
	return e.s, c, true
}

// ObserveIPXE records an iPXE HTTP request that names its machine
// (archdetect.FromHTTP of a URL with mac= and/or uuid=, as the boot script
// writes it) from peer ip: it ties ip to that machine, which is how a
// machine whose DHCP was not ours (a site DHCP server, DHCP off) gets a
// session, and moves the stage to at least StageIPXE. Without a MAC the
// machine is found by UUID, then by ip; ok is false when none matches.
// The request's classification becomes the session's Client only while
// no DHCP request was seen.
func (t *Sessions) ObserveIPXE(ip netip.Addr, client archdetect.Client) (s Session, c StageChange, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	now := t.now()
	t.expire(now)
	var e *sessionEntry
	switch {
	case len(client.MAC) > 0:
		e = t.entry(client.MAC, now)
	case t.byUUID[canonUUID(client.UUID)] != nil:
		e = t.byUUID[canonUUID(client.UUID)]
	default:
		e = t.byIP[normIP(ip)]
	}
	if e == nil {
		return Session{}, StageChange{}, false
	}
	t.touch(e, now)
	t.setUUID(e, client.UUID)
	t.setIP(e, ip)
	if e.s.Client.Source == "" || e.s.Client.Source == client.Source {
		e.s.Client = client
	}
	c = t.setStage(e, StageIPXE, false, now, time.Time{})
	return e.s, c, true
}

// ObserveFetch records a TFTP transfer or HTTP response to peer o.IP. A
// completed fetch moves the stage forward to what its Kind names. ok is
// false, and nothing is recorded, when no session holds the IP.
func (t *Sessions) ObserveFetch(o FetchObservation) (s Session, c StageChange, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	now := t.now()
	t.expire(now)
	e := t.byIP[normIP(o.IP)]
	if e == nil {
		return Session{}, StageChange{}, false
	}
	t.touch(e, now)
	e.s.LastFile, e.s.LastFileFailed = o.Path, o.Failed
	e.s.Bytes += o.Bytes
	late := o.Kind == FetchKernel && e.s.Stage == StageScript && !o.Started.IsZero() && o.Started.Before(e.since)
	if !o.Failed && !late && int(o.Kind) < len(fetchStages) {
		c = t.setStage(e, fetchStages[o.Kind], false, now, o.Started)
	}
	return e.s, c, true
}

// SetKnown records whether the inventory knows the machine. report is
// true the first time a session is marked unknown, so the server raises
// one UnknownMachineEvent per machine per session (a session lasts until
// it has been idle for TTL). It returns false when there is no session.
func (t *Sessions) SetKnown(mac net.HardwareAddr, known bool) (report bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.lookup(t.byMAC[string(mac)])
	if e == nil {
		return false
	}
	e.s.Known = known
	if known || e.reported {
		return false
	}
	e.reported = true
	return true
}

// lookup returns e unless it is nil or expired; t.mu is held.
func (t *Sessions) lookup(e *sessionEntry) *sessionEntry {
	if e == nil {
		return nil
	}
	t.expire(t.now())
	if e.next == nil { // expired just now
		return nil
	}
	return e
}

// ByMAC returns the session of the machine with this MAC.
func (t *Sessions) ByMAC(mac net.HardwareAddr) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return found(t.lookup(t.byMAC[string(mac)]))
}

// ByIP returns the session the IP is tied to.
func (t *Sessions) ByIP(ip netip.Addr) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return found(t.lookup(t.byIP[normIP(ip)]))
}

// ByUUID returns the session that last showed this UUID (in any form
// archdetect.ParseUUID reads).
func (t *Sessions) ByUUID(uuid string) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return found(t.lookup(t.byUUID[canonUUID(uuid)]))
}

func found(e *sessionEntry) (Session, bool) {
	if e == nil {
		return Session{}, false
	}
	return e.s, true
}

// All returns every live session, most recently seen first.
func (t *Sessions) All() []Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	t.expire(t.now())
	all := make([]Session, 0, len(t.byMAC))
	for e := t.lru.next; e != &t.lru; e = e.next {
		all = append(all, e.s)
	}
	return all
}

// Len returns the number of live sessions.
func (t *Sessions) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	t.expire(t.now())
	return len(t.byMAC)
}

// CountByStage returns how many live sessions are at each stage (for the
// machines-by-stage gauge), without listing them.
func (t *Sessions) CountByStage() map[Stage]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	t.expire(t.now())
	m := make(map[Stage]int, len(t.stages))
	for st, n := range t.stages {
		m[Stage(st)] = n
	}
	return m
}
