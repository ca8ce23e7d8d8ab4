package ipxescript_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pxekit/pxekit/ipxescript"
)

func ExampleFormat() {
	src := "#!ipxe\r\n  :retry   dhcp  ||  goto retry   \r\n\r\n\r\nchain   http://${next-server}/boot.ipxe  # next\r\n"
	out, err := ipxescript.Format([]byte(src), "boot.ipxe")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// #!ipxe
	// :retry dhcp || goto retry
	//
	// chain http://${next-server}/boot.ipxe # next
}

func ExampleParse() {
	f, err := ipxescript.Parse([]byte("#!ipxe\nisset ${filename} || goto nofile\n"), "x.ipxe")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range f.Lines[1].Cmds {
		var words []string
		for _, w := range c.Words {
			words = append(words, w.Text())
		}
		fmt.Printf("%q %q at %v\n", c.Op.String(), words, c.Pos())
	}
	// Output:
	// "" ["isset" "${filename}"] at 2:1
	// "||" ["goto" "nofile"] at 2:19
}

func ExampleQuote() {
	q, err := ipxescript.Quote("my host # 1", "_h")
	fmt.Printf("%q %q %v\n", q.Setup, q.Word, err)
	q, err = ipxescript.Quote("plain-value", "_h")
	fmt.Printf("%q %q %v\n", q.Setup, q.Word, err)
	_, err = ipxescript.Quote("${secret}", "_h")
	fmt.Println(err)
	// Output:
	// "set _h:hex 6d:79:20:68:6f:73:74:20:23:20:31" "${_h:string}" <nil>
	// "" "plain-value" <nil>
	// ipxescript: value "${secret}": contains "${" followed by "}" (iPXE would expand it again) (at byte 0)
}

func ExampleBuilder() {
	b := ipxescript.NewBuilder()
	b.Cmd("echo", ipxescript.Value("hello # world || ${x"))
	b.Cmd("imgfetch", ipxescript.Opt("name", ipxescript.Value("-odd name")), ipxescript.Raw("http://10.0.0.1/initrd.img"))
	b.Cmd("chain", ipxescript.Value("-starts-with-dash")).Or("goto", ipxescript.Raw("failed"))
	b.Label("failed")
	b.Cmd("exit", ipxescript.Raw("1"))
	script, err := b.Script()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(script))
	// Output:
	// #!ipxe
	// set _pxk1:hex 68:65:6c:6c:6f:20:23:20:77:6f:72:6c:64:20:7c:7c:20:24:7b:78
	// echo ${_pxk1:string}
	// set _pxk2:hex 2d:6f:64:64:20:6e:61:6d:65
	// imgfetch --name=${_pxk2:string} http://10.0.0.1/initrd.img
	// chain -- -starts-with-dash || goto failed
	// :failed
	// exit 1
}

