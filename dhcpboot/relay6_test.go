package dhcpboot

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// relayForw wraps m in a Relay-forward with the given hop count, link and
// peer addresses, interface-id and (when non-nil) remote-id.
func relayForw(t *testing.T, m dhcpv6.DHCPv6, hops uint8, link, peer string, ifid []byte, rid *dhcpv6.OptRemoteID) *dhcpv6.RelayMessage {
	t.Helper()
	rm, err := dhcpv6.EncapsulateRelay(m, dhcpv6.MessageTypeRelayForward, net.ParseIP(link), net.ParseIP(peer))
	if err != nil {
		t.Fatal(err)
	}
	rm.HopCount = hops
	rm.AddOption(dhcpv6.OptInterfaceID(ifid))
	if rid != nil {
		rm.AddOption(rid)
	}
	return rm
}

// checkRelayRepl checks that got, the answer to fw, is a Relay-reply of the
// same nesting: hop count, link and peer addresses, interface-id and
// remote-id copied at each level (RFC 8415 §19.3, §21.18; RFC 4649 §3).
func checkRelayRepl(t *testing.T, fw, got dhcpv6.DHCPv6) {
	t.Helper()
	for level := 0; fw.IsRelay(); level++ {
		f := fw.(*dhcpv6.RelayMessage)
		r, ok := got.(*dhcpv6.RelayMessage)
		if !ok || r.Type() != dhcpv6.MessageTypeRelayReply {
			t.Fatalf("level %d: answer %v is not a Relay-reply", level, got)
		}
		if r.HopCount != f.HopCount || !r.LinkAddr.Equal(f.LinkAddr) || !r.PeerAddr.Equal(f.PeerAddr) {
			t.Errorf("level %d: hop %d link %v peer %v; want %d %v %v", level, r.HopCount, r.LinkAddr, r.PeerAddr, f.HopCount, f.LinkAddr, f.PeerAddr)
		}
		for _, code := range []dhcpv6.OptionCode{dhcpv6.OptionInterfaceID, dhcpv6.OptionRemoteID} {
			in, out := f.GetOneOption(code), r.GetOneOption(code)
			switch {
			case in == nil && out != nil:
				t.Errorf("level %d: option %v in the reply, not in the request", level, code)
			case in != nil && (out == nil || !bytes.Equal(in.ToBytes(), out.ToBytes())):
				t.Errorf("level %d: option %v = %v, want %v echoed", level, code, out, in)
			}
		}
		fw = f.Options.RelayMessage()
		got = r.Options.RelayMessage()
	}
	if got == nil || got.IsRelay() {
		t.Fatalf("innermost answer %v is not a client message", got)
	}
}

// TestRelay6ReplyMirrorsForward: a twice-relayed Solicit, with hop counts a
// relay chose, interface-ids and a remote-id, gets a Relay-reply of the
// same shape from both Responder6 and LabServer6, and the innermost link
// address (the client's link) is what RelayNet rules see.
func TestRelay6ReplyMirrorsForward(t *testing.T) {
	sol := captureSolicit(t)
	inner := relayForw(t, sol, 3, "fd00:98::1", "fe80::5054:ff:fe77:b", []byte("eth1"), &dhcpv6.OptRemoteID{EnterpriseNumber: 9, RemoteID: []byte("port7")})
	outer := relayForw(t, inner, 4, "fd00:1::1", "fd00:98::1", []byte("uplink"), nil)
	p := MustNewPolicy(
		Rule{Name: "client-link", Match: Match{RelayNet: []netip.Prefix{netip.MustParsePrefix("fd00:98::/64")}}, Action: Action{BootFile: lit("inner.efi")}},
		Rule{Name: "other", Action: Action{BootFile: lit("outer.efi")}},
	)
	h := &Responder6{Policy: p, ServerIP: testServer6}
	lab := &LabServer6{Policy: p, ServerIP: testServer6, RangeStart: netip.MustParseAddr("fd00:98::100"), RangeEnd: netip.MustParseAddr("fd00:98::1ff")}
	for name, answer := range map[string]func() (dhcpv6.DHCPv6, Decision, error){
		"Responder6": func() (dhcpv6.DHCPv6, Decision, error) {
			resp, _, d, err := h.Reply(outer, Arrival{})
			return resp, d, err
		},
		"LabServer6": func() (dhcpv6.DHCPv6, Decision, error) {
			x := lab.Reply(outer, Arrival{})
			if x.Reply == nil {
				return nil, x.Decision, errString(x.NoReply)
			}
			return x.Reply, x.Decision, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			resp, d, err := answer()
			if err != nil {
				t.Fatal(err)
			}
			if d.RuleName() != "client-link" {
				t.Errorf("decision %v; want rule client-link (innermost link address fd00:98::1)", d)
			}
			checkRelayRepl(t, outer, resp)
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
