package pxekit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

// EventKind names the type of an Event; it is the "kind" key of the
// event's JSON.
type EventKind string

// Event kinds.
const (
	EventDHCP           EventKind = "dhcp"            // DHCPEvent
	EventTFTP           EventKind = "tftp"            // TFTPEvent
	EventTFTPProgress   EventKind = "tftp-progress"   // TFTPProgressEvent
	EventHTTP           EventKind = "http"            // HTTPEvent
	EventStage          EventKind = "stage"           // StageEvent
	EventUnknownMachine EventKind = "unknown-machine" // UnknownMachineEvent
)

// Event is one thing the boot server saw: a *value* of one of the types
// DHCPEvent, TFTPEvent, TFTPProgressEvent, HTTPEvent, StageEvent or
// UnknownMachineEvent (the
// set is closed; a hook tells them apart with a type switch or Kind).
// Events are small values that share nothing with the packets, requests or
// transfers they describe: a hook may keep them, and changing one changes
// nothing else.
//
// String is one line for a log; the JSON encoding (MarshalJSON) is an
// object with stable lower-case keys, "kind", "time" and "mac" first, then
// the type's own fields (empty ones left out), stages and outcomes as
// words, durations as seconds.
type Event interface {
	// Kind names the event's type.
	Kind() EventKind
	// Header returns the time and MAC every event carries.
	Header() EventHeader
	String() string
	json.Marshaler
	isEvent() // seals the set of event types
}

// EventHeader is what every event carries; each event type embeds it.
type EventHeader struct {
	// Time is when the event happened (for a transfer or a request, when
	// it ended).
	Time time.Time
	// MAC is the machine's MAC address; nil when the event could not be
	// tied to a machine (a TFTP transfer from an address no DHCP exchange
	// explained, an HTTP request without a MAC).
	MAC net.HardwareAddr
}

// Header returns h; through embedding it is every event's Header method.
func (h EventHeader) Header() EventHeader { return h }

// DHCPOutcome says what a DHCP server did with a message.
type DHCPOutcome string

// DHCP outcomes.
const (
	DHCPAnswered DHCPOutcome = "answered" // a reply was sent
	DHCPIgnored  DHCPOutcome = "ignored"  // no reply, by policy or protocol (NoReply says why)
	DHCPInvalid  DHCPOutcome = "invalid"  // the datagram did not decode or was not a request
	DHCPFailed   DHCPOutcome = "failed"   // a reply was due but could not be sent or its lease saved (Err)
)

// DHCPEvent is a DHCP decision: what a dhcpboot server did with one
// message (DHCPEventFrom4, DHCPEventFrom6), or a datagram it could not
// use (DHCPEventFromInvalid).
type DHCPEvent struct {
	EventHeader
	// Version is 4 or 6.
	Version int
	// Message is the request's message type ("DISCOVER", "REQUEST",
	// "SOLICIT", …; for DHCPv6 the innermost message of a relayed one);
	// "" for an invalid datagram.
	Message string
	// Interface is the interface the server serves; Peer the sender (a
	// relay, for a relayed message).
	Interface string
	Peer      netip.AddrPort
	// Relay is the relay agent address (giaddr, or the DHCPv6 relay's link
	// address); invalid when the message was not relayed.
	Relay netip.Addr
	// RelayAgent is the relay agent information (DHCPv4 option 82) the
	// request carried and ReplyRelayAgent the option 82 the reply carried
	// back (RFC 3046 §2.2: the server echoes it); nil when absent.
	RelayAgent, ReplyRelayAgent []byte
	// To is where the reply was sent (the client, a broadcast, or the
	// relay at giaddr:67); invalid when none was.
	To netip.AddrPort
	// Mode is the kind of reply the server builds ("proxy", "proxy-ack",
	// "full"); "" when it did not get as far as deciding.
	Mode string
	// Client is archdetect's reading of the request (the zero Client for
	// an invalid datagram).
	Client archdetect.Client
	// Rule is the name of the policy rule that matched ("" when none did
	// or no decision was made); Why explains the decision ("no rule
	// matched" when none did, "" when the server did not get as far as
	// deciding: Metrics counts a decision when Why is set).
	Rule string
	Why  string
	// Outcome is what the server did; Reply the reply's message type
	// ("OFFER", "ACK", "ADVERTISE", "REPLY", …) when it answered; NoReply
	// why it did not.
	Outcome DHCPOutcome
	Reply   string
	NoReply string
	// IP is the address the reply gives the client (yiaddr, or the DHCPv6
	// IA_NA address); invalid in proxy replies, which give none.
	IP netip.Addr
	// BootFile is the boot file name or boot URL the reply carries.
	BootFile string
	// Err is the send, lease-save or decoding error, if any.
	Err error
}

