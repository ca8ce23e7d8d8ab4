package ipxescript

import (
	"fmt"
	"sort"
	"strings"
)

// ArgKind says what an option value or positional argument means.
type ArgKind int

// Argument kinds.
const (
	ArgAny       ArgKind = iota // free text
	ArgText                     // words joined with single spaces (echo, set value, titles)
	ArgLabel                    // a script label (goto)
	ArgURI                      // a URI or the name of a registered image
	ArgImage                    // the name of a registered image
	ArgSetting                  // a setting name "[scope/]name[:type]"
	ArgInt                      // an integer (decimal, 0x hex, leading 0 octal)
	ArgTimeout                  // milliseconds
	ArgSeconds                  // seconds (sleep)
	ArgKey                      // one character, or an integer key code
	ArgInterface                // a network interface name (net0)
	ArgName                     // an object name (menu, image, form, parameter list)
	ArgItem                     // a menu item name
	ArgCommand                  // a command name (time)
)

// OptionSpec is one option of a command. Every command also accepts
// --help/-h, which prints usage and fails.
type OptionSpec struct {
	Long   string
	Short  byte // 0 when the option has no short form
	HasArg bool
	Kind   ArgKind
}

// CommandSpec describes a built-in command as iPXE parses it.
type CommandSpec struct {
	Name string
	// Canonical is the primary name when Name is a synonym (kernel ⇒
	// imgselect), else "".
	Canonical string
	Options   []OptionSpec
	// MinArgs and MaxArgs bound the positional arguments; MaxArgs < 0 means
	// up to iPXE's MAX_ARGUMENTS (255), which ParseArgs enforces.
	MinArgs, MaxArgs int
	// Args gives the kind of each positional argument; the last one
	// repeats.
	Args []ArgKind
	// Gate is the build switch in src/config/general.h ("core" if none).
	Gate  string
	Usage string
}

// ArgKindAt returns the kind of positional argument i.
func (c *CommandSpec) ArgKindAt(i int) ArgKind {
	if len(c.Args) == 0 {
		return ArgAny
	}
	if i >= len(c.Args) {
		return c.Args[len(c.Args)-1]
	}
	return c.Args[i]
}

// Option finds an option by long name.
func (c *CommandSpec) Option(long string) (OptionSpec, bool) {
	for _, o := range c.Options {
		if o.Long == long {
			return o, true
		}
	}
	return OptionSpec{}, false
}

func opt(long string, short byte, kind ArgKind) OptionSpec {
	return OptionSpec{Long: long, Short: short, HasArg: true, Kind: kind}
}

func flag(long string, short byte) OptionSpec {
	return OptionSpec{Long: long, Short: short}
}

const unlimited = -1

var commands = map[string]*CommandSpec{}

func def(gate, usage string, min, max int, args []ArgKind, opts []OptionSpec, names ...string) {
	for i, n := range names {
		c := &CommandSpec{Name: n, Options: opts, MinArgs: min, MaxArgs: max, Args: args, Gate: gate,
			Usage: n + " " + usage}
		if i > 0 {
			c.Canonical = names[0]
		}
		c.Usage = strings.TrimSpace(c.Usage)
		commands[n] = c
	}
}

func kinds(k ...ArgKind) []ArgKind { return k }

