package main

import (
	"fmt"

	"github.com/pxekit/pxekit/ipxescript"
)

// checkScript refuses what iPXE would not run as a script: no "#!ipxe"
// (or "#!gpxe") magic line, or a parse error; and a script that iPXE
// would surely fail, because it ends inside a backslash continuation
// (often a file caught while being written).
func checkScript(b []byte, name string) error {
	f, err := ipxescript.Parse(b, name)
	if err != nil {
		return err
	}
	if f.Header == ipxescript.HeaderNone {
		return fmt.Errorf("%s: does not start with #!ipxe, iPXE would not run it as a script", name)
	}
	if n := len(f.Lines); n > 0 && f.Lines[n-1].Unterminated.IsValid() {
		return fmt.Errorf("%s:%s: script ends inside a backslash continuation, iPXE would fail it there", name, f.Lines[n-1].Unterminated)
	}
	return nil
}
