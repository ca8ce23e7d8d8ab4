package dhcpboot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Lease is an address given to a client by [LabServer].
type Lease struct {
	MAC    net.HardwareAddr
	IP     netip.Addr
	Expiry time.Time
}

// ErrLeaseFile is wrapped by the errors [ParseLeases] returns.
var ErrLeaseFile = errors.New("dhcpboot: bad lease file")

// maxLeaseLines bounds what ParseLeases reads (a lab, not an ISP).
const maxLeaseLines = 1 << 20

// ParseLeases reads a lease file written by [WriteLeases]: one lease a line,
// "MAC IP EXPIRY" with EXPIRY in RFC 3339; blank lines and lines starting
// with '#' are skipped. A later line for the same MAC replaces an earlier one.
func ParseLeases(r io.Reader) ([]Lease, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	var out []Lease
	idx := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		if line > maxLeaseLines {
			return nil, fmt.Errorf("%w: more than %d lines", ErrLeaseFile, maxLeaseLines)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: want MAC IP EXPIRY", ErrLeaseFile, line)
		}
		mac, err := net.ParseMAC(f[0])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrLeaseFile, line, err)
		}
		ip, err := netip.ParseAddr(f[1])
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("%w: line %d: %q is not an IPv4 address", ErrLeaseFile, line, f[1])
		}
		exp, err := time.Parse(time.RFC3339, f[2])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrLeaseFile, line, err)
		}
		exp = exp.UTC()
		if !writableExpiry(exp) {
			return nil, fmt.Errorf("%w: line %d: expiry %q is outside years 1 to 9999 in UTC", ErrLeaseFile, line, f[2])
		}
		l := Lease{MAC: mac, IP: ip, Expiry: exp}
		if i, ok := idx[string(mac)]; ok {
			out[i] = l
		} else {
			idx[string(mac)] = len(out)
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLeaseFile, err)
	}
	return out, nil
}

// writableExpiry reports whether t, in UTC, has a year RFC 3339 can write
// (a zone offset can move year 0 or 10000 out of that range).
func writableExpiry(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// WriteLeases writes leases in the format [ParseLeases] reads, sorted by
// address. It fails, writing nothing, when an expiry lies outside the
// years 1 to 9999 in UTC, which RFC 3339 cannot carry.
func WriteLeases(w io.Writer, leases []Lease) error {
	for _, l := range leases {
		if !writableExpiry(l.Expiry) {
			return fmt.Errorf("%w: lease %s %s: expiry %v is outside years 1 to 9999", ErrLeaseFile, l.MAC, l.IP, l.Expiry.UTC())
		}
	}
	ls := slices.Clone(leases)
	slices.SortFunc(ls, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# pxekit dhcpboot leases: MAC IP EXPIRY")
	for _, l := range ls {
		fmt.Fprintf(bw, "%s %s %s\n", l.MAC, l.IP, l.Expiry.UTC().Format(time.RFC3339))
	}
	return bw.Flush()
}

// saveLeases replaces path atomically (write to a temporary file, rename).
func saveLeases(path string, leases []Lease) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := WriteLeases(tmp, leases); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func loadLeases(path string) ([]Lease, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseLeases(f)
}
