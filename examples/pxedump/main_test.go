package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/pcaptest"
)

// TestMain lets the test binary act as pxedump itself, so that a test can
// run the real command with a real stdin pipe.
func TestMain(m *testing.M) {
	if os.Getenv("PXEDUMP_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// captureFile returns the path of a capture in internal/pcaptest/testdata.
func captureFile(t testing.TB, name string) string {
	t.Helper()
	return pcaptest.Path(t, name)
}

// firstFrame returns the first Ethernet frame of a capture sent to UDP
// port, with its capture record: a real client message to build test
// input from.
func firstFrame(t testing.TB, name string, port uint16) ([]byte, gopacket.CaptureInfo) {
	t.Helper()
	for _, p := range pcaptest.Read(t, name) {
		if p.UDP && p.Dst.Port() == port {
			return p.Data, p.Info
		}
	}
	t.Fatalf("%s: no packet to UDP port %d", name, port)
	return nil, gopacket.CaptureInfo{}
}

// runCmd runs the command in-process.
func runCmd(t testing.TB, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = run(args, stdin, &o, &e)
	return code, o.String(), e.String()
}

// line is the part of a -json line the tests check.
type line struct {
	Frame        int      `json:"frame"`
	Proto        string   `json:"proto"`
	MAC          string   `json:"mac"`
	MsgType      string   `json:"msg_type"`
	Arch         *int     `json:"arch"`
	ArchName     string   `json:"arch_name"`
	Firmware     string   `json:"firmware"`
	CPU          string   `json:"cpu"`
	Transport    string   `json:"transport"`
	IPXE         bool     `json:"ipxe"`
	IPXEFeatures []string `json:"ipxe_features"`
	VendorClass  string   `json:"vendor_class"`
	UserClass    []string `json:"user_class"`
	UUID         string   `json:"uuid"`
	UNDI         string   `json:"undi"`
	Rule         string   `json:"rule"`
	Bootfile     string   `json:"bootfile"`
}

func parseLines(t testing.TB, out string) []line {
	t.Helper()
	var ls []line
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		// Every required key is present.
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"mac", "msg_type", "arch", "arch_name", "firmware", "cpu", "transport", "ipxe",
			"ipxe_features", "vendor_class", "user_class", "uuid", "undi", "rule", "bootfile"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line %q lacks key %q", sc.Text(), k)
			}
		}
		ls = append(ls, l)
	}
	return ls
}

// stage is one kind of client message a capture holds. Values read from
// the captures (internal/pcaptest/testdata) with tshark, an independent
// decoder.
type stage struct {
	arch      int
	firmware  string
	cpu       string
	transport string
	ipxe      bool
	undi      string
	vc        string
	feature   string // one ipxe feature that must be listed
	rule      string // dhcpboot's default rule that boots it
	bootfile  string // and the boot file it names (a template)
}

var (
	ipxeBIOS = stage{0, "bios", "x86", "pxe", true, "2.1", "PXEClient:Arch:00000:UNDI:002001", "http", "ipxe", dhcpboot.DefaultScriptURL}
	ovmfPXE  = stage{7, "uefi", "x86_64", "pxe", false, "3.0", "PXEClient:Arch:00007:UNDI:003000", "", "uefi-x64", "ipxe.efi"}
	ipxeEFI  = stage{7, "uefi", "x86_64", "pxe", true, "3.10", "PXEClient:Arch:00007:UNDI:003010", "efi", "ipxe", dhcpboot.DefaultScriptURL}
	ovmfHTTP = stage{16, "uefi", "x86_64", "http", false, "3.0", "HTTPClient:Arch:00016:UNDI:003000", "", "http-x64", "http://{{server}}/ipxe.efi"}
)

var captures = []struct {
	file   string
	mac    string
	stages []stage
	v6     bool // holds DHCPv6 Solicits
}{
	{"bios-ipxe-rom-http.pcapng", "52:54:00:77:00:0a", []stage{ipxeBIOS}, false},
	{"bios-ipxe-rom-tftp-undionly-chain.pcapng", "52:54:00:77:00:0c", []stage{ipxeBIOS}, false},
	{"ovmf-pxe-tftp-ipxe-efi.pcapng", "52:54:00:77:00:0b", []stage{ovmfPXE, ipxeEFI}, false},
	{"ovmf-pxe-tftp-windowsize4.pcapng", "52:54:00:77:00:0b", []stage{ovmfPXE, ipxeEFI}, false},
	{"ovmf-httpboot-ipxe-efi.pcapng", "52:54:00:77:00:0d", []stage{ovmfHTTP, ipxeEFI}, false},
	{"ovmf-no-dhcpv4-answer-dhcpv6.pcapng", "52:54:00:77:00:0b", []stage{ovmfPXE, ovmfHTTP}, true},
}

