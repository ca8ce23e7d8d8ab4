// Package dhcpboot decides what a network-booting client is told over DHCP
// and writes that answer the way real firmware reads it.
//
// A [Policy] is an ordered list of [Rule]s; the first rule whose [Match]
// holds for the client (as [archdetect] saw it) decides an [Action]: a boot
// file or URL (a [Template] filled in per client, escaped so a client cannot
// change its shape), a next server, PXE option 43 and PXELINUX options,
// extra options, or "ignore this client". Every [Decision] says which rule
// matched and on what. Exact-MAC rules are found through a map, so
// thousands of per-host rules cost nothing. [DefaultPolicy] boots iPXE on
// BIOS, UEFI and UEFI HTTP boot clients (the builds of the one boot-file
// table, [BootFiles]), gives U-Boot a PXELINUX config file for `pxe get`,
// and hands iPXE itself a script URL, which breaks the chainload loop. Policies can be read from JSON
// ([ParsePolicy]).
//
// [Apply] writes a decision into a *dhcpv4.DHCPv4 reply following the
// rules real clients need (siaddr always, the same name in BOOTP file and
// option 67, no option overload, option 60 echoed only where it does not
// send EDK2 to port 4011, option 43, 54, 97 as PXE 2.1 and RFC 4578
// define them), and
// [ReplyAddr] says where the reply goes (relay, client or broadcast).
// [Apply6] does the same for DHCPv6 (options 59, 60, 16).
//
// Handlers plug the policy into existing servers: [Handler.CoreDHCP] has
// coredhcp's plugin shape, [Handler.ServeDHCP4] is an insomniacslk server4
// handler (proxyDHCP on 67 and 4011), [Handler6] answers DHCPv6. Two servers
// are ready to run on one interface (or on sockets you pass in, see
// [ListenUDP4]): [ProxyServer], a proxyDHCP beside an existing DHCP server,
// and [LabServer], a small full DHCP server with leases for labs.
//
// The shortest use, deciding for a UEFI x64 PXE client:
//
//	p, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
//	d := p.Decide(&dhcpboot.Request{Client: archdetect.FromDHCPv4(discover)})
//	fmt.Println(d.Why) // rule "uefi-x64" (#5) matched: arch in {7,9}
//
// and serving it as a proxyDHCP:
//
//	proxy := &dhcpboot.ProxyServer{Policy: p, Interface: "eth0", Logger: logger}
//	err := proxy.ListenAndServe(ctx) // returns nil when ctx is done
package dhcpboot
