package dhcpboot

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/pxekit/pxekit/internal/netlab"
)

// TestRepliesWithoutAddressAreBroadcast: a reply that gives no address
// (yiaddr 0: a proxy OFFER, a NAK) has the broadcast flag set, so a relay
// broadcasts it instead of unicasting to 0.0.0.0 (dnsmasq does the same;
// RFC 2131 §4.3.2 requires it for a relayed NAK). Issue 12, item 9.
func TestRepliesWithoutAddressAreBroadcast(t *testing.T) {
	h := defaultHandler(t)
	disc := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	disc.SetUnicast()
	disc.GatewayIPAddr = net.IPv4(10, 77, 5, 1)
	offer, _, _, err := h.Reply(disc, Arrival{Mode: ModeProxy})
	if err != nil {
		t.Fatal(err)
	}
	if !offer.IsBroadcast() || !offer.YourIPAddr.IsUnspecified() {
		t.Errorf("relayed proxy OFFER: flags %s, yiaddr %v; want broadcast, 0.0.0.0", offer.FlagsToString(), offer.YourIPAddr)
	}
	disc.GatewayIPAddr = nil
	if offer, _, _, _ := h.Reply(disc, Arrival{Mode: ModeProxy}); !offer.IsBroadcast() {
		t.Errorf("proxy OFFER: flags %s, want broadcast", offer.FlagsToString())
	}

	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	s := newLab(t, "", clock)
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC("02:00:00:00:00:01")), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 99, 0, 77))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1))))
	req.SetUnicast()
	req.GatewayIPAddr = net.IPv4(10, 99, 0, 254)
	nak, err := respond4(s, req)
	if err != nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("%v %v", nak, err)
	}
	if !nak.IsBroadcast() {
		t.Errorf("relayed NAK: flags %s, want broadcast", nak.FlagsToString())
	}
	// An OFFER with an address keeps the client's flag.
	d, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	d.SetUnicast()
	if o, err := respond4(s, d); err != nil || o.IsBroadcast() {
		t.Errorf("lab OFFER %v: flags %s, want the client's (unicast)", err, o.FlagsToString())
	}
}

// TestProxyRelayedOfferReachesRelay runs a ProxyServer on 127.0.0.1:67 in
// a private namespace and a fake relay agent on 127.0.0.2:67: the relayed
// DISCOVER's OFFER goes to giaddr:67 with the broadcast flag set.
func TestProxyRelayedOfferReachesRelay(t *testing.T) {
	netlab.Require(t)
	ns := netlab.NewNS(t)
	srv, err := ns.ListenPacket("udp4", "127.0.0.1:67")
	if err != nil {
		t.Fatal(err)
	}
	relay, err := ns.ListenPacket("udp4", "127.0.0.2:67")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	defer relay.Close()
	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	proxy := &ProxyServer{Policy: p, ServerIP: netip.MustParseAddr("127.0.0.1")}
	serveInBackground(t, proxy, func() error { return proxy.Serve(srv) })

	disc := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	disc.SetUnicast()
	disc.GatewayIPAddr = net.IPv4(127, 0, 0, 2)
	disc.HopCount = 1
	if _, err := relay.WriteTo(disc.ToBytes(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 67}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if err := relay.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, from, err := relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("relay got no OFFER: %v", err)
	}
	offer, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || offer.TransactionID != disc.TransactionID {
		t.Fatalf("relay got %s from %v", offer.Summary(), from)
	}
	if !offer.GatewayIPAddr.Equal(disc.GatewayIPAddr) || !offer.YourIPAddr.IsUnspecified() {
		t.Errorf("giaddr %v yiaddr %v", offer.GatewayIPAddr, offer.YourIPAddr)
	}
	if !offer.IsBroadcast() {
		t.Errorf("relayed proxy OFFER has flags %s: a relay would unicast it to yiaddr 0.0.0.0", offer.FlagsToString())
	}
}

// TestInteropProxyThroughDhcrelay: a PXE client (no broadcast flag) behind
// ISC dhcrelay gets the proxy OFFER: client ns -- relay ns -- server ns.
// Without the broadcast flag in the OFFER, dhcrelay sent it by unicast to
// yiaddr 0.0.0.0 and the client never saw it.
func TestInteropProxyThroughDhcrelay(t *testing.T) {
	cli, rly, srv := relayedLab(t, "10.60.0.50/24")

	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conn := listenIn(t, srv, "srv0", 67)
	proxy := &ProxyServer{Policy: p, ServerIP: netip.MustParseAddr("10.60.1.1"), Interface: "srv0"}
	serveInBackground(t, proxy, func() error { return proxy.Serve(conn) })

	relayLog := rly.StartDhcrelay(t, "rly0", "rly1", "10.60.1.1")

	client := listenIn(t, cli, "cli0", 68)
	defer client.Close()
	ovmf := captureRequest(t, "ovmf-pxe-tftp-ipxe-efi.pcapng", 1)
	d, err := dhcpv4.NewDiscovery(netInterfaceMAC(t, cli, "cli0"), withOptionsOf(ovmf, pxeOptions...)...)
	if err != nil {
		t.Fatal(err)
	}
	d.SetUnicast() // as many PXE ROMs send it
	buf := make([]byte, 2048)
	for try := 0; try < 10; try++ { // dhcrelay needs a moment to start
		if _, err := client.WriteTo(d.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
			t.Fatal(err)
		}
		_ = client.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, _, err := client.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil || m.TransactionID != d.TransactionID || m.MessageType() != dhcpv4.MessageTypeOffer {
				continue
			}
			if m.BootFileNameOption() != "ipxe.efi" || !m.GatewayIPAddr.Equal(net.IPv4(10, 60, 0, 1)) {
				t.Errorf("OFFER through the relay: %s", m.Summary())
			}
			return
		}
	}
	t.Fatalf("no proxy OFFER reached the client through dhcrelay; dhcrelay said:\n%s", relayLog.String())
}