// DHCPEventFrom4 summarises what a DHCPv4 server did (the OnReply hook's
// argument). It copies what it keeps: x's messages may be reused.
func DHCPEventFrom4(x dhcpboot.Exchange4) DHCPEvent {
	e := dhcpEvent(4, x.Interface, x.Peer, x.Boot, x.Decision, x.Reply != nil, x.NoReply, x.Err)
	if x.Boot == nil && x.Request != nil {
		e.Client = archdetect.FromDHCPv4(x.Request)
	}
	if m := x.Request; m != nil {
		e.Message = m.MessageType().String()
		if !e.Relay.IsValid() {
			e.Relay = addrFromIP(m.GatewayIPAddr)
		}
		e.RelayAgent = bytes.Clone(m.Options.Get(dhcpv4.OptionRelayAgentInformation))
	}
	if r := x.Reply; r != nil {
		e.To = x.To
		e.ReplyRelayAgent = bytes.Clone(r.Options.Get(dhcpv4.OptionRelayAgentInformation))
		e.Reply = r.MessageType().String()
		e.IP = addrFromIP(r.YourIPAddr)
		e.BootFile = r.BootFileName
		if r.Options.Has(dhcpv4.OptionBootfileName) {
			e.BootFile = r.BootFileNameOption()
		}
	}
	e.finish()
	return e
}

// DHCPEventFrom6 summarises what a DHCPv6 server did (the OnReply hook's
// argument). It copies what it keeps.
func DHCPEventFrom6(x dhcpboot.Exchange6) DHCPEvent {
	e := dhcpEvent(6, x.Interface, x.Peer, x.Boot, x.Decision, x.Reply != nil, x.NoReply, x.Err)
	if x.Boot == nil && x.Request != nil {
		e.Client = archdetect.FromDHCPv6(x.Request)
	}
	if in := innerMessage(x.Request); in != nil {
		e.Message = in.Type().String()
	}
	if in := innerMessage(x.Reply); in != nil {
		e.Reply = in.Type().String()
		if ia := in.Options.OneIANA(); ia != nil {
			if a := ia.Options.OneAddress(); a != nil {
				e.IP = addrFromIP(a.IPv6Addr)
			}
		}
		e.BootFile = in.Options.BootFileURL()
	}
	e.finish()
	return e
}

// DHCPEventFromInvalid describes a datagram a DHCP server could not use
// (the OnInvalid hook's argument); version is 4 or 6, as the server is.
func DHCPEventFromInvalid(version int, x dhcpboot.Invalid) DHCPEvent {
	e := DHCPEvent{Version: version, Interface: x.Interface, Peer: x.Peer, Outcome: DHCPInvalid, Err: x.Err}
	e.NoReply = "invalid datagram (" + strconv.Itoa(x.Size) + " bytes)"
	e.Time = time.Now()
	return e
}

// dhcpEvent starts the event of an exchange with what both versions
// share: where the message came from, what the policy decided on (r, with
// a copy of its client) and decided (d), whether a reply went.
func dhcpEvent(version int, iface string, peer netip.AddrPort, r *dhcpboot.Request, d dhcpboot.Decision, replied bool, noReply string, err error) DHCPEvent {
	e := DHCPEvent{Version: version, Interface: iface, Peer: peer, Why: d.Why, NoReply: noReply, Err: err}
	if r != nil {
		e.Relay, e.Mode, e.Client = r.Relay, r.Mode.String(), cloneClient(r.Client)
	}
	if d.Matched() {
		e.Rule = d.RuleName()
	}
	switch {
	case replied:
		e.Outcome = DHCPAnswered
	case e.Err != nil:
		e.Outcome = DHCPFailed
	default:
		e.Outcome = DHCPIgnored
	}
	return e
}

