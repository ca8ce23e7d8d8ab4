// Package ipxescript makes iPXE scripts first-class data: a syntax tree with
// positions, a parser faithful to iPXE's own reader, a canonical printer,
// Walk, command schemas, lint, safe quoting of arbitrary strings, a script
// builder and a dry-run interpreter.
//
// The API follows mvdan.cc/sh/v3/syntax: File, Line, Cmd and Word are the
// tree; Parse reads it, Printer and Fprint write it, Walk and Preorder visit
// it. Quote, Builder and the flows (BootScript, Builder.Menu, ...) write scripts;
// LookupCommand gives the command schemas Lint checks against; Settings
// expands "${...}" and Runner dry-runs a script.
//
// # The language
//
// iPXE has no quoting: a line is split at whitespace, a token starting with
// "#" starts a comment, "||", "&&" and ";" separate commands only as whole
// tokens, a final "\" joins the next physical line with no separator, and
// settings ("${scope/name:type}") are expanded per token after splitting,
// with the result scanned again for "${...}". A line whose last command
// fails stops the script, so "iseq a b && goto x" aborts it when a ≠ b
// (Lint reports this as status-trap).
//
// # Passing caller data safely
//
// The only way to pass an arbitrary string as one argument is through a
// setting ("set v:hex ..." then "${v:string}"). Quote does that; the Builder
// does it for every Value, puts "--" before a first argument that could look
// like an option, and writes option values as "--name=value" when needed.
// NUL bytes and values holding "${...}" cannot be passed by any iPXE
// (ErrNUL, ErrExpansion); URIValue percent-encodes data for URLs instead
// (URIBase64 for iPXE before late 2021, which rewrites URL encodings).
// Concat checks the joined token, because iPXE rescans it after every
// expansion: a value never forms "${" with its neighbours
// (ErrJoinExpansion). Raw and Setting are trusted script text and are only
// validated. Kernel command lines are split again by Linux: KernelArg
// (QuoteKernelArg) makes name=value one Linux argument.
//
//	b := ipxescript.NewBuilder()
//	b.Cmd("echo", ipxescript.Value("hello # world || ${x"))
//	b.Cmd("chain", ipxescript.Concat(ipxescript.Value(baseURL),
//		ipxescript.Raw("?mac="), ipxescript.Setting("net0/mac:hexhyp")))
//	script, err := b.Script()
//
// BootScript gives a boot server's default script; DHCPRetry,
// ChainWithRetry, AskStaticIP, BootKernel, Menu, SANBoot and EmbeddedScript
// are the other flows seen in the field.
//
// # Reading and rewriting scripts
//
//	f, err := ipxescript.Parse(src, "boot.ipxe")
//	for _, finding := range ipxescript.Lint(f) { ... }
//	err = ipxescript.Fprint(os.Stdout, f) // canonical format, see Printer
//
// Lines, commands and words are values in slices ([]Line, []Cmd, []Word;
// a one-literal word holds its *Lit inline) and a Pos packs offset, line
// and column into 8 bytes: a parsed tree is a few arrays, which keeps the
// garbage collector's share of parsing small. Take an element's address
// (c := &f.Lines[i].Cmds[j]) to change it in place. Walk and Preorder (an
// iter.Seq) visit the tree and hand out such pointers. To edit it, build
// words from text: ParseWord reads one token with its expansions, LitWord makes
// a literal argument (or refuses a value no bare token can carry), and
// assigning them to a command's Words replaces its arguments:
//
//	for n := range ipxescript.Preorder(f) {
//		if c, ok := n.(*ipxescript.Cmd); ok && c.Name() == "chain" {
//			c.Words[1], err = ipxescript.ParseWord("http://${boot-host}/boot.ipxe")
//		}
//	}
//
// The Runner follows a script along one path (settings, operators, goto,
// exit, menus; other commands' status comes from a callback) and records the
// argv of every command: a dry run for users, and the oracle the tests use
// to show that printing keeps every argv and that quoted values arrive
// intact. The tests also run the Builder's quoting and a Runner
// cross-check in real iPXE (Debian's option ROM under QEMU) when QEMU is
// installed.
package ipxescript
