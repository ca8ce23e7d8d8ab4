package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxekit/pxekit/archdetect"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/pcaptest"
)

// decided is the rule and boot file of one pxedump -json line.
type decided struct {
	Frame    int    `json:"frame"`
	Rule     string `json:"rule"`
	Bootfile string `json:"bootfile"`
}

// policyView is what dhcpboot's default policy decides for the client
// messages of a capture, in frame order, computed here from the packets
// without pxedump's code: the rule's name and its boot file, as a template
// when server is invalid, else expanded for server.
func policyView(t *testing.T, name string, server netip.Addr) []decided {
	t.Helper()
	policy, err := dhcpboot.DefaultPolicy(dhcpboot.DefaultConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []decided
	for _, p := range pcaptest.Read(t, name) {
		if !p.UDP {
			continue
		}
		var c archdetect.Client
		switch p.Dst.Port() {
		case 67:
			m, err := dhcpv4.FromBytes(p.Payload)
			if err != nil || m.OpCode != dhcpv4.OpcodeBootRequest {
				continue
			}
			c = archdetect.FromDHCPv4(m)
		case 547:
			m, err := dhcpv6.FromBytes(p.Payload)
			if err != nil || !fromClient(m) {
				continue
			}
			c = archdetect.FromDHCPv6(m)
		default:
			continue
		}
		r := dhcpboot.Request{Client: c, ServerIP: server}
		d := policy.Decide(&r)
		v := decided{Frame: p.Frame}
		if d.Boot() {
			v.Rule = d.RuleName()
			if server.IsValid() {
				v.Bootfile = d.BootFile().Expand(&r)
			} else {
				v.Bootfile = d.BootFile().String()
			}
		}
		out = append(out, v)
	}
	return out
}

// TestBootfileIsDefaultPolicy checks that pxedump prints, for every client
// message of every capture, the rule and boot file dhcpboot's default
// policy (the one pxeserver is built on) decides: it keeps no boot-file
// table of its own that could disagree.
func TestBootfileIsDefaultPolicy(t *testing.T) {
	server := netip.MustParseAddr("10.77.0.1")
	for _, tc := range captures {
		for _, srv := range []netip.Addr{{}, server} {
			t.Run(fmt.Sprintf("%s/server=%v", tc.file, srv), func(t *testing.T) {
				args := []string{"-json", captureFile(t, tc.file)}
				if srv.IsValid() {
					args = append([]string{"-server", srv.String()}, args...)
				}
				code, out, errOut := runCmd(t, nil, args...)
				if code != 0 {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				var got []decided
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					var d decided
					if err := json.NewDecoder(bytes.NewReader([]byte(l))).Decode(&d); err != nil {
						t.Fatalf("bad line %q: %v", l, err)
					}
					got = append(got, d)
				}
				want := policyView(t, tc.file, srv)
				if len(got) != len(want) {
					t.Fatalf("%d lines, the policy sees %d client messages", len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("frame %d: pxedump says %+v, dhcpboot's default policy decides %+v", want[i].Frame, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestUBootLine checks pxedump's line for U-Boot's DHCPDISCOVER (arch 22,
// option 60 "U-Boot.armv8", as Debian's qemu_arm64 U-Boot sends it): the
// "uboot" rule boots it with a PXELINUX config file, and no boot file.
func TestUBootLine(t *testing.T) {
	m, err := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x21},
		dhcpv4.WithOption(dhcpv4.OptClientArch(22)),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 0, 0})),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("U-Boot.armv8")))
	if err != nil {
		t.Fatal(err)
	}
	in := bytes.NewReader(pcapOf(t, udpFrame(t, 68, 67, m.ToBytes())))
	code, out, errOut := runCmd(t, in, "-server", "10.77.0.1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "arch=22 (arm 64 uboot) uboot/arm64/pxe vc=\"U-Boot.armv8\" undi=0.0 -> uboot"; !strings.Contains(out, want) || !strings.HasSuffix(strings.TrimSpace(out), "-> uboot") {
		t.Errorf("line %q, want it to hold %q and end there", out, want)
	}
}

func TestBadServerFlag(t *testing.T) {
	code, _, errOut := runCmd(t, nil, "-server", "10.77.0", "-")
	if code != 2 || !strings.Contains(errOut, "-server") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming -server", code, errOut)
	}
}
