package dhcpboot

import (
	"net"
	"runtime"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

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
