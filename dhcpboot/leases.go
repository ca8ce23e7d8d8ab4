package dhcpboot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lease is an address given to a client by [LabServer]. MAC is the
// client's hardware address as the BOOTP header carries it (chaddr, hlen
// bytes: 6 for Ethernet, up to 16, whatever the htype). LabServer keys
// leases on it, not on the client identifier (option 61) as ISC dhcpd and
// dnsmasq do when one is sent: PXE firmware and the iPXE it loads send
// different client identifiers, or none, and one machine must keep one
// address through its boot stages (pixiecore and smee key on the MAC too).
type Lease struct {
	MAC    net.HardwareAddr
	IP     netip.Addr
	Expiry time.Time
}

// ErrLeaseFile is wrapped by the errors [ParseLeases] returns.
var ErrLeaseFile = errors.New("dhcpboot: bad lease file")

// maxLeaseLines bounds what ReadLeases reads (a lab, not an ISP).
const maxLeaseLines = 1 << 22

// maxLeaseLine is the longest line ReadLeases reads; a record needs < 100.
const maxLeaseLine = 4096

// removed is the EXPIRY field of a record that ends a lease.
const removed = "-"

// ParseLeases reads a lease file written by [WriteLeases] or by
// [LabServer]'s journal, and fails on the first line it cannot read (see
// [ReadLeases] for the format and for a reader that skips such lines).
func ParseLeases(r io.Reader) ([]Lease, error) {
	var first error
	ls, err := ReadLeases(r, func(line int, err error) {
		if first == nil {
			first = fmt.Errorf("%w: line %d: %v", ErrLeaseFile, line, err)
		}
	})
	if err != nil {
		return nil, err
	}
	if first != nil {
		return nil, first
	}
	return ls, nil
}

// ReadLeases reads a lease file: one record a line, blank lines and lines
// starting with '#' skipped.
//
//	MAC IP EXPIRY   MAC holds IP until EXPIRY (RFC 3339)
//	MAC IP -        MAC no longer holds IP (released or declined)
//
// MAC is 1 to 16 bytes, two hex digits each, separated by ':' or '-'. A
// record replaces the earlier ones for the same MAC and for the same IP
// (the address went to another client), so a file may be a journal of
// changes. The leases are returned sorted by address.
//
// A line ReadLeases cannot read (truncated, garbage, a bad date, longer
// than 4096 bytes) is skipped and reported to bad (when non-nil) with its
// line number; ReadLeases fails only when reading fails or the input has
// more than 4 Mi lines.
func ReadLeases(r io.Reader, bad func(line int, err error)) ([]Lease, error) {
	if bad == nil {
		bad = func(int, error) {}
	}
	set := newLeaseSet()
	br := bufio.NewReaderSize(r, maxLeaseLine)
	for line := 1; ; line++ {
		if line > maxLeaseLines {
			return nil, fmt.Errorf("%w: more than %d lines", ErrLeaseFile, maxLeaseLines)
		}
		text, long, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: line %d: %v", ErrLeaseFile, line, err)
		}
		if text == nil && errors.Is(err, io.EOF) && !long {
			break
		}
		switch {
		case long:
			bad(line, fmt.Errorf("longer than %d bytes", maxLeaseLine))
		default:
			if rec, ok, perr := parseLeaseRecord(string(text)); perr != nil {
				bad(line, perr)
			} else if ok {
				set.apply(rec)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return set.sorted(), nil
}

// readLine returns the next line without its newline; long is true (and
// text nil) when it is longer than the reader's buffer, which readLine then
// skips to its end. At the end of the input err is io.EOF, with the last
// unterminated line, if any, in text.
func readLine(br *bufio.Reader) (text []byte, long bool, err error) {
	for {
		b, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			long = true
			continue
		case long:
			return nil, true, err
		case err != nil && len(b) == 0:
			return nil, false, err
		}
		return bytes.TrimSuffix(b, []byte("\n")), false, err
	}
}

// leaseRecord is one line of a lease file: a lease, or its end.
type leaseRecord struct {
	Lease
	remove bool
}

// parseLeaseRecord parses one line; ok is false for blank and comment lines.
func parseLeaseRecord(line string) (rec leaseRecord, ok bool, err error) {
	text := strings.TrimSpace(line)
	if text == "" || text[0] == '#' {
		return rec, false, nil
	}
	f := strings.Fields(text)
	if len(f) != 3 {
		return rec, false, errors.New("want MAC IP EXPIRY")
	}
	if rec.MAC, err = parseHardwareAddr(f[0]); err != nil {
		return rec, false, err
	}
	rec.IP, err = netip.ParseAddr(f[1])
	if err != nil || !rec.IP.Is4() {
		return rec, false, fmt.Errorf("%q is not an IPv4 address", f[1])
	}
	if f[2] == removed {
		rec.remove = true
		return rec, true, nil
	}
	exp, err := time.Parse(time.RFC3339, f[2])
	if err != nil {
		return rec, false, err
	}
	rec.Expiry = exp.UTC()
	if !writableExpiry(rec.Expiry) {
		return rec, false, fmt.Errorf("expiry %q is outside years 1 to 9999 in UTC", f[2])
	}
	return rec, true, nil
}

// parseHardwareAddr parses 1 to 16 bytes of two hex digits separated by
// ':' or '-' (what net.HardwareAddr.String writes, for any length).
func parseHardwareAddr(s string) (net.HardwareAddr, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) == 0 || len(parts) > maxHWLen || strings.Count(s, ":")+strings.Count(s, "-") != len(parts)-1 {
		return nil, fmt.Errorf("hardware address %q: want 1 to 16 bytes", s)
	}
	hw := make(net.HardwareAddr, len(parts))
	for i, p := range parts {
		b, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) != 2 {
			return nil, fmt.Errorf("hardware address %q: bad byte %q", s, p)
		}
		hw[i] = byte(b)
	}
	return hw, nil
}

