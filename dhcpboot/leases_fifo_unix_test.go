//go:build unix

package dhcpboot

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestLabServerRefusesFIFOLeaseFile: opening a FIFO for reading blocks until
// a writer comes, so a lease path that is a FIFO hung the server before its
// first answer. It must be refused with an error naming the path.
func TestLabServerRefusesFIFOLeaseFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "leases")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	s := newLab(t, fifo, &fakeClock{time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)})
	d, _ := dhcpv4.NewDiscovery(mustMAC("02:00:00:00:00:01"))
	errc := make(chan error, 1)
	go func() { _, err := respond4(s, d); errc <- err }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("lease path is a FIFO: got %v, want an error naming it as not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		// Let the blocked open finish so the test process can end.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("the lab server hung opening a FIFO as its lease file")
	}
}