// The default script of a boot server: DHCP with retry, say who booted,
// chain a per-machine URL.
func ExampleBootScript() {
	script, err := ipxescript.BootScript(ipxescript.BootConfig{
		URL:      "http://10.0.0.1:8080/ipxe/boot.ipxe",
		Attempts: 5,
		Delay:    3,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(script))
	// Output:
	// #!ipxe
	// :start-1
	// set _pxk-dhcp-try:int32 0
	// :dhcp-2
	// inc _pxk-dhcp-try
	// dhcp && goto dhcp-ok-3 ||
	// iseq ${_pxk-dhcp-try} 5 && goto dhcp-failed-4 ||
	// echo DHCP attempt ${_pxk-dhcp-try} of 5 failed, retrying in 3 s
	// sleep 3
	// goto dhcp-2
	// :dhcp-failed-4
	// echo DHCP failed after 5 attempts
	// exit 1
	// :dhcp-ok-3
	// echo Booting ${net0/mac} arch ${buildarch} platform ${platform} uuid ${uuid}
	// chain --autofree http://10.0.0.1:8080/ipxe/boot.ipxe?mac=${net0/mac:hexhyp}&arch=${buildarch:uristring}&platform=${platform:uristring}&uuid=${uuid} || goto chain-failed-5
	// exit
	// :chain-failed-5
	// echo Chainload failed, starting over in 5 s
	// sleep 5
	// goto start-1
}

// Chainload with a DHCP retry loop (a NIC that times out right after the
// chainload gets more chances).
func ExampleBuilder_ChainWithRetry() {
	b := ipxescript.NewBuilder()
	b.ChainWithRetry(ipxescript.Raw("http://${next-server}/menu.ipxe"), 3, 2)
	fmt.Print(b)
	// Output:
	// #!ipxe
	// set _pxk-dhcp-try:int32 0
	// :dhcp-1
	// inc _pxk-dhcp-try
	// dhcp && goto dhcp-ok-2 ||
	// iseq ${_pxk-dhcp-try} 3 && goto dhcp-failed-3 ||
	// echo DHCP attempt ${_pxk-dhcp-try} of 3 failed, retrying in 2 s
	// sleep 2
	// goto dhcp-1
	// :dhcp-failed-3
	// echo DHCP failed after 3 attempts
	// exit 1
	// :dhcp-ok-2
	// chain --autofree http://${next-server}/menu.ipxe || goto chain-failed-4
	// exit
	// :chain-failed-4
	// echo Chainload failed
	// exit 1
}

// A static address typed at the console, then a stage-2 script.
func ExampleBuilder_AskStaticIP() {
	b := ipxescript.NewBuilder()
	b.AskStaticIP("net0", ipxescript.Value("http://192.168.1.10/stage2.ipxe"))
	fmt.Print(b)
	// Output:
	// #!ipxe
	// ifopen net0
	// set _pxk1:hex 49:50:20:61:64:64:72:65:73:73:3a:20
	// echo -n ${_pxk1:string}
	// read net0/ip
	// set _pxk2:hex 4e:65:74:6d:61:73:6b:3a:20
	// echo -n ${_pxk2:string}
	// read net0/netmask
	// set _pxk3:hex 47:61:74:65:77:61:79:3a:20
	// echo -n ${_pxk3:string}
	// read net0/gateway
	// set _pxk4:hex 44:4e:53:20:73:65:72:76:65:72:3a:20
	// echo -n ${_pxk4:string}
	// read net0/dns
	// ifstat net0
	// chain --autofree http://192.168.1.10/stage2.ipxe
}

// Installer style: kernel with arguments, initrd, boot. Every argument
// reaches Linux as one argument: a value with spaces is double-quoted for
// Linux (which splits the command line again) and then passed through a
// private setting for iPXE.
func ExampleBuilder_BootKernel() {
	b := ipxescript.NewBuilder()
	base := "http://10.0.0.1/debian"
	b.BootKernel(ipxescript.Value(base+"/linux"),
		[]ipxescript.Arg{ipxescript.Value(base + "/initrd.gz")},
		"auto=true", "priority=critical", "preseed/url="+base+"/preseed.cfg",
		"hostname=web01", "systemd.setenv=SITE=rack 4", "quiet")
	fmt.Print(b)
	// Output:
	// #!ipxe
	// set _pxk1:hex 73:79:73:74:65:6d:64:2e:73:65:74:65:6e:76:3d:22:53:49:54:45:3d:72:61:63:6b:20:34:22
	// kernel http://10.0.0.1/debian/linux auto=true priority=critical preseed/url=http://10.0.0.1/debian/preseed.cfg hostname=web01 ${_pxk1:string} quiet || goto boot-failed-1
	// initrd http://10.0.0.1/debian/initrd.gz || goto boot-failed-1
	// boot || goto boot-failed-1
	// :boot-failed-1
	// echo Boot failed
	// exit 1
}

// One Linux kernel argument from a name and a caller value; a double quote
// cannot be written on a Linux command line at all.
func ExampleQuoteKernelArg() {
	for _, v := range []string{"web01", "web 01", `say "hi"`} {
		s, err := ipxescript.QuoteKernelArg("hostname", v)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s)
	}
	// Output:
	// hostname=web01
	// hostname="web 01"
	// kernelcmdline: argument "hostname"="say \"hi\"": contains a double quote (the Linux command line has no escape for it)
}

// KernelArg in a hand-written kernel line.
func ExampleKernelArg() {
	b := ipxescript.NewBuilder()
	b.Cmd("kernel", ipxescript.Raw("http://${next-server}/vmlinuz"),
		ipxescript.Raw("console=ttyS0"), ipxescript.KernelArg("pxekit.owner", "Ops team; rack 4"))
	fmt.Print(b)
	// Output:
	// #!ipxe
	// set _pxk1:hex 70:78:65:6b:69:74:2e:6f:77:6e:65:72:3d:22:4f:70:73:20:74:65:61:6d:3b:20:72:61:63:6b:20:34:22
	// kernel http://${next-server}/vmlinuz console=ttyS0 ${_pxk1:string}
}

