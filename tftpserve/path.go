package tftpserve

import (
	"fmt"
	"strings"
)

// MaxPathLength bounds the file names CleanPath accepts.
const MaxPathLength = 1024

// CleanPath normalises a requested file name the way boot clients need:
// backslashes become slashes (Windows loaders send boot\x64\wdsnbp.com),
// leading slashes are dropped (iPXE sends "/boot/x" for tftp://host//boot/x),
// and empty and "." segments disappear. The result is relative, uses "/" and
// never has a ".." segment.
//
// It refuses, with an error wrapping ErrInvalidPath, names that are empty,
// longer than MaxPathLength, or contain NUL or other control bytes, or a ".."
// segment anywhere (before or after normalisation).
func CleanPath(name string) (string, error) {
	if len(name) > MaxPathLength {
		return "", fmt.Errorf("%w: name longer than %d bytes", ErrInvalidPath, MaxPathLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control byte 0x%02x in name", ErrInvalidPath, c)
		}
	}
	name = strings.ReplaceAll(name, `\`, "/")
	segs := strings.Split(name, "/")
	out := segs[:0]
	for _, s := range segs {
		switch s {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: \"..\" segment", ErrInvalidPath)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("%w: empty name", ErrInvalidPath)
	}
	return strings.Join(out, "/"), nil
}
