package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// ubootBin is Debian's U-Boot for QEMU's arm64 "virt" machine (package
// u-boot-qemu; scripts/install-deps.sh installs it).
const ubootBin = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

// ubootConsole is U-Boot's serial console on QEMU's stdin and stdout: the
// test types commands and reads what U-Boot prints.
type ubootConsole struct {
	in io.Writer

	mu     sync.Mutex
	lines  []string
	notify chan struct{}
	done   chan struct{}
}

func (c *ubootConsole) read(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(scanLinesOrPrompt)
	for sc.Scan() {
		c.mu.Lock()
		c.lines = append(c.lines, qemulab.Clean(sc.Bytes())...)
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
	}
}

// scanLinesOrPrompt splits at line ends, and also after U-Boot's prompt
// "=> " and its autoboot countdown, which end no line.
func scanLinesOrPrompt(data []byte, atEOF bool) (int, []byte, error) {
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

// since returns the console lines from index from on.
func (c *ubootConsole) since(from int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines[min(from, len(c.lines)):]...)
}

func (c *ubootConsole) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// wait returns the console lines from index from until one contains text.
func (c *ubootConsole) wait(ctx context.Context, from int, text string) ([]string, error) {
	for {
		c.mu.Lock()
		ch := c.notify
		c.mu.Unlock()
		lines := c.since(from)
		for _, l := range lines {
			if strings.Contains(l, text) {
				return lines, nil
			}
		}
		select {
		case <-ctx.Done():
			return lines, fmt.Errorf("%q not on U-Boot's console: %w", text, ctx.Err())
		case <-c.done:
			return lines, fmt.Errorf("%q not on U-Boot's console: QEMU exited", text)
		case <-ch:
		}
	}
}

// run types cmd, then a marker command, and returns what the console shows
// until the marker is printed. The marker is written as PXEKIT${}-DONE so
// that U-Boot's echo of the typed line does not match it.
func (c *ubootConsole) run(ctx context.Context, t *testing.T, cmd string) []string {
	t.Helper()
	from := c.mark()
	if _, err := io.WriteString(c.in, cmd+"; echo PXEKIT${pxekit_none}-DONE\r"); err != nil {
		t.Fatalf("typing %q: %v", cmd, err)
	}
	lines, err := c.wait(ctx, from, "PXEKIT-DONE")
	if err != nil {
		t.Fatalf("%s: %v; console:\n    | %s", cmd, err, strings.Join(lines, "\n    | "))
	}
	return lines
}

// bootUBoot starts U-Boot under QEMU's arm64 "virt" machine (TCG) with a
// virtio-net NIC on a new tap of lab's bridge, stops its autoboot and
// returns its console at the "=> " prompt.
func bootUBoot(ctx context.Context, t *testing.T, lab *qemulab.Lab, qemu, mac string) *ubootConsole {
	t.Helper()
	lab.NS.Tap(t, "ubtap0", lab.Bridge)
	qctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := lab.NS.Command(qctx, qemu,
		"-M", "virt", "-cpu", "cortex-a57", "-accel", "tcg", "-m", "256",
		"-bios", ubootBin, "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=ubtap0,script=no,downscript=no",
		// romfile= (empty): no x86 iPXE option ROM on an arm64 machine.
		"-device", "virtio-net-pci,netdev=n0,mac="+mac+",romfile=")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var qlog strings.Builder
	cmd.Stderr = &qlog
	lab.NS.Track(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start QEMU: %v", err)
	}
	c := &ubootConsole{in: in, notify: make(chan struct{}), done: make(chan struct{})}
	go c.read(out)
	t.Cleanup(func() {
		cancel()
		<-c.done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("U-Boot console:\n    | %s\nQEMU stderr: %s", strings.Join(c.since(0), "\n    | "), qlog.String())
		}
	})
	if _, err := c.wait(ctx, 0, "Hit any key to stop autoboot"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(in, " "); err != nil {
		t.Fatal(err)
	}
	if _, err := c.wait(ctx, 0, "=>"); err != nil { // Clean drops the trailing space
		t.Fatal(err)
	}
	return c
}

