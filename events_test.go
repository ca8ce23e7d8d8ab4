package pxekit_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/pcaptest"
	"github.com/pxekit/pxekit/tftpserve"
)

// Every event type is an Event.
var (
	_ pxekit.Event = pxekit.DHCPEvent{}
	_ pxekit.Event = pxekit.TFTPEvent{}
	_ pxekit.Event = pxekit.HTTPEvent{}
	_ pxekit.Event = pxekit.StageEvent{}
	_ pxekit.Event = pxekit.UnknownMachineEvent{}
)

var eventTime = time.Date(2026, 12, 1, 9, 30, 0, 250_000_000, time.UTC)

// captured4 returns the DHCPv4 client message in frame of a capture.
func captured4(t testing.TB, name string, frame int) *dhcpv4.DHCPv4 {
	t.Helper()
	for _, p := range pcaptest.Read(t, name) {
		if p.Frame == frame {
			m, err := dhcpv4.FromBytes(p.Payload)
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, frame, err)
			}
			return m
		}
	}
	t.Fatalf("%s: no frame %d", name, frame)
	return nil
}

// captured6 returns the first DHCPv6 Solicit of the no-answer capture
// (OVMF PXE over IPv6, arch 7, DUID-UUID).
func captured6(t *testing.T) *dhcpv6.Message {
	t.Helper()
	for _, p := range pcaptest.Read(t, "ovmf-no-dhcpv4-answer-dhcpv6.pcapng") {
		if !p.UDP || p.Dst.Port() != 547 {
			continue
		}
		m, err := dhcpv6.FromBytes(p.Payload)
		if err != nil {
			t.Fatalf("frame %d: %v", p.Frame, err)
		}
		if msg, ok := m.(*dhcpv6.Message); ok && msg.Type() == dhcpv6.MessageTypeSolicit {
			return msg
		}
	}
	t.Fatal("no Solicit in capture")
	return nil
}

// eventJSON marshals e (as an Event, the way a hook holds it) with its
// time set to eventTime, and decodes it back into a map.
func eventJSON(t *testing.T, e pxekit.Event) (string, map[string]any) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", e, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("json of %T does not decode: %v\n%s", e, err, b)
	}
	return string(b), m
}

