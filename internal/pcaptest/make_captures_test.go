//go:build captures

// This file is built only by `make captures` (scripts/captures.sh): it boots
// real firmware under QEMU, which takes minutes, so `make test` never runs it.

package pcaptest

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/pxekit/pxekit/internal/qemulab"
)

var (
	outDir = flag.String("out", "testdata", "directory the captures are written to")
	atftpd = flag.String("atftpd", "", "path of an atftpd binary (unpacked from Debian's atftpd package) for the windowsize capture")
)

// captureSpec is one capture: the firmware booted, the stand-in servers and
// when to stop.
type captureSpec struct {
	file     string
	scenario qemulab.Scenario
	// dnsmasq arguments beyond the common ones; nil means no dnsmasq.
	dnsmasq []string
	// stage2 replaces dnsmasq's arguments once this file has been sent
	// over TFTP (the undionly.kpxe chain: both iPXEs send the same options,
	// so one configuration cannot tell them apart).
	stage2After string
	stage2      []string
	windowsize  bool // TFTP from atftpd, which grants windowsize
	advertise   bool // IPv6 router advertisements (iPXE goes on at once)
	// done reports whether the capture has what it needs; the script GET
	// (seen by the HTTP server) ends the others.
	done  func(frames [][]byte) bool
	limit time.Duration
}

const scriptURL = "http://10.77.0.1:8080/boot.ipxe"

func specs() []captureSpec {
	ipxeScript := []string{"--dhcp-match=set:ipxe,175", "--dhcp-boot=tag:ipxe," + scriptURL}
	return []captureSpec{
		{file: "bios-ipxe-rom-http.pcapng", scenario: qemulab.BIOSiPXE, advertise: true,
			dnsmasq: ipxeScript, limit: 2 * time.Minute},
		{file: "bios-ipxe-rom-tftp-undionly-chain.pcapng", scenario: qemulab.BIOSUndionly, advertise: true,
			dnsmasq: []string{"--enable-tftp", "--dhcp-boot=undionly.kpxe"}, stage2After: "undionly.kpxe",
			stage2: ipxeScript, limit: 3 * time.Minute},
		{file: "ovmf-pxe-tftp-ipxe-efi.pcapng", scenario: qemulab.UEFIPXE, advertise: true,
			dnsmasq: append([]string{"--enable-tftp", "--dhcp-boot=tag:!ipxe,ipxe.efi"}, ipxeScript...), limit: 4 * time.Minute},
		{file: "ovmf-pxe-tftp-windowsize4.pcapng", scenario: qemulab.UEFIPXE, advertise: true, windowsize: true,
			dnsmasq: append([]string{"--dhcp-boot=tag:!ipxe,ipxe.efi"}, ipxeScript...), limit: 4 * time.Minute},
		{file: "ovmf-httpboot-ipxe-efi.pcapng", scenario: qemulab.UEFIHTTP, advertise: true,
			dnsmasq: append([]string{"--dhcp-vendorclass=set:httpboot,HTTPClient",
				"--dhcp-option-force=tag:httpboot,60,HTTPClient",
				"--dhcp-boot=tag:httpboot,http://10.77.0.1:8080/ipxe.efi"}, ipxeScript...), limit: 4 * time.Minute},
		// Nobody answers: OVMF tries PXE over IPv4, then over IPv6 (DHCPv6),
		// then HTTP boot over IPv4 and IPv6. Stop at its second HTTP Solicit.
		{file: "ovmf-no-dhcpv4-answer-dhcpv6.pcapng", scenario: qemulab.UEFIPXE,
			done: func(frames [][]byte) bool { return countSolicits(frames, 16) >= 2 }, limit: 8 * time.Minute},
	}
}

// countSolicits counts DHCPv6 Solicits whose client architecture (option
// 61) is arch.
func countSolicits(frames [][]byte, arch uint16) int {
	n := 0
	for _, f := range frames {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		d, ok := p.Layer(layers.LayerTypeDHCPv6).(*layers.DHCPv6)
		if !ok || d.MsgType != layers.DHCPv6MsgTypeSolicit {
			continue
		}
		for _, o := range d.Options {
			if o.Code == 61 && len(o.Data) == 2 && binary.BigEndian.Uint16(o.Data) == arch {
				n++
			}
		}
	}
	return n
}

