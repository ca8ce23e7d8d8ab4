package dhcpboot

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newLab(t testing.TB, leaseFile string, clock *fakeClock) *LabServer4 {
	t.Helper()
	p, err := DefaultPolicy(DefaultConfig{ScriptURL: "http://{{server}}/boot.ipxe?mac={{mac_hyphen}}&arch={{arch}}"})
	if err != nil {
		t.Fatal(err)
	}
	return &LabServer4{
		Policy:   p,
		ServerIP: netip.MustParseAddr("10.99.0.1"),
		Subnets: []Subnet{{
			Prefix:       netip.MustParsePrefix("10.99.0.0/24"),
			RangeStart:   netip.MustParseAddr("10.99.0.100"),
			RangeEnd:     netip.MustParseAddr("10.99.0.102"),
			Router:       netip.MustParseAddr("10.99.0.1"),
			DNS:          []netip.Addr{netip.MustParseAddr("10.99.0.53")},
			LeaseTime:    10 * time.Minute,
			Reservations: []Reservation{{MAC: mustMAC("52:54:00:77:00:0a"), IP: netip.MustParseAddr("10.99.0.10")}},
		}},
		LeaseFile: leaseFile,
		Now:       clock.Now,
	}
}

// respond4 is [LabServer4.Reply] for an unrelayed request, in the shape
// tests read best: the reply, or an error saying why there is none
// (nil, nil for a RELEASE or DECLINE, which get no reply by protocol).
func respond4(s *LabServer4, m *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	x := s.Reply(m, Arrival{})
	switch {
	case x.Reply != nil:
		return x.Reply, nil
	case x.Err != nil:
		return nil, x.Err
	case x.NoReply == "RELEASE gets no reply" || x.NoReply == "DECLINE gets no reply":
		return nil, nil
	}
	return nil, errors.New(x.NoReply)
}

// dora runs DISCOVER/OFFER/REQUEST/ACK for req (a captured DISCOVER).
func dora(t *testing.T, s *LabServer4, discover *dhcpv4.DHCPv4) (offer, ack *dhcpv4.DHCPv4) {
	t.Helper()
	offer, err := respond4(s, discover)
	if err != nil {
		t.Fatalf("DISCOVER: %v", err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("got %v", offer.MessageType())
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClassIdentifier, []byte(discover.ClassIdentifier()))),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, discover.Options.Get(dhcpv4.OptionClientSystemArchitectureType))))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionUserClassInformation, dhcpv4.OptionEtherboot, dhcpv4.OptionClientMachineIdentifier} {
		if v := discover.Options.Get(code); v != nil {
			req.UpdateOption(dhcpv4.OptGeneric(code, v))
		}
	}
	ack, err = respond4(s, req)
	if err != nil {
		t.Fatalf("REQUEST: %v", err)
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("ACK %v for %v", ack.Summary(), offer.YourIPAddr)
	}
	return offer, ack
}

