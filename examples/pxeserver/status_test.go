package main

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunStatusPage: pxeserver serves the status page on its HTTP port:
// a live update names the machine that just fetched its script, the page
// shows it by its inventory name without its command line, stopping
// ends the live stream, and -status=false turns the page off.
func TestRunStatusPage(t *testing.T) {
	inv := t.TempDir()
	yaml := "mac: 52:54:00:00:00:08\nkernel: http://10.0.0.1/linux\ncmdline: [console=ttyS0, \"rootpw=SECRET\"]\n"
	if err := os.WriteFile(filepath.Join(inv, "web01.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ready, _, stop := runLocal(t, "-inventory", inv)
	base, _ := ready["http"].(string)
	if ready["status"] != true {
		t.Errorf("ready record: status = %v, want true", ready["status"])
	}
	resp, err := http.Get(base + "/status/events?since=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stream := make(chan string, 64)
	go func() {
		defer close(stream)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			stream <- sc.Text()
		}
	}()
	if status, _ := getBody(t, base+"/machine/52-54-00-00-00-08"); status != 200 {
		t.Fatalf("/machine/52-54-00-00-00-08: status %d, want 200", status)
	}
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case l, ok := <-stream:
			if !ok {
				t.Fatal("the live stream ended before it named the machine")
			}
			seen = strings.HasPrefix(l, "data: ") && strings.Contains(l, `id=\"m-525400000008\"`)
		case <-deadline:
			t.Fatal("no live update with the machine's row within 10 s")
		}
	}
	status, page := getBody(t, base+"/status")
	if status != 200 || !strings.Contains(page, "52:54:00:00:00:08") || !strings.Contains(page, "web01") {
		t.Errorf("/status: %d, want 200 with the machine's MAC and inventory name; page:\n%s", status, page)
	}
	for _, secret := range []string{"SECRET", "console=ttyS0", "http://10.0.0.1/linux"} {
		if strings.Contains(page, secret) {
			t.Errorf("/status shows %q", secret)
		}
	}
	if status, js := getBody(t, base+"/status.json"); status != 200 || !strings.Contains(js, `"stage":"script"`) {
		t.Errorf("/status.json: %d %s, want 200 with the machine at stage script", status, js)
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}
	select {
	case <-drain(stream):
	case <-time.After(10 * time.Second):
		t.Error("the live stream still open 10 s after pxeserver stopped")
	}

	ready, _, stop = runLocal(t, "-status=false")
	base, _ = ready["http"].(string)
	for _, p := range []string{"/status", "/status.json"} {
		if status, _ := getBody(t, base+p); status != 404 {
			t.Errorf("-status=false: %s status %d, want 404", p, status)
		}
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}
}

// drain reads ch to its end and then closes the channel it returns.
func drain(ch <-chan string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}
