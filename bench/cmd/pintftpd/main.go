// Command pintftpd serves a directory with github.com/pin/tftp/v3's server, the
// baseline in pxekit's benchmarks.
//
//	pintftpd -addr :69 -root DIR [-anticipate N]
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/pin/tftp/v3"
)

func main() {
	addr := flag.String("addr", ":69", "UDP address to listen on")
	root := flag.String("root", ".", "directory to serve")
	anticipate := flag.Uint("anticipate", 0, "send this many blocks ahead (pin/tftp SetAnticipate; 0 = off)")
	flag.Parse()

	read := func(name string, rf io.ReaderFrom) error {
		clean := filepath.Clean("/" + strings.TrimLeft(name, "/"))
		f, err := os.Open(filepath.Join(*root, clean))
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			if t, ok := rf.(tftp.OutgoingTransfer); ok {
				t.SetSize(st.Size())
			}
		}
		_, err = rf.ReadFrom(f)
		return err
	}
	s := tftp.NewServer(read, nil)
	if *anticipate > 0 {
		s.SetAnticipate(*anticipate)
	}
	fmt.Fprintf(os.Stderr, "pintftpd: serving %s on %s\n", *root, *addr)
	if err := s.ListenAndServe(*addr); err != nil {
		log.Fatal(err)
	}
}