func TestLabServerBootsCapturedClients(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	s := newLab(t, "", clock)
	tests := []struct {
		capture string
		frame   int
		ip      string
		file    string
		class   string
	}{
		{"bios-ipxe-rom-http.pcapng", 1, "10.99.0.10", "http://10.99.0.1/boot.ipxe?mac=52-54-00-77-00-0a&arch=0", ""},
		{"ovmf-pxe-tftp-ipxe-efi.pcapng", 1, "10.99.0.100", "ipxe.efi", ""},
		{"ovmf-pxe-tftp-ipxe-efi.pcapng", 1175, "10.99.0.100", "http://10.99.0.1/boot.ipxe?mac=52-54-00-77-00-0b&arch=7", ""}, // same address in stage 2
		{"ovmf-httpboot-ipxe-efi.pcapng", 1, "10.99.0.101", "http://10.99.0.1/ipxe.efi", "HTTPClient"},
		{"bios-ipxe-rom-tftp-undionly-chain.pcapng", 1, "10.99.0.102", "http://10.99.0.1/boot.ipxe?mac=52-54-00-77-00-0c&arch=0", ""},
	}
	for _, tt := range tests {
		offer, ack := dora(t, s, captureRequest(t, tt.capture, tt.frame))
		for _, m := range []*dhcpv4.DHCPv4{offer, ack} {
			if m.YourIPAddr.String() != tt.ip {
				t.Errorf("%s/%d: %v got %v, want %s", tt.capture, tt.frame, m.MessageType(), m.YourIPAddr, tt.ip)
			}
			if m.BootFileNameOption() != tt.file || (len(tt.file) <= 127 && m.BootFileName != tt.file) {
				t.Errorf("%s/%d: %v file %q / %q, want %q", tt.capture, tt.frame, m.MessageType(), m.BootFileName, m.BootFileNameOption(), tt.file)
			}
			if m.ClassIdentifier() != tt.class || !m.ServerIPAddr.Equal(net.IPv4(10, 99, 0, 1)) {
				t.Errorf("%s/%d: class %q siaddr %v", tt.capture, tt.frame, m.ClassIdentifier(), m.ServerIPAddr)
			}
			if m.Router()[0].String() != "10.99.0.1" || m.DNS()[0].String() != "10.99.0.53" || m.IPAddressLeaseTime(0) != 10*time.Minute {
				t.Errorf("address options: %s", m.Summary())
			}
		}
	}
	// The OVMF PXE MAC kept .100 through PXE and iPXE; HTTP boot (its own
	// MAC) and the undionly chain took the other two: the range (3
	// addresses) is full.
	extra, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:99"))
	if _, err := respond4(s, extra); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Errorf("full range: %v", err)
	}
	// After the leases expire, it gets one.
	clock.t = clock.t.Add(11 * time.Minute)
	if o, err := respond4(s, extra); err != nil || !s.Subnets[0].Prefix.Contains(addrOf(o.YourIPAddr)) {
		t.Errorf("after expiry: %v %v", o, err)
	}
}

func TestLabServerRequestRules(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	s := newLab(t, "", clock)
	mac := mustMAC("02:00:00:00:00:01")
	disc, _ := dhcpv4.NewDiscovery(mac)
	offer, err := respond4(s, disc)
	if err != nil {
		t.Fatal(err)
	}
	if offer.BootFileName != "" || offer.Options.Has(dhcpv4.OptionBootfileName) {
		t.Error("plain client got boot data")
	}
	// Wrong address: NAK.
	bad, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 99, 0, 77))))
	if nak, err := respond4(s, bad); err != nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("wrong address: %v %v", nak, err)
	}
	// For another server: ignored, and the held offer released.
	other, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 2))))
	if r, err := respond4(s, other); r != nil || err == nil {
		t.Errorf("other server's REQUEST answered: %v", r)
	}
	if len(s.Leases()) != 0 {
		t.Errorf("held offer kept: %v", s.Leases())
	}
	// INIT-REBOOT for an address outside our subnet: silence.
	reboot, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 168, 1, 5))))
	if r, err := respond4(s, reboot); r != nil || err == nil {
		t.Errorf("foreign INIT-REBOOT answered: %v", r)
	}
	// Relayed from another subnet: ignored.
	relayed, _ := dhcpv4.NewDiscovery(mac)
	relayed.GatewayIPAddr = net.IPv4(10, 50, 0, 1)
	if r, err := respond4(s, relayed); r != nil || err == nil {
		t.Error("foreign relay answered")
	}
	// Relayed from our subnet: answered to the relay.
	relayed.GatewayIPAddr = net.IPv4(10, 99, 0, 254)
	r, err := respond4(s, relayed)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReplyAddr(relayed, r).String(); got != "10.99.0.254:67" || !r.GatewayIPAddr.Equal(relayed.GatewayIPAddr) {
		t.Errorf("relay reply to %s, giaddr %v", got, r.GatewayIPAddr)
	}
	// INFORM: boot data without an address.
	inf, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(net.IPv4(10, 99, 0, 100)))
	if a, err := respond4(s, inf); err != nil || !a.YourIPAddr.IsUnspecified() || a.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Errorf("INFORM: %v %v", a, err)
	}
	// A reply message or a garbage type: errors, no panic.
	offer.OpCode = dhcpv4.OpcodeBootReply
	if _, err := respond4(s, offer); err == nil || !strings.Contains(err.Error(), "not a BOOTREQUEST") {
		t.Errorf("reply: %v", err)
	}
	// Ignore rule: nothing at all.
	s2 := newLab(t, "", clock)
	s2.Policy = MustNewPolicy(Rule{Name: "vmware", Match: Match{MAC: []MACPattern{MustParseMACPattern("02:00:00")}}, Action: Action{Ignore: true}})
	if r, err := respond4(s2, disc); r != nil || err == nil || !strings.Contains(err.Error(), "vmware") {
		t.Errorf("ignored client answered: %v %v", r, err)
	}
}

