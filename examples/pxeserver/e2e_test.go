package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
	"github.com/pxekit/pxekit/ipxescript"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

// mainEnv makes the test binary run pxeserver's main instead of the tests,
// so that the end-to-end tests run the real command inside the lab
// namespace without a separate build step.
const mainEnv = "PXESERVER_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// logLine is one JSON log line of pxeserver: a log record ("msg") or a
// pxekit event ("kind", the event's JSON).
type logLine map[string]any

// get returns the value at k, a dotted path into nested objects
// ("client.arch").
func (l logLine) get(k string) any {
	var v any = map[string]any(l)
	for _, part := range strings.Split(k, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

func (l logLine) str(k string) string {
	switch v := l.get(k).(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	case bool:
		return fmt.Sprint(v)
	}
	return ""
}

func (l logLine) num(k string) float64 {
	v, _ := l.get(k).(float64)
	return v
}

func (l logLine) flag(k string) bool {
	v, _ := l.get(k).(bool)
	return v
}

// serverProc is pxeserver running inside a lab namespace, its JSON log
// decoded as it arrives.
type serverProc struct {
	mu     sync.Mutex
	lines  []logLine
	raw    []string
	notify chan struct{}
	exited chan struct{}
	cmd    *exec.Cmd
}

// stop interrupts pxeserver (SIGINT, as Ctrl-C) and waits (at most 15 s)
// until it has exited and its log is read to the end.
func (s *serverProc) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt pxeserver: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("pxeserver still running 15 s after SIGINT")
	}
}

func (s *serverProc) snapshot() []logLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logLine(nil), s.lines...)
}

func (s *serverProc) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *serverProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		err := json.Unmarshal(sc.Bytes(), &l)
		s.mu.Lock()
		s.raw = append(s.raw, sc.Text())
		if err == nil {
			s.lines = append(s.lines, l)
		}
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
	}
}

// startServer runs pxeserver with args inside namespace ns and waits for
// its "ready" line.
func startServer(t *testing.T, ns *netlab.NS, args ...string) *serverProc {
	t.Helper()
	// PXESERVER_BIN names a built pxeserver (make demo builds one); by
	// default the test binary runs pxeserver's main itself.
	exe := os.Getenv("PXESERVER_BIN")
	if exe == "" {
		var err error
		exe, err = os.Executable()
		if err != nil {
			t.Fatalf("os.Executable(): %v", err)
		}
	}
	s := &serverProc{notify: make(chan struct{}), exited: make(chan struct{})}
	cmd := ns.Command(context.Background(), exe, append([]string{"-log-json"}, args...)...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	s.cmd = cmd
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("cmd.StdoutPipe(): %v", err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	ns.Track(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("cmd.Start(): %v", err)
	}
	go func() {
		s.read(out)
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			s.mu.Lock()
			t.Logf("pxeserver log:\n%s\nstderr:\n%s", strings.Join(s.raw, "\n"), stderr.String())
			s.mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		for _, l := range s.snapshot() {
			if l.str("msg") == "ready" {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("pxeserver exited before it was ready: %s", stderr.String())
		case <-ctx.Done():
			t.Fatalf("pxeserver not ready after 20 s: %s", stderr.String())
		case <-s.changed():
		}
	}
}

// milestone is one thing the server must see a booting machine do, in order.
type milestone struct {
	name  string
	match func(st *bootState, l logLine) bool
}

// bootState follows one machine through the server's log: the addresses the
// server leased it identify its TFTP and HTTP requests.
type bootState struct {
	mac string
	ips map[string]bool
	// anyIP accepts requests from any address (proxy mode: the addresses
	// come from another server; one machine boots at a time).
	anyIP bool
}

func (st *bootState) fromClient(l logLine) bool {
	if st.anyIP {
		return true
	}
	peer := l.str("peer") // ip:port for TFTP, ip for HTTP
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		peer = ap.Addr().String()
	}
	return st.ips[peer]
}

// track records the address of every DHCP reply to the machine.
func (st *bootState) track(l logLine) {
	if l.str("kind") == "dhcp" && l.str("mac") == st.mac && l.str("ip") != "" && l.str("ip") != "0.0.0.0" {
		st.ips[l.str("ip")] = true
	}
}

func dhcpAck(arch int, ipxe bool, bootfile string) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		return l.str("kind") == "dhcp" && l.str("mac") == st.mac && l.str("reply") == "ACK" &&
			int(l.num("client.arch")) == arch && l.flag("client.ipxe") == ipxe && strings.Contains(l.str("boot_file"), bootfile)
	}
}

