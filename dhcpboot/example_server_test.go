package dhcpboot_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxekit/pxekit/dhcpboot"
)

// A proxyDHCP beside the site's DHCP server. In production:
//
//	proxy := &dhcpboot.ProxyServer{Policy: policy, Interface: "eth0",
//		OnReply: func(x dhcpboot.Exchange4) { log(x) }}
//	err := proxy.ListenAndServe() // ErrServerClosed after proxy.Shutdown(ctx)
//
// Here it serves only its port-4011 side on a loopback socket and answers
// the DHCPREQUEST that UEFI firmware sends there after getting its address;
// the OnReply hook sees the decision.
func ExampleProxyServer() {
	policy, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	conn4011, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hooked := make(chan dhcpboot.Exchange4, 1)
	proxy := &dhcpboot.ProxyServer{Policy: policy, ServerIP: netip.MustParseAddr("127.0.0.1"),
		OnReply: func(x dhcpboot.Exchange4) { hooked <- x }}
	done := make(chan error)
	go func() { done <- proxy.ServeBootServer(conn4011) }()

	// The firmware's request: its new address in ciaddr, PXE options as in DISCOVER.
	mac, _ := net.ParseMAC("52:54:00:77:00:0b")
	req, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.IPv4(127, 0, 0, 1)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
	client, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer client.Close()
	client.WriteTo(req.ToBytes(), conn4011.LocalAddr())
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := client.ReadFrom(buf)
	if err != nil {
		panic(err)
	}
	ack, _ := dhcpv4.FromBytes(buf[:n])
	fmt.Println(ack.MessageType(), ack.ClassIdentifier(), ack.ServerIPAddr, ack.BootFileNameOption())
	x := <-hooked
	fmt.Println("hook:", x.Boot.Mode, x.Decision.RuleName())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proxy.Shutdown(ctx)
	fmt.Println("stopped:", <-done)
	// Output:
	// ACK PXEClient 127.0.0.1 ipxe.efi
	// hook: proxy-ack uefi-x64
	// stopped: dhcpboot: server closed
}

// A lab DHCP server giving addresses and boot files: an address allocator,
// then the boot responder. In production:
//
//	err := lab.ListenAndServe() // with lab.Interface = "br0"
//
// Reply shows what it answers without a network.
func ExampleLabServer4() {
	policy, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	lab := &dhcpboot.LabServer4{
		Policy:   policy,
		ServerIP: netip.MustParseAddr("10.99.0.1"),
		Subnets: []dhcpboot.Subnet{{
			Prefix:     netip.MustParsePrefix("10.99.0.0/24"),
			RangeStart: netip.MustParseAddr("10.99.0.100"),
			RangeEnd:   netip.MustParseAddr("10.99.0.199"),
			Reservations: []dhcpboot.Reservation{
				{MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0c}, IP: netip.MustParseAddr("10.99.0.12")},
			},
		}},
	}
	for _, mac := range []string{"52:54:00:77:00:0b", "52:54:00:77:00:0c"} {
		hw, _ := net.ParseMAC(mac)
		discover, _ := dhcpv4.NewDiscovery(hw,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
		x := lab.Reply(discover, dhcpboot.Arrival{})
		if x.Reply == nil {
			panic(x.NoReply)
		}
		fmt.Println(mac, x.Reply.MessageType(), x.Reply.YourIPAddr, x.Reply.BootFileName, "to", dhcpboot.ReplyAddr(discover, x.Reply))
	}
	// Output:
	// 52:54:00:77:00:0b OFFER 10.99.0.100 undionly.kpxe to 255.255.255.255:68
	// 52:54:00:77:00:0c OFFER 10.99.0.12 undionly.kpxe to 255.255.255.255:68
}