// finish sets the header from the client.
func (e *DHCPEvent) finish() {
	e.Time = time.Now()
	e.MAC = bytes.Clone(e.Client.MAC)
}

// innerMessage returns the innermost message of m, nil when there is none.
func innerMessage(m dhcpv6.DHCPv6) *dhcpv6.Message {
	if m == nil {
		return nil
	}
	if msg, ok := m.(*dhcpv6.Message); ok {
		return msg
	}
	in, err := m.GetInnerMessage()
	if err != nil {
		return nil
	}
	return in
}

// addrFromIP converts ip, the zero Addr when it is nil or unspecified.
func addrFromIP(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || a.Unmap().IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

// TFTPEvent is one finished TFTP transfer (tftpserve.TransferInfo), tied
// to the machine whose address asked for it.
type TFTPEvent struct {
	EventHeader
	// Peer is the client's address and port.
	Peer netip.AddrPort
	// Write is true for a write request.
	Write bool
	// Filename is the name as requested; Path normalised ("" when refused
	// before normalisation).
	Filename, Path string
	// Size is the file's size when known, else -1; Bytes the payload bytes
	// the client acknowledged (received, for a write).
	Size, Bytes int64
	// BlockSize and WindowSize are the negotiated options; MinWindowSize
	// the smallest window the server fell back to.
	BlockSize, WindowSize, MinWindowSize int
	// Start is when the request came; Duration how long it took (Time is
	// Start + Duration).
	Start    time.Time
	Duration time.Duration
	// Packets counts DATA packets sent, Retransmits those sent again.
	Packets, Retransmits int64
	// Outcome is how the transfer ended; ErrorCode the code of the ERROR
	// sent or received; Err what failed.
	Outcome   tftpserve.Outcome
	ErrorCode tftpserve.ErrorCode
	Err       error
}

// TFTPEventFrom makes the event of a finished transfer (the OnTransfer
// hook's argument); mac is the machine the caller tied info.Client to
// (nil when none).
func TFTPEventFrom(info tftpserve.TransferInfo, mac net.HardwareAddr) TFTPEvent {
	e := TFTPEvent{
		EventHeader: EventHeader{Time: info.Start.Add(info.Duration), MAC: bytes.Clone(mac)},
		Peer:        info.Client, Write: info.Write, Filename: info.Filename, Path: info.Path,
		Size: info.Size, Bytes: info.Bytes, BlockSize: info.BlockSize, WindowSize: info.WindowSize,
		MinWindowSize: info.MinWindowSize, Start: info.Start, Duration: info.Duration,
		Packets: info.Packets, Retransmits: info.Retransmits,
		Outcome: info.Outcome, ErrorCode: info.ErrorCode, Err: info.Err,
	}
	if info.Start.IsZero() {
		e.Time = time.Now()
	}
	return e
}

// TFTPProgressEvent is a TFTP read transfer still running
// (tftpserve.Server.OnProgress): how far it got. A transfer raises one
// when its data starts and then a few a second while it runs; its
// TFTPEvent ends it.
type TFTPProgressEvent struct {
	EventHeader
	// Peer is the client's address and port: with Start, it tells the
	// transfer apart from the machine's others.
	Peer netip.AddrPort
	// Filename is the name as requested; Path normalised.
	Filename, Path string
	// Size is the file's size when known, else -1; Bytes the payload
	// bytes the client acknowledged so far.
	Size, Bytes int64
	// BlockSize and WindowSize are the negotiated options.
	BlockSize, WindowSize int
	// Start is when the request came; Elapsed how long it has run (Time
	// is Start + Elapsed).
	Start   time.Time
	Elapsed time.Duration
	// Retransmits counts DATA packets sent again so far.
	Retransmits int64
}

// TFTPProgressEventFrom makes the event of a running transfer (the
// OnProgress hook's argument); mac is the machine the caller tied
// info.Client to (nil when none).
func TFTPProgressEventFrom(info tftpserve.TransferInfo, mac net.HardwareAddr) TFTPProgressEvent {
	return TFTPProgressEvent{
		EventHeader: EventHeader{Time: info.Start.Add(info.Duration), MAC: bytes.Clone(mac)},
		Peer:        info.Client, Filename: info.Filename, Path: info.Path, Size: info.Size, Bytes: info.Bytes,
		BlockSize: info.BlockSize, WindowSize: info.WindowSize, Start: info.Start, Elapsed: info.Duration,
		Retransmits: info.Retransmits,
	}
}

// HTTPEvent is one finished HTTP request (HTTPRequest).
type HTTPEvent struct {
	EventHeader
	Method string
	// Path is the request's URL path as received; Query its raw query.
	Path  string
	Query string
	// Route is what the request was answered with (boot script, machine
	// script, file, error).
	Route HTTPKind
	// File is the static file served, for Route HTTPFile.
	File     string
	Status   int
	Bytes    int64
	Duration time.Duration
	Peer     netip.Addr
	// Client is archdetect's reading of the request.
	Client archdetect.Client
	// Known reports that the inventory knew the machine; Machine is its
	// name.
	Known   bool
	Machine string
	// Err is the first write error (the response was cut off).
	Err error
}

// HTTPEventFrom makes the event of a finished request (the OnRequest
// hook's argument).
func HTTPEventFrom(r HTTPRequest) HTTPEvent {
	return HTTPEvent{
		EventHeader: EventHeader{Time: time.Now(), MAC: bytes.Clone(r.MAC)},
		Method:      r.Method, Path: r.Path, Query: r.Query, Route: r.Kind, File: r.File,
		Status: r.Status, Bytes: r.Bytes, Duration: r.Duration, Peer: r.Peer,
		Client: cloneClient(r.Client), Known: r.Known, Machine: r.Machine, Err: r.Err,
	}
}

// Outcome is the request's outcome as metrics count it: "failed" when the
// response was cut off (Err), else the status class ("2xx", "4xx", …).
func (e HTTPEvent) Outcome() string {
	if e.Err != nil {
		return "failed"
	}
	if e.Status < 100 || e.Status > 599 {
		return "other"
	}
	return strconv.Itoa(e.Status/100) + "xx"
}

// StageEvent says a machine reached a new stage of its boot.
type StageEvent struct {
	EventHeader
	// From and To are the stages before and after.
	From, To Stage
	// NewBoot is true when a DHCP request from a machine past StageDHCP
	// started a new boot (To is then StageDHCP, From the stage the last
	// boot reached).
	NewBoot bool
	// Via is the kind of request that moved the machine (EventDHCP,
	// EventTFTP or EventHTTP); "" when not told.
	Via EventKind
}

// UnknownMachineEvent says a machine the inventory does not know asked to
// boot; it boots the default flow.
type UnknownMachineEvent struct {
	EventHeader
	// UUID is the machine's SMBIOS UUID, when it sent one.
	UUID string
	// Client is archdetect's reading of the request that showed the
	// machine.
	Client archdetect.Client
}

// UnknownMachineEventFrom makes the event of an unknown machine from the
// request that showed it: MAC and UUID from c, a copy of c, time now.
func UnknownMachineEventFrom(c archdetect.Client) UnknownMachineEvent {
	c = cloneClient(c)
	return UnknownMachineEvent{EventHeader: EventHeader{Time: time.Now(), MAC: bytes.Clone(c.MAC)}, UUID: c.UUID, Client: c}
}

// Kind returns EventDHCP.
func (DHCPEvent) Kind() EventKind { return EventDHCP }

// Kind returns EventTFTP.
func (TFTPEvent) Kind() EventKind { return EventTFTP }

// Kind returns EventTFTPProgress.
func (TFTPProgressEvent) Kind() EventKind { return EventTFTPProgress }

// Kind returns EventHTTP.
func (HTTPEvent) Kind() EventKind { return EventHTTP }

// Kind returns EventStage.
func (StageEvent) Kind() EventKind { return EventStage }

// Kind returns EventUnknownMachine.
func (UnknownMachineEvent) Kind() EventKind { return EventUnknownMachine }

func (DHCPEvent) isEvent()           {}
func (TFTPEvent) isEvent()           {}
func (TFTPProgressEvent) isEvent()   {}
func (HTTPEvent) isEvent()           {}
func (StageEvent) isEvent()          {}
func (UnknownMachineEvent) isEvent() {}

// String returns one line: `dhcp 52:54:00:12:34:56 DISCOVER answered
// OFFER rule="uefi-x64" file="ipxe.efi"` (dhcp6 for DHCPv6).
func (e DHCPEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dhcp%s %s %s %s", versionSuffix(e.Version), macText(e.MAC), orDash(e.Message), e.Outcome)
	if e.Reply != "" {
		b.WriteString(" " + e.Reply)
	}
	if e.NoReply != "" {
		fmt.Fprintf(&b, " (%s)", e.NoReply)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, " rule=%q", e.Rule)
	}
	if e.IP.IsValid() {
		b.WriteString(" ip=" + e.IP.String())
	}
	if e.BootFile != "" {
		fmt.Fprintf(&b, " file=%q", e.BootFile)
	}
	return b.String()
}

