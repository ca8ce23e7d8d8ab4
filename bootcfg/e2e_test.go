package bootcfg

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/internal/qemulab"
	"github.com/pxekit/pxekit/tftpserve"
)

// bootLab is a qemulab namespace with pxekit's own servers in it: a
// dhcpboot.LabServer4 on the bridge and a tftpserve.Server on port 69,
// recording what they did.
type bootLab struct {
	*qemulab.Lab
	dhcp *dhcpboot.LabServer4

	mu        sync.Mutex
	transfers []tftpserve.TransferInfo
	exchanges []dhcpboot.Exchange4
}

// startBootLab serves DHCP (boot file bootFile for every client) and TFTP
// (handler h) in lab's namespace until the test ends.
func startBootLab(t *testing.T, lab *qemulab.Lab, bootFile string, h tftpserve.Handler) *bootLab {
	t.Helper()
	bl := &bootLab{Lab: lab}
	tmpl, err := dhcpboot.ParseTemplate(bootFile)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := dhcpboot.NewPolicy(dhcpboot.Rule{Name: "pxelinux", Action: dhcpboot.Action{BootFile: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	bl.dhcp = &dhcpboot.LabServer4{
		Policy:    policy,
		Interface: lab.Bridge,
		ServerIP:  lab.ServerIP,
		Subnets: []dhcpboot.Subnet{{
			Prefix:     lab.Prefix,
			RangeStart: netip.MustParseAddr("10.77.0.100"),
			RangeEnd:   netip.MustParseAddr("10.77.0.199"),
		}},
		OnReply: func(x dhcpboot.Exchange4) {
			bl.mu.Lock()
			bl.exchanges = append(bl.exchanges, x)
			bl.mu.Unlock()
		},
	}
	var dconn net.PacketConn
	if err := lab.NS.Do(func() (err error) {
		dconn, err = dhcpboot.ListenUDP4(lab.Bridge, 67)
		return err
	}); err != nil {
		t.Fatalf("DHCP socket in the namespace: %v", err)
	}
	go bl.dhcp.Serve(dconn)
	tconn, err := lab.NS.ListenPacket("udp4", lab.ServerIP.String()+":69")
	if err != nil {
		t.Fatalf("TFTP socket in the namespace: %v", err)
	}
	tsrv := &tftpserve.Server{Handler: h, ListenPacket: lab.NS.ListenPacket, OnTransfer: func(ti tftpserve.TransferInfo) {
		bl.mu.Lock()
		bl.transfers = append(bl.transfers, ti)
		bl.mu.Unlock()
	}}
	go tsrv.Serve(tconn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tsrv.Shutdown(ctx)
		_ = bl.dhcp.Shutdown(ctx)
		if t.Failed() {
			t.Logf("TFTP transfers:\n%s", strings.Join(bl.transferLog(), "\n"))
		}
	})
	return bl
}

// transferLog returns one line per finished TFTP transfer.
func (bl *bootLab) transferLog() []string {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	var out []string
	for _, ti := range bl.transfers {
		out = append(out, fmt.Sprintf("  %s %q %s bytes=%d err=%v", ti.Client.Addr(), ti.Filename, ti.Outcome, ti.Bytes, ti.Err))
	}
	return out
}

// fetched returns the paths of the transfers so far with their outcome:
// "path" for a complete one, "path (refused)" for a refusal, in order.
func (bl *bootLab) fetched() []string {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	var out []string
	for _, ti := range bl.transfers {
		switch ti.Outcome {
		case tftpserve.OutcomeOK:
			out = append(out, ti.Path)
		case tftpserve.OutcomeRefused:
			out = append(out, ti.Path+" (refused)")
		}
	}
	return out
}

// waitFetched waits until path has been transferred completely.
func (bl *bootLab) waitFetched(ctx context.Context, path string) error {
	for {
		if slices.Contains(bl.fetched(), path) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not fetched: %w; transfers:\n%s", path, ctx.Err(), strings.Join(bl.transferLog(), "\n"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lease returns the address and the client UUID (option 97 as sent) of
// the DHCP ACK sent to mac.
func (bl *bootLab) lease(mac net.HardwareAddr) (netip.Addr, []byte) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	for _, x := range slices.Backward(bl.exchanges) {
		if x.Reply == nil || !bytes.Equal(x.Request.ClientHWAddr, mac) || x.Reply.MessageType().String() != "ACK" {
			continue
		}
		ip, _ := netip.AddrFromSlice(x.Reply.YourIPAddr.To4())
		var uuid []byte
		if x.Boot != nil {
			uuid = x.Boot.Client.UUIDRaw
		}
		return ip, uuid
	}
	return netip.Addr{}, nil
}

// cpioFile is one entry of a newc cpio archive.
type cpioFile struct {
	name  string
	mode  uint32 // file type and permissions
	data  []byte
	major uint32 // device nodes
	minor uint32
}

// newcCPIO writes the files as a newc ("070701") cpio archive, the format
// Linux unpacks as an initramfs.
func newcCPIO(files []cpioFile) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	write := func(ino int, f cpioFile) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, f.mode, 0, 0, 1, 0, len(f.data), 0, 0, f.major, f.minor, len(f.name)+1, 0)
		b.WriteString(f.name)
		b.WriteByte(0)
		pad()
		b.Write(f.data)
		pad()
	}
	for i, f := range files {
		write(i+1, f)
	}
	write(0, cpioFile{name: "TRAILER!!!"})
	return b.Bytes()
}

