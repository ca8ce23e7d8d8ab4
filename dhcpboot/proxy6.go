package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit/archdetect"
)

// ProxyServer6 answers DHCPv6 beside the site's DHCPv6 server, which
// gives the addresses: to a UEFI HTTP boot client's Solicit (vendor class
// 343 "HTTPClient") it sends an Advertise with the boot URL (option 59) and
// the vendor class echoed, and no IA_NA. It keeps no state.
//
// What real firmware does with such a boot-only Advertise, from their
// sources (EDK2 edk2-stable202211, iPXE 1.0.0+git-20190125.36a4c85):
//
//   - EDK2 HTTP boot takes it: HttpBootParseDhcp6Packet (NetworkPkg/
//     HttpBootDxe/HttpBootDhcp6.c) calls an offer without IA_NA a proxy
//     offer, HTTPClient with an IP-literal URL makes it
//     HttpOfferTypeProxyIpUri, and HttpBootSelectDhcpOffer (HttpBootDhcp4.c)
//     pairs it with the site server's address-only offer (DhcpOnly or
//     DhcpDns + ProxyIpUri): the client requests its address from the site
//     server and fetches the proxy's URL.
//   - EDK2 PXE over IPv6 takes it only to ask again: PxeBcSelectDhcp6Offer
//     pairs DhcpOnly with ProxyBinl, and PxeBcRequestBootService
//     (NetworkPkg/UefiPxeBcDxe/PxeBcDhcp6.c) then sends a Request to the
//     proxy's address on port 4011 for the boot file. ProxyServer6 does not
//     serve port 4011, so it does not answer PXEClient.
//   - iPXE ignores it: in stateful DHCPv6 (RA M flag) dhcpv6_rx (src/net/
//     udp/dhcpv6.c) takes the first Advertise with a usable IAADDR and its
//     settings from that server's Reply only; in stateless DHCPv6 (O flag)
//     it takes the first Reply to its Information-request, which the site
//     server also answers, so a second answer would race it. ProxyServer6
//     answers neither iPXE nor Information-requests.
//
// RFC 8415 §18.2.9 has clients ignore an Advertise without addresses, so
// other clients are not disturbed. It has net/http's server shape, like
// [LabServer6].
type ProxyServer6 struct {
	// Policy decides; nil answers nobody. PolicyFunc, when set, gives the
	// policy for each request in place of Policy.
	Policy     *Policy
	PolicyFunc func() *Policy
	// Interface is the interface to serve; ListenAndServe requires it.
	Interface string
	// ServerIP is the server's IPv6 address, used in boot URLs; required,
	// not link-local.
	ServerIP netip.Addr
	// ServerID is the server DUID; nil derives one from ServerIP.
	ServerID dhcpv6.DUID
	// Classify overrides the DHCPv6 classifier.
	Classify func(dhcpv6.DHCPv6) archdetect.Client
	// OnReply and OnInvalid are the hooks of [LabServer6].
	OnReply   func(Exchange6)
	OnInvalid func(Invalid)
	// Logger gets debug records per message; nil logs nothing.
	Logger *slog.Logger

	once    sync.Once
	initErr error
	h       *Responder6
	life    lifecycle
}

// ErrNotHTTPClient is why ProxyServer6 leaves a client alone: it did not
// send vendor class 343 "HTTPClient" (see [ProxyServer6]).
var ErrNotHTTPClient = errors.New("dhcpboot: DHCPv6 proxy answers UEFI HTTP boot clients only")

// Init checks the configuration, once; Serve and Reply call it on first
// use.
func (s *ProxyServer6) Init() error {
	s.once.Do(func() {
		if s.initErr = checkServerIP6("ProxyServer6.ServerIP", s.ServerIP); s.initErr != nil {
			return
		}
		s.h = &Responder6{Policy: s.Policy, PolicyFunc: s.PolicyFunc, ServerIP: s.ServerIP, ServerID: s.ServerID, Classify: s.Classify, Logger: s.Logger}
	})
	return s.initErr
}

