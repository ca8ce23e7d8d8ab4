package pxekit

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/pxekit/pxekit/internal/browsertest"
)

// statusMux mounts st's handler where pxeserver does.
func statusMux(st *Status) http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"GET /status", "GET /status.json", "GET /status/events"} {
		mux.Handle(p, st.Handler())
	}
	return mux
}

// navTiming is the page load as the browser measured it, in ms from the
// start of the navigation.
type navTiming struct {
	ResponseEnd    float64 `json:"responseEnd"`
	DOMContentLoad float64 `json:"dcl"`
	Load           float64 `json:"load"`
	FirstPaint     float64 `json:"fcp"`
}

// TestStatusPage1000InChromium opens the page of 1 000 machines in a
// real Chromium: every row is there, the time it took is logged (not
// asserted: speed is shown, never tested), a live update lands in its
// place in MAC order, the page fits 1280×800 and a phone's width without
// scrolling sideways, dark mode is dark, every progress bar has its
// label, and without JavaScript the server-rendered table is whole.
// Screenshots go to browsertest.ArtifactDir.
func TestStatusPage1000InChromium(t *testing.T) {
	ctx := browsertest.New(t, 3*time.Minute)
	st := &Status{}
	simulateBoots(st, 1000, time.Now())
	srv := httptest.NewServer(statusMux(st))
	defer srv.Close()
	dir := browsertest.ArtifactDir(t)

	// open navigates to the page and logs the browser's own timing of it.
	open := func(what string) {
		t.Helper()
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/status"), chromedp.WaitVisible("#machines")); err != nil {
			t.Fatalf("open /status: %v", err)
		}
		wall := time.Since(start)
		tm, err := chromedp.Run(ctx, chromedp.Evaluate[navTiming](`new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
		const n = performance.getEntriesByType("navigation")[0];
		const p = performance.getEntriesByName("first-contentful-paint")[0];
		done({responseEnd: n.responseEnd, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, fcp: p ? p.startTime : -1});
	})))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("navigation timing: %v", err)
		}
		t.Logf("1000 machines: page in Chromium (%s): response end %.0f ms, DOMContentLoaded %.0f ms, load %.0f ms, first contentful paint %.0f ms (navigation and wait seen from Go: %v)",
			what, tm.ResponseEnd, tm.DOMContentLoad, tm.Load, tm.FirstPaint, wall.Round(time.Millisecond))
	}
	// A fresh browser first, then the same page again in the running
	// browser, as an operator who keeps it open sees it.
	open("fresh browser")
	open("running browser")

	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#machines tbody tr[id^='m-']").length`))
	if err != nil || rows != 1000 {
		t.Fatalf("rows in the page = %d (%v), want 1000", rows, err)
	}
	// The script runs (its Content-Security-Policy hash matches) and the
	// live updates connect.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("live").textContent === "live"`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("live updates never connected: %v", err)
	}
	checks := []struct{ what, js string }{
		{"column headers", `document.querySelectorAll("#machines thead th[scope=col]").length === 6`},
		{"row headers", `document.querySelectorAll("#machines tbody th[scope=row]").length === 1000`},
		{"a label for every progress bar", `[...document.querySelectorAll("progress")].every(p => p.labels.length === 1 && p.labels[0].textContent.startsWith("tftp "))`},
		{"progress bars", `document.querySelectorAll("progress").length === 1000`},
		{"unknown machines marked", `document.querySelectorAll("tr.unknown .badge").length === 334`},
		{"no sideways scroll at 1280x800", `document.documentElement.scrollWidth <= window.innerWidth`},
	}
	for _, c := range checks {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](c.js)); err != nil || !ok {
			t.Errorf("%s: %s is false (%v)", c.what, c.js, err)
		}
	}
	browsertest.Screenshot(t, ctx, filepath.Join(dir, "status-1000-light.png"))

	// A machine new to the table arrives live, in its place by MAC.
	early := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	st.Observe(StageEvent{EventHeader: EventHeader{Time: time.Now(), MAC: early}, To: StageDHCP})
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#machines tbody tr").id === "m-020000000001" && document.querySelectorAll("#machines tbody tr").length === 1001`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Errorf("the live update of a new machine: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("n-machines").textContent`)); err != nil || n != "1001" {
		t.Errorf("machines counter after the update = %q (%v), want 1001", n, err)
	}

	// Dark mode.
	light, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	dark, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if light != "rgb(255, 255, 255)" || dark != "rgb(18, 18, 18)" {
		t.Errorf("background light %q, dark %q; want rgb(255, 255, 255) and rgb(18, 18, 18)", light, dark)
	}
	browsertest.Screenshot(t, ctx, filepath.Join(dir, "status-1000-dark.png"))

	// A phone: rows become cards, nothing scrolls sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("emulate a phone: %v", err)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth &&
		getComputedStyle(document.querySelector("#machines tbody tr")).display === "block"`)); err != nil || !ok {
		t.Errorf("at 390 px: the page scrolls sideways or rows are not cards (%v)", err)
	}
	browsertest.Screenshot(t, ctx, filepath.Join(dir, "status-1000-phone.png"))

	// Without JavaScript the server-rendered page is whole.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable scripts: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/status"), chromedp.WaitVisible("#machines")); err != nil {
		t.Fatalf("open /status without scripts: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#machines tbody tr").length`)); err != nil || n != 1001 {
		t.Errorf("rows without JavaScript = %d (%v), want 1001", n, err)
	}
	if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("live").textContent`)); err != nil || s != "reloads every 5 s" {
		t.Errorf("without JavaScript the page says %q (%v), want it to say it reloads", s, err)
	}
	t.Logf("screenshots in %s", dir)
}
