package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"
	pintftp "github.com/pin/tftp/v3"
	"github.com/pxekit/pxekit/internal/netlab"
)

// TestDHCPv6Lab runs pxeserver -dhcp6 lab in a namespace and insomniacslk's
// nclient6 in another: a UEFI x64 client (arch 7 in option 61) gets an
// address from -pool6 and the boot URL (option 59) of pxeserver's policy,
// and pxeserver logs one "dhcp6" line per exchange from LabServer6's hook.
// The URLs handed out work: the client, on its leased address, fetches
// the TFTP URL and an HTTP-boot client's (arch 16) URL over IPv6.
func TestDHCPv6Lab(t *testing.T) {
	p := netlab.NewPair6(t, "fd78::1/64")
	root := t.TempDir()
	efi := bytes.Repeat([]byte("pxekit ipxe.efi stand-in\n"), 1000)
	if err := os.WriteFile(filepath.Join(root, "ipxe.efi"), efi, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, p.Server, "-iface", p.ServerIf, "-addr", p.ServerIP.String(), "-dhcp", "off", "-tftp-root", root,
		"-dhcp6", "lab", "-addr6", "fd78::1", "-pool6", "fd78::100-fd78::1ff", "-http-addr", net.JoinHostPort(p.ServerIP.String(), "8080"))

	var c *nclient6.Client
	if err := p.Client.Do(func() (err error) {
		c, err = nclient6.New(p.ClientIf, nclient6.WithTimeout(2*time.Second), nclient6.WithRetry(3))
		return err
	}); err != nil {
		t.Fatalf("DHCPv6 client in %s: %v", p.Client.Name, err)
	}
	defer c.Close()
	uefi := []dhcpv6.Modifier{
		dhcpv6.WithOption(dhcpv6.OptClientArchType(iana.EFI_X86_64)),
		dhcpv6.WithRequestedOptions(dhcpv6.OptionBootfileURL),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adv, err := c.Solicit(ctx, uefi...)
	if err != nil {
		t.Fatalf("Solicit: %v", err)
	}
	rep, err := c.Request(ctx, adv, uefi...)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	pool := [2]netip.Addr{netip.MustParseAddr("fd78::100"), netip.MustParseAddr("fd78::1ff")}
	var got netip.Addr
	if ia := rep.Options.OneIANA(); ia != nil {
		if a := ia.Options.OneAddress(); a != nil {
			got, _ = netip.AddrFromSlice(a.IPv6Addr)
		}
	}
	if !got.IsValid() || got.Less(pool[0]) || pool[1].Less(got) {
		t.Errorf("Reply address %v, want one of -pool6 %v-%v; reply: %s", got, pool[0], pool[1], rep.Summary())
	}
	if u := rep.Options.BootFileURL(); u != "tftp://[fd78::1]/ipxe.efi" {
		t.Errorf("Reply option 59 = %q, want tftp://[fd78::1]/ipxe.efi", u)
	}

	// The log: one dhcp6 line for the Advertise and one for the Reply.
	var lines []logLine
	deadline := time.Now().Add(10 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		lines = lines[:0]
		for _, l := range srv.snapshot() {
			if l.str("kind") == "dhcp" && l.num("version") == 6 {
				lines = append(lines, l)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lines) < 2 {
		t.Fatalf("pxeserver logged %d dhcp6 lines, want 2 (Advertise, Reply)", len(lines))
	}
	l := lines[len(lines)-1]
	for k, want := range map[string]string{
		"message": "REQUEST", "reply": "REPLY", "rule": "uefi-x64", "client.arch": "7", "mode": "full",
		"ip": got.String(), "boot_file": "tftp://[fd78::1]/ipxe.efi",
	} {
		if l.str(k) != want {
			t.Errorf("dhcp6 log line %s = %q, want %q", k, l.str(k), want)
		}
	}
	if lines[0].str("reply") != "ADVERTISE" {
		t.Errorf("first dhcp6 line: reply %q, want ADVERTISE", lines[0].str("reply"))
	}

	// The client takes its address; the TFTP URL serves the file.
	p.Client.Run(t, "ip", "-6", "addr", "add", got.String()+"/64", "dev", p.ClientIf, "nodad")
	var fetched bytes.Buffer
	if err := p.Client.Do(func() error {
		c, err := pintftp.NewClient("[fd78::1]:69")
		if err != nil {
			return err
		}
		c.SetTimeout(2 * time.Second)
		wt, err := c.Receive("ipxe.efi", "octet")
		if err != nil {
			return err
		}
		_, err = wt.WriteTo(&fetched)
		return err
	}); err != nil || !bytes.Equal(fetched.Bytes(), efi) {
		t.Errorf("TFTP over IPv6 of option 59's file: %d bytes, err %v; want the %d bytes of ipxe.efi", fetched.Len(), err, len(efi))
	}

	// An HTTP-boot client gets an http:// URL on -addr6, and it serves.
	http16 := []dhcpv6.Modifier{
		dhcpv6.WithOption(dhcpv6.OptClientArchType(iana.EFI_X86_64_HTTP)),
		dhcpv6.WithOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("HTTPClient")}}),
		dhcpv6.WithRequestedOptions(dhcpv6.OptionBootfileURL),
	}
	adv, err = c.Solicit(ctx, http16...)
	if err != nil {
		t.Fatalf("Solicit (HTTP boot): %v", err)
	}
	url := adv.Options.BootFileURL()
	if url != "http://[fd78::1]:8080/ipxe.efi" {
		t.Fatalf("HTTP boot: option 59 = %q, want http://[fd78::1]:8080/ipxe.efi", url)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: p.Client.DialContext}, Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s from the client namespace: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, efi) {
		t.Errorf("GET %s: %s, %d bytes, err %v; want 200 and the %d bytes of ipxe.efi", url, resp.Status, len(body), err, len(efi))
	}

	// Ctrl-C: every server shuts down cleanly (a failed Shutdown is a
	// "shutdown" warning), and the DHCP totals come from the hooks.
	srv.stop(t)
	var totals logLine
	for _, l := range srv.snapshot() {
		switch l.str("msg") {
		case "shutdown":
			t.Errorf("shutdown warning: %v", l)
		case "dhcp totals":
			totals = l
		}
	}
	if totals.num("replied") != 3 || totals.num("unanswered") != 0 || totals.num("invalid") != 0 {
		t.Errorf("dhcp totals %v, want 3 replied (Advertise, Reply, Advertise), none unanswered or invalid", totals)
	}
	if last := srv.snapshot(); len(last) == 0 || last[len(last)-1].str("msg") != "stopped" {
		t.Errorf("pxeserver's last log line is not \"stopped\"")
	}
}
