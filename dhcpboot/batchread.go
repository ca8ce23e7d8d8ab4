package dhcpboot

import (
	"net"
	"runtime"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// datagramReader is how a serve loop reads its socket: read waits for at
// least one datagram and returns how many it read; datagram(i) returns the
// i-th with its sender, valid until the next read.
type datagramReader interface {
	read() (int, error)
	datagram(i int) ([]byte, net.Addr)
}

// newDatagramReader returns a batch reader for conn where one system call
// reads many datagrams, else a reader of one datagram at a time.
func newDatagramReader(conn net.PacketConn) datagramReader {
	if r := newBatchReader(conn); r != nil {
		return r
	}
	return &singleReader{conn: conn, buf: make([]byte, 65536)}
}

// singleReader reads one datagram per ReadFrom.
type singleReader struct {
	conn net.PacketConn
	buf  []byte
	n    int
	peer net.Addr
}

func (r *singleReader) read() (int, error) {
	n, peer, err := r.conn.ReadFrom(r.buf)
	if err != nil {
		return 0, err
	}
	r.n, r.peer = n, peer
	return 1, nil
}

func (r *singleReader) datagram(int) ([]byte, net.Addr) { return r.buf[:r.n], r.peer }

// readBatchSize is how many datagrams one read takes at most from a
// server's socket. Each needs a buffer for the largest datagram, so a
// socket's reader holds readBatchSize × 64 KiB of address space, of which
// only the pages datagrams fill become resident.
const readBatchSize = 16

// batchReader reads several datagrams per system call (recvmmsg) from a
// server's UDP socket: a burst of DISCOVERs and REQUESTs waiting in the
// receive buffer costs one read, not one each.
type batchReader struct {
	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn
	ms []ipv4.Message
}

// newBatchReader returns a batch reader for conn, or nil where a batch is
// not one system call (recvmmsg is Linux's) or conn is not a kernel UDP
// socket: then the serve loop reads one datagram at a time.
func newBatchReader(conn net.PacketConn) *batchReader {
	u, ok := conn.(*net.UDPConn)
	if !ok || runtime.GOOS != "linux" {
		return nil
	}
	r := &batchReader{ms: make([]ipv4.Message, readBatchSize)}
	if la, _ := u.LocalAddr().(*net.UDPAddr); la != nil && la.IP.To4() != nil {
		r.p4 = ipv4.NewPacketConn(u)
	} else {
		r.p6 = ipv6.NewPacketConn(u)
	}
	for i := range r.ms {
		r.ms[i].Buffers = [][]byte{make([]byte, 65536)}
	}
	return r
}

// read waits for at least one datagram and returns how many it read; the
// i-th is datagram(i), valid until the next read.
func (r *batchReader) read() (int, error) {
	if r.p4 != nil {
		return r.p4.ReadBatch(r.ms, 0)
	}
	return r.p6.ReadBatch(r.ms, 0)
}

// datagram returns the i-th datagram of the last read and its sender.
func (r *batchReader) datagram(i int) ([]byte, net.Addr) {
	m := &r.ms[i]
	return m.Buffers[0][:m.N], m.Addr
}
