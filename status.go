package pxekit

import (
	"container/list"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/tftpserve"
)

// Status is the live status table of a boot server: one row per machine
// (where it is in its boot, for how long, the rule that decided and why,
// its current transfer, its last error) and counters over them all. It
// is built from the server's events (feed it with Observe, as Server
// does once Status or StatusHandler was called; a Server's table also
// starts a machine new to it from the session table), and Handler
// serves it as a page, as JSON and as a stream of live updates.
//
// It shows nothing secret: no script, template, command line or file
// content, no query string (which may carry a token); only names, paths,
// rule names and error texts.
//
// Its memory is bounded: at most MaxMachines rows, and a machine idle for
// IdleTTL leaves the table. The zero value is ready to use; set the
// fields before the first call and do not change them after. Safe for
// concurrent use.
type Status struct {
	// MaxMachines bounds the rows (0 = DefaultMaxSessions): the machine
	// seen least recently makes room for a new one.
	MaxMachines int
	// IdleTTL drops a machine not seen for that long (0 =
	// DefaultSessionTTL; negative = never).
	IdleTTL time.Duration
	// Now is the clock (nil = time.Now), for tests.
	Now func() time.Time

	// sessions, when set (a Server's table), tells a new row what the
	// session table already knows of the machine.
	sessions *Sessions

	mu      sync.Mutex
	rows    map[string]*statusRow
	lru     list.List // of *statusRow, most recently seen first
	seq     uint64    // bumped by every change; a row keeps the seq of its last
	gone    []goneRow // rows removed lately, oldest first (see goneKeep)
	goneMin uint64    // a client that saw less than this missed a removal
	stages  [StageKernel + 1]int
	unknown int
	totals  statusTotals
	dhcp    [dhcpWindow]dhcpSecond
	wake    chan struct{} // closed at the next change (nil: nobody waits)
	closed  chan struct{} // closed by Close
	streams int           // live update streams open
}

// statusRow is one machine in the table and in the recency list.
type statusRow struct {
	elem *list.Element // in lru
	key  string        // string(MAC)
	seq  uint64
	m    StatusMachine
	xfer transferID // the transfer Transfer shows
}

// transferID tells a machine's transfers apart.
type transferID struct {
	proto string
	peer  string
	start time.Time
}

// goneRow is a row removed at seq.
type goneRow struct {
	id  string
	seq uint64
}

// goneKeep is how many removals the table remembers for the live
// updates; a client further behind reloads the page.
const goneKeep = 1024

// dhcpWindow is the span of the DHCP rates, in seconds.
const dhcpWindow = 60

// dhcpSecond counts the DHCP messages of one second.
type dhcpSecond struct {
	unix int64
	n    DHCPCounts
}

// statusTotals are the counters since the table was made.
type statusTotals struct {
	dhcp            DHCPCounts
	tftpBytes       int64
	httpBytes       int64
	tftpTransfers   int64
	httpRequests    int64
	tftpFailures    int64
	httpFailures    int64
	unknownMachines int64
}