func httpGet(path, kind string, q map[string]string) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		if l.str("kind") != "http" || l.str("method") != "GET" || l.num("status") != 200 || !st.fromClient(l) {
			return false
		}
		if !strings.HasPrefix(l.str("path"), path) || l.str("route") != kind {
			return false
		}
		for k, v := range q {
			if k != "mac" {
				k = "client." + k // what archdetect read from the request
			}
			if l.str(k) != v {
				return false
			}
		}
		return true
	}
}

func tftpDone(file, outcome string, blksize, windowsize int) func(*bootState, logLine) bool {
	return func(st *bootState, l logLine) bool {
		return l.str("kind") == "tftp" && l.str("filename") == file && l.str("outcome") == outcome && st.fromClient(l) &&
			(blksize == 0 || int(l.num("block_size")) == blksize) &&
			(windowsize == 0 || int(l.num("window_size")) == windowsize)
	}
}

// tftpProbe matches EDK2's size probe of ipxe.efi: the client ends the
// transfer after the OACK with ERROR 8, which the server counts as normal.
func tftpProbe(st *bootState, l logLine) bool {
	return tftpDone("ipxe.efi", "size-probe", 0, 0)(st, l) && int(l.num("error_code")) == 8 && l.num("bytes") == 0 &&
		strings.Contains(l.str("requested"), "tsize=0")
}

// check walks the milestones in log order and returns how many were reached.
func check(st *bootState, lines []logLine, ms []milestone) (int, []int) {
	if st.ips == nil {
		st.ips = map[string]bool{}
	}
	reached, at := 0, make([]int, len(ms))
	for i, l := range lines {
		st.track(l)
		if reached < len(ms) && ms[reached].match(st, l) {
			at[reached] = i
			reached++
		}
	}
	return reached, at
}

// scenarioSpec is what one scenario must show: server milestones and the
// console marker's words after the MAC.
type scenarioSpec struct {
	milestones []milestone
	console    []string
}

