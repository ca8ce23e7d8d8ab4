package pxekit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/tftpserve"
)

// statusClock is a clock a test moves by hand.
type statusClock struct{ t time.Time }

func (c *statusClock) now() time.Time      { return c.t }
func (c *statusClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newStatusClock() *statusClock         { return &statusClock{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }
func simMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0x00, byte(i >> 16), byte(i >> 8), byte(i)}
}
func simIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}
func header(mac net.HardwareAddr, at time.Time) EventHeader { return EventHeader{Time: at, MAC: mac} }

// simClient is what DHCP tells of simulated machine i: even ones UEFI
// x86-64, odd ones BIOS.
func simClient(i int, ipxe bool) archdetect.Client {
	c := archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: simMAC(i), HasArch: true, IPXE: ipxe,
		Arch: 7, ArchName: "EFI x86-64", Firmware: archdetect.FirmwareUEFI, CPU: archdetect.CPUX8664}
	if i%2 == 1 {
		c.Arch, c.ArchName, c.Firmware, c.CPU = 0, "Intel x86PC", archdetect.FirmwareBIOS, archdetect.CPUX86
	}
	return c
}

// simulateBoots feeds st the events of n machines in the middle of their
// boots, as a Server raises them: each answered over DHCP, at a stage
// from dhcp to script, every third one unknown, every fourth in the
// middle of a TFTP transfer of ipxe.efi, every tenth with a failure.
func simulateBoots(st *Status, n int, at time.Time) {
	const size = 1 << 20
	for i := range n {
		mac := simMAC(i)
		ip := simIP(i)
		st.Observe(DHCPEvent{EventHeader: header(mac, at), Version: 4, Message: "DISCOVER", Client: simClient(i, false),
			Rule: "uefi-x64", Why: "arch 7 (EFI x86-64)", Outcome: DHCPAnswered, Reply: "OFFER", IP: ip, BootFile: "ipxe.efi"})
		st.Observe(StageEvent{EventHeader: header(mac, at), From: StageUnknown, To: StageDHCP, Via: EventDHCP})
		if i%3 == 0 {
			st.Observe(UnknownMachineEvent{EventHeader: header(mac, at), Client: simClient(i, false)})
		}
		peer := netip.AddrPortFrom(ip, 1024+uint16(i%60000))
		info := tftpserve.TransferInfo{Client: peer, Filename: "ipxe.efi", Path: "ipxe.efi", Size: size, BlockSize: 1468, WindowSize: 4,
			Start: at.Add(-time.Second), Duration: time.Second}
		if i%4 == 0 {
			info.Bytes = int64(i%100) * size / 100
			st.Observe(TFTPProgressEventFrom(info, mac))
			continue
		}
		info.Bytes, info.Outcome = size, tftpserve.OutcomeOK
		if i%10 == 1 {
			info.Bytes, info.Outcome, info.Err = 5*1468, tftpserve.OutcomeTimeout, errors.New("tftpserve: client stopped answering")
		}
		st.Observe(TFTPEventFrom(info, mac))
		if info.Outcome != tftpserve.OutcomeOK {
			continue
		}
		st.Observe(StageEvent{EventHeader: header(mac, at), From: StageDHCP, To: StageBootFile, Via: EventTFTP})
		if i%4 == 1 {
			continue
		}
		st.Observe(DHCPEvent{EventHeader: header(mac, at), Version: 4, Message: "DISCOVER", Client: simClient(i, true),
			Rule: "ipxe", Why: "iPXE asks: the script", Outcome: DHCPAnswered, Reply: "OFFER", IP: ip, BootFile: "http://10.0.0.1/boot.ipxe"})
		st.Observe(StageEvent{EventHeader: header(mac, at), From: StageBootFile, To: StageIPXE, Via: EventDHCP})
		st.Observe(HTTPEvent{EventHeader: header(mac, at), Method: "GET", Path: "/boot.ipxe", Route: HTTPBootScript, Status: 200, Bytes: 312, Peer: ip})
		st.Observe(StageEvent{EventHeader: header(mac, at), From: StageIPXE, To: StageScript, Via: EventHTTP})
	}
}

func stageCount(c StatusCounters, s Stage) int {
	for _, sc := range c.ByStage {
		if sc.Stage == s {
			return sc.N
		}
	}
	return -1
}

