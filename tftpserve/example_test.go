package tftpserve_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"github.com/pxekit/pxekit/tftpserve"
)

// fetch downloads a file with the pin/tftp client (a real peer).
func fetch(addr, name string) string {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		return err.Error()
	}
	c.SetBlockSize(1468)
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		// pin/tftp reports "code: N, message: …"; keep the code.
		if code, _, ok := strings.Cut(strings.TrimPrefix(err.Error(), "code: "), ","); ok {
			return "error: code " + code
		}
		return "error: " + err.Error()
	}
	var b strings.Builder
	if _, err := wt.WriteTo(&b); err != nil {
		return "error: " + err.Error()
	}
	return b.String()
}

// A boot server: a static tree, a generated per-MAC PXELINUX config and an
// iPXE script, with a smaller block size for one troublesome client.
func Example() {
	static := fstest.MapFS{"ipxe.efi": {Data: []byte("EFI binary")}}

	mux := tftpserve.NewServeMux()
	mux.Handle("", tftpserve.FS(static))
	mux.Handle("pxelinux.cfg/", tftpserve.ContentFunc(func(r *tftpserve.Request) ([]byte, error) {
		mac, ok := strings.CutPrefix(r.Path, "pxelinux.cfg/01-")
		if !ok {
			return nil, tftpserve.ErrNotFound
		}
		return []byte("DEFAULT linux\n# for " + mac + "\n"), nil
	}))
	mux.Handle("boot.ipxe", tftpserve.ContentFunc(func(r *tftpserve.Request) ([]byte, error) {
		return []byte("#!ipxe\nchain http://10.0.0.1/menu.ipxe\n"), nil
	}))

	srv := &tftpserve.Server{
		Handler: mux,
		Tune: func(r *tftpserve.Request, l *tftpserve.Limits) {
			if r.RemoteAddr.Addr() == netip.MustParseAddr("10.0.0.99") {
				l.BlockSize = 512 // old firmware that breaks with large blocks
			}
		},
	}
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	go srv.Serve(pc)
	defer srv.Shutdown(context.Background())

	addr := pc.LocalAddr().String()
	fmt.Println(fetch(addr, "ipxe.efi"))
	fmt.Print(fetch(addr, "/pxelinux.cfg/01-52-54-00-12-34-56"))
	fmt.Print(fetch(addr, `boot.ipxe`))
	fmt.Println(fetch(addr, "missing"))
	// Output:
	// EFI binary
	// DEFAULT linux
	// # for 52-54-00-12-34-56
	// #!ipxe
	// chain http://10.0.0.1/menu.ipxe
	// error: code 1
}

// OnTransfer sees one record per transfer: here the EDK2 size probe that
// ends with ERROR 8, which is a normal outcome.
func ExampleServer_OnTransfer() {
	done := make(chan tftpserve.TransferInfo, 1)
	srv := &tftpserve.Server{
		Handler:    tftpserve.FS(fstest.MapFS{"f": {Data: make([]byte, 4096)}}),
		OnTransfer: func(i tftpserve.TransferInfo) { done <- i },
	}
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	go srv.Serve(pc)
	defer srv.Shutdown(context.Background())

	c, _ := pintftp.NewClient(pc.LocalAddr().String())
	c.SetBlockSize(1468)
	wt, _ := c.Receive("f", "octet")
	_, _ = wt.WriteTo(new(strings.Builder))
	i := <-done
	fmt.Println(i.Outcome, i.Bytes, i.BlockSize, i.Size)
	// Output:
	// ok 4096 1468 4096
}

func ExampleCleanPath() {
	for _, name := range []string{`\boot\x64\wdsnbp.com`, "//ipxe.efi", "a/../../etc/passwd"} {
		p, err := tftpserve.CleanPath(name)
		fmt.Printf("%q %v\n", p, err)
	}
	// Output:
	// "boot/x64/wdsnbp.com" <nil>
	// "ipxe.efi" <nil>
	// "" tftpserve: invalid file name: ".." segment
}

// Serve a directory from memory: one shared copy per file for all clients,
// reloaded when the file changes on disk.
func ExampleNewCache() {
	root, _ := os.MkdirTemp("", "tftproot")
	defer os.RemoveAll(root)
	os.WriteFile(filepath.Join(root, "undionly.kpxe"), []byte("version 1"), 0o644)

	dir, err := tftpserve.OpenDir(root) // os.Root: nothing outside root is reachable
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dir.Close()
	cache := tftpserve.NewCache(dir.FS())
	srv := &tftpserve.Server{Handler: cache}
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	go srv.Serve(pc)
	defer srv.Shutdown(context.Background())

	addr := pc.LocalAddr().String()
	fmt.Println(fetch(addr, "undionly.kpxe"))
	fmt.Println(fetch(addr, "/undionly.kpxe"))
	os.WriteFile(filepath.Join(root, "undionly.kpxe"), []byte("version 2!"), 0o644)
	fmt.Println(fetch(addr, "undionly.kpxe"))
	fmt.Println(fetch(addr, "../etc/passwd"))
	fmt.Println("loads:", cache.Loads())
	// Output:
	// version 1
	// version 1
	// version 2!
	// error: code 2
	// loads: 2
}

// Accept uploads (WRQ), for example crash dumps from firmware.
func ExampleWriteHandlerFunc() {
	got := make(chan string, 1)
	srv := &tftpserve.Server{
		WriteHandler: tftpserve.WriteHandlerFunc(func(r *tftpserve.Request, body io.Reader) error {
			b, err := io.ReadAll(io.LimitReader(body, 1<<20))
			if err != nil {
				return err
			}
			got <- r.Path + ": " + string(b)
			return nil
		}),
	}
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	go srv.Serve(pc)
	defer srv.Shutdown(context.Background())

	c, _ := pintftp.NewClient(pc.LocalAddr().String())
	rf, err := c.Send("logs/boot.txt", "octet")
	if err != nil {
		fmt.Println(err)
		return
	}
	rf.ReadFrom(strings.NewReader("kernel panic"))
	fmt.Println(<-got)
	// Output:
	// logs/boot.txt: kernel panic
}