func (s stage) matches(l line) bool {
	return l.Arch != nil && *l.Arch == s.arch && l.Firmware == s.firmware && l.CPU == s.cpu &&
		l.Transport == s.transport && l.IPXE == s.ipxe && l.UNDI == s.undi && l.VendorClass == s.vc &&
		l.Rule == s.rule && l.Bootfile == s.bootfile && (s.feature == "" || slices.Contains(l.IPXEFeatures, s.feature)) &&
		(s.ipxe == (len(l.IPXEFeatures) > 0)) && (s.ipxe == slices.Equal(l.UserClass, []string{"iPXE"}))
}

// tsharkCount counts DHCP client messages with tshark, an independent
// decoder, or returns -1 when tshark is not installed.
func tsharkCount(t *testing.T, path string) int {
	if _, err := exec.LookPath("tshark"); err != nil {
		return -1
	}
	out, err := exec.Command("tshark", "-r", path, "-Y", "(dhcp.type == 1) or (dhcpv6 and udp.dstport == 547)", "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Logf("tshark: %v", err)
		return -1
	}
	return len(strings.Fields(string(out)))
}

func TestCapturesJSON(t *testing.T) {
	for _, tc := range captures {
		t.Run(tc.file, func(t *testing.T) {
			path := captureFile(t, tc.file)
			code, out, errOut := runCmd(t, nil, "-json", path)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			ls := parseLines(t, out)
			switch n := tsharkCount(t, path); {
			case n < 0:
				t.Log("tshark not installed: line count not cross-checked")
			case n != len(ls):
				t.Errorf("%d lines, tshark sees %d client messages", len(ls), n)
			}
			seen := make([]int, len(tc.stages))
			var v6 int
			for _, l := range ls {
				if l.MAC != tc.mac {
					t.Errorf("frame %d: mac %s, want %s", l.Frame, l.MAC, tc.mac)
				}
				if l.Proto == "dhcpv6" {
					v6++
					if l.MsgType != "SOLICIT" {
						t.Errorf("frame %d: DHCPv6 %s, want SOLICIT (OVMF gets no answer)", l.Frame, l.MsgType)
					}
				} else if l.MsgType != "DISCOVER" && l.MsgType != "REQUEST" {
					t.Errorf("frame %d: msg_type %s", l.Frame, l.MsgType)
				}
				i := slices.IndexFunc(tc.stages, func(s stage) bool { return s.matches(l) })
				if i < 0 {
					t.Errorf("frame %d fits no stage: %+v", l.Frame, l)
					continue
				}
				seen[i]++
			}
			for i, n := range seen {
				if n == 0 {
					t.Errorf("stage %+v never seen", tc.stages[i])
				}
			}
			if (v6 > 0) != tc.v6 {
				t.Errorf("%d DHCPv6 lines, want some: %v", v6, tc.v6)
			}
		})
	}
}

func TestTextOutput(t *testing.T) {
	path := captureFile(t, "ovmf-httpboot-ipxe-efi.pcapng")
	code, out, _ := runCmd(t, nil, path)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5 (HTTP boot DISCOVER/REQUEST, iPXE DISCOVER ×2/REQUEST):\n%s", len(lines), out)
	}
	for i, want := range []string{"arch=16 (x64 uefi boot from http) uefi/x86_64/http", "arch=16", "ipxe=1.0.0[", "ipxe=1.0.0[", "ipxe=1.0.0["} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %q", i, lines[i], want)
		}
	}
	if !strings.HasSuffix(lines[0], "-> http-x64 http://{{server}}/ipxe.efi") || !strings.HasSuffix(lines[4], "-> ipxe "+dhcpboot.DefaultScriptURL) {
		t.Errorf("boot files: %q / %q", lines[0], lines[4])
	}
}

