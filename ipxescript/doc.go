// Package ipxescript makes iPXE scripts first-class data: a syntax tree with
// positions, a parser faithful to iPXE's own reader, a canonical printer,
// Walk, command schemas, lint, safe quoting of arbitrary strings, a script
// builder and a dry-run interpreter.
//
// The layout follows mvdan.cc/sh/v3/syntax: nodes.go (the tree), parser.go,
// printer.go, walk.go, quote.go, builder.go, schema.go, lint.go, interp.go.
//
// iPXE has no quoting: a line is split at whitespace, a token starting with
// "#" starts a comment, "||", "&&" and ";" separate commands only as whole
// tokens, and settings ("${name}") are expanded per token after splitting.
// The only way to pass an arbitrary string as one argument is through a
// setting; Quote and the Builder do that for every caller value:
//
//	b := ipxescript.NewBuilder()
//	b.Cmd("echo", ipxescript.Value("hello # world || ${x}"))
//	script, err := b.Script()
//
// Parse and Format read and rewrite existing scripts:
//
//	f, err := ipxescript.Parse(src, "boot.ipxe")
//	findings := ipxescript.Lint(f)
//	err = ipxescript.Fprint(os.Stdout, f)
package ipxescript
