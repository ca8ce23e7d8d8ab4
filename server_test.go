package pxekit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