// TestMakeCaptures boots each capture's firmware and writes what crossed the
// lab bridge to -out. Run it through scripts/captures.sh (make captures).
// -run TestMakeCaptures/NAME makes one.
func TestMakeCaptures(t *testing.T) {
	fw := qemulab.Require(t)
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs() {
		t.Run(strings.TrimSuffix(s.file, ".pcapng"), func(t *testing.T) { makeCapture(t, fw, s) })
	}
}

func makeCapture(t *testing.T, fw qemulab.Firmware, s captureSpec) {
	if s.windowsize && *atftpd == "" {
		t.Fatal("-atftpd is needed for the windowsize capture")
	}
	lab := qemulab.NewLab(t, fw)
	tftp := filepath.Join(lab.Dir, "tftp")
	if err := fw.CopyBootFiles(tftp); err != nil {
		t.Fatal(err)
	}
	scriptSeen := serveHTTP(t, lab)
	if s.dnsmasq != nil {
		runDnsmasq(t, lab, tftp, s)
	}
	if s.windowsize {
		if err := os.Chmod(tftp, 0o777); err != nil { // atftpd wants it world-writable
			t.Fatal(err)
		}
		lab.NS.Start(t, *atftpd, "--daemon", "--no-fork", "--user", "root", "--group", "root", "--logfile",
			filepath.Join(lab.Dir, "atftpd.log"), "--no-multicast", "--bind-address", lab.ServerIP.String(), "--port", "69", tftp)
	}
	if s.advertise {
		lab.AdvertiseIPv6(t)
	}
	sn := startSniffer(t, lab)
	m := lab.Boot(t, s.scenario, qemulab.Options{Limit: s.limit + time.Minute})
	deadline := time.After(s.limit)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-scriptSeen:
			time.Sleep(time.Second) // the script's reply and the connection's end
			break wait
		case <-tick.C:
			if s.done != nil && s.done(sn.snapshot()) {
				break wait
			}
			if m.Exited() {
				t.Fatalf("QEMU exited; console:\n%s", m.Tail(20))
			}
		case <-deadline:
			t.Fatalf("not done after %s; console:\n%s", s.limit, m.Tail(20))
		}
	}
	_ = m.Stop()
	frames, cis := sn.stop()
	path := filepath.Join(*outDir, s.file)
	n, size, err := writeCapture(path, frames, cis)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d frames, %d bytes, %s after power-on", path, n, size, time.Since(m.Started).Round(time.Second))
}