func TestStdin(t *testing.T) {
	path := captureFile(t, "bios-ipxe-rom-http.pcapng")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := runCmd(t, nil, "-json", path)
	for _, args := range [][]string{{"-json", "-"}, {"-json"}} {
		code, got, errOut := runCmd(t, bytes.NewReader(data), args...)
		if code != 0 || errOut != "" || got != want || got == "" {
			t.Errorf("%q: exit %d stderr %q, output differs from the file run", args, code, errOut)
		}
	}
	// The real command, reading a pipe.
	cmd := exec.Command(os.Args[0], "-json", "-")
	cmd.Env = append(os.Environ(), "PXEDUMP_TEST_MAIN=1")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if string(out) != want {
		t.Errorf("piped run printed %q, want %q", out, want)
	}
	if n := len(parseLines(t, string(out))); n != 3 {
		t.Errorf("%d lines, want 3 (DISCOVER ×2, REQUEST)", n)
	}
}

// toPcap rewrites a pcapng capture as classic pcap with pcapgo's writer.
func toPcap(t testing.TB, name string, nanos bool) []byte {
	t.Helper()
	pkts := pcaptest.Read(t, name)
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.Info, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func dropTime(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, `"time":"`); i >= 0 {
			j := strings.Index(l[i+8:], `"`)
			l = l[:i] + l[i+8+j+2:]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestPcapFormat(t *testing.T) {
	const name = "ovmf-pxe-tftp-ipxe-efi.pcapng"
	_, want, _ := runCmd(t, nil, "-json", captureFile(t, name))
	for _, nanos := range []bool{false, true} {
		code, got, errOut := runCmd(t, bytes.NewReader(toPcap(t, name, nanos)), "-json")
		if code != 0 || errOut != "" {
			t.Fatalf("nanos=%v: exit %d stderr %q", nanos, code, errOut)
		}
		if nanos && got != want {
			t.Errorf("pcap (ns) output differs from pcapng output")
		}
		if dropTime(got) != dropTime(want) {
			t.Errorf("pcap (µs) output differs from pcapng output beyond timestamps")
		}
	}
}

// udpFrame builds an Ethernet/IPv4/UDP frame.
func udpFrame(t testing.TB, src, dst uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{0x52, 0x54, 0, 1, 2, 3}, DstMAC: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{0, 0, 0, 0}, DstIP: []byte{255, 255, 255, 255}}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pcapOf(t testing.TB, frames ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestMalformedAndErrors(t *testing.T) {
	// A valid DISCOVER from the BIOS capture, to surround the bad packets.
	path := captureFile(t, "bios-ipxe-rom-http.pcapng")
	good, _ := firstFrame(t, "bios-ipxe-rom-http.pcapng", 67)
	cap := pcapOf(t,
		udpFrame(t, 68, 67, []byte{1, 1, 6}), // truncated BOOTP
		udpFrame(t, 546, 547, []byte{1}),     // truncated DHCPv6
		good,                                 // the capture's first DISCOVER
		udpFrame(t, 68, 67, bytes.Repeat([]byte{0}, 10)), // garbage
		udpFrame(t, 1234, 53, []byte("not dhcp")),        // ignored
	)
	code, out, errOut := runCmd(t, bytes.NewReader(cap), "-json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	ls := parseLines(t, out)
	if len(ls) != 1 || ls[0].Frame != 3 || ls[0].MAC != "52:54:00:77:00:0a" || !ls[0].IPXE {
		t.Errorf("lines %+v", ls)
	}
	for _, want := range []string{"frame 1: malformed DHCPv4", "frame 2: malformed DHCPv6", "frame 4: malformed DHCPv4"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if strings.Contains(errOut, "frame 5") {
		t.Errorf("non-DHCP frame reported: %q", errOut)
	}

	// A capture cut in the middle of a packet: the packets before it print.
	code, out, errOut = runCmd(t, bytes.NewReader(cap[:len(cap)-20]), "-json")
	if code != 0 || len(parseLines(t, out)) != 1 || !strings.Contains(errOut, "frame 5") {
		t.Errorf("truncated pcap: exit %d out %q err %q", code, out, errOut)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, bytes.NewReader(data[:len(data)*2/3]), "-json")
	if code != 0 || len(parseLines(t, out)) == 0 || errOut == "" {
		t.Errorf("truncated pcapng: exit %d, %d lines, stderr %q", code, len(parseLines(t, out)), errOut)
	}

	tests := []struct {
		name  string
		stdin []byte
		args  []string
		code  int
		err   string
	}{
		{"not a capture", []byte("hello, world"), nil, 1, "not a pcap or pcapng capture"},
		{"empty input", nil, nil, 1, "not a pcap or pcapng capture"},
		{"bad pcap header", []byte{0xd4, 0xc3, 0xb2, 0xa1, 1}, nil, 1, "pcap"},
		{"bad pcapng header", []byte{0x0a, 0x0d, 0x0d, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8}, nil, 1, "pcapng"},
		{"missing file", nil, []string{filepath.Join(t.TempDir(), "nope.pcap")}, 1, "no such file"},
		{"two files", nil, []string{"a", "b"}, 2, "usage"},
		{"bad flag", nil, []string{"-frobnicate"}, 2, "usage"},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(t, bytes.NewReader(tt.stdin), tt.args...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.err) {
			t.Errorf("%s: exit %d out %q err %q, want exit %d and %q", tt.name, code, out, errOut, tt.code, tt.err)
		}
	}
}

// checkPcapng runs data through ngBlocks and returns how many leading
// bytes hold well-formed blocks, with the error about the first bad one.
func checkPcapng(data []byte) (good int, err error) {
	b := &ngBlocks{r: bytes.NewReader(data)}
	if _, err := io.Copy(io.Discard, b); err != nil {
		return 0, err
	}
	return int(b.off), b.err
}

func TestCheckPcapng(t *testing.T) {
	path := captureFile(t, "ovmf-httpboot-ipxe-efi.pcapng")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := checkPcapng(data); n != len(data) || err != nil {
		t.Fatalf("real capture: %d/%d %v", n, len(data), err)
	}
	// Find the first enhanced packet block and lie about its captured length.
	off := 0
	for off < len(data) && !(data[off] == 6 && data[off+1] == 0 && data[off+2] == 0 && data[off+3] == 0) {
		off += int(uint32(data[off+4]) | uint32(data[off+5])<<8 | uint32(data[off+6])<<16 | uint32(data[off+7])<<24)
	}
	bad := bytes.Clone(data)
	copy(bad[off+20:], []byte{0xff, 0xff, 0xff, 0x7f})
	n, err := checkPcapng(bad)
	if n != off || err == nil {
		t.Errorf("huge captured length: good=%d (block at %d) err=%v", n, off, err)
	}
	code, _, errOut := runCmd(t, bytes.NewReader(bad), "-json")
	if code != 0 || !strings.Contains(errOut, "captured length exceeds the block") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func udp6Frame(t testing.TB, src, dst uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{0x02, 0, 0, 0, 0, 0x99}, DstMAC: []byte{0x33, 0x33, 0, 1, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 8, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::547")}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDHCPv6Relay(t *testing.T) {
	sol, err := dhcpv6.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	sol.MessageType = dhcpv6.MessageTypeSolicit
	sol.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: [16]byte{1, 2, 3}}))
	sol.AddOption(dhcpv6.OptClientArchType(iana.EFI_ARM64_HTTP))
	sol.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("HTTPClient:Arch:00019:UNDI:003000")}})
	fwd, err := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8::1"), net.ParseIP("fe80::5054:ff:fe00:1"))
	if err != nil {
		t.Fatal(err)
	}
	fwd.AddOption(dhcpv6.OptClientLinkLayerAddress(iana.HWTypeEthernet, net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}))
	adv, err := dhcpv6.NewAdvertiseFromSolicit(sol, dhcpv6.WithServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x99}}))
	if err != nil {
		t.Fatal(err)
	}
	repl, err := dhcpv6.EncapsulateRelay(adv, dhcpv6.MessageTypeRelayReply, net.ParseIP("2001:db8::1"), net.ParseIP("fe80::5054:ff:fe00:1"))
	if err != nil {
		t.Fatal(err)
	}
	cap := pcapOf(t,
		udp6Frame(t, 547, 547, fwd.ToBytes()),
		udp6Frame(t, 547, 547, repl.ToBytes()), // server -> relay: not a client message
		udp6Frame(t, 547, 547, adv.ToBytes()),
	)
	code, out, errOut := runCmd(t, bytes.NewReader(cap), "-json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	ls := parseLines(t, out)
	if len(ls) != 1 {
		t.Fatalf("%d lines, want 1 (the Relay-Forward):\n%s", len(ls), out)
	}
	l := ls[0]
	// The relay's Ethernet address (02:..:99) must not be taken for the client's.
	if l.MAC != "52:54:00:00:00:01" || l.MsgType != "SOLICIT" || l.Arch == nil || *l.Arch != 19 ||
		l.CPU != "arm64" || l.Transport != "http" || l.Rule != "http-arm64" || l.Bootfile != "http://{{server}}/snp.efi" || !strings.Contains(out, `"relayed":true`) {
		t.Errorf("got %+v\n%s", l, out)
	}
}

