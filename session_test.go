package pxekit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit/archdetect"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

func testIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// firmware and ipxe are the archdetect readings of a firmware's and iPXE's
// DHCP request from machine i.
func firmware(i int) archdetect.Client {
	return archdetect.Client{Source: archdetect.SourceDHCPv4, MAC: testMAC(i), Firmware: archdetect.FirmwareBIOS}
}

func ipxeClient(i int) archdetect.Client {
	c := firmware(i)
	c.IPXE = true
	return c
}

// step is one observation and what it must return.
type step struct {
	name string
	do   func(t *Sessions) (Session, StageChange, bool)
	want StageChange
	ok   bool
}

func dhcpStep(name string, o DHCPObservation, want StageChange) step {
	return step{name, func(t *Sessions) (Session, StageChange, bool) { return t.ObserveDHCP(o) }, want, true}
}

func fetchStep(name string, o FetchObservation, want StageChange, ok bool) step {
	return step{name, func(t *Sessions) (Session, StageChange, bool) { return t.ObserveFetch(o) }, want, ok}
}

func ipxeStep(name string, ip netip.Addr, c archdetect.Client, want StageChange, ok bool) step {
	return step{name, func(t *Sessions) (Session, StageChange, bool) { return t.ObserveIPXE(ip, c) }, want, ok}
}

func change(from, to Stage) StageChange { return StageChange{From: from, To: to} }