// busyboxInitramfs builds an initramfs whose /init (busybox sh) runs
// script with /proc mounted, then powers the machine off. A dynamically
// linked busybox (Debian's package busybox; busybox-static conflicts with
// it) comes with its ELF interpreter and libraries.
func busyboxInitramfs(t *testing.T, busybox, script string) []byte {
	t.Helper()
	files := []cpioFile{
		{name: "bin", mode: 0o040755},
		{name: "dev", mode: 0o040755},
		{name: "proc", mode: 0o040755},
		{name: "dev/console", mode: 0o020600, major: 5, minor: 1},
	}
	dirs := map[string]bool{"bin": true}
	add := func(dst, src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		var parents []string
		for d := filepath.Dir(dst); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for _, d := range slices.Backward(parents) {
			files = append(files, cpioFile{name: d, mode: 0o040755})
		}
		files = append(files, cpioFile{name: dst, mode: 0o100755, data: b})
	}
	add("bin/busybox", busybox)
	libs, err := elfDependencies(busybox)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		add(strings.TrimPrefix(l, "/"), l)
	}
	init := "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n" + script + "\n/bin/busybox poweroff -f\n"
	files = append(files,
		cpioFile{name: "bin/sh", mode: 0o120777, data: []byte("busybox")},
		cpioFile{name: "init", mode: 0o100755, data: []byte(init)})
	return newcCPIO(files)
}

// elfDependencies returns the ELF interpreter and the shared libraries
// (found in Debian's amd64 library directories) a program needs; none for
// a static one.
func elfDependencies(prog string) ([]string, error) {
	f, err := elf.Open(prog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, err
			}
			out = append(out, strings.TrimRight(string(b), "\x00"))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		found := ""
		for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib"} {
			if _, err := os.Stat(filepath.Join(dir, l)); err == nil {
				found = filepath.Join(dir, l)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s needs %s, not found", prog, l)
		}
		out = append(out, found)
	}
	return out, nil
}

// debianKernel returns the newest /boot/vmlinuz-* and busybox, or ""
// when either is missing.
func debianKernel() (kernel, busybox string) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	slices.Sort(ks)
	for _, bb := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if st, err := os.Stat(bb); err == nil && st.Mode().IsRegular() && len(ks) > 0 {
			return ks[len(ks)-1], bb
		}
	}
	return "", ""
}

// openDir serves root until the test ends.
func openDir(t *testing.T, root string) *tftpserve.Dir {
	t.Helper()
	dir, err := tftpserve.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

// mustBuild builds spec or ends the test.
func mustBuild(t *testing.T, spec PXELinuxSpec) *PXELinux {
	t.Helper()
	f, err := BuildPXELinux(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
