//go:build unix

package regfile

import "syscall"

// nonBlock keeps a FIFO or device planted where a file is expected from
// blocking open; regular files ignore it.
const nonBlock = syscall.O_NONBLOCK