func TestSessionsBootFlows(t *testing.T) {
	ip := testIP(5)
	none := StageChange{}
	// at is the time sec seconds after the fake clock's start (each step
	// moves it one second before it runs).
	at := func(sec float64) time.Time {
		return newFakeClock().Now().Add(time.Duration(sec * float64(time.Second)))
	}
	tests := []struct {
		name      string
		steps     []step
		wantStage Stage
		wantBoots int
	}{
		{"lab mode BIOS to kernel, then a reboot", []step{
			dhcpStep("firmware discover", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true, Rule: "bios"}, change(StageUnknown, StageDHCP)),
			dhcpStep("firmware request", DHCPObservation{Client: firmware(1), IP: ip, Sent: true, Rule: "bios"}, none),
			fetchStep("tsize probe", FetchObservation{IP: ip, Kind: FetchBootFile, Path: "undionly.kpxe", Failed: true}, none, true),
			fetchStep("boot file", FetchObservation{IP: ip, Kind: FetchBootFile, Path: "undionly.kpxe", Bytes: 70000}, change(StageDHCP, StageBootFile), true),
			dhcpStep("ipxe discover", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true}, change(StageBootFile, StageIPXE)),
			dhcpStep("ipxe retransmits", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true}, none),
			fetchStep("script", FetchObservation{IP: ip, Kind: FetchScript, Path: "/boot.ipxe"}, change(StageIPXE, StageScript), true),
			fetchStep("other file", FetchObservation{IP: ip, Kind: FetchOther, Path: "/splash.png"}, none, true),
			fetchStep("kernel", FetchObservation{IP: ip, Kind: FetchKernel, Path: "/vmlinuz"}, change(StageScript, StageKernel), true),
			fetchStep("initrd", FetchObservation{IP: ip, Kind: FetchKernel, Path: "/initrd"}, none, true),
			fetchStep("boot file again", FetchObservation{IP: ip, Kind: FetchBootFile, Path: "undionly.kpxe"}, none, true),
			dhcpStep("reboot", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true}, StageChange{From: StageKernel, To: StageDHCP, NewBoot: true}),
		}, StageDHCP, 2},
		{"proxy mode: no IP until the port 4011 request", []step{
			dhcpStep("discover", DHCPObservation{Client: firmware(1), Discover: true, Sent: true}, change(StageUnknown, StageDHCP)),
			fetchStep("fetch from an unknown IP", FetchObservation{IP: ip, Kind: FetchBootFile}, none, false),
			dhcpStep("4011 request with ciaddr", DHCPObservation{Client: firmware(1), IP: ip, Sent: true}, none),
			fetchStep("boot file", FetchObservation{IP: ip, Kind: FetchBootFile}, change(StageDHCP, StageBootFile), true),
		}, StageBootFile, 1},
		{"DHCP not ours: the iPXE query ties the IP", []step{
			fetchStep("script from unknown IP", FetchObservation{IP: ip, Kind: FetchScript}, none, false),
			ipxeStep("no mac, unknown IP", ip, archdetect.Client{Source: archdetect.SourceHTTP}, none, false),
			ipxeStep("boot.ipxe?mac=", ip, archdetect.Client{Source: archdetect.SourceHTTP, MAC: testMAC(1), IPXE: true}, change(StageUnknown, StageIPXE), true),
			fetchStep("script", FetchObservation{IP: ip, Kind: FetchScript}, change(StageIPXE, StageScript), true),
			ipxeStep("machine script by IP", ip, archdetect.Client{Source: archdetect.SourceHTTP}, none, true),
		}, StageScript, 1},
		{"iPXE in ROM: every boot starts at StageIPXE", []step{
			dhcpStep("ipxe discover", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true}, change(StageUnknown, StageIPXE)),
			fetchStep("kernel", FetchObservation{IP: ip, Kind: FetchKernel}, change(StageIPXE, StageKernel), true),
			dhcpStep("ipxe request is no new boot", DHCPObservation{Client: ipxeClient(1), IP: ip, Sent: true}, none),
			dhcpStep("ipxe discover: new boot", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true}, StageChange{From: StageKernel, To: StageIPXE, NewBoot: true}),
		}, StageIPXE, 2},
		{"a DISCOVER observed after the machine moved on is no new boot", []step{
			dhcpStep("firmware discover", DHCPObservation{Client: firmware(1), Discover: true, Sent: true, Arrived: at(0.9)}, change(StageUnknown, StageDHCP)),
			dhcpStep("4011 request", DHCPObservation{Client: firmware(1), IP: ip, Sent: true, Arrived: at(1.9)}, none),
			fetchStep("boot file", FetchObservation{IP: ip, Kind: FetchBootFile}, change(StageDHCP, StageBootFile), true),
			dhcpStep("ipxe request, its discover not yet observed", DHCPObservation{Client: ipxeClient(1), IP: ip, Sent: true, Arrived: at(3.9)}, change(StageBootFile, StageIPXE)),
			fetchStep("script", FetchObservation{IP: ip, Kind: FetchScript}, change(StageIPXE, StageScript), true),
			dhcpStep("the ipxe discover, answered at 3.5 s, observed now", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true, Arrived: at(3.5)}, none),
			dhcpStep("a reboot: discover after the script", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true, Arrived: at(6.9)}, StageChange{From: StageScript, To: StageDHCP, NewBoot: true}),
		}, StageDHCP, 2},
		{"a retransmitted DISCOVER answered after the machine moved on is no new boot", []step{
			dhcpStep("firmware discover", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true, XID: 7}, change(StageUnknown, StageDHCP)),
			fetchStep("boot file", FetchObservation{IP: ip, Kind: FetchBootFile}, change(StageDHCP, StageBootFile), true),
			dhcpStep("ipxe discover", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true, XID: 8}, change(StageBootFile, StageIPXE)),
			fetchStep("script", FetchObservation{IP: ip, Kind: FetchScript}, change(StageIPXE, StageScript), true),
			dhcpStep("ipxe discover sent again, answered late", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true, XID: 8}, none),
			dhcpStep("a reboot: a new transaction", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true, XID: 9}, StageChange{From: StageScript, To: StageDHCP, NewBoot: true}),
			fetchStep("boot file", FetchObservation{IP: ip, Kind: FetchBootFile}, change(StageDHCP, StageBootFile), true),
			dhcpStep("its ipxe reuses an old ID", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true, XID: 8}, change(StageBootFile, StageIPXE)),
		}, StageIPXE, 2},
		{"a boot file transfer reported after the script is no kernel", []step{
			dhcpStep("firmware discover", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true, Arrived: at(0.9)}, change(StageUnknown, StageDHCP)),
			dhcpStep("ipxe discover, the TFTP transfer not yet reported", DHCPObservation{Client: ipxeClient(1), IP: ip, Discover: true, Sent: true, Arrived: at(1.9)}, change(StageDHCP, StageIPXE)),
			fetchStep("script", FetchObservation{IP: ip, Kind: FetchScript, Started: at(2.9)}, change(StageIPXE, StageScript), true),
			fetchStep("the boot file, started at 1.5 s", FetchObservation{IP: ip, Kind: FetchKernel, Path: "ipxe.efi", Started: at(1.5)}, none, true),
			fetchStep("kernel", FetchObservation{IP: ip, Kind: FetchKernel, Path: "/vmlinuz", Started: at(4.9)}, change(StageScript, StageKernel), true),
		}, StageKernel, 1},
		{"a new boot we do not answer", []step{
			dhcpStep("discover", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true}, change(StageUnknown, StageDHCP)),
			fetchStep("boot file", FetchObservation{IP: ip, Kind: FetchBootFile}, change(StageDHCP, StageBootFile), true),
			dhcpStep("discover, nothing sent", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Why: "no rule"}, StageChange{From: StageBootFile, To: StageUnknown, NewBoot: true}),
			dhcpStep("again, nothing sent", DHCPObservation{Client: firmware(1), IP: ip, Discover: true}, none),
		}, StageUnknown, 2},
		{"IPv4-mapped and zoned peers match the lease", []step{
			dhcpStep("discover", DHCPObservation{Client: firmware(1), IP: ip, Discover: true, Sent: true}, change(StageUnknown, StageDHCP)),
			fetchStep("dual-stack socket peer", FetchObservation{IP: netip.AddrFrom16(ip.As16()), Kind: FetchBootFile}, change(StageDHCP, StageBootFile), true),
		}, StageBootFile, 1},
		{"no MAC, nothing recorded", []step{
			{"dhcp without mac", func(t *Sessions) (Session, StageChange, bool) {
				return t.ObserveDHCP(DHCPObservation{Client: archdetect.Client{}, IP: ip, Sent: true})
			}, none, false},
			fetchStep("fetch", FetchObservation{IP: ip, Kind: FetchBootFile}, none, false),
		}, StageUnknown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			table := &Sessions{Now: clock.Now}
			for _, st := range tt.steps {
				clock.Add(time.Second)
				s, c, ok := st.do(table)
				if c != st.want || ok != st.ok {
					t.Fatalf("%s: change %+v ok %v, want %+v ok %v", st.name, c, ok, st.want, st.ok)
				}
				if ok && c.Changed() && (s.Stage != c.To || !s.StageAt.Equal(clock.Now())) {
					t.Errorf("%s: session stage %v at %v, want %v at %v", st.name, s.Stage, s.StageAt, c.To, clock.Now())
				}
				checkInvariants(t, table)
			}
			s, ok := table.ByMAC(testMAC(1))
			if ok != (tt.wantBoots > 0) || s.Stage != tt.wantStage || s.Boots != tt.wantBoots {
				t.Errorf("ByMAC = stage %v boots %d ok %v, want stage %v boots %d", s.Stage, s.Boots, ok, tt.wantStage, tt.wantBoots)
			}
		})
	}
}