func TestLabServerLeaseFileSurvivesRestart(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "leases")
	s := newLab(t, file, clock)
	a, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	b, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	_, ackA := dora(t, s, a)
	_, ackB := dora(t, s, b)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "02:00:00:00:00:02 10.99.0.101 2026-11-22T08:10:00Z") {
		t.Errorf("lease file:\n%s", data)
	}
	// Restart, ask in the other order: each keeps its address.
	s2 := newLab(t, file, clock)
	_, ackB2 := dora(t, s2, b)
	_, ackA2 := dora(t, s2, a)
	if !ackA2.YourIPAddr.Equal(ackA.YourIPAddr) || !ackB2.YourIPAddr.Equal(ackB.YourIPAddr) {
		t.Errorf("addresses moved: %v,%v -> %v,%v", ackA.YourIPAddr, ackB.YourIPAddr, ackA2.YourIPAddr, ackB2.YourIPAddr)
	}
	// RELEASE removes it from the file.
	rel, _ := dhcpv4.New(dhcpv4.WithHwAddr(a.ClientHWAddr), dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithClientIP(ackA2.YourIPAddr))
	if r, err := respond4(s2, rel); r != nil || err != nil {
		t.Fatalf("release: %v %v", r, err)
	}
	data, _ = os.ReadFile(file)
	if ls, err := ParseLeases(bytes.NewReader(data)); err != nil || len(ls) != 1 || ls[0].MAC.String() != "02:00:00:00:00:02" {
		t.Errorf("released lease still in file (%v):\n%s", err, data)
	}
	// A lease file that is not a file is an error at start, not a silent reset.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(file, 0o755); err != nil {
		t.Fatal(err)
	}
	s3 := newLab(t, file, clock)
	if _, err := respond4(s3, a); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("lease file is a directory: %v", err)
	}
}

