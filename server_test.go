package pxekit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pxekit/pxekit"
)

// fetchHTTP runs GET path on h and returns the body; a status other than
// 200 is an error.
func fetchHTTP(h http.Handler, path string) (string, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: status %d", path, rec.Code)
	}
	return string(b), nil
}

// TestServerPassesLimits: the TFTP limits reach the tftpserve.Server of
// TFTPServer (MaxTimeout included), and the HTTP handler's query reaches
// its events.
func TestServerPassesLimits(t *testing.T) {
	var got []pxekit.HTTPEvent
	s := &pxekit.Server{BaseURL: "http://10.77.0.1:8080", TFTP: pxekit.TFTPLimits{MaxTimeout: 7, MaxTransfers: 3, SinglePort: true, BatchedLockstep: true},
		OnEvent: func(e pxekit.Event) {
			if h, ok := e.(pxekit.HTTPEvent); ok {
				got = append(got, h)
			}
		}}
	ts := s.TFTPServer()
	if ts.MaxTimeout != 7 || ts.MaxTransfers != 3 || !ts.SinglePort || !ts.BatchedLockstep {
		t.Errorf("TFTPServer: MaxTimeout %d, MaxTransfers %d, SinglePort %v, BatchedLockstep %v; want 7, 3, true, true",
			ts.MaxTimeout, ts.MaxTransfers, ts.SinglePort, ts.BatchedLockstep)
	}
	if _, err := fetchHTTP(s.HTTPHandler(), "/boot.ipxe?mac=52-54-00-77-00-0a&arch=0"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Query != "mac=52-54-00-77-00-0a&arch=0" {
		t.Errorf("HTTP events %+v, want one with the request's query", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