// TestStatusCounters: the counters follow the events — machines by
// stage, unknown ones, running transfers, bytes served, DHCP totals and
// the DHCP messages of the last minute only.
func TestStatusCounters(t *testing.T) {
	clock := newStatusClock()
	st := &Status{Now: clock.now}
	simulateBoots(st, 20, clock.t)
	c := st.Snapshot().Counters
	// 20 machines: 0,4,8,12,16 transferring (dhcp); 1,11 timed out (dhcp);
	// 5,9,13,17 at bootfile; the other 9 at script.
	want := map[Stage]int{StageUnknown: 0, StageDHCP: 7, StageBootFile: 4, StageIPXE: 0, StageScript: 9, StageKernel: 0}
	for s, n := range want {
		if got := stageCount(c, s); got != n {
			t.Errorf("machines at %v = %d, want %d (counters %+v)", s, got, n, c)
		}
	}
	if c.Machines != 20 || c.Unknown != 7 || c.UnknownMachines != 7 || c.TransfersRunning != 5 {
		t.Errorf("counters = %+v, want 20 machines, 7 unknown, 5 transfers running", c)
	}
	if want := int64(13*(1<<20) + 2*5*1468); c.TFTPBytes != want || c.TFTPTransfers != 15 || c.TFTPFailures != 2 {
		t.Errorf("TFTP counters = %d bytes, %d transfers, %d failed; want %d, 15, 2", c.TFTPBytes, c.TFTPTransfers, c.TFTPFailures, want)
	}
	if c.HTTPBytes != 9*312 || c.HTTPRequests != 9 {
		t.Errorf("HTTP counters = %d bytes, %d requests; want %d, 9", c.HTTPBytes, c.HTTPRequests, 9*312)
	}
	if c.DHCP.Answered != 29 || c.DHCPMinute.Answered != 29 {
		t.Errorf("DHCP answered = %d total, %d last minute; want 29 and 29", c.DHCP.Answered, c.DHCPMinute.Answered)
	}

	// 40 s later one DHCP message is ignored; 30 s after that only it is
	// of the last minute.
	clock.add(40 * time.Second)
	st.Observe(DHCPEvent{EventHeader: header(simMAC(999), clock.t), Version: 4, Message: "DISCOVER", Outcome: DHCPIgnored,
		NoReply: "not a network boot client", Client: archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: simMAC(999)}})
	st.Observe(DHCPEvent{EventHeader: EventHeader{Time: clock.t}, Version: 4, Outcome: DHCPInvalid})
	clock.add(30 * time.Second)
	c = st.Snapshot().Counters
	if (c.DHCPMinute != DHCPCounts{Ignored: 1, Invalid: 1}) || (c.DHCP != DHCPCounts{Answered: 29, Ignored: 1, Invalid: 1}) {
		t.Errorf("DHCP counts 70 s on = %+v last minute, %+v total; want 1 ignored and 1 invalid in the minute", c.DHCPMinute, c.DHCP)
	}
	if c.Machines != 20 {
		t.Errorf("a DHCP client that is no network boot client got a row: %d machines, want 20", c.Machines)
	}

	// Machine 0's transfer ends, machine 3 starts a new boot.
	info := tftpserve.TransferInfo{Client: netip.AddrPortFrom(simIP(0), 1024), Filename: "ipxe.efi", Size: 1 << 20, Bytes: 1 << 20,
		Start: clock.t.Add(-time.Second), Duration: time.Second, Outcome: tftpserve.OutcomeOK}
	st.Observe(TFTPEventFrom(info, simMAC(0)))
	st.Observe(StageEvent{EventHeader: header(simMAC(3), clock.t), From: StageScript, To: StageDHCP, NewBoot: true, Via: EventDHCP})
	snap := st.Snapshot()
	if snap.Counters.TransfersRunning != 4 {
		t.Errorf("transfers running after one ended = %d, want 4", snap.Counters.TransfersRunning)
	}
	m0, m3 := snap.Machines[0], snap.Machines[3]
	if m0.Transfer == nil || m0.Transfer.Running || m0.Transfer.Bytes != 1<<20 || m0.Transfer.Outcome != "ok" || m0.Transfer.Rate != 1<<20 {
		t.Errorf("machine 0's ended transfer = %+v, want 1 MiB, ok, 1 MiB/s, not running", m0.Transfer)
	}
	if m3.Stage != StageDHCP || m3.Boots != 2 || !m3.StageSince.Equal(clock.t) {
		t.Errorf("machine 3 after a new boot = stage %v since %v, boot %d; want dhcp since %v, boot 2", m3.Stage, m3.StageSince, m3.Boots, clock.t)
	}
	if m1 := snap.Machines[1]; !strings.Contains(m1.LastError, "tftp ipxe.efi: timeout: tftpserve: client stopped answering") {
		t.Errorf("machine 1's last error = %q, want the TFTP timeout", m1.LastError)
	}
	if m2 := snap.Machines[2]; m2.Arch != "EFI x86-64 (x86_64)" || m2.Firmware != "UEFI" || m2.Loader != "iPXE" || m2.Rule != "ipxe" || m2.IP != "10.0.0.2" {
		t.Errorf("machine 2 = %+v, want EFI x86-64 (x86_64), UEFI, iPXE, rule ipxe, 10.0.0.2", m2)
	}
}

