// Command pinget downloads one file with github.com/pin/tftp/v3's client, the
// Go client in pxekit's client matrix benchmark.
//
//	pinget -blksize 1468 HOST:PORT NAME DEST
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pin/tftp/v3"
)

func main() {
	blksize := flag.Int("blksize", 512, "block size to ask for (RFC 2348)")
	tsize := flag.Bool("tsize", true, "ask for the transfer size (RFC 2349)")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: pinget [-blksize N] [-tsize=false] HOST:PORT NAME DEST")
		os.Exit(2)
	}
	if err := get(flag.Arg(0), flag.Arg(1), flag.Arg(2), *blksize, *tsize); err != nil {
		fmt.Fprintln(os.Stderr, "pinget:", err)
		os.Exit(1)
	}
}

func get(addr, name, dest string, blksize int, tsize bool) error {
	c, err := tftp.NewClient(addr)
	if err != nil {
		return err
	}
	if blksize != 512 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(tsize)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return err
	}
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
