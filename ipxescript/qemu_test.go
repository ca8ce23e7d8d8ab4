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
	transcript := bootIPXE(t, script, "END-OF-QUOTING-TEST")
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

// bootIPXE boots Debian's iPXE option ROM under QEMU (TCG, user-mode
// network with restrict=on: QEMU's built-in DHCP and TFTP serve script and
// nothing leaves the process), waits until the console shows end, and
// returns the console transcript without ANSI escapes.
func bootIPXE(t *testing.T, script []byte, end string) string {
	t.Helper()
	return bootIPXEFiles(t, map[string][]byte{"q.ipxe": script}, end)
}

// bootIPXEFiles is bootIPXE with more files in the TFTP root; the machine
// boots q.ipxe and has SMBIOS UUID qemuUUID.
func bootIPXEFiles(t *testing.T, files map[string][]byte, end string) string {
	t.Helper()
	return bootIPXEWith(t, ipxeBoot{Files: files, End: end})
}

// ipxeBoot describes one QEMU boot of iPXE for bootIPXEWith.
type ipxeBoot struct {
	Files map[string][]byte // TFTP root; the machine boots q.ipxe
	End   string            // console text that ends the boot
	// Modern makes the NIC a virtio 1.0 device only
	// (virtio-net-pci,disable-legacy=on); Debian's iPXE drives it.
	Modern bool
	// ROM is the iPXE option ROM (QEMU's romfile=); "" is QEMU's default,
	// Debian's iPXE.
	ROM string
}