// TestSessionsIdentity: DHCP fills the session; a lease that moves to
// another machine follows it; UUID and IP indexes find the machine.
func TestSessionsIdentity(t *testing.T) {
	table := &Sessions{}
	a := firmware(1)
	a.UUID = "01234567-89ab-cdef-0123-456789abcdef"
	table.ObserveDHCP(DHCPObservation{Client: a, IP: testIP(9), Rule: "bios", Why: "arch 0", Sent: true})
	s, ok := table.ByUUID(a.UUID)
	if !ok || s.MAC.String() != testMAC(1).String() || s.IP != testIP(9) || s.Rule != "bios" || s.Why != "arch 0" || s.Client.Firmware != archdetect.FirmwareBIOS {
		t.Fatalf("ByUUID(%s) = %+v %v, want machine 1 at %v, rule bios", a.UUID, s, ok, testIP(9))
	}
	// iPXE's uuid= query in another spelling finds the same machine; a
	// value that is no UUID is ignored.
	if s, _, ok := table.ObserveIPXE(netip.Addr{}, archdetect.Client{Source: archdetect.SourceHTTP, UUID: strings.ToUpper(a.UUID)}); !ok || s.MAC.String() != testMAC(1).String() || s.UUID != a.UUID {
		t.Errorf("ObserveIPXE(uuid=%s) = %v %q %v, want machine 1", strings.ToUpper(a.UUID), s.MAC, s.UUID, ok)
	}
	if s, _, _ := table.ObserveIPXE(testIP(9), archdetect.Client{Source: archdetect.SourceHTTP, MAC: testMAC(1), UUID: "not-a-uuid"}); s.UUID != a.UUID {
		t.Errorf("ObserveIPXE(uuid=not-a-uuid): UUID %q, want %q kept", s.UUID, a.UUID)
	}
	// The HTTP classification does not replace the DHCP one.
	table.ObserveIPXE(testIP(9), archdetect.Client{Source: archdetect.SourceHTTP, MAC: testMAC(1)})
	if s, _ := table.ByMAC(testMAC(1)); s.Client.Source != archdetect.SourceDHCPv4 {
		t.Errorf("after ObserveIPXE: Client.Source = %q, want the DHCP reading kept", s.Client.Source)
	}
	// The lease moves to machine 2.
	table.ObserveDHCP(DHCPObservation{Client: firmware(2), IP: testIP(9)})
	if s, ok := table.ByIP(testIP(9)); !ok || s.MAC.String() != testMAC(2).String() {
		t.Errorf("ByIP(%v) = %v %v, want machine 2", testIP(9), s.MAC, ok)
	}
	if s, _ := table.ByMAC(testMAC(1)); s.IP.IsValid() {
		t.Errorf("machine 1 still has IP %v after its lease moved", s.IP)
	}
	// Machine 1 gets a new address: the old one is not indexed twice.
	table.ObserveDHCP(DHCPObservation{Client: firmware(1), IP: testIP(10)})
	table.ObserveDHCP(DHCPObservation{Client: firmware(1), IP: testIP(11)})
	if _, ok := table.ByIP(testIP(10)); ok {
		t.Errorf("ByIP(%v) found a session after machine 1 moved to %v", testIP(10), testIP(11))
	}
	// A fetch tied to the machine is recorded.
	table.ObserveFetch(FetchObservation{IP: testIP(11), Path: "a", Bytes: 10})
	table.ObserveFetch(FetchObservation{IP: testIP(11), Path: "b", Bytes: 5, Failed: true})
	if s, _ := table.ByMAC(testMAC(1)); s.Bytes != 15 || s.LastFile != "b" || !s.LastFileFailed {
		t.Errorf("after two fetches: Bytes %d LastFile %q failed %v, want 15 b true", s.Bytes, s.LastFile, s.LastFileFailed)
	}
	// A caller that scribbles on the MAC it got does not break the table.
	s, _ = table.ByMAC(testMAC(1))
	s.MAC[0] = 0xff
	if _, ok := table.ByMAC(testMAC(1)); !ok {
		t.Errorf("ByMAC failed after the caller changed a returned MAC")
	}
	checkInvariants(t, table)
}

