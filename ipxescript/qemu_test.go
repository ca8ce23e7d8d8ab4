package ipxescript

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealIPXEQuoting runs the builder's output for every hostile value in
// real iPXE (Debian's iPXE option ROM for virtio-net, under QEMU with TCG).
// The script is served by QEMU's own user-mode DHCP/TFTP with restrict=on:
// the guest can reach nothing outside QEMU and QEMU opens no host port, so
// no packet leaves the process. For each value the script stores a
// reference with the primitive "set ref:hex <bytes>" and then checks, in
// iPXE itself, that the builder's word is one argument equal to it
// ("iseq <word> ${ref:string}", which fails on a different argument count
// or value), and that "set r <word>" stores exactly those bytes (printed
// as hex and compared here).
func TestRealIPXEQuoting(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	rom := "/usr/lib/ipxe/qemu/efi-virtio.rom"
	if err == nil {
		_, err = os.Stat(rom)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("QEMU or the iPXE ROM is missing (%v); CI must run this test", err)
		}
		t.Skipf("skipping: %v (apt-get install qemu-system-x86 ipxe-qemu)", err)
	}
	b := NewBuilder()
	for i, v := range hostile {
		if i == len(hostile)/2 {
			b.Encoding = Base64 // both encodings, one boot
		}
		id := fmt.Sprint(i)
		b.Cmd("set", Raw("ref:hex"), Raw(hexColon(v)))
		if v == "" {
			b.Cmd("clear", Raw("ref"))
		}
		b.Cmd("iseq", Value(v), Setting("ref:string")).And("echo", Raw("EQ"+id)).Or("echo", Raw("NE"+id))
		b.Cmd("set", Raw("r"), Value(v))
		if len(v) <= 64 {
			b.Cmd("echo", Raw("R"+id+":${r:hexraw}:E"))
		}
	}
	b.Cmd("echo", Raw("END-OF-QUOTING-TEST"))
	script, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}
	// Negative control: the same value written naively (unquoted) must
	// not reach iseq as one argument, or this test could not fail.
	script = bytes.Replace(script, []byte("echo END-OF-QUOTING-TEST"),
		[]byte("set ref:hex 61:20:62\niseq a b ${ref:string} && echo CTRL-EQ || echo CTRL-NE\necho END-OF-QUOTING-TEST"), 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.ipxe"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(dir, "serial.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-nographic", "-no-reboot",
		"-monitor", "none", "-serial", "file:"+serial, "-m", "128", "-machine", "pc", "-boot", "n",
		"-netdev", "user,id=n0,restrict=on,tftp="+dir+",bootfile=q.ipxe",
		"-device", "virtio-net-pci,netdev=n0") // QEMU's default ROM: Debian's iPXE

	var qout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qout, &qout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var transcript string
	for {
		raw, _ := os.ReadFile(serial)
		transcript = clean(raw)
		if strings.Contains(transcript, "END-OF-QUOTING-TEST") {
			break
		}
		if ctx.Err() != nil || strings.Contains(transcript, "No bootable device") {
			t.Fatalf("iPXE did not finish the script in time; console:\n%s\nqemu: %s", tail(transcript, 3000), qout.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The console wraps at 80 columns: join everything before matching.
	joined := strings.NewReplacer("\r", "", "\n", "").Replace(transcript)
	rx := regexp.MustCompile(`R(\d+):([0-9a-f]*):E`)
	got := map[string]string{}
	for _, m := range rx.FindAllStringSubmatch(joined, -1) {
		got[m[1]] = m[2]
	}
	if !strings.Contains(transcript, "CTRL-NE") || strings.Contains(transcript, "CTRL-EQ") {
		t.Errorf("negative control: an unquoted value was not split by iPXE?")
	}
	if n := len(regexp.MustCompile(`EQ\d+`).FindAllString(transcript, -1)); n != len(hostile) {
		t.Errorf("%d EQ lines for %d values", n, len(hostile))
	}
	for i, v := range hostile {
		id := fmt.Sprint(i)
		if !regexp.MustCompile(`EQ` + id + `\b`).MatchString(transcript) {
			t.Errorf("value %d %.40q: iPXE did not see one identical argument (console has NE%s?)", i, v, id)
		}
		if len(v) <= 64 && got[id] != hex.EncodeToString([]byte(v)) {
			t.Errorf("value %d %q: iPXE stored %q, want %q", i, v, got[id], hex.EncodeToString([]byte(v)))
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", tail(transcript, 4000))
	}
}

func hexColon(s string) string {
	if s == "" {
		return "00" // replaced by clear below
	}
	h := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		h[i] = fmt.Sprintf("%02x", s[i])
	}
	return strings.Join(h, ":")
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1bc`)

func clean(raw []byte) string { return ansi.ReplaceAllString(string(raw), "") }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