// Caller data in a URL: URIValue percent-encodes it (enough for iPXE since
// late 2021); URIBase64 survives every iPXE version, and the server
// decodes it (base64.RawURLEncoding).
func ExampleURIBase64() {
	b := ipxescript.NewBuilder()
	site := "Zürich & co=1"
	b.Cmd("chain", ipxescript.Concat(ipxescript.Raw("http://10.0.0.1/boot?site="), ipxescript.URIValue(site),
		ipxescript.Raw("&site64="), ipxescript.URIBase64(site)))
	fmt.Print(b)
	// Output:
	// #!ipxe
	// chain http://10.0.0.1/boot?site=Z%C3%BCrich%20%26%20co%3D1&site64=WsO8cmljaCAmIGNvPTE
}

// Concat checks the joined token: a caller value cannot form "${" with
// its neighbours, which iPXE would expand after joining.
func ExampleConcat() {
	b := ipxescript.NewBuilder()
	b.Cmd("chain", ipxescript.Concat(ipxescript.Raw("http://10.0.0.1/?p=x$"), ipxescript.Value("{password}")))
	_, err := b.Script()
	fmt.Println(err)
	// Output:
	// ipxescript: builder: chain argument 1: ipxescript: value "{password}": would form or sit inside "${...}" with the parts it is joined to (iPXE would expand it) (at byte 0)
}

// A menu with a timeout and a default item.
func ExampleBuilder_Menu() {
	b := ipxescript.NewBuilder()
	b.Menu(ipxescript.MenuSpec{
		Title:   "Boot menu",
		Timeout: 10000,
		Default: "local",
		Items: []ipxescript.MenuItemSpec{
			{Gap: true, Text: "-- Choose --"},
			{Name: "local", Text: "Boot from disk", Key: "l", Body: func(b *ipxescript.Builder) {
				b.Cmd("exit", ipxescript.Raw("0"))
			}},
			{Name: "shell", Text: "iPXE shell", Body: func(b *ipxescript.Builder) { b.Cmd("shell") }},
		},
	})
	fmt.Print(b)
	// Output:
	// #!ipxe
	// menu Boot menu
	// item --gap -- -- Choose --
	// item --key l local Boot from disk
	// item shell iPXE shell
	// choose --default local --timeout 10000 _pxk-choice || goto menu-cancelled-1
	// goto ${_pxk-choice}
	// :local
	// exit 0
	// exit
	// :shell
	// shell
	// exit
	// :menu-cancelled-1
	// exit 1
}

func ExampleBuilder_SANBoot() {
	b := ipxescript.NewBuilder()
	b.Cmd("dhcp")
	b.SANBoot("iscsi:10.0.0.5::::iqn.2024-01.lab:disk1")
	fmt.Print(b)
	// Output:
	// #!ipxe
	// dhcp
	// sanboot --drive 0x80 iscsi:10.0.0.5::::iqn.2024-01.lab:disk1 || goto sanboot-failed-1
	// :sanboot-failed-1
	// echo SAN boot failed
	// exit 1
}

