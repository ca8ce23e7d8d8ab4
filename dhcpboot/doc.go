// Package dhcpboot decides what a network-booting client is told over DHCP
// and writes that answer the way real firmware reads it.
//
// # The shape
//
//	Policy      rules → Decision            policy.go, default.go, template.go
//	Request     who asked, where, which server, which mode   request.go
//	Apply4/6    Decision → reply options    reply4.go, reply6.go
//	Responder4/6  classify + decide once, answer             responder4.go, responder6.go
//	ProxyServer   proxyDHCP on 67 and 4011  (Responder4)     proxy.go
//	LabServer4    Allocator4 → Responder4   (several subnets, relays)   lab4.go
//	LabServer6    addresses + boot URL      (several subnets, relays)   lab6.go
//	server.go     the one serve loop, Shutdown/Close, hooks
//
// # Policy
//
// A [Policy] is an ordered list of [Rule]s; the first rule whose [Match]
// holds for the client (as [archdetect] saw it) decides an [Action]: a boot
// file or URL (a [Template] filled in per client, escaped so a client cannot
// change its shape), a next server, PXE option 43 and PXELINUX options,
// extra options, or "ignore this client". A [Decision] holds a copy of the
// rule and says which rule matched and on what. Exact-MAC rules are found
// through a map, so thousands of per-host rules cost nothing.
// [DefaultPolicy] boots iPXE on BIOS, UEFI and UEFI HTTP boot clients (the
// builds of the one boot-file table, [BootFiles]), gives U-Boot a PXELINUX
// config file for `pxe get`, and hands iPXE itself a script URL, which breaks
// the chainload loop. Policies can be read from JSON ([ParsePolicy]).
//
// # Responders
//
// [Responder4] and [Responder6] are the boot handlers: a Policy, this
// server's address (ServerIP, its one home: copied into [Request.ServerIP]
// when the responder builds the Request) and [ReplyOptions]. Both have the
// same methods: Decide (classify and decide, once, for a message and the
// [Arrival] saying where it came in), Reply (the stateless or proxyDHCP
// answer; v4's mode comes from Arrival.Mode: [ModeProxy] on port 67,
// [ModeProxyAck] on port 4011), CoreDHCP (coredhcp's plugin handler shape,
// for a full DHCP server: after server_id in the chain) and ServeDHCP
// (insomniacslk's server4/server6 handler shape; v4's ServeDHCPFor(mode)
// fixes the role of a socket whatever its port). The coredhcp plugin
// (module contrib/coredhcp/pxeboot) is [PluginResponder4] and
// [PluginResponder6]: a responder built from the plugin's arguments. [Apply4] and [Apply6]
// write a decision into a reply following the rules real clients need
// (siaddr always, the same name in BOOTP file and option 67, no option
// overload, option 60 echoed only where it does not send EDK2 to port 4011,
// option 43, 54, 97 as PXE 2.1 and RFC 4578 define them; options 59, 60, 16
// for DHCPv6); [ReplyAddr] says where a reply goes (relay, client or
// broadcast).
//
// # Servers
//
// [ProxyServer] (a proxyDHCP beside the site's DHCP server), [LabServer4]
// and [LabServer6] (small full DHCP servers for labs) have net/http's
// shape: config structs the server never writes, ListenAndServe (sockets
// bound to Interface, see [ListenUDP4]), Serve(conn) per socket
// (ProxyServer's port-4011 socket goes to ServeBootServer), Shutdown(ctx),
// Close, and [ErrServerClosed]. A bad configuration is refused at start
// with an error naming the field to set. All three run the same serve loop
// and have the same hooks: OnReply gets one [Exchange4] or [Exchange6] per
// request (the message, the [Request] and [Decision], the reply sent or
// why none was, the [Lease] a lab server gave), OnInvalid one [Invalid] per
// datagram that is no request.
//
// # Lab chain
//
// [LabServer4] is a chain in coredhcp's shape: an [Allocator4] (addresses,
// reservations, leases, lease file; its Handle method is a coredhcp
// handler) then the boot data of [Responder4]. It serves several
// [Subnet]s: a relayed request from the subnet holding its giaddr (the
// reply goes back to giaddr:67 with option 82 echoed), an unrelayed one
// from the subnet on its interface.
//
// Both DHCPv6 servers answer a Relay-forward with a Relay-reply of the same
// nesting (hop count, link and peer addresses, Interface-Id and Remote-Id
// copied at each level, RFC 8415 §19.3) sent back to the relay; rules see
// the link address of the relay next to the client as [Request.Relay], and
// it chooses the [Subnet6] of a LabServer6.
// DHCPv6 boot URLs carry the server's IPv6 address in brackets, never a
// zone; a link-local ServerIP is refused at start.
//
// The shortest use, deciding for a UEFI x64 PXE client:
//
//	p, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
//	h := &dhcpboot.Responder4{Policy: p, ServerIP: netip.MustParseAddr("10.0.0.1")}
//	r, d := h.Decide(discover, dhcpboot.Arrival{Mode: dhcpboot.ModeProxy})
//	fmt.Println(d.Why, r.Client.Arch) // rule "uefi-x64" (#5) matched: arch in {7,9}
//
// and serving it as a proxyDHCP, with a hook for the log:
//
//	proxy := &dhcpboot.ProxyServer{Policy: p, Interface: "eth0",
//		OnReply: func(x dhcpboot.Exchange4) { log.Info("dhcp", "why", x.Decision.Why, "no_reply", x.NoReply) }}
//	go proxy.ListenAndServe() // ErrServerClosed after:
//	proxy.Shutdown(ctx)
package dhcpboot