func TestLabServerConfigErrors(t *testing.T) {
	clock := &fakeClock{}
	for name, mod := range map[string]func(*LabServer4){
		"no server":     func(s *LabServer4) { s.ServerIP = netip.Addr{} },
		"no subnet":     func(s *LabServer4) { s.Subnets[0].Prefix = netip.Prefix{} },
		"range outside": func(s *LabServer4) { s.Subnets[0].RangeEnd = netip.MustParseAddr("10.98.0.1") },
		"range reverse": func(s *LabServer4) {
			s.Subnets[0].RangeStart, s.Subnets[0].RangeEnd = s.Subnets[0].RangeEnd, s.Subnets[0].RangeStart
		},
		"huge range": func(s *LabServer4) {
			s.Subnets[0].Prefix = netip.MustParsePrefix("10.0.0.0/8")
			s.Subnets[0].RangeStart, s.Subnets[0].RangeEnd = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.255.0.0")
		},
		"reservation outside": func(s *LabServer4) { s.Subnets[0].Reservations[0].IP = netip.MustParseAddr("10.1.1.1") },
	} {
		s := newLab(t, "", clock)
		mod(s)
		d, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
		if _, err := respond4(s, d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseLeases(t *testing.T) {
	in := "# c\n\n02:00:00:00:00:01 10.0.0.5 2026-11-22T08:00:00Z\n02:00:00:00:00:01 10.0.0.6 2026-11-22T09:00:00+01:00\n"
	ls, err := ParseLeases(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].IP.String() != "10.0.0.6" || !ls[0].Expiry.Equal(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("%+v", ls)
	}
	for _, bad := range []string{"x", "02:00:00:00:00:01 10.0.0.5", "zz 10.0.0.5 2026-11-22T08:00:00Z",
		"02:00:00:00:00:01 ::1 2026-11-22T08:00:00Z", "02:00:00:00:00:01 10.0.0.5 yesterday", strings.Repeat("a", 5000),
		"02:00:00:00:00:01 10.0.0.5 0000-01-01T00:00:00+01:00", "02:00:00:00:00:01 10.0.0.5 9999-12-31T23:00:00-02:00"} {
		if _, err := ParseLeases(strings.NewReader(bad)); !errors.Is(err, ErrLeaseFile) {
			t.Errorf("%.20q: %v", bad, err)
		}
	}
}

func FuzzParseLeases(f *testing.F) {
	f.Add([]byte("02:00:00:00:00:01 10.0.0.5 2026-11-22T08:00:00Z\n"))
	f.Add([]byte("# x\n\n52-54-00-77-00-0a 10.99.0.10 2026-01-01T00:00:00+02:00\n"))
	f.Add([]byte("02:00:00:00:00:01 10.0.0.5 2026-11-22T08:00:00Z\n02:00:00:00:00:01 10.0.0.5 -\n"))
	f.Add([]byte("a0:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:ff 10.0.0.6 2026-11-22T08:00:00Z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := ParseLeases(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteLeases(&buf, ls); err != nil {
			t.Fatal(err)
		}
		back, err := ParseLeases(&buf)
		if err != nil || len(back) != len(ls) {
			t.Fatalf("round trip: %v (%d vs %d)", err, len(back), len(ls))
		}
		want := map[string]Lease{}
		for _, l := range ls {
			want[l.MAC.String()] = l
		}
		for _, l := range back {
			w, ok := want[l.MAC.String()]
			if !ok || w.IP != l.IP || !w.Expiry.Equal(l.Expiry) {
				t.Fatalf("round trip changed lease %v: %+v, was %+v", l.MAC, l, w)
			}
		}
	})
}

// FuzzReadLeases: reading a lease file that may hold bad lines (as a server
// does at start) never fails below the line cap, reports every line it
// drops with its number, and what it keeps writes out and reads back
// strictly.
func FuzzReadLeases(f *testing.F) {
	f.Add([]byte("02:00:00:00:00:01 10.0.0.5 2026-11-22T08:00:00Z\ngarbage\n02:00:00:00:00:02 10.0.0.6 -\n"))
	f.Add([]byte("02:00:00:00:00:01 10.0.0.5 2026-11-22T08:00:00Z trailing\n\x00\xff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		last := 0
		ls, err := ReadLeases(bytes.NewReader(data), func(line int, err error) {
			if line <= last || err == nil {
				t.Fatalf("bad line %d (after %d) reported with error %v", line, last, err)
			}
			last = line
		})
		if err != nil {
			if bytes.Count(data, []byte("\n")) < maxLeaseLines {
				t.Fatalf("ReadLeases failed below the line cap: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteLeases(&buf, ls); err != nil {
			t.Fatalf("kept leases cannot be written: %v", err)
		}
		if back, err := ParseLeases(&buf); err != nil || len(back) != len(ls) {
			t.Fatalf("kept leases do not read back: %v (%d vs %d)", err, len(back), len(ls))
		}
	})
}

func TestLabServerSkipsSpecialAddresses(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	s := newLab(t, "", clock)
	s.Subnets[0].Prefix = netip.MustParsePrefix("10.99.0.0/30")
	s.ServerIP, s.Subnets[0].Router, s.Subnets[0].Reservations = netip.MustParseAddr("10.99.0.1"), netip.Addr{}, nil
	s.Subnets[0].RangeStart, s.Subnets[0].RangeEnd = netip.MustParseAddr("10.99.0.0"), netip.MustParseAddr("10.99.0.3")
	var got []string
	for i := range 3 {
		d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 1, byte(i)})
		o, err := respond4(s, d)
		if err != nil {
			got = append(got, "none")
			continue
		}
		got = append(got, o.YourIPAddr.String())
	}
	// .0 network, .1 server, .3 broadcast: only .2 is given.
	if strings.Join(got, " ") != "10.99.0.2 none none" {
		t.Errorf("got %v", got)
	}
}