// The script embedded in an iPXE binary to break the DHCP loop.
func ExampleEmbeddedScript() {
	script, err := ipxescript.EmbeddedScript("pxekit", ipxescript.Raw("http://${next-server}/boot.ipxe"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.SplitAfterN(string(script), "\n", 3)[1])
	fmt.Print(string(script)[strings.LastIndex(string(script), "chain"):])
	// Output:
	// set user-class pxekit
	// chain http://${next-server}/boot.ipxe
}

func ExampleRunner() {
	f, _ := ipxescript.Parse([]byte(`#!ipxe
set host web 01
iseq ${platform} efi && goto efi ||
chain http://10.0.0.1/bios?h=${host:uristring}
exit
:efi
chain http://10.0.0.1/efi?h=${host:uristring}
`), "x")
	s := &ipxescript.Settings{}
	_ = s.Set("platform", "efi")
	res, err := (&ipxescript.Runner{Settings: s}).Run(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, st := range res.Steps {
		fmt.Printf("line %d: %q\n", st.Line, st.Argv)
	}
	// Output:
	// line 2: ["set" "host" "web" "01"]
	// line 3: ["iseq" "efi" "efi"]
	// line 3: ["goto" "efi"]
	// line 7: ["chain" "http://10.0.0.1/efi?h=web%2001"]
}

func ExampleWalk() {
	f, _ := ipxescript.Parse([]byte("chain http://${next-server}/${net0/mac:hexhyp}.ipxe\n"), "x")
	ipxescript.Walk(f, func(n ipxescript.Node) bool {
		if e, ok := n.(*ipxescript.Expansion); ok {
			r, _ := e.Ref()
			fmt.Printf("%v scope=%q name=%q type=%q\n", e.Pos(), r.Scope, r.Name, r.Type)
		}
		return true
	})
	// Output:
	// 1:14 scope="" name="next-server" type=""
	// 1:29 scope="net0" name="mac" type="hexhyp"
}

// ExampleParseWord rewrites the host of every chain URL in a parsed
// script: Preorder finds the commands, ParseArgs finds the URL after the
// options, and ParseWord builds the new word from text, so the new host
// can itself be a settings expansion.
func ExampleParseWord() {
	src := `#!ipxe
dhcp
chain --autofree http://old.example.com/boot/${net0/mac:hexhyp}.ipxe || goto fallback
:fallback
  chain tftp://old.example.com:69/undionly.kpxe
echo http://old.example.com/ is not a chain
`
	f, err := ipxescript.Parse([]byte(src), "boot.ipxe")
	if err != nil {
		fmt.Println(err)
		return
	}
	spec, _ := ipxescript.LookupCommand("chain")
	for n := range ipxescript.Preorder(f) {
		c, ok := n.(*ipxescript.Cmd)
		if !ok || c.Name() != "chain" {
			continue
		}
		argv := make([]string, len(c.Words))
		for i, w := range c.Words {
			argv[i] = w.Text()
		}
		args, err := spec.ParseArgs(argv)
		if err != nil || len(args.Positional) == 0 {
			continue
		}
		i := args.PositionalIndex
		w, err := ipxescript.ParseWord(replaceHost(argv[i], "${boot-host}"))
		if err != nil {
			fmt.Println(err)
			return
		}
		w.Cont = c.Words[i].Cont // keep a line break made with "\" before the word
		c.Words[i] = w
	}
	if err := ipxescript.Fprint(os.Stdout, f); err != nil {
		fmt.Println(err)
	}
	// Output:
	// #!ipxe
	// dhcp
	// chain --autofree http://${boot-host}/boot/${net0/mac:hexhyp}.ipxe || goto fallback
	// :fallback
	//     chain tftp://${boot-host}:69/undionly.kpxe
	// echo http://old.example.com/ is not a chain
}

// replaceHost replaces the host of a "scheme://host[:port]/..." URL,
// keeping the port.
func replaceHost(url, host string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	port := ""
	if i := strings.LastIndexByte(rest[:end], ':'); i >= 0 {
		port = rest[i:end]
	}
	return scheme + "://" + host + port + rest[end:]
}

// ExampleLitWord replaces an argument by a plain value: LitWord makes a
// one-literal word, or refuses a value that is not one bare token.
func ExampleLitWord() {
	f, _ := ipxescript.Parse([]byte("#!ipxe\nset hostname old\n"), "x")
	c := &f.Lines[1].Cmds[0] // lines, commands and words are values: take the address to edit
	w, err := ipxescript.LitWord("web01.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Words[2] = w
	_ = ipxescript.Fprint(os.Stdout, f)
	_, err = ipxescript.LitWord("web 01")
	fmt.Println(errors.Is(err, ipxescript.ErrToken))
	// Output:
	// #!ipxe
	// set hostname web01.example.com
	// true
}

// ExampleWord_SoleLit changes one-literal words in place: most words are
// one literal, which SoleLit returns (nil for a word with expansions).
func ExampleWord_SoleLit() {
	f, _ := ipxescript.Parse([]byte("#!ipxe\nkernel http://old/vmlinuz console=${console}\n"), "x")
	for n := range ipxescript.Preorder(f) {
		if w, ok := n.(*ipxescript.Word); ok {
			if l := w.SoleLit(); l != nil {
				l.Value = strings.ReplaceAll(l.Value, "//old/", "//new/")
			} else {
				fmt.Println("not one literal:", w.Text(), len(w.Parts()), "parts")
			}
		}
	}
	_ = ipxescript.Fprint(os.Stdout, f)
	// Output:
	// not one literal: console=${console} 2 parts
	// #!ipxe
	// kernel http://new/vmlinuz console=${console}
}

var _ = os.Stdout
