package bootcfg

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pxekit/pxekit/kernelcmdline"
)

// hostileGRUB are values an attacker-controlled inventory could hold.
var hostileGRUB = []string{
	"", "plain", "two words", "it's", `'`, `''\''`, `"dq"`, "$prefix", "${root}",
	"$(reboot)", "a;reboot", "`reboot`", "}", "{", "} menuentry x {", "a\nreboot",
	"\\", `\'`, "#comment", "a|b&c<d>e", "é\xff\xa0", "\t", "-", "--class",
}

func TestGRUBQuoteReadsBack(t *testing.T) {
	for _, v := range hostileGRUB {
		q, err := GRUBQuote(v)
		if err != nil {
			t.Errorf("GRUBQuote(%q) = %v, want no error", v, err)
			continue
		}
		lines, err := readGRUB("echo " + q + "\n")
		if err != nil {
			t.Errorf("GRUBQuote(%q) = %s: GRUB's lexer: %v", v, q, err)
			continue
		}
		if want := []grubLine{{words: []string{"echo", v}, end: "\n"}}; !reflect.DeepEqual(lines, want) {
			t.Errorf("GRUBQuote(%q) = %s, GRUB reads %q, want %q", v, q, lines, want)
		}
	}
}

func TestGRUBQuoteRefuses(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{{"a\x00b", ErrGRUBNUL}, {"a\rb", ErrGRUBCR}, {"\r\n", ErrGRUBCR}} {
		if q, err := GRUBQuote(c.in); !errors.Is(err, c.want) || !strings.HasPrefix(err.Error(), "bootcfg: grub: ") {
			t.Errorf("GRUBQuote(%q) = %q, %v; want %v", c.in, q, err, c.want)
		}
	}
}

func TestGRUBKernelArgs(t *testing.T) {
	ok := [][]string{
		{"console=ttyS0", "quiet"},
		{"hostname=a b;c", "url=http://h/x?a=1&b=$x", "x=`id`", "y=}{", "z=a b\tc\nd"},
		{"k=", "empty=", "u=é"},
	}
	for _, params := range ok {
		words, err := GRUBKernelArgs(params)
		if err != nil {
			t.Errorf("GRUBKernelArgs(%q) = %v", params, err)
			continue
		}
		if got, want := linuxArgsFromGRUB(words), wantLinuxArgs(params); !reflect.DeepEqual(got, want) {
			t.Errorf("GRUBKernelArgs(%q) = %q: Linux reads %+v, want %+v", params, words, got, want)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{`a=it's`, ErrGRUBKernelArg},
		{`a=c:\dir`, ErrGRUBKernelArg},
		{`it's`, ErrGRUBKernelArg},
		{`a\b=c`, ErrGRUBKernelArg},
		{"a=x\ty", ErrGRUBKernelArg},
		{"a=x\ny", ErrGRUBKernelArg},
		{"a=x\xa0y", ErrGRUBKernelArg},
		{"a=x\ry z", ErrGRUBCR},
		{`a="q"`, kernelcmdline.ErrQuote},
		{"a=\x00", kernelcmdline.ErrNUL},
		{"=v", kernelcmdline.ErrName},
		{"a b", kernelcmdline.ErrName},
	}
	for _, c := range bad {
		words, err := GRUBKernelArgs([]string{"ok=1", c.in})
		var ke *kernelcmdline.Error
		if !errors.Is(err, c.want) || !errors.As(err, &ke) || !strings.Contains(err.Error(), "kernel argument 1") {
			t.Errorf("GRUBKernelArgs([ok=1 %q]) = %q, %v; want a *kernelcmdline.Error wrapping %v at index 1", c.in, words, err, c.want)
			continue
		}
		// The refusal is real: GRUB would change the argument.
		if c.want == ErrGRUBKernelArg {
			if got, want := linuxArgsFromGRUB([]string{c.in}), wantLinuxArgs([]string{c.in}); reflect.DeepEqual(got, want) {
				t.Errorf("GRUBKernelArgs refused %q, but GRUB would pass it unchanged (%+v)", c.in, got)
			}
		}
	}
}

func TestGRUBBuilder(t *testing.T) {
	var b GRUBBuilder
	b.Insmod("net", "tftp")
	b.SetDefault("node-1")
	b.SetTimeout(0)
	b.Cmd("echo", "booting $host")
	b.Entry(GRUBEntry{
		Title: "Debian 'stable' } $x", ID: "node-1", Classes: []string{"debian"},
		Commands: []GRUBCommand{{Name: "echo", Args: []string{"a;b", "c\nd"}}},
		Kernel:   "(http,boot.example)/vmlinuz", Args: []string{"console=ttyS0", "hostname=x y;z"},
		Initrds: []string{"/initrd.img", "/extra it's.cpio"},
	})
	b.Entry(GRUBEntry{Title: "Windows", Chainload: "/EFI/Microsoft/Boot/bootmgfw.efi"})
	b.Entry(GRUBEntry{Title: "Old RHEL", Kernel: "/vmlinuz", EFI: true, Initrds: []string{"/initrd"}})
	out, err := b.Bytes()
	if err != nil {
		t.Fatalf("Bytes() = %v", err)
	}
	want := `insmod 'net'
insmod 'tftp'
set default='node-1'
set timeout='0'
echo 'booting $host'
menuentry 'Debian '\''stable'\'' } $x' --id 'node-1' --class 'debian' {
	echo 'a;b' 'c
d'
	linux '(http,boot.example)/vmlinuz' 'console=ttyS0' 'hostname=x y;z'
	initrd '/initrd.img' '/extra it'\''s.cpio'
}
menuentry 'Windows' {
	chainloader '/EFI/Microsoft/Boot/bootmgfw.efi'
}
menuentry 'Old RHEL' {
	linuxefi '/vmlinuz'
	initrdefi '/initrd'
}
`
	if string(out) != want {
		t.Errorf("Bytes() =\n%s\nwant\n%s", out, want)
	}
	lines, err := readGRUB(string(out))
	if err != nil {
		t.Fatalf("GRUB's lexer on the built config: %v", err)
	}
	wantLines := []grubLine{
		{words: []string{"insmod", "net"}, end: "\n"},
		{words: []string{"insmod", "tftp"}, end: "\n"},
		{words: []string{"set", "default=node-1"}, end: "\n"},
		{words: []string{"set", "timeout=0"}, end: "\n"},
		{words: []string{"echo", "booting $host"}, end: "\n"},
		{words: []string{"menuentry", "Debian 'stable' } $x", "--id", "node-1", "--class", "debian"}, end: "{"},
		{words: []string{"echo", "a;b", "c\nd"}, end: "\n"},
		{words: []string{"linux", "(http,boot.example)/vmlinuz", "console=ttyS0", "hostname=x y;z"}, end: "\n"},
		{words: []string{"initrd", "/initrd.img", "/extra it's.cpio"}, end: "\n"},
		{end: "}"},
		{words: []string{"menuentry", "Windows"}, end: "{"},
		{words: []string{"chainloader", "/EFI/Microsoft/Boot/bootmgfw.efi"}, end: "\n"},
		{end: "}"},
		{words: []string{"menuentry", "Old RHEL"}, end: "{"},
		{words: []string{"linuxefi", "/vmlinuz"}, end: "\n"},
		{words: []string{"initrdefi", "/initrd"}, end: "\n"},
		{end: "}"},
	}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("GRUB reads\n%q\nwant\n%q", lines, wantLines)
	}
}

func TestGRUBBuilderRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		add  func(b *GRUBBuilder)
		want error
	}{
		{"title newline", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "a\nb", Kernel: "/k"}) }, ErrGRUBControl},
		{"title dash", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "--class x", Kernel: "/k"}) }, ErrGRUBDash},
		{"id dash", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "t", ID: "-x"}) }, ErrGRUBDash},
		{"id tab", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "t", ID: "a\tb"}) }, ErrGRUBControl},
		{"class NUL", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "t", Classes: []string{"\x00"}}) }, ErrGRUBNUL},
		{"no title", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Kernel: "/k"}) }, ErrGRUBEntry},
		{"kernel and chainload", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "t", Kernel: "/k", Chainload: "/c"}) }, ErrGRUBEntry},
		{"args without kernel", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "t", Args: []string{"a=1"}}) }, ErrGRUBEntry},
		{"initrd newc", func(b *GRUBBuilder) {
			b.Entry(GRUBEntry{Title: "t", Kernel: "/k", Initrds: []string{"newc:x:/y"}})
		}, ErrGRUBEntry},
		{"kernel arg", func(b *GRUBBuilder) {
			b.Entry(GRUBEntry{Title: "t", Kernel: "/k", Args: []string{`p=c:\x`}})
		}, ErrGRUBKernelArg},
		{"kernel CR", func(b *GRUBBuilder) { b.Entry(GRUBEntry{Title: "t", Kernel: "/k\r"}) }, ErrGRUBCR},
		{"command name", func(b *GRUBBuilder) { b.Cmd("echo;reboot") }, ErrGRUBName},
		{"command keyword", func(b *GRUBBuilder) { b.Cmd("menuentry", "x") }, ErrGRUBName},
		{"entry command", func(b *GRUBBuilder) {
			b.Entry(GRUBEntry{Title: "t", Commands: []GRUBCommand{{Name: "$x"}}})
		}, ErrGRUBName},
		{"module", func(b *GRUBBuilder) { b.Insmod("tftp; reboot") }, ErrGRUBName},
		{"set name", func(b *GRUBBuilder) { b.Set("a b", "c") }, ErrGRUBName},
		{"set value", func(b *GRUBBuilder) { b.SetDefault("\x00") }, ErrGRUBNUL},
		{"echo CR", func(b *GRUBBuilder) { b.Cmd("echo", "a\r") }, ErrGRUBCR},
	} {
		var b GRUBBuilder
		b.Cmd("echo", "fine")
		c.add(&b)
		out, err := b.Bytes()
		if !errors.Is(err, c.want) || !strings.HasPrefix(err.Error(), "bootcfg: grub: item 1: ") || strings.Count(err.Error(), "bootcfg:") != 1 {
			t.Errorf("%s: Bytes() = %q, %v; want an error for item 1 wrapping %v", c.name, out, err, c.want)
		}
	}
}