// Reply handles one DHCPv6 message (relayed or not) that arrived as a
// says: a Solicit of a UEFI HTTP boot client gets a boot-only Advertise
// (even when it asks for Rapid Commit: a proxy never binds), anything else
// nothing, and x.NoReply says why.
func (s *ProxyServer6) Reply(m dhcpv6.DHCPv6, a Arrival) Exchange6 {
	x := Exchange6{Peer: a.Peer, Interface: a.Interface, Request: m}
	resp, r, d, err := s.reply(m, a)
	x.Reply, x.Boot, x.Decision = resp, r, d
	if err != nil {
		x.NoReply = noReply(err, d)
	}
	return x
}

func (s *ProxyServer6) reply(m dhcpv6.DHCPv6, a Arrival) (dhcpv6.DHCPv6, *Request, Decision, error) {
	if err := s.Init(); err != nil {
		return nil, nil, Decision{}, err
	}
	in, err := m.GetInnerMessage()
	if err != nil {
		return nil, nil, Decision{}, fmt.Errorf("dhcpboot: %w", err)
	}
	if in.Type() != dhcpv6.MessageTypeSolicit {
		return nil, nil, Decision{}, fmt.Errorf("%w: %s (a DHCPv6 proxy answers Solicit only)", ErrMessageType, in.Type())
	}
	r, d := s.h.Decide(m, a)
	switch {
	case !httpClient6(in):
		return nil, r, d, ErrNotHTTPClient
	case !d.Boot():
		return nil, r, d, fmt.Errorf("%w (%s)", ErrNoBoot, d.Why)
	}
	// Always an Advertise, even to a Solicit with Rapid Commit: a proxy
	// gives no address, so it must never send the Reply that binds one.
	resp, err := dhcpv6.NewAdvertiseFromSolicit(in)
	if err != nil {
		return nil, r, d, fmt.Errorf("dhcpboot: %w", err)
	}
	resp.AddOption(dhcpv6.OptServerID(s.h.serverID()))
	if err := Apply6(d, r, in, resp, s.h.Options); err != nil {
		return nil, r, d, err
	}
	out, err := wrapRelay6(m, resp)
	return out, r, d, err
}

// httpClient6 reports whether m carries vendor class 343 "HTTPClient…".
func httpClient6(m *dhcpv6.Message) bool {
	for _, vc := range m.Options.VendorClass(enterprisePXE) {
		if len(vc) >= 10 && string(vc[:10]) == "HTTPClient" {
			return true
		}
	}
	return false
}

// ListenAndServe serves DHCPv6 on Interface until Shutdown or Close, then
// returns [ErrServerClosed].
func (s *ProxyServer6) ListenAndServe() error {
	return listenAndServe("ProxyServer6", s.Interface, s.Init, ListenUDP6, s.Serve)
}

// Serve answers on conn (see [ListenUDP6]) until Shutdown or Close, then
// returns [ErrServerClosed]; it returns another error when the
// configuration is invalid or reading fails. Serve owns conn and closes it
// on return.
func (s *ProxyServer6) Serve(conn net.PacketConn) error {
	log := s.logger()
	return s.life.serve(conn, s.Init, log, func(b []byte, peer net.Addr) {
		if m := decode6(b, peer, s.Interface, s.OnInvalid, log); m != nil {
			finish6(conn, s.Reply(m, Arrival{Interface: s.Interface, Peer: addrPortOf(peer)}), peer, s.OnReply, log)
		}
	})
}

// Shutdown stops the server reading and waits for the requests being
// handled, or until ctx ends (then it returns ctx.Err()).
func (s *ProxyServer6) Shutdown(ctx context.Context) error { return s.life.shutdown(ctx) }

// Close stops the server at once: it closes its socket.
func (s *ProxyServer6) Close() error { return s.life.close() }

// logger returns s.Logger, or a logger that discards everything when it
// is nil.
func (s *ProxyServer6) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
