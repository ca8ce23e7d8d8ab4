// Package pxekit is a library for network boot: PXE, iPXE, UEFI PXE and UEFI
// HTTP boot. Its root package is the boot server you embed, Server, built on
// four packages that each stand alone.
//
// # The boot story
//
// A legacy BIOS PXE ROM asks DHCP for an address and a boot file (option 93 =
// 0). It gets undionly.kpxe over TFTP: iPXE. UEFI firmware asks with option 93
// = 7 or 9 (PXE) and gets ipxe.efi over TFTP, or with 16 (HTTP boot) and gets
// it by URL. iPXE then asks DHCP again, now with user class "iPXE" and option
// 175. A policy that does not tell iPXE apart hands it iPXE again, and the
// machine loops forever; a policy that does answers with the URL of an iPXE
// script, and the script chains the machine's own kernel and initrd.
//
// # The server
//
// Server runs that story: DHCP (off by default, proxyDHCP beside the site's
// DHCP server, or a small lab DHCP server), TFTP and HTTP in one
// configuration with documented zero values, ListenAndServe(ctx), Serve
// with sockets of your own, Shutdown and Close like net/http:
//
//	srv := &pxekit.Server{DHCP: pxekit.DHCPProxy, Interface: "eth0", Files: "/srv/boot",
//		Inventory: &pxekit.DirInventory{Dir: "/etc/pxekit/machines"}}
//	err := srv.ListenAndServe(ctx) // DHCP 67+4011 on eth0, TFTP :69, HTTP :80
//
// One base URL (BaseURL, by default http://Addr:PORT of the HTTP listener)
// is shared by every rule: the iPXE script URL, the boot file URL of UEFI
// HTTP boot clients and the kernel URLs in per-machine scripts all point at
// the one HTTP port. One session table (Sessions) follows each machine
// across protocols: DHCP ties the machine's address to its MAC (the lab
// lease, the request's ciaddr or requested address), so a TFTP transfer or
// HTTP request, which shows only the peer's address, lands in the same
// Session, with its archdetect.Client, the rule DHCP chose and the Stage it
// reached (DHCP → boot file → iPXE → script → kernel). An Inventory (a
// directory of YAML files, a MapInventory, or your database behind one
// method) says what each machine boots: a kernel, initrds and command line
// (each argument quoted as one Linux argument), its own Script, or a
// Template whose placeholders ({{name}}, {{mac}}, {{ip}}, {{kernel}},
// {{cmdline}}, {{files_url}}, ...) the server fills per request, each
// value one iPXE argument that no name or address can turn into a
// command; and its own Files (a preseed, a kickstart), served to that
// machine only at BASE/machine/MAC/files/NAME from the HTTP files
// directory. Unknown machines boot the default flow and raise an
// UnknownMachineEvent. Machines that do not chain iPXE
// boot through PXELINUX (BootPXELinux: pxelinux.0 for BIOS, option 209 for
// U-Boot) or a network GRUB (BootGRUB; with SecureBoot, Debian's signed
// shim first): DHCP names the loader (Server.Loaders) for that machine's
// MAC, and TFTP answers its pxelinux.cfg/01-<mac> or grub/grub.cfg with a
// file package bootcfg builds from the Machine, every value quoted by that
// loader's rules. OnEvent gets one typed Event per DHCP exchange, TFTP
// transfer (and a running transfer's progress), HTTP request and stage
// change, and Metrics registers Prometheus metrics on your registry.
// StatusHandler (off until called) serves a live status page of the
// machines booting: stage and time in it, the rule that decided, the
// transfer's progress bar, the last error, counters; as JSON too, with
// live updates by Server-Sent Events. Reload swaps the policy,
// inventory, scripts and file roots at once without dropping a transfer.
//
// Each part is usable alone: Server.HTTPHandler on your own mux,
// Server.TFTPServer or TFTPHandler on your own TFTP socket,
// Server.DHCPPolicy and ObserveDHCP4 for your own dhcpboot server,
// DHCPHandler4 (proxy) and CoreDHCP4 (full server) for your own
// insomniacslk server4 or coredhcp chain.
//
// # Scale
//
// In proxy mode (DHCPProxy, or DHCP off beside a DHCP server configured
// with the boot options) a Server keeps no state that another instance
// needs: a DHCP answer is a function of the request and the configuration
// (policy, base URL), the boot scripts a function of the request and the
// inventory, and the files are files. The session table only observes.
// So several instances with the same configuration (the same BaseURL, a
// name or address that reaches any of them; the same Files and Inventory)
// serve one fleet: put them behind the DHCP relays, each relay pointing at
// all of them (ip helper-address once per instance). Every instance
// answers the same DISCOVER with the same boot file and URLs, naming itself
// as the TFTP server; the machine takes the first offer and fetches from
// that instance, and its HTTP requests may go to any instance. Each
// instance's session table and metrics describe the machines it saw;
// aggregate them in Prometheus.
//
// Lab mode (DHCPLab) is single-instance: the leases live in one process
// (and its LeaseFile), and two lab servers on one network would hand out
// the same addresses. Run one per network, or use proxy mode beside a
// real DHCP server (Kea, dnsmasq, ISC) for anything larger than a lab.
//
// # The packages
//
//   - archdetect reads a DHCPv4 or DHCPv6 request, or the HTTP request an iPXE
//     script makes, and tells who is booting: arch codes, firmware, CPU,
//     PXE or HTTP, iPXE and its features, UUID, MAC.
//   - dhcpboot holds the policy: ordered rules on what archdetect found, MAC,
//     relay and more, each deciding a boot file, next server or script URL. It
//     applies a decision to a DHCP reply the way firmware needs it, plugs into
//     insomniacslk/dhcp servers and coredhcp, and runs proxyDHCP or a small lab
//     DHCP server.
//   - tftpserve serves the boot files over TFTP with blksize, tsize, timeout and
//     windowsize, from a directory (os.Root), any fs.FS, a shared memory cache or
//     a function.
//   - ipxescript parses, prints, lints and builds iPXE scripts; its builder
//     quotes every value so a hostile host name cannot inject commands.
//
// A tool with its own DHCP server uses dhcpboot's Responder4 (coredhcp's
// handler shape) only; a tool that needs a TFTP server uses tftpserve only.
// examples/pxeserver is a command-line boot server.
package pxekit