func TestSessionsSetKnown(t *testing.T) {
	clock := newFakeClock()
	table := &Sessions{Now: clock.Now, TTL: time.Minute}
	if table.SetKnown(testMAC(1), false) {
		t.Errorf("SetKnown on an empty table = true, want false")
	}
	table.ObserveDHCP(DHCPObservation{Client: firmware(1)})
	for i, want := range []bool{true, false, false} {
		if got := table.SetKnown(testMAC(1), false); got != want {
			t.Errorf("SetKnown(false) #%d = %v, want %v", i+1, got, want)
		}
	}
	table.SetKnown(testMAC(1), true)
	if s, _ := table.ByMAC(testMAC(1)); !s.Known {
		t.Errorf("Known = false after SetKnown(true)")
	}
	// A new session (after the TTL) reports again.
	clock.Add(2 * time.Minute)
	table.ObserveDHCP(DHCPObservation{Client: firmware(1)})
	if !table.SetKnown(testMAC(1), false) {
		t.Errorf("SetKnown(false) on a new session = false, want true")
	}
}

// TestSessionsBounds: the least recently seen session is evicted, and an
// idle one expires.
func TestSessionsBounds(t *testing.T) {
	clock := newFakeClock()
	table := &Sessions{Now: clock.Now, MaxSessions: 3, TTL: time.Hour}
	for i := 1; i <= 3; i++ {
		table.ObserveDHCP(DHCPObservation{Client: firmware(i), IP: testIP(i), Sent: true})
		clock.Add(time.Minute)
	}
	// Machine 1 is seen again (by IP), so machine 2 is now the oldest.
	table.ObserveFetch(FetchObservation{IP: testIP(1), Kind: FetchBootFile})
	table.ObserveDHCP(DHCPObservation{Client: firmware(4), IP: testIP(4)})
	var got []string
	for _, s := range table.All() {
		got = append(got, s.MAC.String())
	}
	want := []string{testMAC(4).String(), testMAC(1).String(), testMAC(3).String()}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("All() after eviction = %v, want %v", got, want)
	}
	if _, ok := table.ByIP(testIP(2)); ok {
		t.Errorf("ByIP of the evicted machine found a session")
	}
	if got, want := table.CountByStage(), map[Stage]int{StageUnknown: 1, StageDHCP: 1, StageBootFile: 1, StageIPXE: 0, StageScript: 0, StageKernel: 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CountByStage() = %v, want %v", got, want)
	}
	checkInvariants(t, table)

	// Machine 3 was last seen at +2m, machine 1 at +3m, machine 4 at +3m.
	clock.Add(time.Hour - time.Minute) // now +62m: machine 3 idle 60m
	if _, ok := table.ByMAC(testMAC(3)); ok {
		t.Errorf("ByMAC(machine 3) found a session idle for the TTL")
	}
	if n := table.Len(); n != 2 {
		t.Errorf("Len() = %d after one expiry, want 2", n)
	}
	clock.Add(time.Hour)
	if n, all := table.Len(), table.All(); n != 0 || len(all) != 0 {
		t.Errorf("Len() = %d, All() = %d sessions after every TTL, want 0", n, len(all))
	}
	if got := table.CountByStage(); got[StageDHCP]+got[StageUnknown]+got[StageBootFile] != 0 {
		t.Errorf("CountByStage() = %v on an empty table", got)
	}
	checkInvariants(t, table)

	never := &Sessions{Now: clock.Now, TTL: -1}
	never.ObserveDHCP(DHCPObservation{Client: firmware(1)})
	clock.Add(1000 * time.Hour)
	if _, ok := never.ByMAC(testMAC(1)); !ok {
		t.Errorf("TTL -1: session expired")
	}
}

