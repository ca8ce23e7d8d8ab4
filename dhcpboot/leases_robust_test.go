package dhcpboot

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pxekit/pxekit/internal/syncbuf"
)

func newLogger(b *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustOpen(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// newFileLab is newLab with a lease file in a fresh directory and a clock
// at a fixed time.
func newFileLab(t *testing.T) (*LabServer4, string, *fakeClock) {
	t.Helper()
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "leases")
	return newLab(t, file, clock), file, clock
}

// discoverHW is a DISCOVER from a client with any hardware address.
func discoverHW(t *testing.T, htype iana.HWType, hw net.HardwareAddr) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(hw)
	if err != nil {
		t.Fatal(err)
	}
	d.HWType = htype
	// Through the wire codec, as the server sees it.
	m, err := dhcpv4.FromBytes(d.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLabServerLongHardwareAddressSurvivesRestart: a client with a 16-byte
// chaddr gets a lease; after a restart on the same lease file it and a
// reserved client are still answered (issue 12, item 5).
func TestLabServerLongHardwareAddressSurvivesRestart(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "leases")
	long := net.HardwareAddr{0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	for _, hw := range []struct {
		htype iana.HWType
		addr  net.HardwareAddr
	}{{iana.HWTypeIEEE802, long}, {iana.HWTypeEthernet, long[:7]}, {iana.HWTypeEthernet, long[:1]}} {
		s := newLab(t, file, clock)
		s.Subnets[0].RangeEnd = netip.MustParseAddr("10.99.0.120")
		_, ack := dora(t, s, discoverHW(t, hw.htype, hw.addr))
		s2 := newLab(t, file, clock)
		s2.Subnets[0].RangeEnd = s.Subnets[0].RangeEnd
		_, ack2 := dora(t, s2, discoverHW(t, hw.htype, hw.addr))
		if !ack2.YourIPAddr.Equal(ack.YourIPAddr) {
			t.Errorf("%d-byte client: %v before the restart, %v after", len(hw.addr), ack.YourIPAddr, ack2.YourIPAddr)
		}
		reserved, _ := dhcpv4.NewDiscovery(mustMAC("52:54:00:77:00:0a"))
		o, err := respond4(s2, reserved)
		if err != nil || o.YourIPAddr.String() != "10.99.0.10" {
			t.Fatalf("after a restart with a %d-byte client's lease, the reserved client got %v, %v", len(hw.addr), o, err)
		}
	}
}

// TestLabServerCorruptLeaseLines: each corrupt line is skipped and logged
// (naming the file and line); the good leases around it are kept. A lease
// path that cannot be a lease file refuses to start, naming it (item 6).
func TestLabServerCorruptLeaseLines(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	good1 := "02:00:00:00:00:01 10.99.0.101 2026-11-22T09:00:00Z\n"
	good2 := "02:00:00:00:00:02 10.99.0.102 2026-11-22T09:00:00Z\n"
	tests := []struct {
		name, bad string
		badLine   int // line the log must name
	}{
		{"truncated line", "02:00:00:00:00:03 10.99.0.1", 2},
		{"appended garbage", "02:00:00:00:00:03 10.99.0.103 2026-11-22T09:00:00Z trailing garbage", 2},
		{"bad expiry", "02:00:00:00:00:03 10.99.0.103 2026-13-45T99:00:00Z", 2},
		{"5000-byte line", strings.Repeat("x", 5000), 2},
		{"binary", "\x00\xff\xfe\x01", 2},
		{"bad MAC", "zz:00:00:00:00:03 10.99.0.103 2026-11-22T09:00:00Z", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "leases")
			if err := os.WriteFile(file, []byte(good1+tt.bad+"\n"+good2), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs syncbuf.Buffer
			s := newLab(t, file, clock)
			s.Logger = newLogger(&logs)
			for _, c := range []struct{ mac, ip string }{{"02:00:00:00:00:01", "10.99.0.101"}, {"02:00:00:00:00:02", "10.99.0.102"}} {
				d, _ := dhcpv4.NewDiscovery(mustMAC(c.mac))
				o, err := respond4(s, d)
				if err != nil {
					t.Fatalf("%s: %v (one bad line must not stop the server)", c.mac, err)
				}
				if o.YourIPAddr.String() != c.ip {
					t.Errorf("%s got %v, want its lease %s", c.mac, o.YourIPAddr, c.ip)
				}
			}
			if want := file + ":" + strconv.Itoa(tt.badLine); !strings.Contains(logs.String(), want) {
				t.Errorf("log does not name %s:\n%s", want, logs.String())
			}
			// The file is rewritten without the bad line; the old one is kept.
			if old, err := os.ReadFile(file + "~"); err != nil || !strings.Contains(string(old), tt.bad) {
				t.Errorf("no copy of the file with its bad line: %v", err)
			}
			if _, err := ParseLeases(mustOpen(t, file)); err != nil {
				t.Errorf("rewritten file: %v", err)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "leases")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := newLab(t, dir, clock)
		d, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
		if _, err := respond4(s, d); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("lease path is a directory: %v", err)
		}
	})
}

// TestLabServerAppendsOneRecordPerAck: an ACK appends to the lease file; it
// does not replace the whole file (issue 12, item 7: the file was rewritten
// and renamed on every ACK, O(leases) per ACK).
func TestLabServerAppendsOneRecordPerAck(t *testing.T) {
	s, file, _ := newFileLab(t)
	s.Subnets[0].RangeStart, s.Subnets[0].RangeEnd = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.250")
	var replaced int
	var last os.FileInfo
	for i := range 200 {
		d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)})
		dora(t, s, d)
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if last != nil {
			if !os.SameFile(fi, last) {
				replaced++
			}
			if grew := fi.Size() - last.Size(); grew <= 0 || grew > 128 {
				t.Fatalf("ACK %d: the lease file grew by %d bytes, want one record", i, grew)
			}
		}
		last = fi
	}
	if replaced > 0 {
		t.Errorf("the lease file was replaced %d times in 199 ACKs, want appends only", replaced)
	}
}