// bootIPXEWith boots iPXE as bootIPXE does, with the options of b.
func bootIPXEWith(t *testing.T, b ipxeBoot) string {
	t.Helper()
	files, end := b.Files, b.End
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err == nil {
		_, err = os.Stat("/usr/lib/ipxe/qemu/efi-virtio.rom")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("QEMU or the iPXE ROM is missing (%v); CI must run this test", err)
		}
		t.Skipf("skipping: %v (apt-get install qemu-system-x86 ipxe-qemu)", err)
	}
	nic := "virtio-net-pci,netdev=n0" // QEMU's default ROM: Debian's iPXE
	if b.Modern {
		nic += ",disable-legacy=on"
	}
	if b.ROM != "" {
		nic += ",romfile=" + b.ROM
	}
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	serial := filepath.Join(dir, "serial.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-nographic", "-no-reboot",
		"-monitor", "none", "-serial", "file:"+serial, "-m", "128", "-machine", "pc", "-boot", "n", "-uuid", qemuUUID,
		"-netdev", "user,id=n0,restrict=on,tftp="+dir+",bootfile=q.ipxe",
		"-device", nic)
	var qout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qout, &qout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for {
		raw, _ := os.ReadFile(serial)
		transcript := clean(raw)
		if strings.Contains(transcript, end) {
			return transcript
		}
		if ctx.Err() != nil || strings.Contains(transcript, "No bootable device") {
			t.Fatalf("iPXE did not finish the script; console:\n%s\nqemu: %s", tail(transcript, 3000), qout.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRealIPXEInterpreter runs one script in real iPXE and in Runner and
// compares what "echo" printed: expansion (nesting, rescanning, empty and
// unknown settings, types), operators, goto on a label line, comments,
// continuations. Debian's ROM is iPXE 1.0.0+git-20190125; it does not
// percent-encode "+" in uristring (current iPXE, which Runner follows,
// does), so the uristring value here avoids "+".
func TestRealIPXEInterpreter(t *testing.T) {
	src := `#!ipxe
set a A
set b B
set aB nested
set ref:hex 24:7b:61:7d
echo O:1 x${a}y
echo O:2 ${a${b}}
echo O:3 ${ref:string}
echo O:4 [${unset}] [${}] [${a:bogus}] [${nosuch/a}]
echo O:5 $ ${a ${a}} $${a} a#b }{ ${a}}
set n:int32 -5
echo O:6 ${n} ${n:uint32} ${n:hex}
inc n 7
echo O:7 ${n}
set u:uint16 0x1f
echo O:8 ${u} ${u:int16} ${u:hexhyp}
set ip:ipv4 10.0.0.1
echo O:9 ${ip} ${ip:hex} ${ip:hexhyp} ${ip:hexraw}
set sp:hex 61:20:62:2f:63:3f:64:25:7e:3a:40:3d:26
echo O:10 ${sp:uristring}
set by:hex 00:ff:10
echo O:11 ${by:base64} ${by:hexraw}
iseq a b && echo O:12-bad || echo O:12 or-ran
iseq a a && echo O:13 and-ran ||
isset ${unset} || echo O:14 unset
goto skip ; echo O:15-bad
echo O:15-bad
  :skip echo O:16 label-line
echo O:17 a||b a&&b ;x # comment
echo -n O:18 no-newline${}
echo O:18b
set m:hex 7b:7d
echo O:19 ${m:string}   continuedjoined
set j one   two	three
echo O:20 ${j}
clear j
echo O:21 [${j}]
echo O:22 a\\\\

echo O:22b
echo O:23 crlf` + "\r\n" + `echo O:24 nul` + "\x00" + ` hidden
echo O:25 cr` + "\r\r\n" + `goto tab
echo O:26-bad
:tab` + "\t" + `echo O:26 tab-label
echo O:END
`
	f, err := Parse([]byte(src), "interp.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := (&Runner{Out: &out}).Run(f)
	if err != nil || res.Failed != nil {
		t.Fatalf("runner: %v %+v", err, res.Failed)
	}
	want := strings.Split(strings.TrimSpace(out.String()), "\n")
	transcript := bootIPXE(t, []byte(src), "O:END")
	var got []string
	for _, l := range strings.Split(transcript, "\n") {
		l = strings.TrimRight(l, "\r ")
		if i := strings.Index(l, "O:"); i >= 0 {
			got = append(got, l[i:])
		}
	}
	t.Logf("iPXE printed:\n%s", strings.Join(got, "\n"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("real iPXE and Runner differ\n got (iPXE):\n%s\nwant (Runner):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const qemuUUID = "8c2a5f3e-1111-4222-8333-444455556666"

// TestRealIPXEFlows runs the Builder's flows in real iPXE: a Menu whose
// timeout picks the default item, which chains the BootScript (DHCP retry,
// "Booting ..." line, chain with mac/arch/platform/uuid), which chains a
// last script over TFTP that prints what iPXE expanded.
func TestRealIPXEFlows(t *testing.T) {
	menu := NewBuilder()
	menu.Menu(MenuSpec{Title: "Test menu", Timeout: 1000, Default: "boot", Items: []MenuItemSpec{
		{Name: "wrong", Text: "Not this one", Body: func(b *Builder) { b.Cmd("echo", Raw("MENU-WRONG")) }},
		{Name: "boot", Text: "Boot # default", Body: func(b *Builder) {
			b.Cmd("echo", Raw("MENU-DEFAULT-OK"))
			b.Cmd("chain", Raw("tftp://10.0.2.2/boot.ipxe"))
		}},
	}})
	menuScript, err := menu.Script()
	if err != nil {
		t.Fatal(err)
	}
	boot, err := BootScript(BootConfig{URL: "tftp://10.0.2.2/next.ipxe", Attempts: 2, Delay: 1,
		Message: "pxekit test  boot # 1"})
	if err != nil {
		t.Fatal(err)
	}
	next := []byte("#!ipxe\necho NEXT-OK ${net0/mac:hexhyp} ${buildarch} ${platform} ${uuid}\necho FLOWS-END\n")
	tr := bootIPXEFiles(t, map[string][]byte{"q.ipxe": menuScript, "boot.ipxe": boot, "next.ipxe": next}, "FLOWS-END")
	for _, want := range []string{
		"MENU-DEFAULT-OK",
		"pxekit test  boot # 1",
		"Booting 52:54:00:12:34:56 arch i386 platform pcbios uuid " + qemuUUID,
		"NEXT-OK 52-54-00-12-34-56 i386 pcbios " + qemuUUID,
	} {
		if !strings.Contains(strings.NewReplacer("\r", "", "\n", "").Replace(tr), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(tr, "MENU-WRONG") || strings.Contains(tr, "Chainload failed") || strings.Contains(tr, "Could not boot") {
		t.Errorf("wrong path taken")
	}
	if t.Failed() {
		t.Logf("console:\n%s", tail(tr, 3000))
	}
}