// TestStatusExpiry: a machine idle for IdleTTL leaves the table (and its
// stage and unknown counts); MaxMachines evicts the least recently seen;
// a live update client that missed removals is told to reload.
func TestStatusExpiry(t *testing.T) {
	clock := newStatusClock()
	st := &Status{Now: clock.now, IdleTTL: time.Minute, MaxMachines: 5}
	simulateBoots(st, 3, clock.t) // 0 (unknown, transferring), 1, 2
	seq := st.Snapshot().Seq
	clock.add(50 * time.Second)
	st.Observe(StageEvent{EventHeader: header(simMAC(1), clock.t), From: StageDHCP, To: StageBootFile, Via: EventTFTP})
	clock.add(20 * time.Second) // 0 and 2 idle 70 s, 1 idle 20 s
	snap := st.Snapshot()
	if len(snap.Machines) != 1 || snap.Machines[0].MAC != simMAC(1).String() {
		t.Fatalf("after 70 s idle: machines %v, want only %v", macsOf(snap.Machines), simMAC(1))
	}
	c := snap.Counters
	if c.Machines != 1 || c.Unknown != 0 || c.TransfersRunning != 0 || stageCount(c, StageBootFile) != 1 || stageCount(c, StageDHCP) != 0 || c.UnknownMachines != 1 {
		t.Errorf("counters after expiry = %+v, want machine 1 alone, at bootfile, 0 unknown left, 1 unknown seen", c)
	}
	d, _ := st.since(seq)
	if fmt.Sprint(d.gone) != fmt.Sprint([]string{"525400000000", "525400000002"}) || d.reset {
		t.Errorf("since(%d).gone = %v (reset %v), want the two expired ids", seq, d.gone, d.reset)
	}

	// MaxMachines: 7 new machines in a table of 5 keep the 5 seen last.
	for i := 10; i < 17; i++ {
		st.Observe(StageEvent{EventHeader: header(simMAC(i), clock.t), To: StageDHCP})
		clock.add(time.Second)
	}
	if got := macsOf(st.Snapshot().Machines); fmt.Sprint(got) != fmt.Sprint([]string{"52:54:00:00:00:0c", "52:54:00:00:00:0d", "52:54:00:00:00:0e", "52:54:00:00:00:0f", "52:54:00:00:00:10"}) {
		t.Errorf("after 7 machines in a table of 5: %v, want machines 12-16", got)
	}
	if st.Len() != 5 {
		t.Errorf("Len() = %d, want 5", st.Len())
	}

	// More removals than goneKeep: an old client resets.
	big := &Status{Now: clock.now, MaxMachines: 1}
	for i := range goneKeep + 2 {
		big.Observe(StageEvent{EventHeader: header(simMAC(i), clock.t), To: StageDHCP})
	}
	if d, _ := big.since(1); !d.reset {
		t.Errorf("a client %d removals behind: reset = false, want true", goneKeep+1)
	}
	if d, _ := big.since(big.Snapshot().Seq); d.reset || len(d.rows) != 0 {
		t.Errorf("an up-to-date client: %+v, want nothing", d)
	}
}

func macsOf(ms []StatusMachine) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.MAC)
	}
	return out
}

// hostile are values an attacker may put in what the status page shows:
// a machine name or a file name (from a TFTP request), an error text.
var hostile = []string{
	`<script>alert("x")</script>`,
	`"><img src=x onerror=alert(1)>`,
	`</td></tr></table><h1>owned</h1>`,
	`javascript:alert(1)`,
	"line\nbreak\u2028sep",
}