// TestSessionsConcurrent hammers one table from many goroutines (run it
// with -race), then checks that indexes, list and counts agree.
func TestSessionsConcurrent(t *testing.T) {
	table := &Sessions{MaxSessions: 50}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				i := r.IntN(80)
				switch r.IntN(7) {
				case 0:
					table.ObserveDHCP(DHCPObservation{Client: firmware(i), IP: testIP(r.IntN(80)), Discover: r.IntN(2) == 0, Sent: true})
				case 1:
					table.ObserveDHCP(DHCPObservation{Client: ipxeClient(i), IP: testIP(i), Sent: true})
				case 2:
					table.ObserveFetch(FetchObservation{IP: testIP(i), Kind: FetchKind(r.IntN(4)), Bytes: 1})
				case 3:
					c := archdetect.Client{Source: archdetect.SourceHTTP, MAC: testMAC(i), UUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", r.IntN(10))}
					table.ObserveIPXE(testIP(r.IntN(80)), c)
				case 4:
					table.SetKnown(testMAC(i), r.IntN(2) == 0)
				case 5:
					table.ByIP(testIP(i))
					table.ByUUID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
				case 6:
					table.CountByStage()
					table.All()
				}
			}
		}()
	}
	wg.Wait()
	if n := table.Len(); n > 50 {
		t.Errorf("Len() = %d, want at most MaxSessions 50", n)
	}
	checkInvariants(t, table)
}

