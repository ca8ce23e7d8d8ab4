package qemulab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
)

// UBootARM64 is Debian's U-Boot for QEMU's arm64 "virt" machine (package
// u-boot-qemu; Debian 12 ships 2023.01).
const UBootARM64 = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

// RequireUBoot skips the test unless namespaces can be made,
// qemu-system-aarch64 and Debian's U-Boot are installed (it fails instead
// under CI), and returns the QEMU binary.
func RequireUBoot(t testing.TB) string {
	t.Helper()
	netlab.Require(t)
	qemu := netlab.RequireTool(t, "qemu-system-aarch64")
	if _, err := os.Stat(UBootARM64); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set: make test installs u-boot-qemu)", err)
		}
		t.Skipf("skipping: %v; install it with: apt-get install u-boot-qemu", err)
	}
	return qemu
}

// UBoot is U-Boot's serial console on QEMU's stdin and stdout: a test
// types commands and reads what U-Boot prints.
type UBoot struct {
	in io.Writer

	mu     sync.Mutex
	lines  []string
	notify chan struct{}
	done   chan struct{}
}

// BootUBoot starts U-Boot (UBootARM64) under QEMU's arm64 "virt" machine
// (TCG) with one NIC with address mac on a new tap of the lab's bridge,
// stops its autoboot and returns its console at the "=> " prompt. nic is
// the QEMU device: "virtio-net-device" (virtio over MMIO, whose MAC U-Boot
// reads right) or "virtio-net-pci". QEMU is killed when the test ends.
func (l *Lab) BootUBoot(ctx context.Context, t testing.TB, qemu string, mac net.HardwareAddr, nic string) *UBoot {
	t.Helper()
	l.mu.Lock()
	l.taps++
	tap := fmt.Sprintf("tap%d", l.taps)
	l.mu.Unlock()
	l.NS.Tap(t, tap, l.Bridge)
	dev := nic + ",netdev=n0,mac=" + mac.String()
	if strings.HasSuffix(nic, "-pci") {
		dev += ",romfile=" // no x86 iPXE option ROM on an arm64 machine
	}
	qctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := l.NS.Command(qctx, qemu,
		"-M", "virt", "-cpu", "cortex-a57", "-accel", "tcg", "-m", "256",
		"-bios", UBootARM64, "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no", "-device", dev)
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var qlog strings.Builder
	cmd.Stderr = &qlog
	l.NS.Track(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("qemulab: start QEMU: %v", err)
	}
	u := &UBoot{in: in, notify: make(chan struct{}), done: make(chan struct{})}
	go u.read(out)
	t.Cleanup(func() {
		cancel()
		<-u.done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("U-Boot console:\n    | %s\nQEMU stderr: %s", strings.Join(u.Since(0), "\n    | "), qlog.String())
		}
	})
	if _, err := u.Wait(ctx, 0, "Hit any key to stop autoboot"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(in, " "); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Wait(ctx, 0, "=>"); err != nil { // Clean drops the trailing space
		t.Fatal(err)
	}
	return u
}

func (u *UBoot) read(r io.Reader) {
	defer close(u.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(scanUBoot)
	for sc.Scan() {
		u.mu.Lock()
		u.lines = append(u.lines, Clean(sc.Bytes())...)
		close(u.notify)
		u.notify = make(chan struct{})
		u.mu.Unlock()
	}
}

// scanUBoot splits at line ends, and also after U-Boot's prompt "=> " and
// its autoboot countdown, which end no line.
func scanUBoot(data []byte, atEOF bool) (int, []byte, error) {
	if i := strings.IndexAny(string(data), "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if s := string(data); strings.HasSuffix(s, "=> ") || strings.Contains(s, "autoboot:") {
		return len(data), data, nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// Since returns the console lines from index from on.
func (u *UBoot) Since(from int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.lines[min(from, len(u.lines)):]...)
}

// Mark returns the index of the next console line.
func (u *UBoot) Mark() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.lines)
}

// Wait returns the console lines from index from until one contains text.
func (u *UBoot) Wait(ctx context.Context, from int, text string) ([]string, error) {
	for {
		u.mu.Lock()
		ch := u.notify
		u.mu.Unlock()
		lines := u.Since(from)
		for _, l := range lines {
			if strings.Contains(l, text) {
				return lines, nil
			}
		}
		select {
		case <-ctx.Done():
			return lines, fmt.Errorf("qemulab: %q not on U-Boot's console: %w", text, ctx.Err())
		case <-u.done:
			return lines, fmt.Errorf("qemulab: %q not on U-Boot's console: QEMU exited", text)
		case <-ch:
		}
	}
}

// Run types cmd, then a marker command, and returns what the console shows
// until the marker is printed. The marker is written as PXEKIT${}-DONE so
// that U-Boot's echo of the typed line does not match it.
func (u *UBoot) Run(ctx context.Context, t testing.TB, cmd string) []string {
	t.Helper()
	from := u.Mark()
	if _, err := io.WriteString(u.in, cmd+"; echo PXEKIT${pxekit_none}-DONE\r"); err != nil {
		t.Fatalf("qemulab: typing %q: %v", cmd, err)
	}
	lines, err := u.Wait(ctx, from, "PXEKIT-DONE")
	if err != nil {
		t.Fatalf("%s: %v; console:\n    | %s", cmd, err, strings.Join(lines, "\n    | "))
	}
	return lines
}
