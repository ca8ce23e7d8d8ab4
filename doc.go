// Package pxekit is a library for network boot: PXE, iPXE, UEFI PXE and UEFI
// HTTP boot. This package holds only documentation; the work is done by four
// packages that a boot server composes.
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
// # Composing them
//
// A boot server is three servers sharing one policy (error handling left
// out; Example shows the decisions, examples/pxeserver is the full program):
//
//	policy, _ := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{
//		ScriptURL: "http://{{server}}/boot.ipxe", // iPXE gets this: no loop
//	}) // BIOS → undionly.kpxe, UEFI x64 → ipxe.efi, ARM64 → snp.efi, HTTP boot → URL,
//	// U-Boot → next server + option 209 pxelinux.cfg/default
//
//	dhcp := &dhcpboot.ProxyServer{Policy: policy, Interface: "eth0"} // or LabServer4
//	go dhcp.ListenAndServe() // dhcp.Shutdown(ctx) to stop, as with net/http
//
//	files, _ := tftpserve.OpenDir("/srv/tftp") // os.Root: no escape
//	tftp := &tftpserve.Server{Handler: files, Logger: logger}
//	go tftp.ListenAndServe()
//
//	http.HandleFunc("/boot.ipxe", func(w http.ResponseWriter, r *http.Request) {
//		client := archdetect.FromHTTP(r) // arch, platform, MAC, UUID from the query
//		script, _ := ipxescript.BootScript(ipxescript.BootConfig{URL: "http://10.0.0.1/machine"})
//		w.Write(script) // every value quoted by the builder
//		_ = client
//	})
//
// Each package stands alone: a tool with its own DHCP server uses dhcpboot's
// Responder4 (coredhcp's handler shape) only; a tool that needs a TFTP server uses tftpserve only.
package pxekit
