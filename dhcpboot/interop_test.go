package dhcpboot

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/pxekit/pxekit/internal/netlab"
)

// testLogger sends slog records to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// listenIn opens a DHCP socket (ListenUDP4) inside ns.
func listenIn(t testing.TB, ns *netlab.NS, iface string, port int) net.PacketConn {
	t.Helper()
	var c net.PacketConn
	if err := ns.Do(func() (err error) { c, err = ListenUDP4(iface, port); return err }); err != nil {
		t.Fatal(err)
	}
	return c
}

// server is what every dhcpboot server has for its lifecycle.
type server interface {
	Shutdown(ctx context.Context) error
}

// serveInBackground runs each serve (a Serve method of srv on one socket)
// until the test ends, then shuts srv down and checks each serve returns
// ErrServerClosed promptly.
func serveInBackground(t *testing.T, srv server, serves ...func() error) {
	t.Helper()
	done := make(chan error, len(serves))
	for _, serve := range serves {
		go func() { done <- serve() }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range serves {
			select {
			case err := <-done:
				if !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve returned %v after Shutdown, want ErrServerClosed", err)
				}
			case <-ctx.Done():
				t.Error("Serve did not return within 5s of Shutdown")
				return
			}
		}
	})
}

func startLab(t *testing.T, p *netlab.Pair) *LabServer4 {
	t.Helper()
	policy, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}:8080/boot.ipxe?mac={{mac_hyphen}}"})
	if err != nil {
		t.Fatal(err)
	}
	s := &LabServer4{
		Policy: policy, Interface: p.ServerIf, ServerIP: p.ServerIP,
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.99.0.0/24"),
			RangeStart: netip.MustParseAddr("10.99.0.100"), RangeEnd: netip.MustParseAddr("10.99.0.150"),
			Router: p.ServerIP}},
		LeaseFile: filepath.Join(t.TempDir(), "leases"),
		Logger:    testLogger(t),
	}
	conn := listenIn(t, p.Server, p.ServerIf, 67)
	serveInBackground(t, s, func() error { return s.Serve(conn) })
	return s
}

// optHex returns option code of the captured request as udhcpc -x hex.
func optHex(t *testing.T, capture string, frame int, code dhcpv4.OptionCode) string {
	m := captureRequest(t, capture, frame)
	v := m.Options.Get(code)
	if v == nil {
		t.Fatalf("%s/%d has no option %v", capture, frame, code)
	}
	return hex.EncodeToString(v)
}

