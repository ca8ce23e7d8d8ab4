package tftpserve

import (
	"math/bits"
	"sync"
)

// Packet buffers are pooled by power-of-two size class, so a boot storm
// reuses the same window buffers instead of allocating per transfer.
var bufPools [18]sync.Pool // classes 2^0 … 2^17 (≥ 65468)

func bufClass(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// getBuf returns a buffer of length n.
func getBuf(n int) []byte {
	c := bufClass(n)
	if c >= len(bufPools) {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// putBuf returns a buffer obtained from getBuf.
func putBuf(b []byte) {
	c := bufClass(cap(b))
	if c >= len(bufPools) || cap(b) != 1<<c {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}

// release returns the transfer's window buffers to the pool.
func (t *transfer) release() {
	for i := range t.ring {
		if t.ring[i].buf != nil {
			putBuf(t.ring[i].buf)
			t.ring[i].buf = nil
		}
	}
	if t.rbuf != nil {
		putBuf(t.rbuf)
		t.rbuf = nil
	}
	if t.stage != nil {
		putBuf(t.stage)
		t.stage = nil
	}
}
