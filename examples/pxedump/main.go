// Command pxedump reads a packet capture (pcap or pcapng) and prints one line
// per DHCPv4 or DHCPv6 client message: who is booting, as package archdetect
// sees it, and what dhcpboot's default policy (the one examples/pxeserver
// serves) decides for it: the rule and the boot file.
//
// Usage:
//
//	pxedump [-json] [-server ADDR] [FILE|-]
//
// Boot files are printed as the policy's templates
// ("http://{{server}}/boot.ipxe?mac={{mac_hyphen}}&..."), or expanded for
// the client when -server gives the server address.
//
// With no FILE, or with "-", it reads standard input. With -json it prints one
// JSON object per line with the keys mac, msg_type, arch (number, null when
// the message tells none), arch_name, firmware, cpu, transport, ipxe,
// ipxe_features, vendor_class, user_class, uuid, undi, rule and bootfile
// (both empty when no rule boots the client), plus
// frame, time, proto, archs, relayed, ipxe_version and problems.
//
// The capture is read as it streams in: input that is not a capture is
// refused after its first bytes, and memory does not grow with its size.
// Malformed packets are reported on standard error and skipped; a broken
// pcapng block ends the dump with a warning, after the packets before it.
// The exit
// status is 0 unless the input cannot be read as a capture (1) or the
// command line is wrong (2).
//
// Example, on a capture taken with `tcpdump -w boot.pcap port 67 or port 547`:
//
//	$ pxedump boot.pcap
//	#6 dhcpv4 DISCOVER 52:54:00:77:00:0a arch=0 (x86 BIOS) bios/x86/pxe ipxe=1.0.0[http,iscsi,...] ... -> ipxe http://{{server}}/boot.ipxe?...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/pxekit/pxekit/dhcpboot"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pxedump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print one JSON object per line")
	server := fs.String("server", "", "server `address` to expand {{server}} in boot files with (default: print templates)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pxedump [-json] [-server ADDR] [FILE|-]")
		fmt.Fprintln(stderr, "Prints one line per DHCPv4/DHCPv6 client message in a pcap or pcapng capture.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	var srv netip.Addr
	if *server != "" {
		a, err := netip.ParseAddr(*server)
		if err != nil {
			fmt.Fprintf(stderr, "pxedump: -server: %v\n", err)
			return 2
		}
		srv = a
	}
	policy, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if err != nil {
		fmt.Fprintf(stderr, "pxedump: %v\n", err)
		return 1
	}
	name := "-"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "pxedump: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	d := &dumper{out: stdout, errOut: stderr, json: *jsonOut, policy: policy, server: srv}
	if err := d.dump(in); err != nil {
		fmt.Fprintf(stderr, "pxedump: %s: %v\n", name, err)
		return 1
	}
	return 0
}