// checkJSON compares the keys of an event's JSON, and the values of those
// in want (JSON-decoded: numbers are float64).
func checkJSON(t *testing.T, e pxekit.Event, keys []string, want map[string]any) {
	t.Helper()
	s, m := eventJSON(t, e)
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%T JSON keys = %v, want %v\n%s", e, got, keys, s)
	}
	for k, w := range want {
		if g, ok := m[k]; !ok || !jsonEqual(g, w) {
			t.Errorf("%T JSON %q = %#v, want %#v\n%s", e, k, g, w, s)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func newLab4(t testing.TB, rules ...dhcpboot.Rule) *dhcpboot.LabServer4 {
	t.Helper()
	p, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if len(rules) > 0 {
		p, err = dhcpboot.NewPolicy(rules...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &dhcpboot.LabServer4{Policy: p, ServerIP: netip.MustParseAddr("10.77.0.1"),
		Subnets: []dhcpboot.Subnet{
			{Prefix: netip.MustParsePrefix("10.77.0.0/24"),
				RangeStart: netip.MustParseAddr("10.77.0.100"), RangeEnd: netip.MustParseAddr("10.77.0.199")},
			{Prefix: netip.MustParsePrefix("10.88.0.0/24"), ServerIP: netip.MustParseAddr("10.77.0.1"),
				RangeStart: netip.MustParseAddr("10.88.0.50"), RangeEnd: netip.MustParseAddr("10.88.0.60")},
		}}
}

// OVMF's own PXE DISCOVER answered by a lab server: every field of the
// decision, and the JSON a log line or the status page gets.
func TestDHCPEventFrom4Lab(t *testing.T) {
	disc := captured4(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	peer := netip.MustParseAddrPort("0.0.0.0:68")
	x := newLab4(t).Reply(disc, dhcpboot.Arrival{Interface: "br0", Peer: peer})
	if x.Reply == nil {
		t.Fatalf("lab server did not answer the capture's DISCOVER: %s", x.NoReply)
	}
	before := time.Now()
	e := pxekit.DHCPEventFrom4(x)
	if e.Time.Before(before) || time.Since(e.Time) > time.Minute {
		t.Errorf("DHCPEventFrom4: Time = %v, want about now (%v)", e.Time, before)
	}
	want := pxekit.DHCPEvent{Version: 4, Message: "DISCOVER", Interface: "br0", Peer: peer, Mode: "full",
		Rule: x.Decision.RuleName(), Why: x.Decision.Why, Outcome: pxekit.DHCPAnswered, Reply: "OFFER",
		IP: netip.MustParseAddr("10.77.0.100"), BootFile: "ipxe.efi"}
	if e.Rule != "uefi-x64" || e.MAC.String() != "52:54:00:77:00:0b" || e.Client.Arch != 7 || e.Client.UUID != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Errorf("DHCPEventFrom4: rule %q, mac %v, arch %d, uuid %q; want uefi-x64, 52:54:00:77:00:0b, 7, the QEMU UUID",
			e.Rule, e.MAC, e.Client.Arch, e.Client.UUID)
	}
	got := e
	got.EventHeader, got.Client = pxekit.EventHeader{}, archdetect.Client{}
	if !jsonEqual(eventFields(got), eventFields(want)) {
		t.Errorf("DHCPEventFrom4 = %+v,\nwant %+v", got, want)
	}
	if s := e.String(); s != `dhcp 52:54:00:77:00:0b DISCOVER answered OFFER rule="uefi-x64" ip=10.77.0.100 file="ipxe.efi"` {
		t.Errorf("String() = %s", s)
	}

	e.Time = eventTime
	checkJSON(t, e, []string{"kind", "time", "mac", "version", "message", "interface", "peer", "mode", "client",
		"rule", "why", "outcome", "reply", "ip", "boot_file"},
		map[string]any{"kind": "dhcp", "time": "2026-12-01T09:30:00.25Z", "mac": "52:54:00:77:00:0b", "version": 4,
			"message": "DISCOVER", "interface": "br0", "peer": "0.0.0.0:68", "mode": "full", "rule": "uefi-x64",
			"why": x.Decision.Why, "outcome": "answered", "reply": "OFFER", "ip": "10.77.0.100", "boot_file": "ipxe.efi",
			"client": map[string]any{"source": "dhcpv4", "arch": 7, "arch_name": "x64 UEFI", "firmware": "uefi", "cpu": "x86_64",
				"transport": "pxe", "ipxe": false, "uuid": "00112233-4455-6677-8899-aabbccddeeff",
				"vendor_class": "PXEClient:Arch:00007:UNDI:003000", "undi": "UNDI 3.0"}})
}

// eventFields is e without its methods, for comparing all fields at once
// (a DHCPEvent's own MarshalJSON leaves out what is empty).
func eventFields(e pxekit.DHCPEvent) any {
	type plain pxekit.DHCPEvent
	p := plain(e)
	p.Err = nil
	return p
}

// A proxyDHCP offer to the iPXE ROM (arch 0: "arch": 0 stays in the JSON),
// relayed: no address, the mode and relay shown.
func TestDHCPEventFrom4ProxyRelayed(t *testing.T) {
	disc := captured4(t, "bios-ipxe-rom-http.pcapng", 1)
	disc.GatewayIPAddr = net.IPv4(10, 88, 0, 1)
	agent := []byte{1, 4, 'e', 't', 'h', '7'} // option 82, circuit id "eth7"
	disc.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, agent))
	p, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe"})
	if err != nil {
		t.Fatal(err)
	}
	h := &dhcpboot.Responder4{Policy: p, ServerIP: netip.MustParseAddr("10.77.0.1")}
	a := dhcpboot.Arrival{Mode: dhcpboot.ModeProxy, Peer: netip.MustParseAddrPort("10.88.0.1:67")}
	resp, r, d, err := h.Reply(disc, a)
	if err != nil {
		t.Fatal(err)
	}
	e := pxekit.DHCPEventFrom4(dhcpboot.Exchange4{Peer: a.Peer, Request: disc, Boot: r, Decision: d, Reply: resp, To: a.Peer})
	if e.Mode != "proxy" || e.IP.IsValid() || e.Relay != netip.MustParseAddr("10.88.0.1") || e.Rule != "ipxe" ||
		e.BootFile != "http://10.77.0.1:8080/boot.ipxe" || e.Outcome != pxekit.DHCPAnswered || !e.Client.IPXE {
		t.Errorf("DHCPEventFrom4(proxy offer to relayed iPXE) = %+v; want mode proxy, no IP, relay 10.88.0.1, rule ipxe, the script URL, answered, iPXE", e)
	}
	_, m := eventJSON(t, e)
	c, _ := m["client"].(map[string]any)
	if m["relay"] != "10.88.0.1" || m["mode"] != "proxy" || m["ip"] != nil || c["arch"] != 0.0 || c["ipxe"] != true ||
		c["ipxe_version"] != "1.0.0" || !jsonEqual(c["user_classes"], []string{"iPXE"}) {
		t.Errorf("JSON of a relayed proxy offer to iPXE = %v; want relay, mode proxy, no ip, client arch 0, ipxe true, version 1.0.0, user class iPXE", m)
	}
	if m["relay_agent"] != "010465746837" || m["reply_relay_agent"] != m["relay_agent"] || m["to"] != "10.88.0.1:67" {
		t.Errorf("JSON of a relayed proxy offer: relay_agent %v, reply_relay_agent %v, to %v; want 010465746837 echoed, sent to 10.88.0.1:67",
			m["relay_agent"], m["reply_relay_agent"], m["to"])
	}
}

// Ignored by a rule, failed (lease not saved, no reply), not decided.
func TestDHCPEventFrom4Outcomes(t *testing.T) {
	disc := captured4(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	mac, _ := dhcpboot.ParseMACPattern("52:54:00:77:00:0b")
	lab := newLab4(t, dhcpboot.Rule{Name: "keep-off", Match: dhcpboot.Match{MAC: []dhcpboot.MACPattern{mac}},
		Action: dhcpboot.Action{Ignore: true}})
	ign := pxekit.DHCPEventFrom4(lab.Reply(disc, dhcpboot.Arrival{}))
	if ign.Outcome != pxekit.DHCPIgnored || ign.Rule != "keep-off" || ign.NoReply != `rule "keep-off" ignores the client` || ign.Reply != "" {
		t.Errorf("DHCPEventFrom4(ignored by rule) = outcome %q rule %q no_reply %q reply %q; want ignored, keep-off, its reason, none",
			ign.Outcome, ign.Rule, ign.NoReply, ign.Reply)
	}

	saveErr := errors.New("dhcpboot: lease file: disk full")
	fail := pxekit.DHCPEventFrom4(dhcpboot.Exchange4{Request: disc, NoReply: "lease not saved: disk full", Err: saveErr})
	if fail.Outcome != pxekit.DHCPFailed || !errors.Is(fail.Err, saveErr) || fail.MAC.String() != "52:54:00:77:00:0b" || fail.Mode != "" {
		t.Errorf("DHCPEventFrom4(no decision, save error) = outcome %q err %v mac %v mode %q; want failed, the error, the request's MAC, no mode",
			fail.Outcome, fail.Err, fail.MAC, fail.Mode)
	}
	fail.Time = eventTime
	checkJSON(t, fail, []string{"kind", "time", "mac", "version", "message", "client", "outcome", "no_reply", "err"},
		map[string]any{"outcome": "failed", "err": "dhcpboot: lease file: disk full", "no_reply": "lease not saved: disk full"})

	bad := pxekit.DHCPEventFromInvalid(4, dhcpboot.Invalid{Peer: netip.MustParseAddrPort("10.77.0.9:68"), Interface: "br0", Size: 3,
		Err: errors.New("dhcpv4: short packet")})
	bad.Time = eventTime
	if bad.Outcome != pxekit.DHCPInvalid || bad.MAC != nil {
		t.Errorf("DHCPEventFromInvalid = %+v, want outcome invalid and no MAC", bad)
	}
	checkJSON(t, bad, []string{"kind", "time", "version", "interface", "peer", "outcome", "no_reply", "err"},
		map[string]any{"kind": "dhcp", "version": 4, "peer": "10.77.0.9:68", "outcome": "invalid",
			"no_reply": "invalid datagram (3 bytes)", "err": "dhcpv4: short packet"})
}

// The event shares nothing with the exchange: the server's buffers and
// the hook's copy do not alias.
func TestDHCPEventCopies(t *testing.T) {
	disc := captured4(t, "bios-ipxe-rom-http.pcapng", 1)
	x := newLab4(t).Reply(disc, dhcpboot.Arrival{})
	e := pxekit.DHCPEventFrom4(x)
	want, _ := json.Marshal(e)
	x.Boot.Client.MAC[5] = 0xff
	x.Boot.Client.Archs[0] = 99
	x.Boot.Client.UserClasses[0] = "evil"
	x.Boot.Client.IPXEInfo.Features[0] = 0
	disc.ClientHWAddr[5] = 0xff
	x.Reply.BootFileName = "changed"
	if got, _ := json.Marshal(e); string(got) != string(want) {
		t.Errorf("changing the exchange changed the event:\nbefore %s\nafter  %s", want, got)
	}
	e.MAC[0] = 0xee
	if e.Client.MAC[0] == 0xee {
		t.Error("DHCPEvent.MAC and DHCPEvent.Client.MAC share memory")
	}
}

// OVMF's DHCPv6 Solicit (PXE over IPv6) answered by LabServer6, direct and
// through a relay.
func TestDHCPEventFrom6(t *testing.T) {
	sol := captured6(t)
	p, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lab := &dhcpboot.LabServer6{Policy: p, ServerIP: netip.MustParseAddr("fd77::1"),
		RangeStart: netip.MustParseAddr("fd77::100"), RangeEnd: netip.MustParseAddr("fd77::1ff")}
	peer := netip.MustParseAddrPort("[fe80::5054:ff:fe77:b]:546")
	e := pxekit.DHCPEventFrom6(lab.Reply(sol, dhcpboot.Arrival{Interface: "br0", Peer: peer}))
	if e.Version != 6 || e.Message != "SOLICIT" || e.Reply != "ADVERTISE" || e.Outcome != pxekit.DHCPAnswered ||
		e.IP != netip.MustParseAddr("fd77::100") || e.BootFile != "tftp://[fd77::1]/ipxe.efi" || e.Rule != "uefi-x64" ||
		e.Client.UUID != "00112233-4455-6677-8899-aabbccddeeff" || e.Relay.IsValid() {
		t.Errorf("DHCPEventFrom6(OVMF Solicit) = %+v; want v6 SOLICIT→ADVERTISE fd77::100 tftp://[fd77::1]/ipxe.efi rule uefi-x64, the QEMU UUID, not relayed", e)
	}
	if s := e.String(); !strings.HasPrefix(s, "dhcp6 ") {
		t.Errorf("String() = %q, want a dhcp6 line", s)
	}

	link := netip.MustParseAddr("fd88::1")
	relayed, err := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.IP(link.AsSlice()), net.ParseIP("fe80::5054:ff:fe77:b"))
	if err != nil {
		t.Fatal(err)
	}
	r := pxekit.DHCPEventFrom6(lab.Reply(relayed, dhcpboot.Arrival{Peer: netip.MustParseAddrPort("[fd88::1]:547")}))
	if r.Message != "SOLICIT" || r.Reply != "ADVERTISE" || r.Relay != link || !r.IP.IsValid() {
		t.Errorf("DHCPEventFrom6(relayed Solicit) = %+v; want the inner SOLICIT, ADVERTISE, relay %v, an address", r, link)
	}
	_, m := eventJSON(t, r)
	if m["relay"] != "fd88::1" || m["version"] != 6.0 {
		t.Errorf("JSON of a relayed DHCPv6 event = %v; want relay fd88::1, version 6", m)
	}
}

func TestTFTPEventJSON(t *testing.T) {
	start := eventTime.Add(-1500 * time.Millisecond)
	mac, _ := net.ParseMAC("52:54:00:77:00:0b")
	tests := []struct {
		name string
		info tftpserve.TransferInfo
		keys []string
		want map[string]any
	}{
		{"read", tftpserve.TransferInfo{Client: netip.MustParseAddrPort("10.77.0.100:1025"), Filename: "ipxe.efi", Path: "ipxe.efi",
			Size: 850528, Bytes: 850528, BlockSize: 1468, WindowSize: 4, MinWindowSize: 4, Start: start, Duration: 1500 * time.Millisecond,
			Packets: 580, Retransmits: 2, Outcome: tftpserve.OutcomeOK},
			[]string{"kind", "time", "mac", "peer", "filename", "path", "size", "bytes", "block_size", "window_size", "min_window_size",
				"start", "duration_seconds", "packets", "retransmits", "outcome"},
			map[string]any{"kind": "tftp", "time": "2026-12-01T09:30:00.25Z", "mac": "52:54:00:77:00:0b", "peer": "10.77.0.100:1025",
				"filename": "ipxe.efi", "size": 850528, "bytes": 850528, "block_size": 1468, "window_size": 4,
				"start": "2026-12-01T09:29:58.75Z", "duration_seconds": 1.5, "packets": 580, "retransmits": 2, "outcome": "ok"}},
		{"size probe ends with ERROR 8", tftpserve.TransferInfo{Client: netip.MustParseAddrPort("10.77.0.100:1024"), Filename: "ipxe.efi",
			Path: "ipxe.efi", Size: 850528, Start: start, Duration: 1500 * time.Millisecond, Outcome: tftpserve.OutcomeSizeProbe, ErrorCode: 8},
			[]string{"kind", "time", "mac", "peer", "filename", "path", "size", "bytes", "start", "duration_seconds", "packets",
				"retransmits", "outcome", "error_code"},
			map[string]any{"outcome": "size-probe", "error_code": 8, "bytes": 0}},
		{"refused, size unknown", tftpserve.TransferInfo{Client: netip.MustParseAddrPort("10.77.0.100:1026"), Filename: "../etc/passwd",
			Size: -1, Start: start, Duration: 1500 * time.Millisecond, Outcome: tftpserve.OutcomeRefused, ErrorCode: 2,
			Err: errors.New("tftpserve: path escapes the root")},
			[]string{"kind", "time", "mac", "peer", "filename", "bytes", "start", "duration_seconds", "packets", "retransmits",
				"outcome", "error_code", "err"},
			map[string]any{"outcome": "refused", "error_code": 2, "filename": "../etc/passwd", "err": "tftpserve: path escapes the root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := pxekit.TFTPEventFrom(tt.info, mac)
			if !e.Time.Equal(eventTime) {
				t.Errorf("TFTPEventFrom: Time = %v, want the transfer's end %v", e.Time, eventTime)
			}
			checkJSON(t, e, tt.keys, tt.want)
		})
	}
	if e := pxekit.TFTPEventFrom(tftpserve.TransferInfo{}, nil); e.MAC != nil || e.Time.IsZero() {
		t.Errorf("TFTPEventFrom(zero, nil) = %+v, want no MAC and the time now", e)
	}
	m := net.HardwareAddr{1, 2, 3, 4, 5, 6}
	e := pxekit.TFTPEventFrom(tftpserve.TransferInfo{}, m)
	m[0] = 9
	if e.MAC[0] != 1 {
		t.Error("TFTPEventFrom keeps the caller's MAC slice")
	}
}

func TestHTTPEventJSON(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:77:00:0d")
	req := pxekit.HTTPRequest{Method: "GET", Path: "/machine/52-54-00-77-00-0d", Query: "chip=undionly&uuid=x", Kind: pxekit.HTTPMachineScript, Status: 200,
		Bytes: 312, Duration: 2 * time.Millisecond, Peer: netip.MustParseAddr("10.77.0.101"), MAC: mac, Known: true, Machine: "web01",
		Client: archdetect.Client{Source: archdetect.SourceHTTP, MAC: mac, UUID: "00112233-4455-6677-8899-aabbccddeeff",
			Arch: 7, HasArch: true, ArchName: "x64 UEFI", Firmware: archdetect.FirmwareUEFI, CPU: archdetect.CPUX8664, Transport: archdetect.TransportPXE, IPXE: true,
			IPXEInfo: archdetect.IPXEInfo{Platform: "efi", BuildArch: "x86_64"}, UserAgent: "iPXE/1.21.1"}}
	e := pxekit.HTTPEventFrom(req)
	req.MAC[0] = 0xff
	if e.MAC.String() != "52:54:00:77:00:0d" || e.Client.MAC.String() != "52:54:00:77:00:0d" {
		t.Errorf("HTTPEventFrom keeps the request's MAC slice: %v, %v", e.MAC, e.Client.MAC)
	}
	e.Time = eventTime
	checkJSON(t, e, []string{"kind", "time", "mac", "method", "path", "query", "route", "status", "outcome", "bytes", "duration_seconds",
		"peer", "client", "known", "machine"},
		map[string]any{"kind": "http", "method": "GET", "path": "/machine/52-54-00-77-00-0d", "query": "chip=undionly&uuid=x", "route": "machine", "status": 200,
			"outcome": "2xx", "bytes": 312, "duration_seconds": 0.002, "peer": "10.77.0.101", "known": true, "machine": "web01",
			"client": map[string]any{"source": "http", "arch": 7, "arch_name": "x64 UEFI", "firmware": "uefi", "cpu": "x86_64",
				"transport": "pxe", "ipxe": true, "platform": "efi", "buildarch": "x86_64",
				"uuid": "00112233-4455-6677-8899-aabbccddeeff", "user_agent": "iPXE/1.21.1"}})

	for _, tt := range []struct {
		status int
		err    error
		want   string
	}{{200, nil, "2xx"}, {206, nil, "2xx"}, {304, nil, "3xx"}, {404, nil, "4xx"}, {500, nil, "5xx"},
		{200, errors.New("write: broken pipe"), "failed"}, {0, nil, "other"}} {
		if got := pxekit.HTTPEventFrom(pxekit.HTTPRequest{Status: tt.status, Err: tt.err}).Outcome(); got != tt.want {
			t.Errorf("HTTPEvent{Status: %d, Err: %v}.Outcome() = %q, want %q", tt.status, tt.err, got, tt.want)
		}
	}
}

func TestStageAndUnknownEventJSON(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:77:00:0b")
	tests := []struct {
		e    pxekit.Event
		want string
		line string
	}{
		{pxekit.StageEvent{EventHeader: pxekit.EventHeader{Time: eventTime, MAC: mac}, From: pxekit.StageDHCP, To: pxekit.StageBootFile, Via: pxekit.EventTFTP},
			`{"kind":"stage","time":"2026-12-01T09:30:00.25Z","mac":"52:54:00:77:00:0b","from":"dhcp","to":"bootfile","new_boot":false,"via":"tftp"}`,
			"stage 52:54:00:77:00:0b dhcp → bootfile"},
		{pxekit.StageEvent{EventHeader: pxekit.EventHeader{Time: eventTime, MAC: mac}, From: pxekit.StageKernel, To: pxekit.StageDHCP, NewBoot: true},
			`{"kind":"stage","time":"2026-12-01T09:30:00.25Z","mac":"52:54:00:77:00:0b","from":"kernel","to":"dhcp","new_boot":true}`,
			"stage 52:54:00:77:00:0b kernel → dhcp (new boot)"},
		{pxekit.TFTPProgressEventFrom(tftpserve.TransferInfo{Client: netip.MustParseAddrPort("10.0.0.5:2001"), Filename: "ipxe.efi", Path: "ipxe.efi",
			Size: 1048576, Bytes: 524288, BlockSize: 1468, WindowSize: 4, Start: eventTime.Add(-1200 * time.Millisecond), Duration: 1200 * time.Millisecond, Retransmits: 2}, mac),
			`{"kind":"tftp-progress","time":"2026-12-01T09:30:00.25Z","mac":"52:54:00:77:00:0b","peer":"10.0.0.5:2001","filename":"ipxe.efi","path":"ipxe.efi","size":1048576,"bytes":524288,"block_size":1468,"window_size":4,"start":"2026-12-01T09:29:59.05Z","elapsed_seconds":1.2,"retransmits":2}`,
			`tftp-progress 52:54:00:77:00:0b "ipxe.efi" 524288 of 1048576 bytes 1.2s`},
		{pxekit.UnknownMachineEvent{EventHeader: pxekit.EventHeader{Time: eventTime, MAC: mac}, UUID: "00112233-4455-6677-8899-aabbccddeeff"},
			`{"kind":"unknown-machine","time":"2026-12-01T09:30:00.25Z","mac":"52:54:00:77:00:0b","uuid":"00112233-4455-6677-8899-aabbccddeeff"}`,
			"unknown-machine 52:54:00:77:00:0b uuid=00112233-4455-6677-8899-aabbccddeeff"},
	}
	for _, tt := range tests {
		if got, _ := eventJSON(t, tt.e); got != tt.want {
			t.Errorf("json.Marshal(%v) =\n%s\nwant\n%s", tt.e, got, tt.want)
		}
		if got := tt.e.String(); got != tt.line {
			t.Errorf("String() = %q, want %q", got, tt.line)
		}
		if h := tt.e.Header(); !h.Time.Equal(eventTime) || h.MAC.String() != mac.String() {
			t.Errorf("%T.Header() = %+v", tt.e, h)
		}
	}

	c := archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: mac, UUID: "00112233-4455-6677-8899-aabbccddeeff", Archs: []archdetect.Arch{7}}
	u := pxekit.UnknownMachineEventFrom(c)
	c.MAC[0], c.Archs[0] = 0xff, 9
	if u.MAC.String() != "52:54:00:77:00:0b" || u.Client.MAC.String() != "52:54:00:77:00:0b" || u.Client.Archs[0] != 7 ||
		u.UUID != c.UUID || u.Kind() != pxekit.EventUnknownMachine {
		t.Errorf("UnknownMachineEventFrom = %+v: want a copy with the client's MAC and UUID", u)
	}
}

// A hook holds events as Event; a type switch finds each type, and Kind
// agrees with it.
func TestEventKinds(t *testing.T) {
	events := []pxekit.Event{pxekit.DHCPEvent{}, pxekit.TFTPEvent{}, pxekit.HTTPEvent{}, pxekit.StageEvent{}, pxekit.UnknownMachineEvent{}, pxekit.TFTPProgressEvent{}}
	want := []pxekit.EventKind{pxekit.EventDHCP, pxekit.EventTFTP, pxekit.EventHTTP, pxekit.EventStage, pxekit.EventUnknownMachine, pxekit.EventTFTPProgress}
	for i, e := range events {
		var k pxekit.EventKind
		switch e.(type) {
		case pxekit.DHCPEvent:
			k = pxekit.EventDHCP
		case pxekit.TFTPEvent:
			k = pxekit.EventTFTP
		case pxekit.HTTPEvent:
			k = pxekit.EventHTTP
		case pxekit.StageEvent:
			k = pxekit.EventStage
		case pxekit.UnknownMachineEvent:
			k = pxekit.EventUnknownMachine
		case pxekit.TFTPProgressEvent:
			k = pxekit.EventTFTPProgress
		}
		if k != want[i] || e.Kind() != want[i] {
			t.Errorf("%T: type switch gives %q, Kind() %q, want %q", e, k, e.Kind(), want[i])
		}
		_, m := eventJSON(t, e)
		if m["kind"] != string(want[i]) {
			t.Errorf("%T JSON kind = %v, want %q", e, m["kind"], want[i])
		}
	}
}