// udhcpc runs busybox udhcpc in the client namespace with the given extra
// arguments and returns the environment its script saw on "bound".
func udhcpc(t *testing.T, p *netlab.Pair, args ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+dir+"/$1.env\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "1", "-A", "1", "-i", p.ClientIf, "-s", script}, args...)
	p.Client.Run(t, "busybox", all...)
	data, err := os.ReadFile(filepath.Join(dir, "bound.env"))
	if err != nil {
		t.Fatalf("udhcpc got no lease: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestInteropUdhcpcAgainstLabServer(t *testing.T) {
	netlab.Require(t)
	const bios = "bios-ipxe-rom-http.pcapng"
	p := netlab.NewPair(t)
	s := startLab(t, p)
	uuid := optHex(t, bios, 1, dhcpv4.OptionClientMachineIdentifier)
	tests := []struct {
		name  string
		args  []string
		file  string
		class string // option 60 in the reply ("" = absent: full mode never sends EDK2 to 4011)
	}{
		{"BIOS PXE ROM", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x5e:010201", "-x", "0x61:" + uuid}, "undionly.kpxe", ""},
		{"OVMF x64", []string{"-V", "PXEClient:Arch:00007:UNDI:003000", "-x", "0x5d:0007", "-x", "0x5e:010300", "-x", "0x61:" + uuid}, "ipxe.efi", ""},
		{"ARM64 UEFI", []string{"-V", "PXEClient:Arch:00011:UNDI:003000", "-x", "0x5d:000b", "-x", "0x5e:010300"}, "snp.efi", ""},
		{"UEFI HTTP boot", []string{"-V", "HTTPClient:Arch:00016:UNDI:003000", "-x", "0x5d:0010", "-x", "0x5e:010300"}, "http://10.99.0.1/ipxe.efi", "HTTPClient"},
		{"iPXE", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x4d:" + optHex(t, bios, 1, dhcpv4.OptionUserClassInformation),
			"-x", "0xaf:" + optHex(t, bios, 1, dhcpv4.OptionEtherboot), "-x", "0x61:" + uuid}, "http://10.99.0.1:8080/boot.ipxe?mac=", ""},
		{"plain client", []string{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := udhcpc(t, p, tt.args...)
			if env["ip"] != "10.99.0.100" || env["serverid"] != "10.99.0.1" || env["subnet"] != "255.255.255.0" {
				t.Errorf("address: ip=%q serverid=%q subnet=%q", env["ip"], env["serverid"], env["subnet"])
			}
			if tt.file == "" {
				if env["boot_file"] != "" || env["bootfile"] != "" {
					t.Errorf("plain client got boot file %q/%q", env["boot_file"], env["bootfile"])
				}
				return
			}
			if !strings.HasPrefix(env["boot_file"], tt.file) || env["siaddr"] != "10.99.0.1" {
				t.Errorf("boot_file=%q siaddr=%q; want %q", env["boot_file"], env["siaddr"], tt.file)
			}
			if env["bootfile"] != env["boot_file"] {
				t.Errorf("option 67 %q differs from file %q", env["bootfile"], env["boot_file"])
			}
			if got := env["vendor"]; got != tt.class {
				t.Errorf("option 60 = %q, want %q", got, tt.class)
			}
		})
	}
	// One machine (one MAC) through every stage keeps one address.
	if ls := s.Leases(); len(ls) != 1 || ls[0].IP.String() != "10.99.0.100" {
		t.Errorf("leases %v, want one for 10.99.0.100", ls)
	}
	data, err := os.ReadFile(s.LeaseFile)
	if err != nil || !strings.Contains(string(data), " 10.99.0.100 ") {
		t.Errorf("lease file: %q %v", data, err)
	}
}

// nclient4In makes an nclient4 client on the client end of p (raw socket in
// the namespace).
func nclient4In(t *testing.T, ns *netlab.NS, iface string, hw net.HardwareAddr) *nclient4.Client {
	return ns.DHCPClient(t, iface, hw, 2)
}

func withOptionsOf(m *dhcpv4.DHCPv4, codes ...dhcpv4.OptionCode) []dhcpv4.Modifier {
	var mods []dhcpv4.Modifier
	for _, c := range codes {
		if v := m.Options.Get(c); v != nil {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptGeneric(c, v)))
		}
	}
	return mods
}

var pxeOptions = []dhcpv4.OptionCode{dhcpv4.OptionClassIdentifier, dhcpv4.OptionClientSystemArchitectureType,
	dhcpv4.OptionClientNetworkInterfaceIdentifier, dhcpv4.OptionClientMachineIdentifier,
	dhcpv4.OptionUserClassInformation, dhcpv4.OptionEtherboot}