// TestStatusPageEscapes: hostile file names, machine names, rules and
// errors come out of the page, and of the rows the live updates send,
// as text: the page keeps its one script, no element or attribute of
// theirs appears, and the text reads back exactly.
func TestStatusPageEscapes(t *testing.T) {
	clock := newStatusClock()
	st := &Status{Now: clock.now}
	for i, h := range hostile {
		mac := simMAC(i)
		ip := simIP(i)
		st.Observe(DHCPEvent{EventHeader: header(mac, clock.t), Version: 4, Message: "DISCOVER", Client: simClient(i, false),
			Rule: h, Why: h, Outcome: DHCPAnswered, IP: ip})
		st.Observe(HTTPEvent{EventHeader: header(mac, clock.t), Method: "GET", Path: "/machine/" + h, Route: HTTPMachineScript,
			Status: 500, Peer: ip, Known: true, Machine: h})
		st.Observe(TFTPProgressEventFrom(tftpserve.TransferInfo{Client: netip.AddrPortFrom(ip, 2000), Filename: h, Path: h, Size: 100, Bytes: 50,
			Start: clock.t}, mac))
	}
	srv := httptest.NewServer(st.Handler())
	defer srv.Close()
	page := getBody(t, srv.URL+"/status", "text/html; charset=utf-8")
	checkHostile(t, "page", page, len(hostile))
	if !strings.Contains(page, "<script>"+statusScript+"</script>") {
		t.Errorf("the page's script is not the one its Content-Security-Policy allows")
	}

	d, _ := st.since(0)
	msg, err := d.event()
	if err != nil {
		t.Fatalf("event(): %v", err)
	}
	var upd struct{ Rows []string }
	if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.SplitN(string(msg), "data: ", 2)[1], "\n\n")), &upd); err != nil {
		t.Fatalf("update %q: %v", msg, err)
	}
	checkHostile(t, "live update", "<table><tbody>"+strings.Join(upd.Rows, "")+"</tbody></table>", len(hostile))
}

// checkHostile parses doc as a browser would and checks that the hostile
// values are text in it: no element or attribute of theirs, each value
// readable whole (as a row's name).
func checkHostile(t *testing.T, what, doc string, rows int) {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("%s: html.Parse: %v", what, err)
	}
	scripts, names, trs := 0, map[string]bool{}, 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script":
				scripts++
			case "img", "h1":
				if n.Data == "img" || strings.Contains(textOf(n), "owned") {
					t.Errorf("%s: a hostile value made a <%s> element", what, n.Data)
				}
			case "tr":
				if strings.HasPrefix(attr(n, "id"), "m-") {
					trs++
				}
			case "span":
				if attr(n, "class") == "name" {
					names[textOf(n)] = true
				}
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "src" {
					t.Errorf("%s: a hostile value made an attribute %s=%q", what, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if want := map[bool]int{true: 1, false: 0}[what == "page"]; scripts != want {
		t.Errorf("%s: %d script elements, want %d", what, scripts, want)
	}
	if trs != rows {
		t.Errorf("%s: %d machine rows, want %d", what, trs, rows)
	}
	for _, h := range hostile {
		if !names[h] {
			t.Errorf("%s: the name %q does not read back as text (names: %v)", what, h, names)
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var sb strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		sb.WriteString(textOf(c))
	}
	return sb.String()
}

// getBody fetches url and checks its status and content type.
func getBody(t *testing.T, url, ctype string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype {
		t.Fatalf("GET %s: %s, Content-Type %q; want 200 and %q", url, resp.Status, resp.Header.Get("Content-Type"), ctype)
	}
	return string(b)
}

// TestStatusMemory: the table of 1 000 machines in the middle of their
// boots holds well under 10 MB (the bound); the figure is
// logged (BenchmarkStatusTable measures it).
func TestStatusMemory(t *testing.T) {
	per := statusTableBytes(1000)
	t.Logf("status table of 1000 machines: %d bytes (%.1f KiB, %d bytes a machine)", per, float64(per)/1024, per/1000)
	if per >= 10<<20 {
		t.Errorf("status table of 1000 machines holds %d bytes, want under 10 MB", per)
	}
}

// statusTableBytes measures the live heap a table of n simulated
// machines holds, after garbage collection on both sides.
func statusTableBytes(n int) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st := &Status{}
	simulateBoots(st, n, time.Now())
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(st)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkStatusTable reports the heap a table of 1 000 machines holds
// (table-bytes) and the time to fill it.
func BenchmarkStatusTable(b *testing.B) {
	var bytes int64
	for b.Loop() {
		bytes = statusTableBytes(1000)
	}
	b.ReportMetric(float64(bytes), "table-bytes")
}

// BenchmarkStatusPage renders the page of 1 000 machines; cpu-ms/op is
// the process's CPU time (user + system, getrusage) per page, which a
// loaded machine does not inflate as it does wall time.
func BenchmarkStatusPage(b *testing.B) {
	st := &Status{}
	simulateBoots(st, 1000, time.Now())
	h := st.Handler()
	req := httptest.NewRequest("GET", "/status", nil)
	cpu0 := cpuTime()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		b.SetBytes(int64(w.Body.Len()))
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
