package faultnet

import (
	"net"
	"os"
	"sync"
	"time"
)

// Conn is a net.PacketConn whose writes and reads suffer faults. Writes return
// at once as UDP writes do; the datagram leaves later, twice or never. Reads
// see what survived the read faults, in the order they decide.
type Conn struct {
	net.PacketConn
	write, read *pipe

	in       chan packet
	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{}
	closed   chan struct{}
	once     sync.Once
	readErr  error
}

type packet struct {
	data []byte
	from net.Addr
}

// Wrap wraps c. Write faults apply to WriteTo, read faults to ReadFrom; the
// two directions have their own random streams derived from seed.
func Wrap(c net.PacketConn, seed int64, write, read Rates) *Conn {
	w := &Conn{
		PacketConn: c,
		write:      newPipe(seed, write),
		read:       newPipe(seed^0x5eed5eed, read),
		in:         make(chan packet, 1024),
		wake:       make(chan struct{}, 1),
		closed:     make(chan struct{}),
	}
	go w.pump()
	return w
}

// pump reads the underlying socket and feeds the read pipe.
func (w *Conn) pump() {
	buf := make([]byte, 65536)
	deliver := func(b []byte, from any) {
		select {
		case w.in <- packet{b, from.(net.Addr)}:
		default: // reader too slow: the socket buffer would drop it too
		}
	}
	for {
		n, from, err := w.PacketConn.ReadFrom(buf)
		if err != nil {
			w.mu.Lock()
			w.readErr = err
			w.mu.Unlock()
			w.once.Do(func() { close(w.closed) })
			return
		}
		w.read.submit(append([]byte(nil), buf[:n]...), from, deliver)
	}
}

// WriteTo sends b to addr through the write faults.
func (w *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-w.closed:
		return 0, net.ErrClosed
	default:
	}
	w.write.submit(append([]byte(nil), b...), addr, func(b []byte, to any) {
		_, _ = w.PacketConn.WriteTo(b, to.(net.Addr))
	})
	return len(b), nil
}

// ReadFrom returns the next datagram that survived the read faults.
func (w *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		w.mu.Lock()
		dl := w.deadline
		w.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case p := <-w.in:
			return copy(b, p.data), p.from, nil
		case <-timeout:
			return 0, nil, os.ErrDeadlineExceeded
		case <-w.wake:
			continue // deadline changed
		case <-w.closed:
			select {
			case p := <-w.in:
				return copy(b, p.data), p.from, nil
			default:
			}
			w.mu.Lock()
			err := w.readErr
			w.mu.Unlock()
			return 0, nil, err
		}
	}
}

// SetDeadline sets the read and write deadlines.
func (w *Conn) SetDeadline(t time.Time) error {
	_ = w.SetReadDeadline(t)
	return w.PacketConn.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for ReadFrom.
func (w *Conn) SetReadDeadline(t time.Time) error {
	w.mu.Lock()
	w.deadline = t
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns the counters of the write and read directions.
func (w *Conn) Stats() (write, read Stats) {
	return w.write.snapshot(), w.read.snapshot()
}

// Close closes the underlying connection and stops the fault pipes.
func (w *Conn) Close() error {
	err := w.PacketConn.Close()
	w.write.close()
	w.read.close()
	return err
}
