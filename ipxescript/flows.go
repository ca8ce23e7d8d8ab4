package ipxescript

import (
	"errors"
	"fmt"
	"strconv"
)

// DHCPRetry adds a bounded DHCP loop: up to attempts tries (default 5)
// with delay seconds between them (default 3). A NIC that iPXE has just
// taken over after a chainload often misses the first DHCP exchange
// (link not up yet); this is the usual cure. When every attempt fails the
// script prints a message and exits with status 1.
func (b *Builder) DHCPRetry(attempts, delay int) *Builder {
	if attempts <= 0 {
		attempts = 5
	}
	if delay <= 0 {
		delay = 3
	}
	try, loop, ok, failed := b.Prefix+"dhcp-try", b.NewLabel("dhcp"), b.NewLabel("dhcp-ok"), b.NewLabel("dhcp-failed")
	if b.Prefix == "" {
		try = "_pxk-dhcp-try"
	}
	n := strconv.Itoa(attempts)
	b.Cmd("set", Raw(try+":int32"), Raw("0"))
	b.Label(loop)
	b.Cmd("inc", Raw(try))
	b.Cmd("dhcp").And("goto", Raw(ok)).Or("")
	b.Cmd("iseq", Setting(try), Raw(n)).And("goto", Raw(failed)).Or("")
	b.Cmd("echo", Raw("DHCP"), Raw("attempt"), Setting(try), Raw("of"), Raw(n), Raw("failed,"), Raw("retrying"), Raw("in"), Raw(strconv.Itoa(delay)), Raw("s"))
	b.Cmd("sleep", Raw(strconv.Itoa(delay)))
	b.Cmd("goto", Raw(loop))
	b.Label(failed)
	b.Cmd("echo", Raw("DHCP"), Raw("failed"), Raw("after"), Raw(n), Raw("attempts"))
	b.Cmd("exit", Raw("1"))
	b.Label(ok)
	return b
}

// BootConfig describes the default script a boot server gives iPXE.
type BootConfig struct {
	// URL is the next script to chain (caller value); the client's MAC,
	// build architecture, platform and UUID are appended as query
	// parameters mac, arch, platform and uuid.
	URL string
	// Attempts and Delay configure DHCPRetry (0 = defaults).
	Attempts, Delay int
	// Message is printed before chaining (caller value, optional).
	Message string
	// Query adds parameters after the standard ones, e.g.
	// {Key: "serial", Value: Setting("serial:uristring")} or
	// {Key: "site", Value: URIValue(site)}.
	Query []Param
}

// Param is one URL query parameter: Key is percent-encoded, Value is an Arg
// (use URIValue for caller data, Setting("name:uristring") for a setting).
type Param struct {
	Key   string
	Value Arg
}

// BootScript returns the default boot script: DHCP with retry, a line
// saying who booted, then chain URL?mac=${net0/mac:hexhyp}&arch=
// ${buildarch}&platform=${platform}&uuid=${uuid}. If the chained script
// returns, the script exits with success; if the chain fails it waits 5 s
// and starts over from DHCP, for as long as the machine is on (a boot
// server wants a machine to keep trying; DHCP itself gives up after
// Attempts and exits 1).
func BootScript(c BootConfig) ([]byte, error) {
	if c.URL == "" {
		return nil, errors.New("ipxescript: BootScript: URL is empty")
	}
	b := NewBuilder()
	start := b.NewLabel("start")
	b.Label(start)
	b.DHCPRetry(c.Attempts, c.Delay)
	if c.Message != "" {
		b.Cmd("echo", Text(c.Message))
	}
	b.Cmd("echo", Raw("Booting"), Setting("net0/mac"), Raw("arch"), Setting("buildarch"), Raw("platform"), Setting("platform"), Raw("uuid"), Setting("uuid"))
	sep := "?"
	for i := 0; i < len(c.URL); i++ {
		if c.URL[i] == '?' {
			sep = "&"
		}
	}
	url := Concat(Value(c.URL),
		Raw(sep+"mac="), Setting("net0/mac:hexhyp"),
		Raw("&arch="), Setting("buildarch:uristring"),
		Raw("&platform="), Setting("platform:uristring"),
		Raw("&uuid="), Setting("uuid"))
	for _, q := range c.Query {
		url = Concat(url, Raw("&"+QueryEscape(q.Key)+"="), q.Value)
	}
	failed := b.NewLabel("chain-failed")
	b.Cmd("chain", Flag("autofree"), url).Or("goto", Raw(failed))
	b.Cmd("exit")
	b.Label(failed)
	b.Cmd("echo", Raw("Chainload"), Raw("failed,"), Raw("starting"), Raw("over"), Raw("in"), Raw("5"), Raw("s"))
	b.Cmd("sleep", Raw("5"))
	b.Cmd("goto", Raw(start))
	return b.Script()
}

// ChainWithRetry adds "chain --autofree url" after a DHCP retry loop
// (attempts, delay as in DHCPRetry); a failed chain prints a message and
// exits 1.
func (b *Builder) ChainWithRetry(url Arg, attempts, delay int) *Builder {
	b.DHCPRetry(attempts, delay)
	failed := b.NewLabel("chain-failed")
	b.Cmd("chain", Flag("autofree"), url).Or("goto", Raw(failed))
	b.Cmd("exit")
	b.Label(failed)
	b.Cmd("echo", Raw("Chainload"), Raw("failed"))
	return b.Cmd("exit", Raw("1"))
}

