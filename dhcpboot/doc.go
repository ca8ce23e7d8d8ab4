// Package dhcpboot decides what a network-booting client is told over DHCP
// and writes that answer the way real firmware reads it.
//
// A [Policy] is an ordered list of [Rule]s; the first rule whose [Match]
// holds for the client (as [archdetect] saw it) decides an [Action]: a boot
// file or URL (a [Template] filled in per client), a next server, PXE and
// PXELINUX options, extra options, or "ignore this client". Every
// [Decision] says which rule matched and why. [DefaultPolicy] boots iPXE on
// BIOS, UEFI and UEFI HTTP boot clients and hands iPXE itself a script URL,
// which breaks the chainload loop.
//
// [Apply] writes a decision into a *dhcpv4.DHCPv4 reply following
// dhcp-pxe.md (siaddr, BOOTP file = option 67, no overload, option 60 echo
// rules, option 43, 54, 97). Handlers plug the policy into existing servers:
// [Handler.CoreDHCP] has coredhcp's plugin shape, [Handler.ServeDHCP4] is an
// insomniacslk server4 handler, [Handler6] answers DHCPv6 with options 59/60.
// [ProxyServer] is a proxyDHCP (ports 67 and 4011) to run beside an existing
// DHCP server, and [LabServer] a small full DHCP server for labs.
//
// The shortest use, deciding for a UEFI x64 PXE client:
//
//	p, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
//	d := p.Decide(&dhcpboot.Request{Client: archdetect.FromDHCPv4(discover)})
//	fmt.Println(d.Why) // rule "uefi-x64" (#5) matched: arch in {7,9}
package dhcpboot
