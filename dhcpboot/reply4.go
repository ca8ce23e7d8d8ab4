package dhcpboot

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxekit/pxekit/archdetect"
)

// ReplyOptions tune how a decision is written into a reply. The server
// address and the reply mode are not options: they come from the
// [Request] ([Request.ServerIP], [Request.Mode]). All fields are DHCPv4
// only; [Apply6] takes ReplyOptions for the same shape and uses none yet.
type ReplyOptions struct {
	// PXEClientInFull (ModeFull only) sends option 60 "PXEClient" with option
	// 43 = 06 01 08 ff to PXE clients, which EDK2 takes as a "DhcpPxe10"
	// offer. By default (false) a full-mode reply carries no option 60 for
	// PXE clients: the conventional siaddr + boot file form that every PXE
	// ROM since Intel 0.99n boots from, and that never sends EDK2 to port
	// 4011 (PXE 2.1: an offer with option 60 "PXEClient" and no boot
	// file sends the client to boot server discovery).
	PXEClientInFull bool
	// DirectUEFI (ModeProxy only) also gives UEFI PXE firmware the
	// "boot this file" option 43. By default UEFI PXE firmware (not iPXE) gets
	// a proxy offer without option 43 and siaddr = ServerIP, so it asks again
	// on port 4011 and the ACK there names the TFTP server: some UEFI
	// firmware ignores proxy offers that bypass boot server discovery
	// (pixiecore's experience).
	DirectUEFI bool
	// KeepIPXEProxyWait (ModeFull only) leaves out the iPXE option 175.176
	// "no-pxedhcp" that dhcpboot otherwise sends to iPXE clients in full mode,
	// saving iPXE's wait of several seconds for proxyDHCP offers.
	KeepIPXEProxyWait bool
}

// ErrNoBoot is returned by [Apply4] and [Apply6] for a decision that gives no boot data
// (no rule matched, or the rule ignores the client).
var ErrNoBoot = errors.New("dhcpboot: decision gives no boot data")