// checkInvariants checks that the list, the indexes and the stage counts
// agree.
func checkInvariants(t *testing.T, table *Sessions) {
	t.Helper()
	table.mu.Lock()
	defer table.mu.Unlock()
	if table.byMAC == nil {
		return
	}
	n := 0
	var stages [StageKernel + 1]int
	for e := table.lru.next; e != &table.lru; e = e.next {
		n++
		stages[e.s.Stage]++
		if e.next.prev != e {
			t.Fatalf("list broken at %v", e.s.MAC)
		}
		if table.byMAC[e.key] != e {
			t.Errorf("byMAC[%v] does not point at its session", e.s.MAC)
		}
		if e.s.IP.IsValid() && table.byIP[e.s.IP] != e {
			t.Errorf("session %v has IP %v, byIP points elsewhere", e.s.MAC, e.s.IP)
		}
	}
	if n != len(table.byMAC) || stages != table.stages {
		t.Errorf("list has %d sessions %v, byMAC %d, counts %v", n, stages, len(table.byMAC), table.stages)
	}
	for ip, e := range table.byIP {
		if e.s.IP != ip || e.next == nil {
			t.Errorf("byIP[%v] points at a session with IP %v (live %v)", ip, e.s.IP, e.next != nil)
		}
	}
	for u, e := range table.byUUID {
		if e.s.UUID != u || e.next == nil {
			t.Errorf("byUUID[%v] points at a session with UUID %v (live %v)", u, e.s.UUID, e.next != nil)
		}
	}
}

// realClient is archdetect's reading of an UEFI PXE DISCOVER from machine
// i, so that the benchmark holds what a real session holds.
func realClient(b *testing.B, i int) archdetect.Client {
	m, err := dhcpv4.NewDiscovery(testMAC(i),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, make([]byte, 16)...))),
	)
	if err != nil {
		b.Fatal(err)
	}
	return archdetect.FromDHCPv4(m)
}

// BenchmarkSessionsObserve: one boot's observations (DHCP, boot file,
// iPXE DHCP, script, kernel) from 1000 machines in parallel; ns/op is per
// observation.
func BenchmarkSessionsObserve(b *testing.B) {
	const machines = 1000
	clients := make([]archdetect.Client, machines)
	for i := range clients {
		clients[i] = realClient(b, i)
	}
	table := &Sessions{}
	b.ReportAllocs()
	b.ResetTimer()
	var seq sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		seq.Lock()
		i := next
		next += 7919
		seq.Unlock()
		for pb.Next() {
			i++
			m := i / 5 % machines
			ip := testIP(m)
			switch i % 5 {
			case 0:
				table.ObserveDHCP(DHCPObservation{Client: clients[m], IP: ip, Discover: true, Sent: true})
			case 1:
				table.ObserveFetch(FetchObservation{IP: ip, Kind: FetchBootFile, Bytes: 1 << 20})
			case 2:
				c := clients[m]
				c.IPXE = true
				table.ObserveDHCP(DHCPObservation{Client: c, IP: ip, Discover: true, Sent: true})
			case 3:
				table.ObserveFetch(FetchObservation{IP: ip, Kind: FetchScript, Bytes: 300})
			case 4:
				table.ObserveFetch(FetchObservation{IP: ip, Kind: FetchKernel, Bytes: 10 << 20})
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkSessionsMemory: heap held per session, each with its own
// parsed archdetect.Client (what a real DHCP request leaves), at the
// default bound of 10 000 sessions.
func BenchmarkSessionsMemory(b *testing.B) {
	const n = DefaultMaxSessions
	var perSession float64
	for range b.N {
		before := heap()
		clients := make([]archdetect.Client, n)
		for i := range clients {
			clients[i] = realClient(b, i)
		}
		table := &Sessions{}
		for i := range n {
			table.ObserveDHCP(DHCPObservation{Client: clients[i], IP: testIP(i), Discover: true, Sent: true, Rule: "uefi-x64"})
		}
		clients = nil
		after := heap()
		perSession = float64(after-before) / n
		runtime.KeepAlive(table)
	}
	b.ReportMetric(perSession, "B/session")
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestCanonUUID(t *testing.T) {
	const c = "4c4c4544-0035-4810-8056-b4c04f4e3232"
	tests := []struct{ in, want string }{
		{c, c},
		{"4C4C4544-0035-4810-8056-B4C04F4E3232", c},
		{"{4c4c4544-0035-4810-8056-b4c04f4e3232}", c},
		{"4c4c4544003548108056b4c04f4e3232", c},
		{"", ""},
		{"not-a-uuid", ""},
		{"4c4c4544-0035-4810-8056-b4c04f4e323g", ""},
		{"4c4c4544+0035-4810-8056-b4c04f4e3232", ""},
	}
	for _, tt := range tests {
		if got := canonUUID(tt.in); got != tt.want {
			t.Errorf("canonUUID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
