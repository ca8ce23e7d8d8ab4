package ipxescript

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckScript(t *testing.T) {
	tests := []struct {
		name, src, err string
	}{
		{"runnable", "#!ipxe\necho hi\n", ""},
		{"gpxe magic", "#!gpxe\necho hi\n", ""},
		{"no magic", "echo hi\n", "does not start with #!ipxe"},
		{"cut in a continuation", "#!ipxe\necho a \\\n", "s.ipxe:2:8: script ends inside a backslash continuation, iPXE would fail it there"},
	}
	for _, tt := range tests {
		err := CheckScript([]byte(tt.src), "s.ipxe")
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: CheckScript = %v, want nil", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: CheckScript = %v, want an error saying %q", tt.name, err, tt.err)
		}
	}
	if err := CheckScript([]byte("#!ipxe\necho \\\n"), "x"); !errors.Is(err, ErrTrailingBackslash) {
		t.Errorf("CheckScript of a cut script = %v, want ErrTrailingBackslash", err)
	}
}
