//go:build unix

package tftpserve

import "syscall"

// openFlags keeps a FIFO planted in the served tree from blocking open.
const openFlags = syscall.O_NONBLOCK