// AskStaticIP opens iface (default net0), asks for address, netmask,
// gateway and DNS server at the console ("read"), then chains stage2.
func (b *Builder) AskStaticIP(iface string, stage2 Arg) *Builder {
	if iface == "" {
		iface = "net0"
	}
	b.Cmd("ifopen", Value(iface))
	for _, f := range []struct{ prompt, setting string }{
		{"IP address:", "ip"}, {"Netmask:", "netmask"}, {"Gateway:", "gateway"}, {"DNS server:", "dns"},
	} {
		b.Cmd("echo", Flag("n"), Value(f.prompt+" "))
		b.Cmd("read", Value(iface+"/"+f.setting))
	}
	b.Cmd("ifstat", Value(iface))
	return b.Cmd("chain", Flag("autofree"), stage2)
}

// BootKernel adds the installer pattern: kernel with its command line,
// each initrd, then boot; any failure jumps to a message and exit 1.
// Every element of args is caller data that reaches Linux as exactly one
// kernel argument: "name=value" (split at the first "=", as Linux does;
// written by KernelArg, so a value with spaces is double-quoted) or a bare
// "name". A value holding a double quote or NUL, or a bad name, makes
// Script fail with a *KernelArgError.
func (b *Builder) BootKernel(kernel Arg, initrds []Arg, args ...string) *Builder {
	failed := b.NewLabel("boot-failed")
	kargs := []Arg{kernel}
	for _, a := range args {
		kargs = append(kargs, kernelParam(a))
	}
	b.Cmd("kernel", kargs...).Or("goto", Raw(failed))
	for _, i := range initrds {
		b.Cmd("initrd", i).Or("goto", Raw(failed))
	}
	b.Cmd("boot").Or("goto", Raw(failed))
	b.Label(failed)
	b.Cmd("echo", Raw("Boot"), Raw("failed"))
	return b.Cmd("exit", Raw("1"))
}

// MenuItemSpec is one entry of MenuSpec. Name is the item (and label)
// name; Body adds the commands run when it is chosen. Menu ends each body
// with "exit" so that a body that returns (a chain that comes back) never
// falls through into the next item.
type MenuItemSpec struct {
	Name, Text string
	Key        string // optional shortcut key
	Gap        bool   // a separator line showing Text
	Body       func(b *Builder)
}

// MenuSpec describes a menu with a timeout and a default item.
type MenuSpec struct {
	Title   string
	Timeout int // milliseconds; 0 = wait forever
	Default string
	Items   []MenuItemSpec
}

// Menu adds a menu: "menu", one "item" per entry, "choose" into a private
// setting, "goto" the chosen item's label, then each item's label and
// body. Escape at the menu exits with status 1.
func (b *Builder) Menu(m MenuSpec) *Builder {
	if m.Title != "" {
		b.Cmd("menu", Text(m.Title))
	} else {
		b.Cmd("menu")
	}
	for _, it := range m.Items {
		if !it.Gap && (it.Name == "" || it.Name[0] == '-' || !IsLiteral(it.Name)) {
			return b.fail(fmt.Errorf("ipxescript: Menu: item name %q must be plain text usable as a label", it.Name))
		}
		switch {
		case it.Gap && it.Text == "":
			b.Cmd("item", Flag("gap"))
		case it.Gap:
			b.Cmd("item", Flag("gap"), Text(it.Text))
		case it.Key != "":
			b.Cmd("item", Opt("key", Value(it.Key)), Value(it.Name), Text(it.Text))
		default:
			b.Cmd("item", Value(it.Name), Text(it.Text))
		}
	}
	choice := "_pxk-choice"
	if b.Prefix != "" {
		choice = b.Prefix + "choice"
	}
	var opts []Arg
	if m.Default != "" {
		opts = append(opts, Opt("default", Value(m.Default)))
	}
	if m.Timeout > 0 {
		opts = append(opts, Opt("timeout", Raw(strconv.Itoa(m.Timeout))))
	}
	cancelled := b.NewLabel("menu-cancelled")
	b.Cmd("choose", append(opts, Raw(choice))...).Or("goto", Raw(cancelled))
	b.Cmd("goto", Setting(choice))
	for _, it := range m.Items {
		if it.Gap {
			continue
		}
		b.Label(it.Name)
		if it.Body != nil {
			it.Body(b)
		}
		b.Cmd("exit") // never fall through into the next item
	}
	b.Label(cancelled)
	return b.Cmd("exit", Raw("1"))
}

// SANBoot adds "sanboot" of rootPath (e.g. an iSCSI or HTTP URI, caller
// value) as BIOS drive 0x80, keeping the SAN device described to the OS.
func (b *Builder) SANBoot(rootPath string) *Builder {
	failed := b.NewLabel("sanboot-failed")
	b.Cmd("sanboot", Opt("drive", Raw("0x80")), Value(rootPath)).Or("goto", Raw(failed))
	b.Label(failed)
	b.Cmd("echo", Raw("SAN"), Raw("boot"), Raw("failed"))
	return b.Cmd("exit", Raw("1"))
}

// EmbeddedScript returns the script to embed in an iPXE binary to break
// the DHCP loop: it sets a user class the DHCP server recognises (so the
// server answers with a script URL instead of the iPXE binary), runs DHCP
// and chains url.
func EmbeddedScript(userClass string, url Arg) ([]byte, error) {
	b := NewBuilder()
	b.Cmd("set", Raw("user-class"), Value(userClass))
	b.DHCPRetry(0, 0)
	b.Cmd("chain", url)
	return b.Script()
}
