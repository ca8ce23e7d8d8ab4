package bootcfg

import (
	"errors"
	"strings"

	"github.com/pxekit/pxekit/kernelcmdline"
)

// This file is the tests' reference reader of GRUB's config language: a
// small port of the rules of grub-core/script/yylex.l (and of
// grub_file_getline, which drops every CR) that the builder relies on,
// written independently of the builder so that the fuzz target and the
// tables can read a built grub.cfg back the way GRUB does.

// grubLine is one command as GRUB's lexer splits it: its words after
// quote removal, and the operator that ended it ("\n", ";", "{", "}" or
// "" at the end of the text).
type grubLine struct {
	words []string
	end   string
}

var errGRUBExpansion = errors.New("unquoted or double-quoted $ expansion")

// readGRUB splits src into commands by GRUB's lexer rules. It fails on what
// the builder must never write: expansions ("$" outside single quotes),
// the operators | & < >, unterminated quotes.
func readGRUB(src string) ([]grubLine, error) {
	src = strings.ReplaceAll(src, "\r", "")
	var (
		lines   []grubLine
		words   []string
		word    strings.Builder
		inWord  bool
		endWord = func() {
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		}
		endLine = func(op string) {
			endWord()
			if len(words) > 0 || op == "{" || op == "}" {
				lines = append(lines, grubLine{words: words, end: op})
			}
			words = nil
		}
	)
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '\n' || c == ';' || c == '{' || c == '}':
			endLine(string(c))
		case c == '#' && !inWord:
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case c == '|' || c == '&' || c == '<' || c == '>':
			return nil, errors.New("operator " + string(c) + " outside quotes")
		case c == '$':
			return nil, errGRUBExpansion
		case c == '\\':
			if i+1 >= len(src) {
				return nil, errors.New("backslash at end of text")
			}
			i++
			if src[i] != '\n' { // backslash-newline joins lines
				word.WriteByte(src[i])
				inWord = true
			}
		case c == '\'':
			j := strings.IndexByte(src[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			word.WriteString(src[i+1 : i+1+j])
			inWord = true
			i += 1 + j
		case c == '"':
			inWord = true
			i++
			for ; i < len(src) && src[i] != '"'; i++ {
				switch {
				case src[i] == '$':
					return nil, errGRUBExpansion
				case src[i] == '\\' && i+1 < len(src) && strings.IndexByte("$\\\"\n", src[i+1]) >= 0:
					i++
					if src[i] != '\n' {
						word.WriteByte(src[i])
					}
				default:
					word.WriteByte(src[i])
				}
			}
			if i >= len(src) {
				return nil, errors.New("unterminated double quote")
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endLine("")
	return lines, nil
}

// grubLoaderCmdline is grub_create_loader_cmdline (grub-core/lib/cmdline.c,
// GRUB 2.02 to 2.12): each argument with a backslash before "\", "'" and
// '"', wrapped in double quotes when it holds a space, joined by spaces.
func grubLoaderCmdline(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		space := strings.IndexByte(a, ' ') >= 0
		if space {
			b.WriteByte('"')
		}
		for j := 0; j < len(a); j++ {
			if a[j] == '\\' || a[j] == '\'' || a[j] == '"' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		if space {
			b.WriteByte('"')
		}
	}
	return b.String()
}

// linuxArgsFromGRUB is what Linux reads from GRUB's linux argv (without the
// kernel path): the command line GRUB builds, split by Linux.
func linuxArgsFromGRUB(args []string) []kernelcmdline.Arg {
	return kernelcmdline.Split(grubLoaderCmdline(args))
}

// wantLinuxArgs is the parameter list as the caller meant it.
func wantLinuxArgs(params []string) []kernelcmdline.Arg {
	var out []kernelcmdline.Arg
	for _, p := range params {
		n, v, ok := strings.Cut(p, "=")
		out = append(out, kernelcmdline.Arg{Name: n, Value: v, HasValue: ok})
	}
	return out
}