func TestLinkTypes(t *testing.T) {
	frame, _ := firstFrame(t, "bios-ipxe-rom-http.pcapng", 67)
	ipPacket := frame[14:]
	// Linux cooked capture (tcpdump -i any): 16-byte header, then IPv4.
	sll := append([]byte{0, 0, 0, 1, 0, 6, 0x52, 0x54, 0, 0x77, 0, 0x0a, 0, 0, 0x08, 0x00}, ipPacket...)
	vlan := append(append(bytes.Clone(frame[:12]), 0x81, 0x00, 0x00, 0x05), frame[12:]...)
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		data []byte
		mac  string
	}{
		{"ethernet", layers.LinkTypeEthernet, frame, "52:54:00:77:00:0a"},
		{"802.1Q", layers.LinkTypeEthernet, vlan, "52:54:00:77:00:0a"},
		{"linux sll", layers.LinkTypeLinuxSLL, sll, "52:54:00:77:00:0a"},
		{"raw ip", layers.LinkTypeRaw, ipPacket, "52:54:00:77:00:0a"},
		{"ipv4", layers.LinkTypeIPv4, ipPacket, "52:54:00:77:00:0a"},
	} {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, tc.lt); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(tc.data), Length: len(tc.data)}, tc.data); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCmd(t, &buf, "-json")
		ls := parseLines(t, out)
		if code != 0 || errOut != "" || len(ls) != 1 || ls[0].MAC != tc.mac || ls[0].Arch == nil || *ls[0].Arch != 0 || !ls[0].IPXE {
			t.Errorf("%s: exit %d stderr %q lines %+v", tc.name, code, errOut, ls)
		}
	}
}