func versionSuffix(v int) string {
	if v == 6 {
		return "6"
	}
	return ""
}

// String returns one line: `tftp 52:54:00:12:34:56 "undionly.kpxe" ok
// 70000 bytes 120ms`.
func (e TFTPEvent) String() string {
	s := fmt.Sprintf("tftp %s %q %s %d bytes %v", macText(e.MAC), e.Filename, e.Outcome, e.Bytes, e.Duration.Round(time.Millisecond))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// String returns one line: `tftp-progress 52:54:00:12:34:56 "ipxe.efi"
// 524288 of 1048576 bytes 1.2s`.
func (e TFTPProgressEvent) String() string {
	size := "?"
	if e.Size >= 0 {
		size = strconv.FormatInt(e.Size, 10)
	}
	return fmt.Sprintf("tftp-progress %s %q %d of %s bytes %v", macText(e.MAC), e.Filename, e.Bytes, size, e.Elapsed.Round(time.Millisecond))
}

// String returns one line: `http 52:54:00:12:34:56 GET "/boot.ipxe" 200
// script 312 bytes 2ms`.
func (e HTTPEvent) String() string {
	s := fmt.Sprintf("http %s %s %q %d %s %d bytes %v", macText(e.MAC), e.Method, e.Path, e.Status, e.Route, e.Bytes, e.Duration.Round(time.Millisecond))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// String returns one line: "stage 52:54:00:12:34:56 dhcp → bootfile".
func (e StageEvent) String() string {
	s := fmt.Sprintf("stage %s %s → %s", macText(e.MAC), e.From, e.To)
	if e.NewBoot {
		s += " (new boot)"
	}
	return s
}

// String returns one line: "unknown-machine 52:54:00:12:34:56 uuid=…".
func (e UnknownMachineEvent) String() string {
	s := "unknown-machine " + macText(e.MAC)
	if e.UUID != "" {
		s += " uuid=" + e.UUID
	}
	return s
}

func macText(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return "-"
	}
	return mac.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cloneClient returns a copy of c that shares no slice with it.
func cloneClient(c archdetect.Client) archdetect.Client {
	c.MAC = bytes.Clone(c.MAC)
	c.Archs = slices.Clone(c.Archs)
	c.UUIDRaw = bytes.Clone(c.UUIDRaw)
	c.UserClasses = slices.Clone(c.UserClasses)
	c.UserClassRaw = bytes.Clone(c.UserClassRaw)
	c.Problems = slices.Clone(c.Problems)
	c.IPXEInfo.Features = slices.Clone(c.IPXEInfo.Features)
	return c
}