// TestLabServerDeclinedAddressNotReoffered: after a DECLINE the address is
// not offered to the next client (RFC 2131 §4.3.3; issue 12, item 8).
func TestLabServerDeclinedAddressNotReoffered(t *testing.T) {
	s, _, clock := newFileLab(t)
	a, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	_, ack := dora(t, s, a)
	declined := ack.YourIPAddr
	dec, _ := dhcpv4.New(dhcpv4.WithHwAddr(a.ClientHWAddr), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(declined)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1))))
	if r, err := respond4(s, dec); r != nil || err != nil {
		t.Fatalf("DECLINE answered: %v %v", r, err)
	}
	b, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	o, err := respond4(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if o.YourIPAddr.Equal(declined) {
		t.Errorf("declined %v offered to the next client", declined)
	}
	// Nor to the client that declined it, nor when asked for by name.
	a2, _ := dhcpv4.NewDiscovery(a.ClientHWAddr, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(declined)))
	if o, err := respond4(s, a2); err != nil || o.YourIPAddr.Equal(declined) {
		t.Errorf("declining client got %v again (%v)", o, err)
	}
	// Once the hold is over, the address is used again.
	clock.t = clock.t.Add(time.Hour)
	var got []string
	for i := range 3 {
		d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 1, byte(i)})
		if o, err := respond4(s, d); err == nil {
			got = append(got, o.YourIPAddr.String())
		}
	}
	if !strings.Contains(strings.Join(got, " "), declined.String()) {
		t.Errorf("after the hold %v is never offered: %v", declined, got)
	}
}