func specs(mac, uuid string, sizes map[string]int64) map[qemulab.Scenario]scenarioSpec {
	bios := map[string]string{"mac": mac, "buildarch": "i386", "platform": "pcbios", "uuid": uuid}
	efi := map[string]string{"mac": mac, "buildarch": "x86_64", "platform": "efi", "uuid": uuid}
	return map[qemulab.Scenario]scenarioSpec{
		qemulab.BIOSiPXE: {
			milestones: []milestone{
				{"DHCP: iPXE ROM (arch 0, iPXE) is given the script URL", dhcpAck(0, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe", httpGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine URL with MAC, i386, pcbios, UUID", httpGet("/machine/", "machine", bios)},
			},
			console: []string{"i386", "pcbios"},
		},
		qemulab.BIOSUndionly: {
			milestones: []milestone{
				{"DHCP: iPXE ROM is given the script URL", dhcpAck(0, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe (ROM)", httpGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine script (ROM) chains undionly.kpxe", httpGet("/machine/", "machine", bios)},
				{"TFTP: undionly.kpxe sent whole to iPXE's client (blksize 1432, tsize asked)", func(st *bootState, l logLine) bool {
					return tftpDone("undionly.kpxe", "ok", 1432, 1)(st, l) && int64(l.num("bytes")) == sizes["undionly.kpxe"] &&
						strings.Contains(l.str("requested"), "tsize=0")
				}},
				{"DHCP: iPXE from undionly is given the script URL", dhcpAck(0, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe (undionly)", httpGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine URL with chip=undionly", func(st *bootState, l logLine) bool {
					return httpGet("/machine/", "machine", bios)(st, l) && strings.Contains(l.str("query"), "chip=undionly")
				}},
			},
			console: []string{"i386", "pcbios", "undionly"},
		},
		qemulab.UEFIPXE: {
			milestones: []milestone{
				{"DHCP: OVMF PXE (arch 7, not iPXE) is given ipxe.efi", dhcpAck(7, false, "ipxe.efi")},
				{"TFTP: tsize probe ended by the client (ERROR 8)", tftpProbe},
				{"TFTP: ipxe.efi sent whole with blksize 1468, windowsize 4", func(st *bootState, l logLine) bool {
					return tftpDone("ipxe.efi", "ok", 1468, 4)(st, l) && int64(l.num("bytes")) == sizes["ipxe.efi"]
				}},
				{"DHCP: iPXE (arch 7) is given the script URL", dhcpAck(7, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe", httpGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine URL with MAC, x86_64, efi, UUID", httpGet("/machine/", "machine", efi)},
			},
			console: []string{"x86_64", "efi"},
		},
		qemulab.UEFIHTTP: {
			milestones: []milestone{
				{"DHCP: OVMF HTTP boot (arch 16) is given the URL of ipxe.efi", dhcpAck(16, false, ":8080/ipxe.efi")},
				{"HTTP: GET /ipxe.efi by UefiHttpBoot, whole file", func(st *bootState, l logLine) bool {
					return httpGet("/ipxe.efi", "file", nil)(st, l) && strings.HasPrefix(l.str("client.user_agent"), "UefiHttpBoot") &&
						int64(l.num("bytes")) == sizes["ipxe.efi"]
				}},
				{"DHCP: iPXE (arch 7) is given the script URL", dhcpAck(7, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe", httpGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine URL with MAC, x86_64, efi, UUID", httpGet("/machine/", "machine", efi)},
			},
			console: []string{"x86_64", "efi"},
		},
	}
}

// a2Script is the per-machine script of scenario A2's machine: the iPXE ROM
// chain-loads undionly.kpxe over TFTP, and iPXE running from it boots on.
const a2Script = `#!ipxe
iseq ${net0/chip} undionly || chain tftp://${next-server}/undionly.kpxe
echo PXEKIT-BOOTED ${net0/mac} ${buildarch} ${platform} ${net0/chip}
exit
`

// labFiles fills a boot root with Debian's iPXE builds and A2's machine
// script and returns the file sizes.
func labFiles(t *testing.T, fw qemulab.Firmware, dir string) map[string]int64 {
	t.Helper()
	if err := fw.CopyBootFiles(dir); err != nil {
		t.Fatalf("fw.CopyBootFiles(dir): %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "machines"), 0o755); err != nil {
		t.Fatalf("os.MkdirAll(filepath.Join(dir, \"machines\"), 0o755): %v", err)
	}
	a2 := strings.ReplaceAll(qemulab.BIOSUndionly.DefaultMAC().String(), ":", "-")
	if err := os.WriteFile(filepath.Join(dir, "machines", a2+".ipxe"), []byte(a2Script), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(dir, \"machines\", a2+\".ipxe\"), []byte(a2Script), 0o644): %v", err)
	}
	sizes := map[string]int64{}
	for _, f := range []string{"undionly.kpxe", "ipxe.efi"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("os.Stat(filepath.Join(dir, f)): %v", err)
		}
		sizes[f] = fi.Size()
	}
	return sizes
}

// bootAndCheck boots one scenario and waits (at most limit) for the console
// marker and every server milestone, logging each milestone as it is seen.
func bootAndCheck(t *testing.T, lab *qemulab.Lab, srv *serverProc, sc qemulab.Scenario, sizes map[string]int64, limit time.Duration) {
	t.Helper()
	start := len(srv.snapshot())
	m := lab.Boot(t, sc, qemulab.Options{})
	mac := m.MAC.String()
	spec := specs(mac, qemulab.DefaultUUID, sizes)[sc]
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()

	type consoleResult struct {
		line string
		err  error
	}
	cons := make(chan consoleResult, 1)
	go func() {
		l, err := m.WaitConsole(ctx, "PXEKIT-BOOTED "+mac)
		cons <- consoleResult{l, err}
	}()
	st := &bootState{mac: mac}
	logged := 0
	var console *consoleResult
	for {
		lines := srv.snapshot()[start:]
		reached, at := check(st, lines, spec.milestones)
		for ; logged < reached; logged++ {
			t.Logf("  [ok] %-60s (%s)", spec.milestones[logged].name, summary(lines[at[logged]]))
		}
		if reached == len(spec.milestones) && console != nil {
			break
		}
		select {
		case r := <-cons:
			console = &r
			if err := r.err; err != nil {
				t.Fatalf("console: r.err: %v", err)
			}
			t.Logf("  [ok] console: %q after %s", r.line, time.Since(m.Started).Round(100*time.Millisecond))
		case <-srv.changed():
		case <-srv.exited:
			t.Fatal("pxeserver exited")
		case <-ctx.Done():
			for i := reached; i < len(spec.milestones); i++ {
				t.Errorf("  [missing] %s", spec.milestones[i].name)
			}
			if console == nil {
				t.Errorf("  [missing] console line PXEKIT-BOOTED %s", mac)
			}
			t.FailNow()
		}
	}
	words := strings.Fields(console.line)
	if got := len(words); got < 2+len(spec.console) {
		t.Fatalf("%v: len(words) = %v, want >= %v", console.line, got, 2+len(spec.console))
	}
	if got := words[2 : 2+len(spec.console)]; !slices.Equal(got, spec.console) {
		t.Fatalf("console marker: %q: words[2:2+len(spec.console)] = %v, want %v", console.line, got, spec.console)
	}

	// The machine's stage events: every stage of its boot, in order, each
	// reached through the protocol that carries it, all under its MAC, so
	// one identity ties DHCP, TFTP and HTTP together.
	if want, ok := stagePaths[sc]; ok {
		lines := srv.snapshot()[start:]
		if got := stagesOf(lines, mac); !slices.Equal(got, want) {
			t.Errorf("stage events of %s: %q, want %q", mac, got, want)
		} else {
			t.Logf("  [ok] stage events of %s: %s", mac, strings.Join(got, " → "))
		}
	}

	// What iPXE printed on its console along the way: its DHCP, the boot
	// script's own greeting (built-in script) and the script fetches.
	text := strings.Join(m.Console(), "\n")
	for _, want := range []string{
		"Configuring (net0 " + mac + ")... ok",
		"pxekit: booting " + mac + " as " + spec.console[0] + " " + spec.console[1],
		"/boot.ipxe... ok",
		"/machine/" + strings.ReplaceAll(mac, ":", "-") + "... ok",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("console: text = %q, want it to contain %q", text, want)
		}
	}
}

// stagePaths are the stage events each OVMF scenario must show, as
// "to(via)": the firmware's DHCP answered, the boot file fetched (over
// TFTP for PXE, over HTTP for HTTP boot), iPXE's DHCP, the script served
// over HTTP. Neither scenario fetches a kernel.
var stagePaths = map[qemulab.Scenario][]string{
	qemulab.UEFIPXE:  {"dhcp(dhcp)", "bootfile(tftp)", "ipxe(dhcp)", "script(http)"},
	qemulab.UEFIHTTP: {"dhcp(dhcp)", "bootfile(http)", "ipxe(dhcp)", "script(http)"},
}

// stagesOf returns the stage events of mac in lines, as "to(via)" (with
// " new boot" when one started a new boot after the first).
func stagesOf(lines []logLine, mac string) []string {
	var out []string
	for _, l := range lines {
		if l.str("kind") != "stage" || l.str("mac") != mac {
			continue
		}
		e := l.str("to") + "(" + l.str("via") + ")"
		if l.flag("new_boot") && len(out) > 0 {
			e += " new boot"
		}
		out = append(out, e)
	}
	return out
}

// summary renders a log line's interesting fields for the test log.
func summary(l logLine) string {
	var parts []string
	for _, k := range []string{"kind", "reply", "rule", "client.arch", "client.ipxe", "boot_file", "filename", "requested", "outcome", "block_size", "window_size", "bytes", "method", "path", "client.user_agent", "from", "to"} {
		if v := l.str(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// TestFirmwareBoot boots the four scenarios one after another against
// pxeserver in lab DHCP mode.
func TestFirmwareBoot(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.AdvertiseIPv6(t)
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "lab", "-tftp-root", root)
	var table []string
	for _, sc := range qemulab.Scenarios() {
		start := time.Now()
		ran := false
		ok := t.Run(string(sc), func(t *testing.T) {
			ran = true
			t.Logf("%s (MAC %s)", sc.Describe(), sc.DefaultMAC())
			bootAndCheck(t, lab, srv, sc, sizes, 120*time.Second)
		})
		if !ran {
			continue
		}
		result := "BOOTED"
		if !ok {
			result = "FAILED"
		}
		table = append(table, fmt.Sprintf("  %-3s %-7s %6.1fs  %s", sc, result, time.Since(start).Seconds(), sc.Describe()))
	}
	t.Logf("summary:\n  %-3s %-7s %7s  %s\n%s", "", "result", "time", "path", strings.Join(table, "\n"))
}

// hostile are values a script must pass through iPXE unchanged: iPXE's
// word splitting, comments, operators, quotes, line ends, option parsing
// and setting expansion all get a chance to break them.
var hostile = []string{
	"two words  and  double spaces",
	"# not a comment",
	"a || b && c",
	"x ; y",
	`"double" 'single' \backslash`,
	"line one\nline two",
	"-leading-dash",
	"--",
	"${unclosed",
	"50% & a=b?c/d",
	"ünïcödé",
}

// injectionScript makes iPXE set one setting per hostile value (the
// builder quotes them) and send each back: one request per value with
// ${name:uristring} (one value per query, so that characters this iPXE
// leaves unescaped cannot split it), then one request with all of them as
// ${name:hex}, which is unambiguous whatever the bytes.
func injectionScript(t *testing.T, base string) []byte {
	t.Helper()
	b := ipxescript.NewBuilder()
	hexParts := []ipxescript.Arg{ipxescript.Value(base + "/probe.txt?")}
	for i, h := range hostile {
		name := fmt.Sprintf("pk%d", i)
		b.Cmd("set", ipxescript.Raw(name), ipxescript.Value(h))
		b.Cmd("imgfetch", ipxescript.Concat(ipxescript.Value(base+"/probe.txt?u"+strconv.Itoa(i)+"="), ipxescript.Setting(name+":uristring")))
		if i > 0 {
			hexParts = append(hexParts, ipxescript.Raw("&"))
		}
		hexParts = append(hexParts, ipxescript.Raw("h"+strconv.Itoa(i)+"="), ipxescript.Setting(name+":hex"))
	}
	b.Cmd("imgfetch", ipxescript.Concat(hexParts...))
	b.Cmd("echo", ipxescript.Raw(pxekit.BootedMarker), ipxescript.Setting("net0/mac"), ipxescript.Raw("injection-probe-done"))
	b.Cmd("exit")
	s, err := b.Script()
	if err != nil {
		t.Fatalf("b.Script(): %v", err)
	}
	return s
}

// isASCII reports whether s has only 7-bit bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestScriptInjectionSafety runs a builder-made script with hostile values
// in the real iPXE (the BIOS option ROM) and checks that the server gets
// every value back exactly. The script and a reserved address come from a
// -config file, which this also proves.
//
// What Debian's iPXE (1.0.0+git-20190125) does with ${x:uristring}: it
// escapes space, "#", "%", "?" and control bytes but not "&", "=", ";",
// "|", quotes or "/", so a uristring is safe as a whole query or path
// segment only when the server knows where it ends; and it prints bytes
// >= 0x80 sign-extended ("%FFFFFFFFFFFFC3" for 0xC3). ${x:hex} is exact.
func TestScriptInjectionSafety(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.AdvertiseIPv6(t)
	root := filepath.Join(lab.Dir, "boot")
	labFiles(t, fw, root)
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x1a}
	script := injectionScript(t, "http://"+lab.ServerIP.String()+":8080")
	if err := os.WriteFile(filepath.Join(root, "probe.txt"), []byte("ok\n"), 0o644); err != nil {
		t.Fatalf("os.WriteFile(filepath.Join(root, \"probe.txt\"), []byte(\"ok\\n\"), 0o644): %v", err)
	}
	// The machine's script and a fixed address come from a config file.
	doc, err := json.Marshal(map[string]any{ // JSON is YAML
		"iface": lab.Bridge, "addr": lab.ServerIP.String(), "dhcp": "lab", "tftp_root": root,
		"reservations": []map[string]string{{"mac": mac.String(), "ip": "10.77.0.42"}},
		"machines":     []map[string]string{{"mac": mac.String(), "script": string(script)}},
	})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	conf := filepath.Join(lab.Dir, "pxeserver.yaml")
	if err := os.WriteFile(conf, doc, 0o644); err != nil {
		t.Fatalf("os.WriteFile(conf, doc, 0o644): %v", err)
	}
	srv := startServer(t, lab.NS, "-config", conf)

	m := lab.Boot(t, qemulab.BIOSiPXE, qemulab.Options{MAC: mac})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	line, err := m.WaitConsole(ctx, pxekit.BootedMarker+" "+mac.String())
	if err != nil {
		t.Fatalf("%v\nscript:\n%s", err, script)
	}
	if !strings.Contains(line, "injection-probe-done") {
		t.Fatalf("line = %q, want it to contain %q", line, "injection-probe-done")
	}

	st := &bootState{mac: mac.String(), ips: map[string]bool{}}
	uri := map[string]string{}
	var hexQuery string
	for _, l := range srv.snapshot() {
		st.track(l)
		if l.str("kind") != "http" || l.str("path") != "/probe.txt" || !st.fromClient(l) {
			continue
		}
		q := l.str("query")
		if strings.HasPrefix(q, "h0=") {
			hexQuery = q
			continue
		}
		if k, v, ok := strings.Cut(q, "="); ok {
			uri[k] = v
		}
	}
	if len(hexQuery) == 0 {
		t.Fatalf("GET /probe.txt with the hex values: hexQuery is empty")
	}
	if !maps.Equal(st.ips, map[string]bool{"10.77.0.42": true}) {
		t.Errorf("the reserved address from the config file: st.ips = %v, want %v", st.ips, map[string]bool{"10.77.0.42": true})
	}
	q, err := url.ParseQuery(hexQuery)
	if err != nil {
		t.Fatalf("url.ParseQuery(hexQuery): %v", err)
	}
	if len(q) != len(hostile) {
		t.Errorf("no hex value split into extra parameters: len(q) = %d, want %d", len(q), len(hostile))
	}
	for i, h := range hostile {
		hx := q.Get("h" + strconv.Itoa(i))
		got, err := hex.DecodeString(strings.ReplaceAll(hx, ":", ""))
		if err != nil {
			t.Fatalf("h%d=%q: %v", i, hx, err)
		}
		if got := string(got); got != h {
			t.Errorf("value %d through ${:hex}: string(got) = %v, want %v", i, got, h)
		}

		raw, ok := uri["u"+strconv.Itoa(i)]
		if !ok {
			t.Errorf("no request for value %d through ${:uristring}", i)
		}
		if !ok || !isASCII(h) {
			continue // see above: this iPXE mangles bytes >= 0x80 in uristring
		}
		dec, err := url.PathUnescape(raw)
		if err != nil {
			t.Fatalf("u%d=%q: %v", i, raw, err)
		}
		if dec != h {
			t.Errorf("value %d through ${:uristring} (sent as %q): dec = %v, want %v", i, raw, dec, h)
		}
		if strings.Contains(raw, " ") {
			t.Errorf("spaces are escaped: raw = %q, want it not to contain %q", raw, " ")
		}
		if strings.Contains(raw, "#") {
			t.Errorf("# is escaped: raw = %q, want it not to contain %q", raw, "#")
		}
	}
}

// startSiteDHCP runs dnsmasq as the site's DHCP server (addresses only, no
// boot data) in its own namespace, plugged into the lab bridge by a veth
// pair, as another host on the same network would be.
func startSiteDHCP(t *testing.T, lab *qemulab.Lab) {
	t.Helper()
	site := netlab.NewNS(t)
	netlab.Veth(t, lab.NS, "site0", "", site, "eth0", "10.77.0.2/24")
	lab.NS.Attach(t, "site0", lab.Bridge)
	qemulab.StartDnsmasq(t, site, "eth0", t.TempDir(),
		"dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,10m", "dhcp-authoritative", "no-ping")
}

// proxyReply matches a proxyDHCP answer on port (67: mode "proxy", 4011:
// "proxy-ack").
func proxyReply(port int, arch int, ipxe bool, bootfile string) func(*bootState, logLine) bool {
	mode := map[int]string{67: "proxy", 4011: "proxy-ack"}[port]
	return func(st *bootState, l logLine) bool {
		r := l.str("reply")
		return l.str("kind") == "dhcp" && l.str("mac") == st.mac && (r == "OFFER" || r == "ACK") &&
			l.str("mode") == mode && int(l.num("client.arch")) == arch && l.flag("client.ipxe") == ipxe &&
			strings.Contains(l.str("boot_file"), bootfile)
	}
}

// fromSite reports whether an HTTP request came from an address the site's
// DHCP server leases (10.77.0.150-199), not one of pxeserver's.
func fromSite(l logLine) bool {
	host := l.str("peer")
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is4() && a.As4()[3] >= 150 && a.As4()[3] <= 199 && strings.HasPrefix(host, "10.77.0.")
}

// TestFirmwareBootProxy boots UEFI PXE (B) and the BIOS iPXE ROM (A) with
// dnsmasq giving the addresses and pxeserver -dhcp proxy the boot answer.
func TestFirmwareBootProxy(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.AdvertiseIPv6(t)
	startSiteDHCP(t, lab)
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "proxy", "-tftp-root", root)
	efi := func(mac string) map[string]string {
		return map[string]string{"mac": mac, "buildarch": "x86_64", "platform": "efi", "uuid": qemulab.DefaultUUID}
	}
	bios := func(mac string) map[string]string {
		return map[string]string{"mac": mac, "buildarch": "i386", "platform": "pcbios", "uuid": qemulab.DefaultUUID}
	}
	siteGet := func(path, kind string, q map[string]string) func(*bootState, logLine) bool {
		return func(st *bootState, l logLine) bool { return fromSite(l) && httpGet(path, kind, q)(st, l) }
	}
	tests := []struct {
		sc         qemulab.Scenario
		milestones func(mac string) []milestone
		console    []string
	}{
		{qemulab.UEFIPXE, func(mac string) []milestone {
			return []milestone{
				{"proxyDHCP: OVMF PXE (arch 7) gets a proxy offer on port 67", proxyReply(67, 7, false, "")},
				{"proxyDHCP: its port 4011 request is answered with ipxe.efi", proxyReply(4011, 7, false, "ipxe.efi")},
				{"TFTP: tsize probe ended by the client (ERROR 8)", tftpProbe},
				{"TFTP: ipxe.efi sent whole with blksize 1468, windowsize 4", func(st *bootState, l logLine) bool {
					return tftpDone("ipxe.efi", "ok", 1468, 4)(st, l) && int64(l.num("bytes")) == sizes["ipxe.efi"]
				}},
				{"proxyDHCP: iPXE is given the script URL", proxyReply(67, 7, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe from a site-leased address", siteGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine URL with MAC, x86_64, efi, UUID", siteGet("/machine/", "machine", efi(mac))},
			}
		}, []string{"x86_64", "efi"}},
		{qemulab.BIOSiPXE, func(mac string) []milestone {
			return []milestone{
				{"proxyDHCP: iPXE ROM (arch 0) is given the script URL", proxyReply(67, 0, true, "/boot.ipxe")},
				{"HTTP: GET /boot.ipxe from a site-leased address", siteGet("/boot.ipxe", "script", nil)},
				{"HTTP: per-machine URL with MAC, i386, pcbios, UUID", siteGet("/machine/", "machine", bios(mac))},
			}
		}, []string{"i386", "pcbios"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.sc), func(t *testing.T) {
			start := len(srv.snapshot())
			m := lab.Boot(t, tt.sc, qemulab.Options{})
			mac := m.MAC.String()
			ms := tt.milestones(mac)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			line, err := m.WaitConsole(ctx, pxekit.BootedMarker+" "+mac)
			if err != nil {
				t.Fatalf("m.WaitConsole(ctx, pxekit.BootedMarker+\" \"+mac): %v", err)
			}
			if got := strings.Fields(line)[2:]; !slices.Equal(got, tt.console) {
				t.Errorf("%v: strings.Fields(line)[2:] = %v, want %v", line, got, tt.console)
			}
			// The console line comes after the last request; give the log a moment.
			var reached int
			for {
				st := &bootState{mac: mac, anyIP: true}
				lines := srv.snapshot()[start:]
				reached, _ = check(st, lines, ms)
				if reached == len(ms) || ctx.Err() != nil {
					for _, l := range lines {
						if l.str("kind") == "dhcp" && l.str("ip") != "" && l.str("ip") != "0.0.0.0" {
							t.Errorf("proxy mode gave an address: %s", summary(l))
						}
					}
					break
				}
				select {
				case <-srv.changed():
				case <-ctx.Done():
				}
			}
			for i, ms := range ms {
				if i < reached {
					t.Logf("  [ok] %s", ms.name)
				} else {
					t.Errorf("  [missing] %s", ms.name)
				}
			}
		})
	}
}