// StatusMachine is one row of the status table.
type StatusMachine struct {
	// ID is the MAC in hex without separators: the row's HTML id.
	ID string `json:"id"`
	// MAC is the machine's MAC; IP the address its last request came
	// from or DHCP gave it.
	MAC string `json:"mac"`
	IP  string `json:"ip,omitempty"`
	// Name is the inventory's name of the machine, when it knows it.
	Name string `json:"name,omitempty"`
	// Arch and Firmware say in words what is booting ("EFI x86-64",
	// "UEFI"); Loader is iPXE's version when iPXE is running.
	Arch     string `json:"arch,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	Loader   string `json:"loader,omitempty"`
	// Stage is how far the boot got, reached at StageSince; Boots counts
	// the boots seen.
	Stage      Stage     `json:"stage"`
	StageSince time.Time `json:"stage_since"`
	Boots      int       `json:"boots"`
	// Rule is the DHCP rule that decided, Why why (or why nothing was
	// sent).
	Rule string `json:"rule,omitempty"`
	Why  string `json:"why,omitempty"`
	// Unknown is true when the inventory does not know the machine.
	Unknown bool `json:"unknown"`
	// Transfer is the machine's current or last file transfer.
	Transfer *StatusTransfer `json:"transfer,omitempty"`
	// LastError is the last thing that failed in this boot, at
	// LastErrorAt.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// FirstSeen and LastSeen bound the machine's time in the table.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// StatusTransfer is a file transfer of a machine: running (TFTP
// progress) or finished.
type StatusTransfer struct {
	// Protocol is "tftp" or "http"; File the file name or URL path.
	Protocol string `json:"protocol"`
	File     string `json:"file"`
	// Bytes of Size (-1: unknown) sent so far; Rate in bytes a second.
	Bytes int64   `json:"bytes"`
	Size  int64   `json:"size"`
	Rate  float64 `json:"rate"`
	// BlockSize and WindowSize are TFTP's negotiated options.
	BlockSize  int `json:"block_size,omitempty"`
	WindowSize int `json:"window_size,omitempty"`
	// Running is true while the transfer goes on; Outcome says how it
	// ended ("ok", "timeout", "404", …).
	Running bool      `json:"running"`
	Outcome string    `json:"outcome,omitempty"`
	Start   time.Time `json:"start"`
}

// DHCPCounts counts DHCP messages by what the server did with them.
type DHCPCounts struct {
	Answered int64 `json:"answered"`
	Ignored  int64 `json:"ignored"`
	Invalid  int64 `json:"invalid"`
	Failed   int64 `json:"failed"`
}

// add counts one message of outcome o.
func (c *DHCPCounts) add(o DHCPOutcome) {
	switch o {
	case DHCPAnswered:
		c.Answered++
	case DHCPIgnored:
		c.Ignored++
	case DHCPInvalid:
		c.Invalid++
	case DHCPFailed:
		c.Failed++
	}
}

// StatusCounters are the figures at the top of the status page.
type StatusCounters struct {
	// Machines is the number of rows; ByStage how many are at each stage
	// (every stage, zero included, in boot order); Unknown how many the
	// inventory does not know.
	Machines int          `json:"machines"`
	ByStage  []StageCount `json:"by_stage"`
	Unknown  int          `json:"unknown"`
	// TransfersRunning counts the machines' TFTP transfers under way.
	TransfersRunning int `json:"transfers_running"`
	// TFTPBytes and HTTPBytes are the bytes served since the table was
	// made (acknowledged TFTP payload, HTTP bodies), TFTPTransfers and
	// HTTPRequests how many finished, TFTPFailures and HTTPFailures how
	// many of those failed (a TFTP timeout, abort or refusal; an HTTP
	// error status or a cut-off response).
	TFTPBytes     int64 `json:"tftp_bytes"`
	HTTPBytes     int64 `json:"http_bytes"`
	TFTPTransfers int64 `json:"tftp_transfers"`
	HTTPRequests  int64 `json:"http_requests"`
	TFTPFailures  int64 `json:"tftp_failures"`
	HTTPFailures  int64 `json:"http_failures"`
	// DHCP counts the DHCP messages since the table was made, DHCPMinute
	// those of the last minute (the rate: per minute).
	DHCP       DHCPCounts `json:"dhcp"`
	DHCPMinute DHCPCounts `json:"dhcp_last_minute"`
	// UnknownMachines counts the unknown machines seen since the table
	// was made (Unknown is those still in it).
	UnknownMachines int64 `json:"unknown_machines_total"`
}

// StageCount is the number of machines at one stage.
type StageCount struct {
	Stage Stage `json:"stage"`
	N     int   `json:"n"`
}

// StatusSnapshot is the whole table at one moment (the JSON of
// /status.json).
type StatusSnapshot struct {
	Time     time.Time       `json:"time"`
	Seq      uint64          `json:"seq"`
	Counters StatusCounters  `json:"counters"`
	Machines []StatusMachine `json:"machines"`
}

func (st *Status) now() time.Time {
	if st.Now == nil {
		return time.Now()
	}
	return st.Now()
}

// init prepares the map and list; st.mu is held.
func (st *Status) init() {
	if st.rows == nil {
		st.rows = map[string]*statusRow{}
		st.lru.Init()
		st.closed = make(chan struct{})
	}
}

// Observe updates the table from one event (a Server's OnEvent hook may
// call it). Events without a MAC change only the counters; a DHCP
// message makes a row only when it was answered or came from a network
// boot client (one that names its architecture, or iPXE), so that the
// other DHCP traffic a proxyDHCP sees fills no table.
func (st *Status) Observe(e Event) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.init()
	now := st.now()
	st.expire(now)
	st.count(e, now)
	h := e.Header()
	if len(h.MAC) == 0 {
		return
	}
	row := st.rows[string(h.MAC)]
	if row == nil {
		if d, ok := e.(DHCPEvent); ok && d.Outcome != DHCPAnswered && !d.Client.HasArch && !d.Client.IPXE {
			return
		}
		if _, ok := e.(TFTPProgressEvent); ok {
			return // a transfer of a machine that already left the table
		}
		row = st.newRow(string(h.MAC), now)
	}
	st.touch(row, now)
	if st.apply(row, e, now) {
		st.changed(row)
	}
}

// count adds e to the counters; st.mu is held.
func (st *Status) count(e Event, now time.Time) {
	switch e := e.(type) {
	case DHCPEvent:
		st.totals.dhcp.add(e.Outcome)
		sec := &st.dhcp[now.Unix()%dhcpWindow]
		if sec.unix != now.Unix() {
			*sec = dhcpSecond{unix: now.Unix()}
		}
		sec.n.add(e.Outcome)
	case TFTPEvent:
		if e.Write {
			return
		}
		st.totals.tftpBytes += e.Bytes
		st.totals.tftpTransfers++
		if tftpFailed(e.Outcome) {
			st.totals.tftpFailures++
		}
	case HTTPEvent:
		st.totals.httpBytes += e.Bytes
		st.totals.httpRequests++
		if e.Err != nil || e.Status >= 400 {
			st.totals.httpFailures++
		}
	case UnknownMachineEvent:
		st.totals.unknownMachines++
	default:
		return
	}
	st.seq++ // the counters changed
	st.notify()
}

// tftpFailed reports whether a transfer that ended with o failed (a size
// probe is no failure: the client only asked for the size).
func tftpFailed(o tftpserve.Outcome) bool {
	return o != tftpserve.OutcomeOK && o != tftpserve.OutcomeSizeProbe
}

// apply updates row from e and reports whether anything shown changed.
func (st *Status) apply(row *statusRow, e Event, now time.Time) bool {
	m := &row.m
	switch e := e.(type) {
	case DHCPEvent:
		if e.Message == "" {
			return false
		}
		m.setClient(e.Client, true)
		if e.IP.IsValid() {
			m.IP = e.IP.String()
		}
		m.Rule, m.Why = e.Rule, e.Why
		if e.Outcome != DHCPAnswered && e.NoReply != "" {
			m.Why = e.NoReply
		}
		if e.Outcome == DHCPFailed {
			m.fail("dhcp "+strings.ToLower(e.Message)+": "+errText(e.Err), now)
		}
	case TFTPProgressEvent:
		id := transferID{"tftp", e.Peer.String(), e.Start}
		if row.xfer != id && m.Transfer != nil && m.Transfer.Running {
			return false // another transfer of the machine is shown
		}
		row.xfer = id
		m.Transfer = &StatusTransfer{Protocol: "tftp", File: e.Filename, Bytes: e.Bytes, Size: e.Size,
			Rate: rate(e.Bytes, e.Elapsed), BlockSize: e.BlockSize, WindowSize: e.WindowSize, Running: true, Start: e.Start}
		m.IP = e.Peer.Addr().Unmap().String()
	case TFTPEvent:
		if e.Write || e.Outcome == tftpserve.OutcomeSizeProbe {
			return false
		}
		row.xfer = transferID{"tftp", e.Peer.String(), e.Start}
		m.Transfer = &StatusTransfer{Protocol: "tftp", File: e.Filename, Bytes: e.Bytes, Size: e.Size,
			Rate: rate(e.Bytes, e.Duration), BlockSize: e.BlockSize, WindowSize: e.WindowSize, Outcome: string(e.Outcome), Start: e.Start}
		if tftpFailed(e.Outcome) {
			msg := "tftp " + e.Filename + ": " + string(e.Outcome)
			if e.Err != nil {
				msg += ": " + e.Err.Error()
			}
			m.fail(msg, now)
		}
	case HTTPEvent:
		if e.Peer.IsValid() {
			m.IP = e.Peer.String()
		}
		if e.Known && e.Machine != "" {
			m.Name = e.Machine
		}
		if e.Known && m.Unknown {
			m.Unknown = false
			st.unknown--
		}
		m.setClient(e.Client, false)
		failed := e.Err != nil || e.Status >= 400
		if e.Route == HTTPFile || failed {
			row.xfer = transferID{"http", e.Peer.String(), e.Time}
			m.Transfer = &StatusTransfer{Protocol: "http", File: e.Path, Bytes: e.Bytes, Size: e.Bytes,
				Rate: rate(e.Bytes, e.Duration), Outcome: strconv.Itoa(e.Status), Start: e.Time.Add(-e.Duration)}
		}
		if failed {
			msg := "http " + e.Method + " " + e.Path + ": " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
			if e.Err != nil {
				msg = "http " + e.Method + " " + e.Path + ": " + e.Err.Error()
				m.Transfer.Outcome = "cut off"
			}
			m.fail(msg, now)
		}
	case StageEvent:
		st.stages[m.Stage]--
		m.Stage, m.StageSince = e.To, now
		st.stages[m.Stage]++
		if e.NewBoot {
			m.Boots++
			m.LastError, m.LastErrorAt = "", time.Time{}
		}
	case UnknownMachineEvent:
		if !m.Unknown {
			st.unknown++
		}
		m.Unknown = true
		m.setClient(e.Client, false)
	default:
		return false
	}
	return true
}

// rate is n bytes in d, per second (0 when d is 0).
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// fail records the row's last error.
func (m *StatusMachine) fail(msg string, now time.Time) {
	m.LastError, m.LastErrorAt = msg, now
}

// setClient describes the machine from c: a DHCP client always (dhcp),
// another (an iPXE HTTP request) only while no DHCP request was seen.
func (m *StatusMachine) setClient(c archdetect.Client, dhcp bool) {
	if c.Source == "" || (!dhcp && m.Firmware != "" && m.Arch != "" && !c.IPXE) {
		return
	}
	if c.HasArch || m.Arch == "" {
		m.Arch = archWords(c)
	}
	if fw := firmwareWords(c.Firmware); fw != "" {
		m.Firmware = fw
	}
	m.Loader = ""
	if c.IPXE {
		m.Loader = "iPXE"
		if c.IPXEInfo.HasVersion {
			m.Loader += " " + c.IPXEInfo.VersionString()
		}
	}
}

// archWords names c's architecture: the IANA name and the CPU family.
func archWords(c archdetect.Client) string {
	switch {
	case c.HasArch && c.CPU != "" && c.CPU != archdetect.CPUUnknown:
		return c.ArchName + " (" + string(c.CPU) + ")"
	case c.HasArch:
		return c.ArchName
	case c.CPU != "" && c.CPU != archdetect.CPUUnknown:
		return string(c.CPU)
	}
	return ""
}

// firmwareWords names a firmware family as people write it.
func firmwareWords(f archdetect.Firmware) string {
	switch f {
	case archdetect.FirmwareBIOS:
		return "BIOS"
	case archdetect.FirmwareUEFI:
		return "UEFI"
	case archdetect.FirmwareUBoot:
		return "U-Boot"
	case archdetect.FirmwareOpenFirmware:
		return "Open Firmware"
	case archdetect.FirmwareOther:
		return "other"
	}
	return ""
}

// newRow adds the row of key; st.mu is held.
func (st *Status) newRow(key string, now time.Time) *statusRow {
	limit := st.MaxMachines
	if limit <= 0 {
		limit = DefaultMaxSessions
	}
	for len(st.rows) >= limit {
		st.remove(st.lru.Back().Value.(*statusRow))
	}
	row := &statusRow{key: key}
	mac := []byte(key)
	row.m = StatusMachine{ID: hexID(mac), MAC: macString(mac), StageSince: now, Boots: 1, FirstSeen: now}
	st.rows[key] = row
	if sess, ok := st.session(mac); ok {
		m := &row.m
		m.Stage, m.StageSince, m.Boots = sess.Stage, sess.StageAt, sess.Boots
		m.Rule, m.Why = sess.Rule, sess.Why
		if sess.IP.IsValid() {
			m.IP = sess.IP.String()
		}
		m.setClient(sess.Client, true)
	}
	st.stages[row.m.Stage]++
	return row
}

// session returns what the session table knows of mac.
func (st *Status) session(mac []byte) (Session, bool) {
	if st.sessions == nil {
		return Session{}, false
	}
	return st.sessions.ByMAC(mac)
}

// hexID is b in lower-case hex: a MAC as an HTML id.
func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// macString writes b as a MAC address (colon-separated hex).
func macString(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(hexID([]byte{c}))
	}
	return sb.String()
}

// touch marks row seen at now: front of the list.
func (st *Status) touch(row *statusRow, now time.Time) {
	row.m.LastSeen = now
	if row.elem == nil {
		row.elem = st.lru.PushFront(row)
		return
	}
	st.lru.MoveToFront(row.elem)
}

// changed marks row changed at a new seq and wakes the streams.
func (st *Status) changed(row *statusRow) {
	st.seq++
	row.seq = st.seq
	st.notify()
}

// notify wakes whoever waits for a change; st.mu is held.
func (st *Status) notify() {
	if st.wake != nil {
		close(st.wake)
		st.wake = nil
	}
}

// remove drops row; st.mu is held.
func (st *Status) remove(row *statusRow) {
	st.lru.Remove(row.elem)
	row.elem = nil
	delete(st.rows, row.key)
	st.stages[row.m.Stage]--
	if row.m.Unknown {
		st.unknown--
	}
	st.seq++
	if len(st.gone) == goneKeep {
		st.goneMin = st.gone[0].seq
		st.gone = slices.Delete(st.gone, 0, 1)
	}
	st.gone = append(st.gone, goneRow{row.m.ID, st.seq})
	st.notify()
}

// expire drops the rows idle past IdleTTL, oldest first; st.mu is held.
func (st *Status) expire(now time.Time) {
	ttl := st.IdleTTL
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if ttl < 0 {
		return
	}
	for e := st.lru.Back(); e != nil && now.Sub(e.Value.(*statusRow).m.LastSeen) >= ttl; e = st.lru.Back() {
		st.remove(e.Value.(*statusRow))
	}
}

// Len returns the number of machines in the table.
func (st *Status) Len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.init()
	st.expire(st.now())
	return len(st.rows)
}

// Snapshot returns the whole table, its rows ordered by MAC.
func (st *Status) Snapshot() StatusSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.init()
	now := st.now()
	st.expire(now)
	snap := StatusSnapshot{Time: now, Seq: st.seq, Counters: st.counters(now), Machines: make([]StatusMachine, 0, len(st.rows))}
	for _, row := range st.rows {
		snap.Machines = append(snap.Machines, row.copy())
	}
	slices.SortFunc(snap.Machines, func(a, b StatusMachine) int { return strings.Compare(a.ID, b.ID) })
	return snap
}

// copy returns the row's machine sharing nothing with the table.
func (row *statusRow) copy() StatusMachine {
	m := row.m
	if m.Transfer != nil {
		t := *m.Transfer
		m.Transfer = &t
	}
	return m
}

// counters sums the table up; st.mu is held.
func (st *Status) counters(now time.Time) StatusCounters {
	c := StatusCounters{Machines: len(st.rows), Unknown: st.unknown,
		TFTPBytes: st.totals.tftpBytes, HTTPBytes: st.totals.httpBytes,
		TFTPTransfers: st.totals.tftpTransfers, HTTPRequests: st.totals.httpRequests,
		TFTPFailures: st.totals.tftpFailures, HTTPFailures: st.totals.httpFailures,
		DHCP: st.totals.dhcp, UnknownMachines: st.totals.unknownMachines}
	for s, n := range st.stages {
		c.ByStage = append(c.ByStage, StageCount{Stage(s), n})
	}
	for _, sec := range st.dhcp {
		if sec.unix > now.Unix()-dhcpWindow && sec.unix <= now.Unix() {
			c.DHCPMinute.Answered += sec.n.Answered
			c.DHCPMinute.Ignored += sec.n.Ignored
			c.DHCPMinute.Invalid += sec.n.Invalid
			c.DHCPMinute.Failed += sec.n.Failed
		}
	}
	for _, row := range st.rows {
		if row.m.Transfer != nil && row.m.Transfer.Running {
			c.TransfersRunning++
		}
	}
	return c
}

// statusDelta is what changed since a seq: the live update.
type statusDelta struct {
	seq      uint64
	reset    bool // the client missed removals: it reloads
	counters StatusCounters
	rows     []StatusMachine
	gone     []string // ids
	at       time.Time
}

// since returns what changed after seq, and a channel closed at the next
// change.
func (st *Status) since(seq uint64) (statusDelta, <-chan struct{}) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.init()
	now := st.now()
	st.expire(now)
	d := statusDelta{seq: st.seq, counters: st.counters(now), at: now}
	if seq < st.goneMin || seq > st.seq {
		d.reset = true
	} else if seq < st.seq {
		for _, row := range st.rows {
			if row.seq > seq {
				d.rows = append(d.rows, row.copy())
			}
		}
		slices.SortFunc(d.rows, func(a, b StatusMachine) int { return strings.Compare(a.ID, b.ID) })
		for _, g := range st.gone {
			if g.seq > seq {
				d.gone = append(d.gone, g.id)
			}
		}
	}
	if st.wake == nil {
		st.wake = make(chan struct{})
	}
	return d, st.wake
}

// Close ends the live update streams, now and from then on (a Server
// closes its table when it stops, so that its HTTP server's Shutdown
// need not wait for the browsers); the page and the JSON still answer.
func (st *Status) Close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.init()
	select {
	case <-st.closed:
	default:
		close(st.closed)
	}
}