// leaseSet holds leases by MAC, at most one per address.
type leaseSet struct {
	byMAC map[string]Lease
	byIP  map[netip.Addr]string
}

func newLeaseSet() *leaseSet {
	return &leaseSet{byMAC: map[string]Lease{}, byIP: map[netip.Addr]string{}}
}

// apply replays one record.
func (s *leaseSet) apply(rec leaseRecord) {
	mac := string(rec.MAC)
	if old, ok := s.byMAC[mac]; ok {
		delete(s.byIP, old.IP)
		delete(s.byMAC, mac)
	}
	if rec.remove {
		return
	}
	if owner, ok := s.byIP[rec.IP]; ok {
		delete(s.byMAC, owner)
	}
	s.byMAC[mac] = rec.Lease
	s.byIP[rec.IP] = mac
}

func (s *leaseSet) sorted() []Lease {
	out := make([]Lease, 0, len(s.byMAC))
	for _, l := range s.byMAC {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

// writableExpiry reports whether t, in UTC, has a year RFC 3339 can write
// (a zone offset can move year 0 or 10000 out of that range).
func writableExpiry(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// checkLease reports why l cannot be written to a lease file.
func checkLease(l Lease) error {
	switch {
	case len(l.MAC) == 0 || len(l.MAC) > maxHWLen:
		return fmt.Errorf("%w: lease %s: hardware address of %d bytes (want 1 to 16)", ErrLeaseFile, l.IP, len(l.MAC))
	case !l.IP.Is4():
		return fmt.Errorf("%w: lease %s: %v is not an IPv4 address", ErrLeaseFile, l.MAC, l.IP)
	case !writableExpiry(l.Expiry):
		return fmt.Errorf("%w: lease %s %s: expiry %v is outside years 1 to 9999", ErrLeaseFile, l.MAC, l.IP, l.Expiry.UTC())
	}
	return nil
}

// appendRecord appends rec's line (with its newline) to b.
func appendRecord(b []byte, rec leaseRecord) []byte {
	b = append(b, rec.MAC.String()...)
	b = append(b, ' ')
	b = append(b, rec.IP.String()...)
	b = append(b, ' ')
	if rec.remove {
		b = append(b, removed...)
	} else {
		b = rec.Expiry.UTC().AppendFormat(b, time.RFC3339)
	}
	return append(b, '\n')
}

// WriteLeases writes leases in the format [ParseLeases] reads, sorted by
// address. It fails, writing nothing, when a lease cannot be read back: a
// hardware address not of 1 to 16 bytes, an address not IPv4, or an expiry
// outside the years 1 to 9999 in UTC, which RFC 3339 cannot carry.
func WriteLeases(w io.Writer, leases []Lease) error {
	for _, l := range leases {
		if err := checkLease(l); err != nil {
			return err
		}
	}
	ls := slices.Clone(leases)
	slices.SortFunc(ls, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	bw := bufio.NewWriter(w)
	bw.WriteString("# pxekit dhcpboot leases: MAC IP EXPIRY (EXPIRY \"-\": lease ended)\n")
	var b []byte
	for _, l := range ls {
		b = appendRecord(b[:0], leaseRecord{Lease: l})
		bw.Write(b)
	}
	return bw.Flush()
}