// serveHTTP serves ipxe.efi and the boot script on 10.77.0.1:8080; the
// channel is closed at the first request for the script.
func serveHTTP(t *testing.T, lab *qemulab.Lab) <-chan struct{} {
	web := filepath.Join(lab.Dir, "http")
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := qemulab.CopyFile(filepath.Join(web, "ipxe.efi"), lab.Firmware.IPXEEFI()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(web, "boot.ipxe"), []byte("#!ipxe\necho PXEKIT-CAPTURE ${net0/mac}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := lab.NS.Listen("tcp4", lab.ServerIP.String()+":8080")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	var once sync.Once
	files := http.FileServer(http.Dir(web))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(w, r)
		if r.URL.Path == "/boot.ipxe" {
			once.Do(func() { close(seen) })
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return seen
}

// runDnsmasq starts dnsmasq (DHCP, and TFTP when asked) on the lab bridge;
// for a two-stage spec it restarts it with the second configuration once the
// first stage's file has been sent.
func runDnsmasq(t *testing.T, lab *qemulab.Lab, tftp string, s captureSpec) {
	common := []string{"--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=" + lab.Bridge, "--bind-interfaces",
		"--except-interface=lo", "--user=root", "--group=root", "--pid-file=",
		"--dhcp-leasefile=" + filepath.Join(lab.Dir, "dnsmasq.leases"), "--tftp-root=" + tftp, "--log-dhcp",
		"--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,10m", "--no-ping"}
	logPath := filepath.Join(lab.Dir, "dnsmasq.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("dnsmasq log:\n%s", b)
		}
	})
	start := func(args []string) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := lab.NS.Command(ctx, "/usr/sbin/dnsmasq", append(append([]string(nil), common...), args...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		lab.NS.Track(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		return func() { cancel(); <-done }
	}
	stop := start(s.dnsmasq)
	if s.stage2After == "" {
		return
	}
	go func() {
		for range 600 { // 120 s
			b, _ := os.ReadFile(logPath)
			if bytes.Contains(b, []byte("sent "+filepath.Join(tftp, s.stage2After))) {
				stop()
				fmt.Fprintln(logf, "== stage 2")
				start(s.stage2)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
}

// sniffer records every frame on the lab bridge (an AF_PACKET socket inside
// the namespace), like tcpdump -i br0.
type sniffer struct {
	fd     int
	mu     sync.Mutex
	frames [][]byte
	cis    []gopacket.CaptureInfo
	quit   chan struct{}
	done   chan struct{}
}

func startSniffer(t *testing.T, lab *qemulab.Lab) *sniffer {
	s := &sniffer{quit: make(chan struct{}), done: make(chan struct{})}
	err := lab.NS.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(lab.Bridge)
		if err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.Timeval{Usec: 200000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("capture socket: %v", err)
	}
	go s.loop()
	t.Cleanup(func() { s.stop() })
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *sniffer) loop() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-s.quit:
			return
		default:
		}
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil || n <= 0 {
			continue // timeout: look at quit again
		}
		now := time.Now()
		s.mu.Lock()
		s.frames = append(s.frames, bytes.Clone(buf[:n]))
		s.cis = append(s.cis, gopacket.CaptureInfo{Timestamp: now, CaptureLength: n, Length: n})
		s.mu.Unlock()
	}
}

func (s *sniffer) snapshot() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.frames...)
}

// stop ends the capture and returns what it holds.
func (s *sniffer) stop() ([][]byte, []gopacket.CaptureInfo) {
	select {
	case <-s.quit:
	default:
		close(s.quit)
		<-s.done
		unix.Close(s.fd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames, s.cis
}

// keep says whether a frame goes into the file and how many of its bytes:
// IPv6 neighbour discovery, router advertisements, multicast listener
// reports and the bridge's IGMP reports are left out (noise the tests never
// read); TFTP DATA keeps its 4-byte header, and an HTTP response segment of
// more than 1 KiB its first 256 bytes (status line and headers), so that a
// capture of a 1 MB download stays small. The record keeps the frame's
// original length.
func keep(f []byte) (bool, int) {
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	if p.Layer(layers.LayerTypeICMPv6) != nil || p.Layer(layers.LayerTypeIGMP) != nil {
		return false, 0
	}
	hdr := len(f)
	if tl := p.TransportLayer(); tl != nil {
		hdr = len(f) - len(tl.LayerPayload())
	}
	switch l := p.TransportLayer().(type) {
	case *layers.UDP:
		dhcp := func(port layers.UDPPort) bool { return port == 67 || port == 68 || port == 546 || port == 547 }
		if !dhcp(l.SrcPort) && !dhcp(l.DstPort) && len(l.Payload) > 4 && binary.BigEndian.Uint16(l.Payload) == 3 {
			return true, hdr + 4
		}
	case *layers.TCP:
		if l.SrcPort == 8080 && len(l.Payload) > 1024 {
			return true, hdr + 256
		}
	}
	return true, len(f)
}

// writeCapture writes the frames kept as pcapng (Ethernet) and returns
// their number and the file size.
func writeCapture(path string, frames [][]byte, cis []gopacket.CaptureInfo) (int, int, error) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "br0", LinkType: layers.LinkTypeEthernet,
		SnapLength: 65536, TimestampResolution: 9}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: "pxekit make captures", Comment: "see README.md beside this file"}})
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for i, f := range frames {
		ok, snap := keep(f)
		if !ok {
			continue
		}
		ci := cis[i]
		ci.CaptureLength = snap
		ci.Length = len(f)
		if err := w.WritePacket(ci, f[:snap]); err != nil {
			return 0, 0, err
		}
		n++
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return n, buf.Len(), os.WriteFile(path, buf.Bytes(), 0o644)
}
