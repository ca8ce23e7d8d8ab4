package pxekit_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/tftpserve"
)

// statusRequest runs GET target on h from peer.
func statusRequest(t *testing.T, h http.Handler, target, peer string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = peer
	h.ServeHTTP(rec, r)
}

// TestServerStatusOffByDefaultNoSecrets: a Server keeps no status table
// until Status is called; then the table shows a known machine by its
// inventory name and fetches by path, and nothing secret — not the
// machine's script, command line or template, not a query string.
func TestServerStatusOffByDefaultNoSecrets(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:77:00:42")
	inv, err := pxekit.NewMapInventory(
		pxekit.Machine{Name: "web-01", MAC: mac, Kernel: "vmlinuz", Cmdline: []string{"console=ttyS0", "rootpw=SECRET-PASSWORD"}},
		pxekit.Machine{Name: "db-01", MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x43},
			Script: "#!ipxe\n# SECRET-SCRIPT\nset pw SECRET-IN-SCRIPT\nexit\n"})
	if err != nil {
		t.Fatal(err)
	}
	s := &pxekit.Server{BaseURL: "http://10.77.0.1:8080", Inventory: inv}
	defer s.Close()
	h := s.HTTPHandler()
	statusRequest(t, h, "/machine/52-54-00-77-00-42?token=SECRET-QUERY", "10.77.0.50:1000")
	if n := s.Status().Len(); n != 0 {
		t.Fatalf("Status().Len() = %d after a request made before Status was first called, want 0: the table is off until then", n)
	}
	statusRequest(t, h, "/machine/52-54-00-77-00-42?token=SECRET-QUERY", "10.77.0.50:1000")
	statusRequest(t, h, "/machine/52-54-00-77-00-43?buildarch=x86_64&platform=efi&secret=SECRET-QUERY2", "10.77.0.51:1000")
	statusRequest(t, h, "/nothing-here?SECRET-QUERY3", "10.77.0.51:1000")

	srv := httptest.NewServer(s.StatusHandler())
	defer srv.Close()
	var all strings.Builder
	for _, p := range []string{"/status", "/status.json"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		all.Write(b)
	}
	body := all.String()
	for _, secret := range []string{"SECRET", "rootpw", "console=ttyS0", "#!ipxe", "token="} {
		if strings.Contains(body, secret) {
			t.Errorf("the status page or JSON shows %q", secret)
		}
	}
	for _, want := range []string{"web-01", "db-01", "52:54:00:77:00:42", "/nothing-here", "404 Not Found"} {
		if !strings.Contains(body, want) {
			t.Errorf("the status page and JSON do not show %q", want)
		}
	}
	var snap pxekit.StatusSnapshot
	if err := json.Unmarshal([]byte(body[strings.Index(body, `{"time"`):]), &snap); err != nil {
		t.Fatalf("/status.json: %v", err)
	}
	if len(snap.Machines) != 2 || snap.Machines[0].Name != "web-01" || snap.Machines[0].Stage != pxekit.StageScript || snap.Machines[0].IP != "10.77.0.50" {
		t.Errorf("/status.json machines = %+v, want web-01 at script from 10.77.0.50, then db-01", snap.Machines)
	}
}

// TestStatusLiveUpdates: /status/events sends each change as an
// "update" event carrying the changed row (drawn by the page's template)
// and the counters, resumes from Last-Event-ID, and ends when the Server
// closes, so that an HTTP server's Shutdown does not wait for browsers.
func TestStatusLiveUpdates(t *testing.T) {
	s := &pxekit.Server{BaseURL: "http://10.77.0.1:8080"}
	st := s.Status()
	srv := httptest.NewServer(s.StatusHandler())
	defer srv.Close()
	seq := st.Snapshot().Seq

	resp, err := http.Get(srv.URL + "/status/events?since=" + itoa(seq))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
	}()
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended while waiting for %q", want)
				}
				if strings.Contains(ev, want) {
					return ev
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no event with %q in 10 s", want)
			}
		}
	}

	mac, _ := net.ParseMAC("52:54:00:77:00:99")
	info := tftpserve.TransferInfo{Client: netip.MustParseAddrPort("10.77.0.60:2000"), Filename: "ipxe.efi", Path: "ipxe.efi",
		Size: 1000, Bytes: 400, BlockSize: 1468, WindowSize: 4, Start: time.Now(), Duration: time.Second}
	st.Observe(pxekit.TFTPProgressEventFrom(info, mac)) // no row yet: a progress event alone makes none
	st.Observe(pxekit.StageEvent{EventHeader: pxekit.EventHeader{Time: time.Now(), MAC: mac}, To: pxekit.StageDHCP})
	st.Observe(pxekit.TFTPProgressEventFrom(info, mac))
	ev := next("event: update")
	if !strings.Contains(ev, `id=\"m-525400770099\"`) || !strings.Contains(ev, `\u003cprogress id=\"p-525400770099\" max=\"1000\" value=\"400\"`) {
		t.Errorf("update %q: want the row of 52:54:00:77:00:99 with its progress element at 400 of 1000", ev)
	}
	if !strings.HasPrefix(ev, "id: ") {
		t.Errorf("update %q has no id line", ev)
	}

	// Resuming from the last id sends nothing old; a new change comes.
	id := strings.TrimPrefix(strings.SplitN(ev, "\n", 2)[0], "id: ")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/status/events", nil)
	req.Header.Set("Last-Event-ID", id)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	st.Observe(pxekit.StageEvent{EventHeader: pxekit.EventHeader{Time: time.Now(), MAC: mac}, To: pxekit.StageBootFile})
	r2 := bufio.NewReader(resp2.Body)
	var first string
	for !strings.HasPrefix(first, "data: ") {
		if first, err = r2.ReadString('\n'); err != nil {
			t.Fatalf("resumed stream: %v", err)
		}
	}
	if !strings.Contains(first, `data-stage=\"bootfile\"`) {
		t.Errorf("the resumed stream's first update %q: want the row at bootfile", first)
	}

	// Close ends both streams.
	s.Close()
	done := make(chan struct{})
	go func() {
		for range events {
		}
		io.Copy(io.Discard, r2)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the live update streams still run 10 s after the Server closed")
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
