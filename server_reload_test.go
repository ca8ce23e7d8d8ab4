package pxekit_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/iana"
	pintftp "github.com/pin/tftp/v3"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/dhcpboot"
	"github.com/pxekit/pxekit/tftpserve"
)

// writeBootDir makes a directory holding ipxe.efi with content b.
func writeBootDir(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ipxe.efi"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// randomBytes returns n bytes of a deterministic random stream.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tftpGet fetches name from addr with pin/tftp's client.
func tftpGet(addr, name string) ([]byte, error) {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		return nil, err
	}
	c.SetTimeout(2 * time.Second)
	c.SetRetries(10)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// A reload in the middle of a 200-client TFTP boot storm loses no
// transfer: the transfers in flight finish from the old directory, every
// client gets one version of the file whole, and the clients that start
// after the reload get the new one.
func TestServerReloadDuringTFTPStorm(t *testing.T) {
	const size = 96 << 10
	oldB, newB := randomBytes(1, size), randomBytes(2, size)
	oldDir, newDir := writeBootDir(t, oldB), writeBootDir(t, newB)

	srv := &pxekit.Server{BaseURL: "http://127.0.0.1:8080", TFTPRoot: oldDir}
	var started, finished atomic.Int64
	srv.TFTPTune = func(*tftpserve.Request, *tftpserve.Limits, pxekit.Session, bool) { started.Add(1) }
	ts := srv.TFTPServer()
	observe := ts.OnTransfer
	ts.OnTransfer = func(info tftpserve.TransferInfo) {
		finished.Add(1)
		observe(info)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.Serve(pc)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	addr := pc.LocalAddr().String()

	const before, after = 150, 50
	results := make([][]byte, before+after)
	errs := make([]error, before+after)
	var wg sync.WaitGroup
	fetch := func(from, to int) {
		for i := from; i < to; i++ {
			wg.Go(func() { results[i], errs[i] = tftpGet(addr, "ipxe.efi") })
		}
	}
	fetch(0, before)
	deadline := time.Now().Add(30 * time.Second)
	for started.Load()-finished.Load() < 20 && finished.Load() < before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	inFlight := started.Load() - finished.Load()
	if err := srv.Reload(&pxekit.Server{BaseURL: "http://127.0.0.1:8080", TFTPRoot: newDir}); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	// The old directory is left in place: a request that arrived before
	// the reload but has not opened its file yet opens it from the old
	// generation, so deleting the directory now would fail that request
	// (the storm test did so once under load).
	fetch(before, before+after)
	wg.Wait()

	var gotOld, gotNew int
	for i, b := range results {
		switch {
		case errs[i] != nil:
			t.Errorf("client %d: %v", i, errs[i])
		case bytes.Equal(b, oldB):
			gotOld++
			if i >= before {
				t.Errorf("client %d started after the reload and got the old file", i)
			}
		case bytes.Equal(b, newB):
			gotNew++
		default:
			t.Errorf("client %d got %d bytes that are neither version whole", i, len(b))
		}
	}
	t.Logf("reload with %d transfers in flight: %d clients got the old file, %d the new one", inFlight, gotOld, gotNew)
	if inFlight == 0 {
		t.Errorf("no transfer was in flight at the reload (started %d, finished %d): the test proved nothing", started.Load(), finished.Load())
	}
	if gotOld < int(inFlight) {
		t.Errorf("%d clients got the old file, want at least the %d in flight at the reload", gotOld, inFlight)
	}
}

// Reload refuses, and swaps nothing, when the new settings are bad or
// change what takes a restart.
func TestServerReloadRefuses(t *testing.T) {
	dir := writeBootDir(t, []byte("one"))
	srv := &pxekit.Server{BaseURL: "http://127.0.0.1:8080", Files: dir}
	defer srv.Close()
	for _, tc := range []struct {
		name string
		next *pxekit.Server
		want string
	}{
		{"base URL", &pxekit.Server{BaseURL: "http://127.0.0.1:9090", Files: dir}, "BaseURL cannot change"},
		{"DHCP mode", &pxekit.Server{BaseURL: "http://127.0.0.1:8080", Files: dir, DHCP: pxekit.DHCPProxy}, "DHCP cannot change"},
		{"missing files", &pxekit.Server{BaseURL: "http://127.0.0.1:8080", Files: filepath.Join(dir, "nope")}, "HTTP files"},
		{"bad boot script", &pxekit.Server{BaseURL: "http://127.0.0.1:8080", Files: dir, BootScript: []byte("echo no magic\n")}, "BootScript"},
	} {
		err := srv.Reload(tc.next)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pxekit: ") {
			t.Errorf("Reload(%s) = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	// The first settings are still in use.
	got, err := fetchHTTP(srv.HTTPHandler(), "/ipxe.efi")
	if err != nil || got != "one" {
		t.Errorf("GET /ipxe.efi after refused reloads = %q, %v; want %q", got, err, "one")
	}
}

// Reload swaps the policy the Server's own DHCP part answers with, the
// boot script and the inventory, without restarting anything.
func TestServerReloadSwapsPolicyScriptInventory(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:00:00:60")
	config := func(file, script, kernel string) *pxekit.Server {
		inv, err := pxekit.NewMapInventory(pxekit.Machine{MAC: mac, Kernel: kernel})
		if err != nil {
			t.Fatal(err)
		}
		return &pxekit.Server{DHCP: pxekit.DHCPProxy, Addr: netip.MustParseAddr("127.0.0.1"), BaseURL: "http://127.0.0.1:8080",
			Policy:     dhcpboot.MustNewPolicy(dhcpboot.Rule{Name: file, Action: dhcpboot.Action{BootFile: dhcpboot.MustParseTemplate(file)}}),
			BootScript: []byte("#!ipxe\necho " + script + "\n"), Inventory: inv}
	}
	srv := config("first.efi", "one", "vmlinuz-1")
	dhcp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pxekit.Listeners{DHCP4011: dhcp}) }()
	defer func() {
		srv.Close()
		<-done
	}()
	check := func(file, script, kernel string) {
		t.Helper()
		if r := exchange(t, dhcp.LocalAddr(), proxyRequest(t, mac.String(), iana.EFI_X86_64, false)); r.BootFileName != file {
			t.Errorf("proxy ACK boot file %q, want %q", r.BootFileName, file)
		}
		if got, err := fetchHTTP(srv.HTTPHandler(), "/boot.ipxe"); err != nil || !strings.Contains(got, "echo "+script) {
			t.Errorf("boot script %q (%v), want echo %s", got, err, script)
		}
		if got, err := fetchHTTP(srv.HTTPHandler(), "/machine/52-54-00-00-00-60"); err != nil || !strings.Contains(got, "/"+kernel+" ") &&
			!strings.Contains(got, "/"+kernel+"\n") {
			t.Errorf("machine script %q (%v), want kernel %s", got, err, kernel)
		}
	}
	check("first.efi", "one", "vmlinuz-1")
	if err := srv.Reload(config("second.efi", "two", "vmlinuz-2")); err != nil {
		t.Fatal(err)
	}
	check("second.efi", "two", "vmlinuz-2")
}

// Shutdown lets a transfer in flight finish: the client gets the whole
// file, then Serve returns ErrServerClosed.
func TestServerShutdownLetsTransfersFinish(t *testing.T) {
	want := randomBytes(3, 1<<20)
	dir := writeBootDir(t, want)
	started := make(chan struct{}, 1)
	srv := &pxekit.Server{BaseURL: "http://127.0.0.1:8080", TFTPRoot: dir,
		TFTPTune: func(*tftpserve.Request, *tftpserve.Limits, pxekit.Session, bool) { started <- struct{}{} }}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pxekit.Listeners{TFTP: pc}) }()
	got := make(chan []byte, 1)
	go func() {
		b, err := tftpGet(pc.LocalAddr().String(), "ipxe.efi")
		if err != nil {
			t.Errorf("TFTP during Shutdown: %v", err)
		}
		got <- b
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("client got %d bytes, want the whole %d-byte file", len(b), len(want))
	}
	if err := <-done; err != pxekit.ErrServerClosed {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}
