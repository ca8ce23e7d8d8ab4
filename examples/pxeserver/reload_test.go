package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// getBody GETs url and returns the status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// waitMsg returns the next log record whose msg is one of msgs, skipping
// the events and records before it.
func waitMsg(t *testing.T, next func() map[string]any, msgs ...string) map[string]any {
	t.Helper()
	for range 1000 {
		l := next()
		for _, m := range msgs {
			if l["msg"] == m {
				return l
			}
		}
	}
	t.Fatalf("no log record %q", msgs)
	return nil
}

// TestRunReloadOnSIGHUP: SIGHUP reads the config file again. A changed
// machine script is served from the next request on and the log says
// what changed; a change that takes a restart is refused, named in the
// log, and the running configuration stays.
func TestRunReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "pxeserver.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	machine := func(word string) string {
		return "machines:\n  - mac: \"52:54:00:00:00:07\"\n    script: |\n      #!ipxe\n      echo " + word + "\n"
	}
	write(machine("first"))
	ready, next, stop := runLocal(t, "-config", conf)
	base, _ := ready["http"].(string)
	url := base + "/machine/52-54-00-00-00-07"
	if _, body := getBody(t, url); !strings.Contains(body, "echo first") {
		t.Fatalf("before SIGHUP: body = %q, want the first script", body)
	}

	// reload writes the config file, sends SIGHUP and returns the log
	// record that says how the reload went, and the script served then.
	reload := func(text string) (map[string]any, string) {
		t.Helper()
		write(text)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		l := waitMsg(t, next, "reloaded", "reload refused")
		_, body := getBody(t, url)
		return l, body
	}

	l, body := reload(machine("second"))
	if l["msg"] != "reloaded" || !strings.Contains(fmt.Sprint(l["changed"]), "Machines") {
		t.Fatalf("reload log = %v, want reloaded with Machines changed", l)
	}
	if !strings.Contains(body, "echo second") {
		t.Errorf("after SIGHUP: body = %q, want the second script", body)
	}
	l, body = reload(machine("third") + "http_idle_timeout: 5s\n")
	if l["msg"] != "reload refused" || !strings.Contains(fmt.Sprint(l["err"]), "HTTPIdleTimeout") {
		t.Errorf("reload log = %v, want reload refused naming HTTPIdleTimeout", l)
	}
	if !strings.Contains(body, "echo second") {
		t.Errorf("after a refused reload: body = %q, want the second script still", body)
	}
	if l, body = reload(machine("broken") + "no_such_setting: 1\n"); l["msg"] != "reload refused" || !strings.Contains(body, "echo second") {
		t.Errorf("reload of a bad config file: log = %v, body %q; want reload refused, the second script still", l, body)
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}
}

// TestRunMetricsAndInventory: /metrics serves the Server's Prometheus
// metrics on the HTTP port (and -metrics=false turns it off); a machine
// of the -inventory directory gets its script.
func TestRunMetricsAndInventory(t *testing.T) {
	inv := t.TempDir()
	yaml := "mac: 52:54:00:00:00:08\nkernel: http://10.0.0.1/linux\ncmdline: [console=ttyS0, \"hostname=web 01\"]\n"
	if err := os.WriteFile(filepath.Join(inv, "web01.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ready, _, stop := runLocal(t, "-inventory", inv)
	base, _ := ready["http"].(string)
	status, body := getBody(t, base+"/machine/52-54-00-00-00-08")
	if status != 200 || !strings.Contains(body, "http://10.0.0.1/linux") || !strings.Contains(body, "# pxekit: machine web01") || !strings.Contains(body, "console=ttyS0") {
		t.Errorf("inventory machine: %d %q, want its kernel and command line", status, body)
	}
	status, body = getBody(t, base+"/metrics")
	if status != 200 || !strings.Contains(body, "pxekit_requests_total") {
		t.Errorf("/metrics: %d, want 200 with pxekit_requests_total; body:\n%s", status, body)
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}

	ready, _, stop = runLocal(t, "-metrics=false")
	base, _ = ready["http"].(string)
	if status, _ := getBody(t, base+"/metrics"); status != 404 {
		t.Errorf("-metrics=false: /metrics status %d, want 404", status)
	}
	if got := stop(); got != 0 {
		t.Errorf("stop() = %v, want 0", got)
	}
}