func TestInteropNclient4AgainstLabServer(t *testing.T) {
	netlab.Require(t)
	p := netlab.NewPair(t)
	startLab(t, p)
	hw := netInterfaceMAC(t, p.Client, p.ClientIf)
	c := nclient4In(t, p.Client, p.ClientIf, hw)
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease, err := c.Request(ctx, withOptionsOf(ovmf, pxeOptions...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*dhcpv4.DHCPv4{lease.Offer, lease.ACK} {
		if m.BootFileName != "ipxe.efi" || m.BootFileNameOption() != "ipxe.efi" || !m.ServerIPAddr.Equal(net.IP(p.ServerIP.AsSlice())) {
			t.Errorf("%v: file %q/%q siaddr %v", m.MessageType(), m.BootFileName, m.BootFileNameOption(), m.ServerIPAddr)
		}
		if m.ClassIdentifier() != "" {
			t.Errorf("%v: full-mode reply echoes option 60 %q (EDK2 would go to 4011)", m.MessageType(), m.ClassIdentifier())
		}
	}
	// The same machine as iPXE (second stage) keeps its address and gets the script.
	ipxe := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1175)
	lease2, err := c.Request(ctx, withOptionsOf(ipxe, pxeOptions...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !lease2.ACK.YourIPAddr.Equal(lease.ACK.YourIPAddr) {
		t.Errorf("stage 2 address %v, stage 1 %v", lease2.ACK.YourIPAddr, lease.ACK.YourIPAddr)
	}
	if f := lease2.ACK.BootFileNameOption(); !strings.HasPrefix(f, "http://10.99.0.1:8080/boot.ipxe?mac=") {
		t.Errorf("iPXE got %q", f)
	}
	if v := lease2.ACK.Options.Get(dhcpv4.OptionEtherboot); string(v) != "\xb0\x01\x01" {
		t.Errorf("no-pxedhcp not sent to iPXE: % x", v)
	}
}

func netInterfaceMAC(t *testing.T, ns *netlab.NS, iface string) net.HardwareAddr {
	return ns.InterfaceMAC(t, iface)
}

// pxeClient is a small PXE client speaking through a UDP socket on port 68
// inside the client namespace: it sees every broadcast offer, which nclient4
// (first offer wins) does not show.
type pxeClient struct {
	t    *testing.T
	conn net.PacketConn
	hw   net.HardwareAddr
}

func newPXEClient(t *testing.T, p *netlab.Pair, port int) *pxeClient {
	c := &pxeClient{t: t, conn: listenIn(t, p.Client, p.ClientIf, port), hw: netInterfaceMAC(t, p.Client, p.ClientIf)}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func (c *pxeClient) send(m *dhcpv4.DHCPv4, to string) {
	c.t.Helper()
	addr, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(m.ToBytes(), addr); err != nil {
		c.t.Fatal(err)
	}
}

// collect reads replies for xid until want replies came or wait has passed.
type reply struct {
	m    *dhcpv4.DHCPv4
	from *net.UDPAddr
}

func (c *pxeClient) collect(xid dhcpv4.TransactionID, wait time.Duration, want int) []reply {
	var out []reply
	deadline := time.Now().Add(wait)
	buf := make([]byte, 2048)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			return out
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.TransactionID != xid || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		out = append(out, reply{m, from.(*net.UDPAddr)})
		if len(out) >= want {
			return out
		}
	}
}

func TestInteropProxyBesideDnsmasq(t *testing.T) {
	netlab.Require(t)
	dnsmasq := netlab.RequireTool(t, "dnsmasq")
	p := netlab.NewPair(t)
	dir := t.TempDir()
	// The site's DHCP server: dnsmasq gives addresses and knows nothing of PXE.
	dns := p.Server.Command(context.Background(), dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface="+p.ServerIf, "--bind-interfaces", "--dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,1h", "--no-ping",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"), "--user=root", "--group=root",
		"--log-dhcp")
	var dlog strings.Builder
	dns.Stdout, dns.Stderr = &dlog, &dlog
	p.Server.Track(dns)
	if err := dns.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = dns.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", dlog.String())
		}
	})

	policy, _ := DefaultPolicy(DefaultConfig{})
	proxy := &ProxyServer{Policy: policy, Interface: p.ServerIf, Logger: testLogger(t)}
	c67 := listenIn(t, p.Server, p.ServerIf, 67)
	c4011 := listenIn(t, p.Server, p.ServerIf, PXEPort)
	var ip netip.Addr
	if err := p.Server.Do(func() (err error) { ip, err = InterfaceIPv4(p.ServerIf); return err }); err != nil || ip != p.ServerIP {
		t.Fatalf("InterfaceIPv4 = %v, %v", ip, err)
	}
	proxy.ServerIP = ip
	serveInBackground(t, proxy, func() error { return proxy.Serve(c67) }, func() error { return proxy.ServeBootServer(c4011) })
	time.Sleep(300 * time.Millisecond) // dnsmasq binds its socket

	client := newPXEClient(t, p, dhcpv4.ClientPort)
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	// Broadcast flag: dnsmasq would otherwise unicast to the offered address.
	discover, err := dhcpv4.NewDiscovery(client.hw, append(withOptionsOf(ovmf, pxeOptions...), dhcpv4.WithBroadcast(true))...)
	if err != nil {
		t.Fatal(err)
	}
	var replies []reply
	for attempt := 0; attempt < 3 && len(replies) < 2; attempt++ {
		client.send(discover, "255.255.255.255:67")
		replies = append(replies, client.collect(discover.TransactionID, 1500*time.Millisecond, 2-len(replies))...)
	}
	var addrOffer, proxyOffer *dhcpv4.DHCPv4
	for _, r := range replies {
		switch {
		case r.m.MessageType() == dhcpv4.MessageTypeOffer && !r.m.YourIPAddr.IsUnspecified():
			addrOffer = r.m
		case r.m.MessageType() == dhcpv4.MessageTypeOffer:
			proxyOffer = r.m
		}
	}
	if addrOffer == nil || proxyOffer == nil {
		t.Fatalf("want an address offer (dnsmasq) and a proxy offer (us), got %d replies: %v", len(replies), replies)
	}
	if addrOffer.BootFileNameOption() != "" || addrOffer.ClassIdentifier() != "" {
		t.Errorf("dnsmasq offer carries boot data? %s", addrOffer.Summary())
	}
	if proxyOffer.ClassIdentifier() != "PXEClient" || proxyOffer.BootFileNameOption() != "ipxe.efi" ||
		!proxyOffer.ServerIPAddr.Equal(net.IP(p.ServerIP.AsSlice())) || proxyOffer.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Errorf("proxy offer: %s", proxyOffer.Summary())
	}
	// UEFI firmware gets no option 43 and goes to 4011 on siaddr (EDK2
	// sends from port 4011).
	if proxyOffer.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
		t.Errorf("proxy offer to UEFI has option 43: % x", proxyOffer.Options.Get(dhcpv4.OptionVendorSpecificInformation))
	}
	// Take the address from dnsmasq.
	req, _ := dhcpv4.NewRequestFromOffer(addrOffer, append(withOptionsOf(ovmf, pxeOptions...), dhcpv4.WithBroadcast(true))...)
	client.send(req, "255.255.255.255:67")
	var ack *dhcpv4.DHCPv4
	for _, r := range client.collect(req.TransactionID, 2*time.Second, 1) {
		if r.m.MessageType() == dhcpv4.MessageTypeAck {
			ack = r.m
		}
	}
	if ack == nil {
		t.Fatal("no ACK from dnsmasq")
	}
	// Ask the proxy on 4011, as EDK2 does: from port 4011, ciaddr set.
	edk2 := newPXEClient(t, p, PXEPort)
	binl, _ := dhcpv4.New(dhcpv4.WithHwAddr(client.hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(ack.YourIPAddr))
	for _, m := range withOptionsOf(ovmf, pxeOptions...) {
		m(binl)
	}
	edk2.send(binl, net.JoinHostPort(proxyOffer.ServerIPAddr.String(), "4011"))
	got := edk2.collect(binl.TransactionID, 2*time.Second, 2)
	if len(got) != 1 {
		t.Fatalf("4011: %d replies", len(got))
	}
	pa := got[0]
	if pa.from.Port != PXEPort || pa.m.MessageType() != dhcpv4.MessageTypeAck || pa.m.BootFileNameOption() != "ipxe.efi" ||
		pa.m.ClassIdentifier() != "PXEClient" || !pa.m.ClientIPAddr.Equal(ack.YourIPAddr) || !pa.m.YourIPAddr.IsUnspecified() {
		t.Errorf("4011 ACK from %v: %s", pa.from, pa.m.Summary())
	}

	// A plain DHCP client gets dnsmasq's offer only.
	plain, _ := dhcpv4.NewDiscovery(client.hw, dhcpv4.WithBroadcast(true))
	client.send(plain, "255.255.255.255:67")
	pr := client.collect(plain.TransactionID, 1500*time.Millisecond, 2)
	for _, r := range pr {
		if r.m.YourIPAddr.IsUnspecified() {
			t.Errorf("plain client got a proxy offer: %s", r.m.Summary())
		}
	}
	if len(pr) == 0 {
		t.Error("plain client got no offer from dnsmasq")
	}
	// iPXE-style 4011 request (from port 68) is answered back to port 68.
	ipxe := captureRequest(t, "bios-ipxe-rom-http.pcapng", 1)
	ireq, _ := dhcpv4.New(dhcpv4.WithHwAddr(client.hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(ack.YourIPAddr))
	for _, m := range withOptionsOf(ipxe, pxeOptions...) {
		m(ireq)
	}
	client.send(ireq, net.JoinHostPort(p.ServerIP.String(), "4011"))
	ir := client.collect(ireq.TransactionID, 2*time.Second, 2)
	if len(ir) != 1 || ir[0].from.Port != PXEPort || !strings.HasPrefix(ir[0].m.BootFileNameOption(), "http://10.99.0.1/boot.ipxe") {
		t.Errorf("iPXE 4011 exchange: %v", ir)
	}
}

func TestInteropRelayedRequest(t *testing.T) {
	netlab.Require(t)
	for _, server := range []string{"lab", "proxy"} {
		t.Run(server, func(t *testing.T) { testRelayed(t, server) })
	}
}

func testRelayed(t *testing.T, server string) {
	p := netlab.NewPair(t)
	if server == "lab" {
		startLab(t, p)
	} else {
		policy, _ := DefaultPolicy(DefaultConfig{})
		proxy := &ProxyServer{Policy: policy, Interface: p.ServerIf, ServerIP: p.ServerIP, Logger: testLogger(t)}
		c67 := listenIn(t, p.Server, p.ServerIf, 67)
		serveInBackground(t, proxy, func() error { return proxy.Serve(c67) })
	}
	// The client namespace plays the relay: it listens on 10.99.0.2:67 and
	// forwards a DISCOVER with giaddr set.
	relay, err := p.Client.ListenPacket("udp4", p.ClientIP.String()+":67")
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	hw := mustMAC("02:00:00:00:42:01")
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	d, _ := dhcpv4.NewDiscovery(hw, withOptionsOf(ovmf, pxeOptions...)...)
	d.GatewayIPAddr = net.IP(p.ClientIP.AsSlice())
	d.HopCount = 1
	if _, err := relay.WriteTo(d.ToBytes(), &net.UDPAddr{IP: net.IP(p.ServerIP.AsSlice()), Port: 67}); err != nil {
		t.Fatal(err)
	}
	_ = relay.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("relay got no reply: %v", err)
	}
	m, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if m.TransactionID != d.TransactionID || !m.GatewayIPAddr.Equal(d.GatewayIPAddr) || m.BootFileNameOption() != "ipxe.efi" ||
		from.(*net.UDPAddr).Port != 67 || (server == "proxy") != m.YourIPAddr.IsUnspecified() {
		t.Errorf("relay reply from %v: %s", from, m.Summary())
	}
}