func init() {
	// 5.1 flow and interaction
	def("core", "[-n] [text...]", 0, unlimited, kinds(ArgText), []OptionSpec{flag("n", 'n')}, "echo")
	def("core", "[status]", 0, 1, kinds(ArgInt), nil, "exit")
	def("core", "<label>", 1, 1, kinds(ArgLabel), nil, "goto")
	def("core", "<value>", 1, 1, kinds(ArgAny), nil, "isset")
	def("core", "<value> <value>", 2, 2, kinds(ArgAny), nil, "iseq")
	def("core", "<seconds>", 1, 1, kinds(ArgSeconds), nil, "sleep")
	def("core", "[--key <key>] [--timeout <ms>] [--set <setting>] [text...]", 0, unlimited, kinds(ArgText),
		[]OptionSpec{opt("key", 'k', ArgKey), opt("timeout", 't', ArgTimeout), opt("set", 's', ArgSetting)}, "prompt")
	def("SHELL_CMD", "", 0, 0, nil, nil, "shell")
	def("SHELL_CMD", "", 0, 0, nil, nil, "help")
	// 5.2 settings
	def("NVO_CMD", "<setting> [value...]", 1, unlimited, kinds(ArgSetting, ArgText), nil, "set")
	def("NVO_CMD", "<setting>", 1, 1, kinds(ArgSetting), nil, "clear")
	def("NVO_CMD", "[--quiet] <setting>", 1, 1, kinds(ArgSetting), []OptionSpec{flag("quiet", 'q')}, "show")
	def("NVO_CMD", "[--timeout <ms>] <setting>", 1, 1, kinds(ArgSetting), []OptionSpec{opt("timeout", 't', ArgTimeout)}, "read")
	def("NVO_CMD", "<setting> [increment]", 1, 2, kinds(ArgSetting, ArgInt), nil, "inc")
	def("CONFIG_CMD", "[<scope>]", 0, 1, kinds(ArgName), nil, "config")
	def("LOGIN_CMD", "", 0, 0, nil, nil, "login")
	// 5.3 network
	def("IFMGMT_CMD", "[<interface>...]", 0, unlimited, kinds(ArgInterface), nil, "ifopen")
	def("IFMGMT_CMD", "[<interface>...]", 0, unlimited, kinds(ArgInterface), nil, "ifclose")
	def("IFMGMT_CMD", "[<interface>...]", 0, unlimited, kinds(ArgInterface), nil, "ifstat")
	def("IFMGMT_CMD", "[--configurator dhcp|ipv6] [--timeout <ms>] [<interface>...]", 0, unlimited, kinds(ArgInterface),
		[]OptionSpec{opt("configurator", 'c', ArgName), opt("timeout", 't', ArgTimeout)}, "ifconf", "dhcp")
	def("IFMGMT_CMD", "[--timeout <ms>] [<interface>...]", 0, unlimited, kinds(ArgInterface),
		[]OptionSpec{opt("timeout", 't', ArgTimeout)}, "iflinkwait")
	def("DHCP_CMD", "<interface> <server type>", 2, 2, kinds(ArgInterface, ArgInt), nil, "pxebs")
	def("AUTOBOOT_CMD", "[<interface>...]", 0, unlimited, kinds(ArgInterface), nil, "autoboot")
	def("ROUTE_CMD", "", 0, 0, nil, nil, "route")
	def("VLAN_CMD", "--tag <tag> [--priority <priority>] <trunk interface>", 1, 1, kinds(ArgInterface),
		[]OptionSpec{opt("tag", 't', ArgInt), opt("priority", 'p', ArgInt)}, "vcreate")
	def("VLAN_CMD", "<interface>", 1, 1, kinds(ArgInterface), nil, "vdestroy")
	def("NTP_CMD", "<server>", 1, 1, kinds(ArgAny), nil, "ntp")
	def("NSLOOKUP_CMD", "<setting> <name>", 2, 2, kinds(ArgSetting, ArgAny), nil, "nslookup")
	def("PING_CMD", "[--size <n>] [--timeout <ms>] [--count <n>] [--quiet] <host>", 1, 1, kinds(ArgAny),
		[]OptionSpec{opt("size", 's', ArgInt), opt("timeout", 't', ArgTimeout), opt("count", 'c', ArgInt), flag("quiet", 'q')}, "ping")
	def("IWMGMT_CMD", "[<interface>...]", 0, unlimited, kinds(ArgInterface), nil, "iwstat")
	def("IWMGMT_CMD", "[<interface>...]", 0, unlimited, kinds(ArgInterface), nil, "iwlist")
	def("IBMGMT_CMD", "", 0, 0, nil, nil, "ibstat")
	def("FCMGMT_CMD", "", 0, 0, nil, nil, "fcstat")
	def("FCMGMT_CMD", "[--port <port>] [--id <peer>] <request>", 0, 1, kinds(ArgAny),
		[]OptionSpec{opt("port", 'p', ArgAny), opt("id", 'i', ArgAny)}, "fcels")
	def("IPSTAT_CMD", "", 0, 0, nil, nil, "ipstat")
	def("NEIGHBOUR_CMD", "", 0, 0, nil, nil, "nstat")
	def("PROFSTAT_CMD", "", 0, 0, nil, nil, "profstat")
	def("LOTEST_CMD", "[--mtu <mtu>] [--broadcast] <sending interface> <receiving interface>", 2, 2, kinds(ArgInterface),
		[]OptionSpec{opt("mtu", 'm', ArgInt), flag("broadcast", 'b')}, "lotest")
	def("PXE_CMD", "[<interface>]", 0, 1, kinds(ArgInterface), nil, "startpxe")
	def("PXE_CMD", "", 0, 0, nil, nil, "stoppxe")
	// 5.4 images
	fetch := []OptionSpec{opt("name", 'n', ArgName), opt("timeout", 't', ArgTimeout), flag("autofree", 'a'), flag("quiet", 'q')}
	def("IMAGE_CMD", "[--name <name>] [--timeout <ms>] [--autofree] <uri|image> [arguments...]", 1, unlimited,
		kinds(ArgURI, ArgText), fetch, "imgfetch", "module", "initrd")
	def("IMAGE_CMD", "[--name <name>] [--timeout <ms>] [--autofree] <uri|image> [arguments...]", 1, unlimited,
		kinds(ArgURI, ArgText), fetch, "imgselect", "imgload", "kernel")
	exec := append(append([]OptionSpec{}, fetch...), flag("replace", 'r'))
	def("IMAGE_CMD", "[--name <name>] [--timeout <ms>] [--autofree] [--replace] [<uri|image> [arguments...]]", 0, unlimited,
		kinds(ArgURI, ArgText), exec, "imgexec", "chain", "boot")
	def("IMAGE_CMD", "<image> [arguments...]", 1, unlimited, kinds(ArgImage, ArgText), nil, "imgargs")
	def("IMAGE_CMD", "[<image>...]", 0, unlimited, kinds(ArgImage), nil, "imgstat")
	def("IMAGE_CMD", "[<image>...]", 0, unlimited, kinds(ArgImage), nil, "imgfree")
	def("IMAGE_ARCHIVE_CMD", "[--name <name>] [--keep] [--timeout <ms>] <uri|image>", 1, 1, kinds(ArgURI),
		[]OptionSpec{opt("name", 'n', ArgName), flag("keep", 'k'), opt("timeout", 't', ArgTimeout), flag("quiet", 'q')}, "imgextract")
	def("IMAGE_TRUST_CMD", "[--allow] [--permanent]", 0, 0, nil,
		[]OptionSpec{flag("allow", 'a'), flag("permanent", 'p')}, "imgtrust")
	def("IMAGE_TRUST_CMD", "[--signer <signer>] [--keep] [--timeout <ms>] <uri|image> <signature uri|image>", 2, 2, kinds(ArgURI),
		[]OptionSpec{opt("signer", 's', ArgName), flag("keep", 'k'), opt("timeout", 't', ArgTimeout), flag("quiet", 'q')}, "imgverify")
	def("IMAGE_CRYPT_CMD", "[--name <name>] [--keep] [--timeout <ms>] <uri|image> <envelope uri|image>", 2, 2, kinds(ArgURI),
		[]OptionSpec{opt("name", 'n', ArgName), flag("keep", 'k'), opt("timeout", 't', ArgTimeout), flag("quiet", 'q')}, "imgdecrypt")
	def("IMAGE_MEM_CMD", "[--name <name>] <address> <length>", 2, 2, kinds(ArgInt),
		[]OptionSpec{opt("name", 'n', ArgName)}, "imgmem")
	def("IMAGE_SET_CMD", "[--keep] [--timeout <ms>] <setting> <uri|image>", 2, 2, kinds(ArgSetting, ArgURI),
		[]OptionSpec{flag("keep", 'k'), opt("timeout", 't', ArgTimeout), flag("quiet", 'q')}, "imgset")
	def("DIGEST_CMD", "[--set <setting>] <image>...", 1, unlimited, kinds(ArgImage),
		[]OptionSpec{opt("set", 's', ArgSetting)}, "md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "md4sum")
	def("SHIM_CMD", "[--timeout <ms>] [--require-loader] [--allow-pxe] [--allow-sbat] [<uri|image>]", 0, 1, kinds(ArgURI),
		[]OptionSpec{opt("timeout", 't', ArgTimeout), flag("quiet", 'q'), flag("require-loader", 'l'), flag("allow-pxe", 'p'), flag("allow-sbat", 's')}, "shim")
	def("FDT_CMD", "[--timeout <ms>] [<uri|image>]", 0, 1, kinds(ArgURI),
		[]OptionSpec{opt("timeout", 't', ArgTimeout), flag("quiet", 'q')}, "fdt")
	// 5.5 SAN
	def("SANBOOT_CMD", "[--drive <drive>] [--no-describe] <root-path>...", 1, unlimited, kinds(ArgURI),
		[]OptionSpec{opt("drive", 'd', ArgInt), flag("no-describe", 'n')}, "sanhook")
	def("SANBOOT_CMD", "[--drive <drive>] [--no-describe] [--keep] [--filename <filename>] [--extra <filename>] [--label <label>] [--uuid <uuid>] [<root-path>...]", 0, unlimited, kinds(ArgURI),
		[]OptionSpec{opt("drive", 'd', ArgInt), flag("no-describe", 'n'), flag("keep", 'k'), opt("filename", 'f', ArgAny),
			opt("extra", 'e', ArgAny), opt("label", 'l', ArgAny), opt("uuid", 'u', ArgAny)}, "sanboot")
	def("SANBOOT_CMD", "[--drive <drive>]", 0, 0, nil, []OptionSpec{opt("drive", 'd', ArgInt)}, "sanunhook")
	// 5.6 menus, forms, parameters
	def("MENU_CMD", "[--name <name>] [--delete] [<title>]", 0, unlimited, kinds(ArgText),
		[]OptionSpec{opt("name", 'n', ArgName), flag("delete", 'd')}, "menu")
	def("FORM_CMD", "[--name <name>] [--delete] [<title>]", 0, unlimited, kinds(ArgText),
		[]OptionSpec{opt("name", 'n', ArgName), flag("delete", 'd')}, "form")
	def("MENU_CMD", "[--menu <menu>] [--form <form>] [--key <key>] [--default] [--secret] [--gap] [<name> [<text>]]", 0, unlimited, kinds(ArgItem, ArgText),
		[]OptionSpec{opt("menu", 'm', ArgName), opt("form", 'f', ArgName), opt("key", 'k', ArgKey), flag("default", 'd'),
			flag("secret", 's'), flag("gap", 'g')}, "item")
	def("MENU_CMD", "[--menu <menu>] [--default <item>] [--timeout <ms>] [--retimeout <ms>] [--keep] <setting>", 1, 1, kinds(ArgSetting),
		[]OptionSpec{opt("menu", 'm', ArgName), opt("default", 'd', ArgItem), opt("timeout", 't', ArgTimeout),
			opt("retimeout", 'r', ArgTimeout), flag("keep", 'k')}, "choose")
	def("FORM_CMD", "[--form <form>] [--keep]", 0, 0, nil,
		[]OptionSpec{opt("form", 'f', ArgName), flag("keep", 'k')}, "present")
	def("PARAM_CMD", "[--name <name>] [--method <method>] [--delete]", 0, 0, nil,
		[]OptionSpec{opt("name", 'n', ArgName), opt("method", 'm', ArgName), flag("delete", 'd')}, "params")
	def("PARAM_CMD", "[--params <params>] [--header] <key> [<value>]", 1, unlimited, kinds(ArgAny, ArgText),
		[]OptionSpec{opt("params", 'p', ArgName), flag("header", 'H')}, "param")
	// 5.7 console, certificates, hardware, system
	def("CONSOLE_CMD", "[--x <x>] [--y <y>] [--left <margin>] [--right <margin>] [--top <margin>] [--bottom <margin>] [--depth <bpp>] [--picture <uri>] [--keep]", 0, 0, nil,
		[]OptionSpec{opt("x", 'x', ArgInt), opt("y", 'y', ArgInt), opt("left", 'l', ArgInt), opt("right", 'r', ArgInt),
			opt("top", 't', ArgInt), opt("bottom", 'b', ArgInt), opt("depth", 'd', ArgInt), opt("picture", 'p', ArgURI), flag("keep", 'k')}, "console")
	def("CONSOLE_CMD", "[--basic <colour>] [--rgb <rgb>] <colour>", 1, 1, kinds(ArgInt),
		[]OptionSpec{opt("basic", 'b', ArgInt), opt("rgb", 'r', ArgInt)}, "colour")
	def("CONSOLE_CMD", "[--foreground <colour>] [--background <colour>] <cpair>", 1, 1, kinds(ArgInt),
		[]OptionSpec{opt("foreground", 'f', ArgInt), opt("background", 'b', ArgInt)}, "cpair")
	def("CERT_CMD", "[--subject <subject>]", 0, 0, nil, []OptionSpec{opt("subject", 's', ArgAny)}, "certstat")
	def("CERT_CMD", "[--subject <subject>]", 0, 0, nil, []OptionSpec{opt("subject", 's', ArgAny)}, "certfree")
	def("CERT_CMD", "[--subject <subject>] [--keep] [<uri|image>]", 0, 1, kinds(ArgURI),
		[]OptionSpec{opt("subject", 's', ArgAny), flag("keep", 'k')}, "certstore")
	def("CPUID_CMD", "[--ext] [--ecx] <bit>", 1, 1, kinds(ArgInt), []OptionSpec{flag("ext", 'e'), flag("ecx", 'c')}, "cpuid")
	def("PCI_CMD", "<setting>", 1, 1, kinds(ArgSetting), nil, "pciscan")
	def("USB_CMD", "<setting>", 1, 1, kinds(ArgSetting), nil, "usbscan")
	def("REBOOT_CMD", "[--warm] [--setup]", 0, 0, nil, []OptionSpec{flag("warm", 'w'), flag("setup", 's')}, "reboot")
	def("POWEROFF_CMD", "", 0, 0, nil, nil, "poweroff")
	def("SYNC_CMD", "[--timeout <ms>]", 0, 0, nil, []OptionSpec{opt("timeout", 't', ArgTimeout)}, "sync")
	def("TIME_CMD", "<command> [arguments...]", 1, unlimited, kinds(ArgCommand, ArgAny), nil, "time")
	def("GDBSTUB_CMD", "<transport> [<options>...]", 1, unlimited, kinds(ArgAny), nil, "gdbstub")
}

// LookupCommand returns the schema of a built-in command or synonym.
func LookupCommand(name string) (*CommandSpec, bool) {
	c, ok := commands[name]
	return c, ok
}

// Commands returns the schemas of every built-in command and synonym,
// sorted by name.
func Commands() []*CommandSpec {
	out := make([]*CommandSpec, 0, len(commands))
	for _, c := range commands {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Args is the result of parsing a command's arguments as iPXE's getopt
// does.
type Args struct {
	// Options in order of appearance; a flag has Value "".
	Options []OptionValue
	// Positional arguments after the options.
	Positional []string
	// PositionalIndex is the index in argv of Positional[0].
	PositionalIndex int
	// Help is set when --help or -h was given (the command then fails).
	Help bool
}

// OptionValue is one option given on a command line.
type OptionValue struct {
	Spec  OptionSpec
	Value string
	Index int // index in argv of the option token
}

// Get returns the value of the last occurrence of the option.
func (a *Args) Get(long string) (string, bool) {
	v, ok := "", false
	for _, o := range a.Options {
		if o.Spec.Long == long {
			v, ok = o.Value, true
		}
	}
	return v, ok
}

// ArgError is a command-line error iPXE would report (and fail the
// command with).
type ArgError struct {
	Command string
	Index   int // index in argv of the offending token, or -1
	Msg     string
}

// Error returns "command: message".
func (e *ArgError) Error() string { return e.Command + ": " + e.Msg }

// ParseArgs parses argv (argv[0] is the command name) following iPXE's
// getopt: options only before the first non-option, "--" ends them, long
// options need the exact name and take "--name value" or "--name=value",
// short ones "-n value" or "-nvalue" and combine as flags ("-qa"); a
// required argument is taken from the next token only if it does not start
// with "-". It then checks the positional count. On error it returns the
// Args parsed so far and an *ArgError.
func (c *CommandSpec) ParseArgs(argv []string) (*Args, error) {
	a := &Args{}
	errf := func(i int, format string, v ...any) error {
		return &ArgError{Command: c.Name, Index: i, Msg: fmt.Sprintf(format, v...)}
	}
	i := 1
	for i < len(argv) {
		tok := argv[i]
		if tok == "--" {
			i++
			break
		}
		if tok == "-" {
			// getopt_long (core/getopt.c) takes any word starting with
			// "-" as options; a lone "-" matches no short option.
			return a, errf(i, "a lone \"-\" is an unrecognised option")
		}
		if tok == "" || tok[0] != '-' {
			break
		}
		if tok[1] == '-' {
			name, val, hasVal := strings.Cut(tok[2:], "=")
			if name == "help" {
				a.Help = true
				i++
				continue
			}
			o, ok := c.Option(name)
			if !ok {
				return a, errf(i, "unrecognized option '--%s'", name)
			}
			switch {
			case !o.HasArg && hasVal:
				return a, errf(i, "option '--%s' doesn't allow an argument", name)
			case o.HasArg && !hasVal:
				if i+1 >= len(argv) || strings.HasPrefix(argv[i+1], "-") {
					return a, errf(i, "option '--%s' requires an argument", name)
				}
				val = argv[i+1]
				a.Options = append(a.Options, OptionValue{o, val, i})
				i += 2
				continue
			}
			a.Options = append(a.Options, OptionValue{o, val, i})
			i++
			continue
		}
		// short options
		j := 1
		next := i + 1
		for j < len(tok) {
			ch := tok[j]
			if ch == 'h' {
				a.Help = true
				j++
				continue
			}
			o, ok := c.short(ch)
			if !ok {
				return a, errf(i, "invalid option -- '%c'", ch)
			}
			if !o.HasArg {
				a.Options = append(a.Options, OptionValue{o, "", i})
				j++
				continue
			}
			if j+1 < len(tok) {
				a.Options = append(a.Options, OptionValue{o, tok[j+1:], i})
			} else {
				if next >= len(argv) || strings.HasPrefix(argv[next], "-") {
					return a, errf(i, "option requires an argument -- '%c'", ch)
				}
				a.Options = append(a.Options, OptionValue{o, argv[next], i})
				next++
			}
			break
		}
		i = next
	}
	a.PositionalIndex = i
	a.Positional = argv[i:]
	if a.Help {
		return a, nil
	}
	n := len(a.Positional)
	max := c.MaxArgs
	if max < 0 {
		max = maxArguments // reparse_options (core/parseopt.c): max_args is at most MAX_ARGUMENTS
	}
	if n < c.MinArgs || n > max {
		return a, errf(-1, "%d argument(s), want %s; usage: %s", n, c.argRange(), c.Usage)
	}
	return a, nil
}

func (c *CommandSpec) argRange() string {
	switch {
	case c.MaxArgs < 0:
		return fmt.Sprintf("%d to %d", c.MinArgs, maxArguments)
	case c.MinArgs == c.MaxArgs:
		return fmt.Sprintf("exactly %d", c.MinArgs)
	}
	return fmt.Sprintf("%d to %d", c.MinArgs, c.MaxArgs)
}

func (c *CommandSpec) short(ch byte) (OptionSpec, bool) {
	for _, o := range c.Options {
		if o.Short == ch {
			return o, true
		}
	}
	return OptionSpec{}, false
}