// Apply4 writes decision d for request r into resp, the reply to req, the way
// firmware reads it (RFC 2131, RFC 4578 and PXE 2.1 as EDK2, iPXE and
// legacy PXE ROMs implement them):
//
//   - siaddr is always set (the rule's next server, else r.ServerIP);
//   - the boot file goes into both the BOOTP file field and option 67, the
//     same bytes; a name longer than 127 bytes goes into option 67 only and
//     file stays empty; option overload (52) is never used;
//   - option 54 is r.ServerIP;
//   - option 60 is "HTTPClient" for HTTP-boot clients (EDK2 drops the offer
//     otherwise) and "PXEClient" for PXE clients in proxy modes; in full
//     mode see [ReplyOptions.PXEClientInFull];
//   - option 43 where a PXE client needs it, option 97 echoed, PXELINUX
//     options, the rule's extra options last;
//   - in proxy modes yiaddr is 0 and address options (1, 3, 6, 51, 58, 59)
//     are removed.
//
// The reply mode is r.Mode; the message type and the destination are the
// caller's (see [ReplyAddr]).
func Apply4(d Decision, r *Request, req, resp *dhcpv4.DHCPv4, o ReplyOptions) error {
	if !d.Boot() {
		return ErrNoBoot
	}
	a := d.action()
	if resp.Options == nil {
		resp.Options = make(dhcpv4.Options)
	}
	c := &r.Client
	server := r.ServerIP.Unmap()
	if !server.Is4() {
		return errors.New("dhcpboot: Request.ServerIP is not an IPv4 address (the responder sets it from its ServerIP)")
	}
	mode := r.Mode
	http := c.Transport == archdetect.TransportHTTP || c.VendorClass.Kind == "HTTPClient"
	pxe := !http && (c.VendorClass.Kind == "PXEClient" || c.HasArch)

	file := a.BootFile.Expand(r)
	if len(file) > 255 {
		return fmt.Errorf("dhcpboot: rule %q: boot file is %d bytes, more than option 67 holds", d.RuleName(), len(file))
	}
	if http && file != "" && !a.BootFile.IsURL() {
		return fmt.Errorf("dhcpboot: rule %q: HTTP-boot client needs a URL, got %q", d.RuleName(), file)
	}

	next := server
	if a.NextServer.IsValid() {
		next = a.NextServer.Unmap()
	}
	// A UEFI PXE client told to come to port 4011 must be sent to us.
	proxyBinl := mode == ModeProxy && pxe && !o.DirectUEFI && !c.IPXE && c.Firmware == archdetect.FirmwareUEFI
	if proxyBinl {
		next = server
	}
	// One allocation for siaddr and option 54. Option values are set in
	// the map directly: the library's Opt* constructors allocate twice
	// per option.
	ips := make(net.IP, 8)
	n4, s4 := next.As4(), server.As4()
	copy(ips, n4[:])
	copy(ips[4:], s4[:])
	resp.ServerIPAddr = ips[:4:4]
	resp.Options[optServerID] = ips[4:8:8]
	resp.Options.Del(dhcpv4.OptionOptionOverload)

	resp.BootFileName = ""
	resp.Options.Del(dhcpv4.OptionBootfileName)
	if file != "" {
		if len(file) <= 127 {
			resp.BootFileName = file
		}
		resp.Options[dhcpv4.OptionBootfileName.Code()] = []byte(file)
	}
	if a.ServerName != "" {
		resp.ServerHostName = a.ServerName
		resp.Options[dhcpv4.OptionTFTPServerName.Code()] = []byte(a.ServerName)
	} else if optionRequested(req, dhcpv4.OptionTFTPServerName) && !http {
		resp.Options[dhcpv4.OptionTFTPServerName.Code()] = next.AppendTo(nil)
	}

	proxy := mode == ModeProxy || mode == ModeProxyAck
	resp.Options.Del(dhcpv4.OptionClassIdentifier)
	resp.Options.Del(dhcpv4.OptionVendorSpecificInformation)
	switch {
	case http:
		resp.Options[dhcpv4.OptionClassIdentifier.Code()] = []byte("HTTPClient")
	case pxe && (proxy || o.PXEClientInFull):
		resp.Options[dhcpv4.OptionClassIdentifier.Code()] = []byte("PXEClient")
		var v43 []byte
		if a.PXE != nil {
			var err error
			if v43, err = a.PXE.encode(); err != nil {
				return fmt.Errorf("dhcpboot: rule %q: %w", d.RuleName(), err)
			}
		} else if file != "" && !proxyBinl {
			v43 = minimalPXE43
		}
		if v43 != nil {
			resp.Options[dhcpv4.OptionVendorSpecificInformation.Code()] = v43
		}
		// iPXE PXEBS: echo the boot item the client asked for.
		if v, ok := findSub(req.Options.Get(dhcpv4.OptionVendorSpecificInformation), pxeBootItem); ok && len(v) == 4 {
			item := append([]byte{pxeBootItem, 4}, v...)
			old := resp.Options.Get(dhcpv4.OptionVendorSpecificInformation)
			if len(old) > 0 && old[len(old)-1] == pxeEnd {
				old = old[:len(old)-1]
			}
			nv := append(append(append([]byte(nil), old...), item...), pxeEnd)
			resp.Options[dhcpv4.OptionVendorSpecificInformation.Code()] = nv
		}
	case a.PXE != nil:
		// Non-PXE clients with explicit vendor sub-options (Raspberry Pi).
		v43, err := a.PXE.encode()
		if err != nil {
			return fmt.Errorf("dhcpboot: rule %q: %w", d.RuleName(), err)
		}
		if v43 != nil {
			resp.Options[dhcpv4.OptionVendorSpecificInformation.Code()] = v43
		}
	}

	if uuid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(uuid) > 0 {
		resp.Options[dhcpv4.OptionClientMachineIdentifier.Code()] = uuid
	}
	if c.IPXE && mode == ModeFull && !o.KeepIPXEProxyWait {
		resp.Options[dhcpv4.OptionEtherboot.Code()] = []byte{176, 1, 1}
	}
	if proxy {
		resp.YourIPAddr = net.IPv4zero
		for _, code := range []dhcpv4.OptionCode{
			dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
			dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue,
		} {
			resp.Options.Del(code)
		}
	}
	if a.PXELinux != nil {
		for _, opt := range a.PXELinux.options() {
			resp.Options[opt.Code] = opt.Value
		}
	}
	for _, opt := range a.Options {
		// A copy: the reply must not share memory with the frozen rule.
		resp.Options[opt.Code] = slices.Clone(opt.Value)
	}
	return nil
}

// optServerID is option 54's code.
var optServerID = dhcpv4.OptionServerIdentifier.Code()

// optionRequested reports what req.IsOptionRequested(code) reports,
// without parsing option 55 into a new list: true when the request has no
// parameter request list (RFC 2131 §3.5), else whether the list has code.
func optionRequested(req *dhcpv4.DHCPv4, code dhcpv4.OptionCode) bool {
	v := req.Options[dhcpv4.OptionParameterRequestList.Code()]
	return v == nil || bytes.IndexByte(v, code.Code()) >= 0
}

// ReplyAddr returns where a server on port 67 sends resp, the reply to req
// (RFC 2131 §4.1): the relay (giaddr:67) when relayed, else
// ciaddr:68 when the client has an address, else broadcast
// 255.255.255.255:68. (Unicast to yiaddr before the client has an address
// needs an ARP entry a UDP socket cannot add; broadcast works for every
// client.) A port-4011 reply goes to the request's source instead.
func ReplyAddr(req, resp *dhcpv4.DHCPv4) *net.UDPAddr {
	if gi := req.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() {
		return &net.UDPAddr{IP: gi, Port: dhcpv4.ServerPort}
	}
	if resp.MessageType() != dhcpv4.MessageTypeNak {
		if ci := req.ClientIPAddr.To4(); ci != nil && !ci.IsUnspecified() {
			return &net.UDPAddr{IP: ci, Port: dhcpv4.ClientPort}
		}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
