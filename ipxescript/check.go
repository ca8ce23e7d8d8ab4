package ipxescript

import "fmt"

// CheckScript parses src and refuses what iPXE would not run as a script
// from its first line to its last: a parse error (a source too large),
// no "#!ipxe" (or
// "#!gpxe") magic line (iPXE would treat the file as another image
// type), or a script that ends inside a backslash continuation (iPXE
// fails it there; typically a file caught while being written). A server
// calls it before handing a script out; name labels the errors.
func CheckScript(src []byte, name string) error {
	f, err := Parse(src, name)
	if err != nil {
		return err
	}
	if f.Header == HeaderNone {
		return fmt.Errorf("%s: does not start with #!ipxe, iPXE would not run it as a script", name)
	}
	if n := len(f.Lines); n > 0 && f.Lines[n-1].Unterminated.IsValid() {
		return fmt.Errorf("%s:%s: %w, iPXE would fail it there", name, f.Lines[n-1].Unterminated, ErrTrailingBackslash)
	}
	return nil
}
