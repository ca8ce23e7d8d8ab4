package fleetsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// rrq builds a read request for name asking for blksize, tsize and (when
// window > 1) windowsize.
func rrq(name string, blksize, window int) []byte {
	b := []byte{0, opRRQ}
	for _, s := range []string{name, "octet", "blksize", strconv.Itoa(blksize), "tsize", "0"} {
		b = append(append(b, s...), 0)
	}
	if window > 1 {
		for _, s := range []string{"windowsize", strconv.Itoa(window)} {
			b = append(append(b, s...), 0)
		}
	}
	return b
}

// parseOACK reads the options of an OACK body into blksize, window and
// tsize (-1 when absent); a value the client did not ask for, or out of
// range, is an error.
func parseOACK(body []byte, askedBlk, askedWin int) (blk, win int, tsize int64, err error) {
	blk, win, tsize = 512, 1, -1
	parts := bytes.Split(bytes.TrimSuffix(body, []byte{0}), []byte{0})
	if len(parts)%2 != 0 {
		return 0, 0, 0, errors.New("OACK: an option without a value")
	}
	for i := 0; i+1 < len(parts); i += 2 {
		name, v := string(bytes.ToLower(parts[i])), string(parts[i+1])
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, 0, fmt.Errorf("OACK: option %s=%q is no count", name, v)
		}
		switch name {
		case "blksize":
			if n < 8 || n > int64(askedBlk) {
				return 0, 0, 0, fmt.Errorf("OACK: blksize %d, asked %d", n, askedBlk)
			}
			blk = int(n)
		case "windowsize":
			if n < 1 || n > int64(askedWin) {
				return 0, 0, 0, fmt.Errorf("OACK: windowsize %d, asked %d", n, askedWin)
			}
			win = int(n)
		case "tsize":
			tsize = n
		}
	}
	return blk, win, tsize, nil
}

// tftp reads name from server's port 69 as an RFC 7440 client: it ACKs
// the last block of each window (and the last in-order block when one is
// missing or after a silence of Retransmit), and checks the size against
// the tsize the server announced.
func (m *machine) tftp(ctx context.Context, server netip.Addr, name string) error {
	f := m.f
	cfg := f.cfg
	var conn net.PacketConn
	if err := cfg.Do(func() (err error) {
		conn, err = net.ListenPacket("udp4", netip.AddrPortFrom(m.ip, 0).String())
		return err
	}); err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	buf := *bp
	ack := []byte{0, opACK, 0, 0}
	sendAck := func(to net.Addr, block uint16) error {
		binary.BigEndian.PutUint16(ack[2:], block)
		f.tftpAcks.Add(1)
		_, err := conn.WriteTo(ack, to)
		return err
	}

	req := rrq(name, cfg.BlockSize, cfg.WindowSize)
	srv := net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 69))
	if _, err := conn.WriteTo(req, srv); err != nil {
		return fmt.Errorf("send RRQ: %w", err)
	}
	var (
		peer     net.Addr // the transfer's port, once the server answered
		peerAP   netip.AddrPort
		blk, win = 512, 1
		tsize    = int64(-1)
		last     uint16 // last block received in order
		inWin    int    // blocks received in order since the last ACK
		nacked   bool   // a gap was ACKed; wait for progress before ACKing again
		got      int64
		silent   int
	)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(cfg.Retransmit))
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w after %d bytes", name, ctx.Err(), got)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%s: read: %w", name, err)
			}
			f.tftpTOs.Add(1)
			if silent++; silent >= cfg.Tries {
				return fmt.Errorf("%s: no DATA for %d × %v after %d bytes", name, cfg.Tries, cfg.Retransmit, got)
			}
			if peer == nil {
				_, err = conn.WriteTo(req, srv)
			} else {
				err = sendAck(peer, last)
			}
			if err != nil {
				return fmt.Errorf("%s: send: %w", name, err)
			}
			inWin = 0
			continue
		}
		if n < 4 {
			continue
		}
		fromAP := from.(*net.UDPAddr).AddrPort()
		if peer != nil && fromAP != peerAP {
			continue // not this transfer's port
		}
		op, arg := binary.BigEndian.Uint16(buf), binary.BigEndian.Uint16(buf[2:])
		switch op {
		case opERROR:
			return fmt.Errorf("%s: server ERROR %d: %s", name, arg, bytes.TrimRight(buf[4:n], "\x00"))
		case opOACK:
			if peer != nil {
				continue // a duplicate
			}
			if blk, win, tsize, err = parseOACK(buf[2:n], cfg.BlockSize, max(cfg.WindowSize, 1)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			peer, peerAP, silent = from, fromAP, 0
			if err := sendAck(peer, 0); err != nil {
				return fmt.Errorf("%s: send: %w", name, err)
			}
		case opDATA:
			if peer == nil { // the server took none of the options
				peer, peerAP = from, fromAP
			}
			if arg != last+1 {
				if !nacked && arg-last-1 < 0x8000 { // ahead: one is missing
					nacked, inWin = true, 0
					if err := sendAck(peer, last); err != nil {
						return fmt.Errorf("%s: send: %w", name, err)
					}
				}
				continue
			}
			silent, nacked = 0, false
			last++
			inWin++
			size := n - 4
			got += int64(size)
			if size > blk {
				return fmt.Errorf("%s: block %d has %d bytes, blksize is %d", name, last, size, blk)
			}
			if size < blk {
				if err := sendAck(peer, last); err != nil {
					return fmt.Errorf("%s: send: %w", name, err)
				}
				f.tftpBytes.Add(got)
				if tsize >= 0 && got != tsize {
					return fmt.Errorf("%s: got %d bytes, tsize said %d", name, got, tsize)
				}
				return nil
			}
			if inWin >= win {
				inWin = 0
				if err := sendAck(peer, last); err != nil {
					return fmt.Errorf("%s: send: %w", name, err)
				}
			}
		}
	}
}