// Responder4.ServeDHCP inside insomniacslk's own server4, on both ports;
// it takes the role of each socket from its port.
func TestInteropServer4Handler(t *testing.T) {
	netlab.Require(t)
	p := netlab.NewPair(t)
	policy, _ := DefaultPolicy(DefaultConfig{})
	h := &Responder4{Policy: policy, ServerIP: p.ServerIP, Logger: testLogger(t)}
	proxyOverServer4(t, p, server4Socket{67, h.ServeDHCP}, server4Socket{PXEPort, h.ServeDHCP})
}

// nclient4 does the port-4011 exchange with ProxyServer in 4011-only mode,
// the way iPXE does it (from its address, port 68).
func TestInteropNclient4Proxy4011(t *testing.T) {
	netlab.Require(t)
	p := netlab.NewPair(t)
	policy, _ := DefaultPolicy(DefaultConfig{})
	proxy := &ProxyServer{Policy: policy, Interface: p.ServerIf, ServerIP: p.ServerIP, Only4011: true, Logger: testLogger(t)}
	c4011 := listenIn(t, p.Server, p.ServerIf, PXEPort)
	serveInBackground(t, proxy, func() error { return proxy.ServeBootServer(c4011) })

	conn, err := p.Client.ListenPacket("udp4", p.ClientIP.String()+":68")
	if err != nil {
		t.Fatal(err)
	}
	hw := netInterfaceMAC(t, p.Client, p.ClientIf)
	server := &net.UDPAddr{IP: net.IP(p.ServerIP.AsSlice()), Port: PXEPort}
	c, err := nclient4.NewWithConn(conn, hw, nclient4.WithServerAddr(server), nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 3)
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.IP(p.ClientIP.AsSlice())))
	for _, m := range withOptionsOf(ovmf, pxeOptions...) {
		m(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.SendAndRead(ctx, server, req, nclient4.IsMessageType(dhcpv4.MessageTypeAck))
	if err != nil {
		t.Fatal(err)
	}
	if ack.BootFileNameOption() != "ipxe.efi" || ack.BootFileName != "ipxe.efi" || ack.ClassIdentifier() != "PXEClient" ||
		!ack.ServerIPAddr.Equal(server.IP) || !ack.ClientIPAddr.Equal(req.ClientIPAddr) {
		t.Errorf("4011 ACK: %s", ack.Summary())
	}
	// A DISCOVER to 4011 gets nothing.
	d, _ := dhcpv4.NewDiscovery(hw, withOptionsOf(ovmf, pxeOptions...)...)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel2()
	if m, err := c.SendAndRead(ctx2, server, d, nil); err == nil {
		t.Errorf("DISCOVER on 4011 answered: %s", m.Summary())
	}
}

// A proxy bound to one interface never answers a client on another one.
func TestInteropProxyIgnoresOtherInterfaces(t *testing.T) {
	netlab.Require(t)
	srv, a, b := netlab.NewNS(t), netlab.NewNS(t), netlab.NewNS(t)
	netlab.Veth(t, srv, "srv0", "10.99.0.1/24", a, "cli0", "10.99.0.2/24")
	netlab.Veth(t, srv, "srv1", "10.98.0.1/24", b, "cli1", "10.98.0.2/24")
	policy, _ := DefaultPolicy(DefaultConfig{})
	proxy := &ProxyServer{Policy: policy, Interface: "srv0", ServerIP: netip.MustParseAddr("10.99.0.1"), Logger: testLogger(t)}
	c67 := listenIn(t, srv, "srv0", 67)
	serveInBackground(t, proxy, func() error { return proxy.Serve(c67) })
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	for _, tc := range []struct {
		ns    *netlab.NS
		iface string
		want  int
	}{{b, "cli1", 0}, {a, "cli0", 1}} {
		c := &pxeClient{t: t, conn: listenIn(t, tc.ns, tc.iface, 68), hw: netInterfaceMAC(t, tc.ns, tc.iface)}
		d, _ := dhcpv4.NewDiscovery(c.hw, withOptionsOf(ovmf, pxeOptions...)...)
		c.send(d, "255.255.255.255:67")
		if got := c.collect(d.TransactionID, time.Second, 1); len(got) != tc.want {
			t.Errorf("client on %s: %d replies, want %d", tc.iface, len(got), tc.want)
		}
		c.conn.Close()
	}
}