// TestGRUBBuilderHostile passes every hostile value through every field
// that takes one and checks GRUB's lexer reads each back unchanged.
func TestGRUBBuilderHostile(t *testing.T) {
	for _, v := range hostileGRUB {
		checkGRUBEntry(t, "title "+v, "id"+v, v, v, []string{"h=" + v}, []string{v})
	}
}

// checkGRUBEntry builds one entry, and when the builder accepts it checks
// that GRUB reads every word back and Linux every kernel argument; when it
// refuses, that the refusal has a reason. It returns whether it was built.
func checkGRUBEntry(t *testing.T, title, id, kernel, echo string, args, initrds []string) bool {
	t.Helper()
	var b GRUBBuilder
	b.SetDefault(id)
	e := GRUBEntry{Title: title, ID: id, Kernel: kernel, Args: args, Initrds: initrds,
		Commands: []GRUBCommand{{Name: "echo", Args: []string{echo}}}}
	b.Entry(e)
	out, err := b.Bytes()
	if err != nil {
		if errors.Is(err, ErrGRUBEntry) && kernel == "" {
			return false
		}
		all := append([]string{title, id, kernel, echo}, append(args, initrds...)...)
		for _, s := range all {
			if grubValueOK(s) != nil {
				return false
			}
		}
		if grubMenuTextOK(title) != nil || grubMenuTextOK(id) != nil || title == "" ||
			strings.HasPrefix(title, "-") || strings.HasPrefix(id, "-") {
			return false
		}
		for _, f := range initrds {
			if strings.HasPrefix(f, "newc:") {
				return false
			}
		}
		var ke *kernelcmdline.Error
		if errors.As(err, &ke) {
			return false
		}
		t.Fatalf("Bytes() refused %+v without a reason: %v", e, err)
	}
	lines, err := readGRUB(string(out))
	if err != nil {
		t.Fatalf("GRUB's lexer on\n%s\n: %v", out, err)
	}
	head := []string{"menuentry", title}
	if id != "" {
		head = append(head, "--id", id)
	}
	want := []grubLine{
		{words: []string{"set", "default=" + id}, end: "\n"},
		{words: head, end: "{"},
		{words: []string{"echo", echo}, end: "\n"},
		{words: append([]string{"linux", kernel}, args...), end: "\n"},
	}
	if len(initrds) > 0 {
		want = append(want, grubLine{words: append([]string{"initrd"}, initrds...), end: "\n"})
	}
	want = append(want, grubLine{end: "}"})
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("built\n%s\nGRUB reads %q\nwant %q", out, lines, want)
	}
	wantArgs := wantLinuxArgs(args)
	if i := slices.IndexFunc(wantArgs, func(a kernelcmdline.Arg) bool { return a.Name == "--" && !a.HasValue }); i >= 0 {
		wantArgs = wantArgs[:i] // Linux hands the rest to init
	}
	if got := linuxArgsFromGRUB(args); !reflect.DeepEqual(got, wantArgs) && !(len(got) == 0 && len(wantArgs) == 0) {
		t.Fatalf("kernel args %q: Linux reads %+v from GRUB's command line %q, want %+v", args, got, grubLoaderCmdline(args), wantArgs)
	}
	return true
}

func TestGRUBConfigNames(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0xAB, 0xcd, 0x01}
	got := GRUBConfigNames("(tftp,10.0.0.1)/grub/", "", mac, netip.MustParseAddr("10.77.0.5"))
	want := []string{
		"(tftp,10.0.0.1)/grub/grub.cfg-01-52-54-00-ab-cd-01",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A4D0005",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A4D000",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A4D00",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A4D0",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A4D",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A4",
		"(tftp,10.0.0.1)/grub/grub.cfg-0A",
		"(tftp,10.0.0.1)/grub/grub.cfg-0",
		"(tftp,10.0.0.1)/grub/grub.cfg",
	}
	if !slices.Equal(got, want) {
		t.Errorf("GRUBConfigNames(v4) =\n%q\nwant\n%q", got, want)
	}
	got = GRUBConfigNames("", "00112233-4455-6677-8899-aabbccddeeff", mac, netip.MustParseAddr("fd77::5"))
	want = []string{
		"grub.cfg-00112233-4455-6677-8899-aabbccddeeff",
		"grub.cfg-01-52-54-00-ab-cd-01",
		"grub.cfg-fd77-0-0-0-0-0-0-5",
		"grub.cfg",
	}
	if !slices.Equal(got, want) {
		t.Errorf("GRUBConfigNames(v6) =\n%q\nwant\n%q", got, want)
	}
	if got := GRUBConfigNames("grub", "", nil, netip.Addr{}); !slices.Equal(got, []string{"grub/grub.cfg"}) {
		t.Errorf("GRUBConfigNames(nothing known) = %q, want [grub/grub.cfg]", got)
	}
}
