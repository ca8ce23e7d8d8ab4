package tftpserve

import (
	"fmt"
	"strconv"
	"time"
)

// Limits bound what one transfer may negotiate. The server fills them from
// its configuration and the path MTU, then calls Server.Tune, which may lower
// them for a particular client (firmware known to break with large blocks,
// say). Raising them above the server's values has no effect on the MTU
// clamp unless Server.AllowFragmentation is set. Values below the protocol
// minimum are raised to it (blksize 8, windowsize 1, Retries 1).
type Limits struct {
	// BlockSize is the largest blksize granted (8…65464).
	BlockSize int
	// WindowSize is the largest windowsize granted (1…65535).
	WindowSize int
	// MaxTimeout is the largest timeout option (seconds) accepted; a client
	// asking for more gets no timeout in the OACK (RFC 2349 allows no
	// counter-proposal). 0 refuses the timeout option.
	MaxTimeout int
	// Retries is the number of retransmissions without progress before the
	// transfer is abandoned.
	Retries int
}

// negotiation is the outcome of option negotiation for one request.
type negotiation struct {
	blksize, window int
	timeout         int // seconds; 0 = not granted
	wantSize        bool
	// granted lists the options to acknowledge, by index into the request's
	// options, in the client's order. tsize's value is filled in later.
	blkIdx, winIdx, toIdx, tsizeIdx int
}

// negotiate applies RFC 2347/2348/2349/7440 to the options of a read
// request. Unknown options are ignored. A known option with an invalid or
// out-of-range value, or a known option given twice, refuses the request
// (ERROR 8).
func negotiate(opts []Option, lim Limits, mode string) (negotiation, error) {
	n := negotiation{blksize: 512, window: 1, blkIdx: -1, winIdx: -1, toIdx: -1, tsizeIdx: -1}
	seen := map[string]bool{}
	for i, o := range opts {
		name := lower(o.Name)
		switch name {
		case "blksize", "windowsize", "timeout", "tsize":
		default:
			continue // unknown options are omitted from the OACK (RFC 2347)
		}
		if seen[name] {
			return n, &Error{Code: CodeOptionRefused, Message: "duplicate option " + name}
		}
		seen[name] = true
		switch name {
		case "blksize":
			v, ok := parseDecimal(o.Value)
			if !ok || v < MinBlockSize || v > MaxBlockSize {
				return n, optErr(name, o.Value, fmt.Sprintf("%d…%d", MinBlockSize, MaxBlockSize))
			}
			n.blksize = min(int(v), lim.BlockSize)
			n.blkIdx = i
		case "windowsize":
			v, ok := parseDecimal(o.Value)
			if !ok || v < 1 || v > MaxWindowSize {
				return n, optErr(name, o.Value, "1…65535")
			}
			n.window = min(int(v), lim.WindowSize)
			n.winIdx = i
		case "timeout":
			v, ok := parseDecimal(o.Value)
			if !ok || v < MinTimeout || v > MaxTimeout {
				return n, optErr(name, o.Value, "1…255")
			}
			if int(v) <= lim.MaxTimeout {
				n.timeout = int(v)
				n.toIdx = i
			}
		case "tsize":
			if _, ok := parseSize(o.Value); !ok {
				return n, optErr(name, o.Value, "a size in octets")
			}
			// netascii changes the length: no tsize (as tftp-hpa). In a
			// write request the value is the client's size, echoed.
			if mode == "octet" {
				n.wantSize = true
				n.tsizeIdx = i
			}
		}
	}
	return n, nil
}

func optErr(name, value, want string) error {
	if len(value) > 20 {
		value = value[:20] + "…"
	}
	return &Error{Code: CodeOptionRefused, Message: fmt.Sprintf("bad %s %q: want %s", name, value, want)}
}

// oack returns the options to acknowledge in the client's order and
// spelling; size < 0 drops tsize. nil means no OACK (plain RFC 1350).
func (n *negotiation) oack(opts []Option, size int64) []Option {
	var out []Option
	for i, o := range opts {
		switch i {
		case n.blkIdx:
			out = append(out, Option{o.Name, strconv.Itoa(n.blksize)})
		case n.winIdx:
			out = append(out, Option{o.Name, strconv.Itoa(n.window)})
		case n.toIdx:
			out = append(out, Option{o.Name, strconv.Itoa(n.timeout)})
		case n.tsizeIdx:
			if size >= 0 {
				out = append(out, Option{o.Name, strconv.FormatInt(size, 10)})
			}
		}
	}
	return out
}

func (n *negotiation) timeoutDuration() time.Duration {
	return time.Duration(n.timeout) * time.Second
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