// TestLabServerLeaseSaveFailure: when the lease cannot be written the ACK
// is withheld and the failure logged with the file name; the next try
// rewrites the file and succeeds.
func TestLabServerLeaseSaveFailure(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "leases")
	var logs syncbuf.Buffer
	s := newLab(t, file, clock)
	s.Logger = newLogger(&logs)
	a, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	dora(t, s, a)
	b, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:02"))
	offer, err := respond4(s, b)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	s.alloc.journal.f.Close() // the disk goes away under the server
	if ack, err := respond4(s, req); ack != nil || err == nil {
		t.Fatalf("ACK sent for a lease that was not saved: %v %v", ack, err)
	}
	if !strings.Contains(logs.String(), "cannot save lease") || !strings.Contains(logs.String(), file) {
		t.Errorf("save failure not logged with the file:\n%s", logs.String())
	}
	if ack, err := respond4(s, req); err != nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("retry: %v %v", ack, err)
	}
	s2 := newLab(t, file, clock)
	if got := s2.Leases(); len(got) != 2 {
		t.Errorf("after restart: %v", got)
	}
}

// TestLabServerLeaseFileCompacts: a client renewing thousands of times
// leaves a small file, rewritten only every compactMin-odd records.
func TestLabServerLeaseFileCompacts(t *testing.T) {
	s, file, clock := newFileLab(t)
	a, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	_, ack := dora(t, s, a)
	syncs := 0
	s.alloc.journal.beforeSync = func() { syncs++ }
	rewrites := s.alloc.journal.rewrites
	const renewals = 3000
	for range renewals {
		clock.t = clock.t.Add(time.Second)
		r, _ := dhcpv4.NewRequestFromOffer(ack)
		if got, err := respond4(s, r); err != nil || got.MessageType() != dhcpv4.MessageTypeAck {
			t.Fatalf("renewal: %v %v", got, err)
		}
	}
	if syncs != renewals {
		t.Errorf("%d fsyncs for %d ACKs", syncs, renewals)
	}
	if n := s.alloc.journal.rewrites - rewrites; n < 2 || n > renewals/(compactMin-1)+1 {
		t.Errorf("%d compactions for %d records", n, renewals)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Size() > compactMin*64 {
		t.Errorf("lease file %v bytes after compaction (%v)", fi.Size(), err)
	}
	s2 := newLab(t, file, clock)
	if got := s2.Leases(); len(got) != 1 || !got[0].Expiry.Equal(clock.t.Add(s.Subnets[0].LeaseTime)) {
		t.Errorf("after restart: %v", got)
	}
}

// With LeaseSync WriteBeforeAck (Kea's memfile durability) the ACK goes
// once its record is written, while the fsync is still to come (here held
// back): the file already holds the lease a restarted server would read;
// the fsync follows. With the default SyncBeforeAck no ACK goes before the
// fsync (TestLabServer4ShutdownWaitsForLeaseFile).
func TestLabServerWriteBeforeAck(t *testing.T) {
	s, file, _ := newFileLab(t)
	s.LeaseSync = WriteBeforeAck
	d := discoverHW(t, iana.HWTypeEthernet, mustMAC("02:00:00:00:00:01"))
	offer, err := respond4(s, d)
	if err != nil {
		t.Fatal(err)
	}
	syncing, release := make(chan struct{}, 1), make(chan struct{})
	s.alloc.journal.beforeSync = func() {
		select {
		case syncing <- struct{}{}:
		default:
		}
		<-release
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	acked := make(chan *dhcpv4.DHCPv4, 1)
	go func() {
		a, err := respond4(s, req)
		if err != nil {
			t.Error(err)
		}
		acked <- a
	}()
	select {
	case a := <-acked:
		if a == nil || a.MessageType() != dhcpv4.MessageTypeAck {
			t.Fatalf("REQUEST got %v, want an ACK", a)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("no ACK within 10s while the fsync was held back")
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ParseLeases(f)
	f.Close()
	if err != nil || len(ls) != 1 || ls[0].IP != addrOf(offer.YourIPAddr) {
		t.Errorf("lease file when the ACK went: %v %v, want the lease of %v", ls, err, offer.YourIPAddr)
	}
	select {
	case <-syncing:
	case <-time.After(10 * time.Second):
		t.Error("no fsync within 10s after the ACK")
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}