// TestUBootPXEGet boots Debian's U-Boot (qemu_arm64, 2023.01) against
// pxeserver in lab mode under the default policy: `dhcp` must bring the
// next server and `pxe get` the PXELINUX config file the policy names
// (option 209, dhcpboot.DefaultUBootConfig); `pxe boot` then shows that
// U-Boot read that very file.
func TestUBootPXEGet(t *testing.T) {
	netlab.Require(t)
	qemu := netlab.RequireTool(t, "qemu-system-aarch64")
	if _, err := os.Stat(ubootBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set: make test installs u-boot-qemu)", err)
		}
		t.Skipf("skipping: %v; install it with: apt-get install u-boot-qemu", err)
	}
	start := time.Now()
	lab := qemulab.NewLab(t, qemulab.Firmware{})
	root := filepath.Join(lab.Dir, "boot")
	const config = "pxelinux.cfg/default" // dhcpboot.DefaultUBootConfig
	if err := os.MkdirAll(filepath.Join(root, "pxelinux.cfg"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "default pxekit\nlabel pxekit\n  kernel pxekit-uboot-kernel\n"
	if err := os.WriteFile(filepath.Join(root, config), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "lab", "-tftp-root", root)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const mac = "52:54:00:77:00:21"
	con := bootUBoot(ctx, t, lab, qemu, mac)
	booted := time.Since(start)

	// autoload no: `dhcp` alone, without loading a boot file, as a
	// `dhcp; pxe get; pxe boot` boot command has it.
	dhcp := con.run(ctx, t, "setenv autoload no; dhcp; echo serverip=${serverip}")
	if !contains(dhcp, "DHCP client bound to address 10.77.0.") {
		t.Fatalf("dhcp: no lease:\n%s", strings.Join(dhcp, "\n"))
	}
	if !contains(dhcp, "serverip="+lab.ServerIP.String()) {
		t.Errorf("dhcp: U-Boot's serverip is not pxeserver's %s (no next server in the answer):\n%s", lab.ServerIP, strings.Join(dhcp, "\n"))
	}
	t.Logf("dhcp on U-Boot's console:\n    | %s", strings.Join(dhcp, "\n    | "))
	get := con.run(ctx, t, "pxe get")
	var retrieved []string
	for _, l := range get {
		if f, ok := strings.CutPrefix(l, "Retrieving file: "); ok {
			retrieved = append(retrieved, f)
		}
	}
	found := false // "Config file found" (2023.01: "Config file '<NULL>' found"), not "Config file not found"
	for _, l := range get {
		found = found || strings.HasPrefix(l, "Config file ") && strings.HasSuffix(l, " found") && !strings.Contains(l, "not found")
	}
	if len(retrieved) == 0 || retrieved[len(retrieved)-1] != config || !found {
		t.Fatalf("pxe get did not retrieve %s:\n%s", config, strings.Join(get, "\n"))
	}
	// Option 209 reached U-Boot: U-Boot 2023.04 and later fetch it first;
	// older ones (Debian 12 ships 2023.01) say they cannot use it and find
	// the same file by their own search (01-<mac>, <hex IP>..., default-arm,
	// default), which DefaultUBootConfig ends.
	switch {
	case retrieved[0] == config:
		t.Logf("U-Boot fetched option 209's %s first", config)
	case contains(dhcp, "Unhandled DHCP Option in OFFER/ACK: 209"):
		t.Logf("U-Boot got option 209 but cannot use it; its own search tried %d names and ended at %s", len(retrieved), config)
	default:
		t.Errorf("U-Boot neither used nor saw option 209; it tried %q", retrieved)
	}
	// pxe boot parses the file: its one label's kernel is asked for (and
	// is missing, so U-Boot stays at its prompt).
	boot := con.run(ctx, t, "pxe boot")
	if !contains(boot, "Retrieving file: pxekit-uboot-kernel") {
		t.Errorf("pxe boot did not parse %s:\n%s", config, strings.Join(boot, "\n"))
	}
	t.Logf("U-Boot at its prompt %.1fs after the start, config retrieved %.1fs after it",
		booted.Seconds(), time.Since(start).Seconds())

	// pxeserver's log: the U-Boot rule decided, and the config file the
	// policy named is the one U-Boot fetched over TFTP.
	var decided, fetched bool
	var dhcpLines []string
	for _, l := range srv.snapshot() {
		switch l.str("kind") {
		case "dhcp":
			if !strings.HasPrefix(l.str("client.vendor_class"), "U-Boot") {
				continue
			}
			dhcpLines = append(dhcpLines, summary(l))
			if l.str("rule") == "uboot" && l.str("reply") == "ACK" &&
				l.num("client.arch") == 22 && strings.HasPrefix(l.str("client.vendor_class"), "U-Boot.armv8") {
				decided = true
			}
		case "tftp":
			if l.str("filename") == config && l.str("outcome") == "ok" && l.num("bytes") == float64(len(cfg)) {
				fetched = true
			}
		}
	}
	if !decided {
		t.Errorf("no DHCP ACK from rule \"uboot\"; U-Boot's dhcp lines:\n%s", strings.Join(dhcpLines, "\n"))
	}
	if !fetched {
		t.Errorf("pxeserver logged no complete TFTP transfer of %s", config)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
