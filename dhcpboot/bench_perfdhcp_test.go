package dhcpboot

import (
	"context"
	"encoding/hex"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// BenchmarkProxyReply measures building one proxy offer (decode, classify,
// decide, apply, encode) in process, with the codec the servers use (the
// datagram copied once and decoded in place, the reply encoded into a
// reused buffer). Until issue 19 it measured dhcpv4.FromBytes and ToBytes,
// which the servers then used: 65 allocations.
func BenchmarkProxyReply(b *testing.B) {
	policy, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: policy, ServerIP: testServer}
	raw := captureRequest(b, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1).ToBytes()
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		m, err := decode4Bytes(slices.Clone(raw))
		if err != nil {
			b.Fatal(err)
		}
		resp, _, _, err := h.Reply(m, Arrival{Mode: ModeProxy})
		if err != nil {
			b.Fatal(err)
		}
		out = append4(out[:0], resp)
	}
}

var (
	perfReceived = regexp.MustCompile(`received packets: ([0-9]+)`)
	perfDrops    = regexp.MustCompile(`drops ratio: ([0-9.]+) ?%`)
)

// BenchmarkProxyPerfdhcp drives proxyDHCP servers with Kea's perfdhcp
// inside namespaces: PXE DISCOVERs (options 60 and 93 of OVMF) at a high
// target rate from up to 10 000 simulated clients through a relay address,
// counting offers per second. "pxekit" is ProxyServer; "dnsmasq" is
// dnsmasq 2.90 in proxy mode (--dhcp-range=...,proxy with a pxe-service).
func BenchmarkProxyPerfdhcp(b *testing.B) {
	netlab.Require(b)
	if _, err := exec.LookPath("perfdhcp"); err != nil {
		b.Skip("perfdhcp (kea-admin) not installed")
	}
	vc := hex.EncodeToString([]byte("PXEClient:Arch:00007:UNDI:003000"))
	run := func(b *testing.B, p *netlab.Pair) {
		perfdhcp(b, p, "-i", "-R", "10000", "-o", "60,"+vc, "-o", "93,0007")
	}

	b.Run("pxekit", func(b *testing.B) {
		p := netlab.NewPair(b)
		policy, _ := DefaultPolicy(DefaultConfig{})
		proxy := &ProxyServer{Policy: policy, ServerIP: p.ServerIP, Interface: p.ServerIf}
		c67, c4011 := listenIn(b, p.Server, p.ServerIf, 67), listenIn(b, p.Server, p.ServerIf, PXEPort)
		done := make(chan error, 2)
		go func() { done <- proxy.Serve(c67) }()
		go func() { done <- proxy.ServeBootServer(c4011) }()
		defer func() { proxy.Close(); <-done; <-done }()
		run(b, p)
	})
	b.Run("dnsmasq", func(b *testing.B) {
		p := netlab.NewPair(b)
		dir := b.TempDir()
		p.Server.Start(b, "/usr/sbin/dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
			"--interface="+p.ServerIf, "--bind-interfaces", "--dhcp-range=10.99.0.0,proxy",
			"--pxe-service=x86-64_EFI,pxekit,ipxe", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
			"--pid-file="+filepath.Join(dir, "pid"), "--user=root", "--group=root")
		time.Sleep(300 * time.Millisecond)
		run(b, p)
	})
}

// perfdhcp runs Kea's perfdhcp for 3 s per iteration from the client
// namespace towards the server (perfdhcp acts as a relay) and reports
// completed exchanges per second (offers with -i, else ACKs) and the drop
// ratio of the last exchange.
func perfdhcp(b *testing.B, p *netlab.Pair, args ...string) {
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		all := append([]string{"-4", "-l", p.ClientIf, "-r", "20000", "-p", "3"}, args...)
		out, _ := p.Client.Command(ctx, "perfdhcp", append(all, p.ServerIP.String())...).CombinedOutput()
		cancel()
		rcv, drops := perfReceived.FindAllSubmatch(out, -1), perfDrops.FindAllSubmatch(out, -1)
		if len(rcv) == 0 || len(drops) == 0 {
			b.Fatalf("perfdhcp output without statistics:\n%s", out)
		}
		n, _ := strconv.ParseFloat(string(rcv[len(rcv)-1][1]), 64)
		d, _ := strconv.ParseFloat(string(drops[len(drops)-1][1]), 64)
		b.ReportMetric(n/3, "exchanges/s")
		b.ReportMetric(d, "drop%")
	}
}

// BenchmarkLabPerfdhcp drives LabServer4 with full DORA exchanges from 200
// simulated PXE clients (the /24 lab range), next to dnsmasq serving the
// same range with a boot file.
func BenchmarkLabPerfdhcp(b *testing.B) {
	netlab.Require(b)
	if _, err := exec.LookPath("perfdhcp"); err != nil {
		b.Skip("perfdhcp (kea-admin) not installed")
	}
	vc := hex.EncodeToString([]byte("PXEClient:Arch:00007:UNDI:003000"))
	args := []string{"-R", "200", "-o", "60," + vc, "-o", "93,0007"}
	b.Run("pxekit", func(b *testing.B) {
		p := netlab.NewPair(b)
		policy, _ := DefaultPolicy(DefaultConfig{})
		lab := &LabServer4{Policy: policy, ServerIP: p.ServerIP, Interface: p.ServerIf,
			Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), RangeStart: netip.MustParseAddr("10.99.0.10"),
				RangeEnd: netip.MustParseAddr("10.99.0.250")}}}
		conn := listenIn(b, p.Server, p.ServerIf, 67)
		done := make(chan error, 1)
		go func() { done <- lab.Serve(conn) }()
		defer func() { lab.Close(); <-done }()
		perfdhcp(b, p, args...)
	})
	b.Run("dnsmasq", func(b *testing.B) {
		p := netlab.NewPair(b)
		dir := b.TempDir()
		p.Server.Start(b, "/usr/sbin/dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
			"--interface="+p.ServerIf, "--bind-interfaces", "--dhcp-range=10.99.0.10,10.99.0.250,255.255.255.0,1h",
			"--dhcp-boot=ipxe.efi", "--no-ping", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
			"--pid-file="+filepath.Join(dir, "pid"), "--user=root", "--group=root")
		time.Sleep(300 * time.Millisecond)
		perfdhcp(b, p, args...)
	})
}
