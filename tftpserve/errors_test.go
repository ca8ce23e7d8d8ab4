package tftpserve

import (
	"strings"
	"testing"
)

// Every error the package makes starts with its name (CONTRIBUTING.md):
// the exported ones, and errors from CleanPath and ListenAndServe.
func TestErrorsNameThePackage(t *testing.T) {
	_, pathErr := CleanPath("a/../../b")
	listenErr := (&Server{Addr: "127.0.0.1:99999"}).ListenAndServe()
	tests := []struct {
		name string
		err  error
	}{
		{"ErrNotFound", ErrNotFound},
		{"ErrAccessDenied", ErrAccessDenied},
		{"Error with a message", &Error{Code: CodeOptionRefused, Message: "bad blksize"}},
		{"ErrInvalidPath", ErrInvalidPath},
		{"ErrServerClosed", ErrServerClosed},
		{"ErrClientAborted", ErrClientAborted},
		{"ErrTimeout", ErrTimeout},
		{"ErrTransferTimeLimit", ErrTransferTimeLimit},
		{"CleanPath", pathErr},
		{"ListenAndServe", listenErr},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error, want one", tt.name)
			continue
		}
		if got := tt.err.Error(); !strings.HasPrefix(got, "tftpserve: ") {
			t.Errorf("%s: error %q, want it to start with \"tftpserve: \"", tt.name, got)
		}
	}
}