// countingReader yields its prefix, then fill bytes until limit bytes in
// all, and counts what was read.
type countingReader struct {
	prefix []byte
	fill   byte
	limit  int64
	n      int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n >= r.limit {
		return 0, io.EOF
	}
	if int64(len(p)) > r.limit-r.n {
		p = p[:r.limit-r.n]
	}
	for i := range p {
		if off := r.n + int64(i); off < int64(len(r.prefix)) {
			p[i] = r.prefix[off]
		} else {
			p[i] = r.fill
		}
	}
	r.n += int64(len(p))
	return len(p), nil
}

// TestStreamsInput checks the format as the input streams in: input that
// is not a capture, or goes bad after its header, is refused after a small
// prefix, not read to the end (600 MB of zeros once took 1.36 GB).
func TestStreamsInput(t *testing.T) {
	shb := []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0}
	pcapHdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	tests := []struct {
		name   string
		prefix []byte
		fill   byte
		code   int
		err    string
	}{
		{"zeros", nil, 0, 1, "not a pcap or pcapng capture"},
		{"text", []byte("hello"), 'x', 1, "not a pcap or pcapng capture"},
		{"pcapng then zeros", shb, 0, 0, "pcapng: block at offset 28: bad length 0; stopping there"},
		{"pcap then garbage records", pcapHdr, 0xff, 0, "frame 1: capture length exceeds snap length"},
	}
	const limit = 64 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{prefix: tt.prefix, fill: tt.fill, limit: limit}
			code, out, errOut := runCmd(t, r)
			if code != tt.code || out != "" || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d out %q err %q, want exit %d and %q", code, out, errOut, tt.code, tt.err)
			}
			if r.n > 64<<10 {
				t.Errorf("read %d of %d bytes before refusing the input, want at most 64 KiB", r.n, limit)
			}
		})
	}
}