// TestInteropLabServer4ThroughDhcrelay: a client behind ISC dhcrelay (with
// -a, which adds option 82) gets an address from the far subnet of a
// LabServer4 serving two subnets: client ns -- relay ns -- server ns. The
// server's replies echo option 82 verbatim. Before issue 15 the lab served
// one subnet and dropped the relayed DISCOVER ("relayed from 10.60.0.1,
// outside 10.60.1.0/24").
func TestInteropLabServer4ThroughDhcrelay(t *testing.T) {
	cli, rly, srv := relayedLab(t, "")

	p, err := DefaultPolicy(DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []Exchange4
	lab := &LabServer4{Policy: p, Interface: "srv0", ServerIP: netip.MustParseAddr("10.60.1.1"), Logger: testLogger(t),
		Subnets: []Subnet{
			{Prefix: netip.MustParsePrefix("10.60.1.0/24"), Interface: "srv0",
				RangeStart: netip.MustParseAddr("10.60.1.100"), RangeEnd: netip.MustParseAddr("10.60.1.150")},
			{Prefix: netip.MustParsePrefix("10.60.0.0/24"), Router: netip.MustParseAddr("10.60.0.1"),
				RangeStart: netip.MustParseAddr("10.60.0.100"), RangeEnd: netip.MustParseAddr("10.60.0.150")},
		},
		OnReply: func(x Exchange4) { mu.Lock(); seen = append(seen, x); mu.Unlock() }}
	conn := listenIn(t, srv, "srv0", 67)
	serveInBackground(t, lab, func() error { return lab.Serve(conn) })

	relayLog := rly.StartDhcrelay(t, "rly0", "rly1", "10.60.1.1", "-a") // -a adds option 82

	c := nclient4In(t, cli, "cli0", netInterfaceMAC(t, cli, "cli0"))
	var lease *nclient4.Lease
	for try := 0; try < 5 && lease == nil; try++ { // dhcrelay needs a moment to start
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lease, err = c.Request(ctx, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
		cancel()
	}
	if lease == nil {
		t.Fatalf("no lease through dhcrelay: %v; dhcrelay said:\n%s", err, relayLog.String())
	}
	ack := lease.ACK
	if !netip.MustParsePrefix("10.60.0.0/24").Contains(addrOf(ack.YourIPAddr)) || ack.BootFileNameOption() != "ipxe.efi" ||
		!ack.ServerIdentifier().Equal(net.IPv4(10, 60, 1, 1)) {
		t.Errorf("ACK through the relay: %s, want an address from 10.60.0.0/24, ipxe.efi, server 10.60.1.1", ack.Summary())
	}
	if r := ack.Router(); len(r) != 1 || !r[0].Equal(net.IPv4(10, 60, 0, 1)) {
		t.Errorf("router %v, want 10.60.0.1", r)
	}
	// The hook runs after the send: let the work in flight finish before
	// reading what it saw (the client may hold the ACK first).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lab.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	answered := 0
	for _, x := range seen {
		if x.Reply == nil {
			continue
		}
		answered++
		in := x.Request.Options.Get(dhcpv4.OptionRelayAgentInformation)
		if len(in) == 0 || !bytes.Equal(x.Reply.Options.Get(dhcpv4.OptionRelayAgentInformation), in) {
			t.Errorf("%s: option 82 in % x, out % x; want it added by dhcrelay -a and echoed", x.Reply.MessageType(), in, x.Reply.Options.Get(dhcpv4.OptionRelayAgentInformation))
		}
		if x.To.String() != "10.60.0.1:67" {
			t.Errorf("%s sent to %v, want the relay 10.60.0.1:67", x.Reply.MessageType(), x.To)
		}
	}
	if answered < 2 {
		t.Errorf("server answered %d requests, want the OFFER and the ACK", answered)
	}
}

// relayedLab makes client ns -- relay ns -- server ns: cli0 (cliCIDR, "" for
// none) to rly0 10.60.0.1/24; rly1 10.60.1.2/24 to srv0 10.60.1.1/24, with
// the server routing 10.60.0.0/24 through the relay.
func relayedLab(t *testing.T, cliCIDR string) (cli, rly, srv *netlab.NS) {
	t.Helper()
	netlab.Require(t)
	netlab.RequireTool(t, "dhcrelay") // Debian package isc-dhcp-relay
	cli, rly, srv = netlab.NewNS(t), netlab.NewNS(t), netlab.NewNS(t)
	netlab.Veth(t, cli, "cli0", cliCIDR, rly, "rly0", "10.60.0.1/24")
	netlab.Veth(t, rly, "rly1", "10.60.1.2/24", srv, "srv0", "10.60.1.1/24")
	srv.Run(t, "ip", "route", "add", "10.60.0.0/24", "via", "10.60.1.2")
	return cli, rly, srv
}
