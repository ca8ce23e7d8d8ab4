//go:build !unix

package regfile

// nonBlock is 0 where open cannot block on a FIFO.
const nonBlock = 0
