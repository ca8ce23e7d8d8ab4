//go:build !unix

package tftpserve

const openFlags = 0
