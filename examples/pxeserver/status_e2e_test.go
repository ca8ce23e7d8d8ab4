package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pxekit/pxekit"
	"github.com/pxekit/pxekit/internal/browsertest"
	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/qemulab"
)

// forwardTCP listens on loopback in the test's own namespace and relays
// each connection to addr inside ns: the browser (here) reaches
// pxeserver's HTTP port (in the lab). It returns the local address.
func forwardTCP(t *testing.T, ns *netlab.NS, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s, err := ns.DialContext(ctx, "tcp", addr)
				cancel()
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(s, c)
					s.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				io.Copy(c, s)
				c.Close()
				<-done
			})
		}
	})
	return ln.Addr().String()
}

// domRecorder is a script run in the page: every 50 ms it reads each
// row's stage and its transfer's progress bar and keeps every change, so
// that what a person watching would have seen is on record.
const domRecorder = `(() => {
	const rec = window.__rec = {stages: {}, progress: {}, polls: 0};
	const poll = () => {
		rec.polls++;
		for (const tr of document.querySelectorAll("#machines tbody tr[id^='m-']")) {
			const mac = tr.querySelector("code.mac").textContent;
			const st = (rec.stages[mac] = rec.stages[mac] || []);
			const stage = tr.getAttribute("data-stage");
			if (st[st.length - 1] !== stage) st.push(stage);
			const p = tr.querySelector("progress");
			if (!p) continue;
			const label = p.labels.length ? p.labels[0].textContent : "";
			const key = mac + " " + label;
			const seen = (rec.progress[key] = rec.progress[key] || []);
			const v = p.hasAttribute("value") ? p.value : -1;
			const last = seen[seen.length - 1];
			if (!last || last[0] !== v || last[1] !== p.max) seen.push([v, p.max]);
		}
	};
	poll();
	setInterval(poll, 50);
	return true;
})()`

// recording is what domRecorder kept.
type recording struct {
	Stages   map[string][]string     `json:"stages"`
	Progress map[string][][2]float64 `json:"progress"`
	Polls    int                     `json:"polls"`
}

// TestStatusPageFirmwareBoot boots a BIOS (iPXE ROM) and a UEFI (OVMF
// PXE, which fetches ipxe.efi over TFTP) machine at once through
// pxeserver while a real Chromium has /status open, and checks what the
// page showed: both MACs reaching the script stage through their stages
// in order, the progress bar of ipxe.efi moving during its transfer, and
// its counters agreeing with /status.json and with pxeserver's log. A
// screenshot is kept (browsertest.ArtifactDir).
func TestStatusPageFirmwareBoot(t *testing.T) {
	fw := qemulab.Require(t)
	lab := qemulab.NewLab(t, fw)
	lab.AdvertiseIPv6(t)
	root := filepath.Join(lab.Dir, "boot")
	sizes := labFiles(t, fw, root)
	netlab.RequireTool(t, "tc")
	srv := startServer(t, lab.NS, "-iface", lab.Bridge, "-addr", lab.ServerIP.String(), "-dhcp", "lab", "-tftp-root", root)
	base := "http://" + forwardTCP(t, lab.NS, net.JoinHostPort(lab.ServerIP.String(), "8080"))

	tab := browsertest.New(t, 8*time.Minute)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/status"), chromedp.WaitVisible("#machines")); err != nil {
		t.Fatalf("open /status: %v", err)
	}
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.getElementById("live").textContent === "live"`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the page's live updates did not connect: %v", err)
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](domRecorder)); err != nil {
		t.Fatalf("start the DOM recorder: %v", err)
	}

	// Both machines at once, in one lab.
	machines := []*qemulab.Machine{lab.Boot(t, qemulab.BIOSiPXE, qemulab.Options{}), lab.Boot(t, qemulab.UEFIPXE, qemulab.Options{})}
	// The UEFI machine sits behind a 4 Mbit/s link (a token bucket on its
	// tap, towards it), so that ipxe.efi (830 KiB) takes about 2 s over
	// TFTP, not the fraction of a second of a bridge in memory: long
	// enough for the page to show the transfer as a person would see it.
	lab.NS.Run(t, "tc", "qdisc", "add", "dev", machines[1].Tap, "root", "tbf", "rate", "4mbit", "burst", "16kb", "latency", "400ms")
	bios, uefi := machines[0].MAC.String(), machines[1].MAC.String()
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	errs := make(chan error, len(machines))
	for _, m := range machines {
		go func() {
			_, err := m.WaitConsole(ctx, pxekit.BootedMarker+" "+m.MAC.String())
			errs <- err
		}()
	}
	for range machines {
		if err := <-errs; err != nil {
			t.Fatalf("boot: %v", err)
		}
	}
	// Both booted: stop them before their firmware tries another boot.
	for _, m := range machines {
		m.Stop()
	}
	t.Logf("both machines booted: %s (BIOS) after %s, %s (UEFI) after %s", bios, time.Since(machines[0].Started).Round(time.Second),
		uefi, time.Since(machines[1].Started).Round(time.Second))

	// The page shows both at the script stage.
	want := `["` + bios + `","` + uefi + `"].every(mac => [...document.querySelectorAll("#machines tbody tr")].some(tr =>
		tr.querySelector("code.mac").textContent === mac && tr.getAttribute("data-stage") === "script"))`
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](want, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the page does not show both machines at the script stage: %v", err)
	}
	browsertest.Screenshot(t, tab, filepath.Join(browsertest.ArtifactDir(t), "status-two-machines.png"))

	rec, err := chromedp.Run(tab, chromedp.Evaluate[recording](`window.__rec`))
	if err != nil {
		t.Fatalf("read the DOM recorder: %v", err)
	}
	t.Logf("DOM polled %d times; stages seen: %v", rec.Polls, rec.Stages)
	// Every stage shown comes after the one before; the stages that last
	// (the firmware's DHCP until its boot file is in, the boot file until
	// iPXE asks) must be seen. iPXE's own stage lasts from its DHCP ACK to
	// its script request, about 0.1 s, and may fall between two updates.
	order := []string{"unknown", "dhcp", "bootfile", "ipxe", "script", "kernel"}
	for mac, must := range map[string][]string{bios: {"script"}, uefi: {"dhcp", "bootfile", "script"}} {
		seen := rec.Stages[mac]
		if i := slices.Index(seen, "script"); i >= 0 {
			seen = seen[:i+1] // a later boot may start over
		}
		for i := 1; i < len(seen); i++ {
			if slices.Index(order, seen[i]) <= slices.Index(order, seen[i-1]) {
				t.Errorf("%s: the page showed stage %s after %s: %v, want boot order", mac, seen[i], seen[i-1], seen)
			}
		}
		for _, st := range must {
			if !slices.Contains(seen, st) {
				t.Errorf("%s: the page never showed stage %s: %v, want %v in order", mac, st, seen, must)
			}
		}
	}

	// The progress bar of ipxe.efi moved while the transfer ran.
	size := float64(sizes["ipxe.efi"])
	bar := rec.Progress[uefi+" tftp ipxe.efi"]
	t.Logf("progress of ipxe.efi as the page showed it (value, max): %v", bar)
	var mid int
	for i, v := range bar {
		if v[1] != size {
			t.Errorf("progress bar max %v, want the size of ipxe.efi, %v", v[1], size)
		}
		if v[0] > 0 && v[0] < size {
			mid++
		}
		if i > 0 && v[0] < bar[i-1][0] {
			t.Errorf("progress bar went back from %v to %v", bar[i-1][0], v[0])
		}
	}
	if mid == 0 || len(bar) == 0 || bar[len(bar)-1][0] != size {
		t.Errorf("progress bar of ipxe.efi: %v, want values between 0 and %v during the transfer, then %v", bar, size, size)
	}

	// Counters: the page, /status.json and the log agree, once quiet.
	checkCounters(t, tab, base, srv, []string{bios, uefi})
}

// statusFigures are the counters compared between the page, the JSON
// and the log.
type statusFigures struct {
	Machines, AtScript                 int
	TFTPTransfers, TFTPBytes           int64
	HTTPRequests, HTTPBytes            int64
	DHCPAnswered, DHCPIgnored, Unknown int64
}

// checkCounters waits until the server is quiet (its log unchanged for 2
// s), then compares the counters of /status.json with those of the page
// (after its live update) and with the log's events.
func checkCounters(t *testing.T, tab context.Context, base string, srv *serverProc, macs []string) {
	t.Helper()
	for n, quiet := len(srv.snapshot()), time.Now(); time.Since(quiet) < 2*time.Second; time.Sleep(200 * time.Millisecond) {
		if m := len(srv.snapshot()); m != n {
			n, quiet = m, time.Now()
		}
	}
	resp, err := http.Get(base + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	var snap pxekit.StatusSnapshot
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/status.json: %v", err)
	}
	c := snap.Counters
	fromJSON := statusFigures{Machines: c.Machines, TFTPTransfers: c.TFTPTransfers, TFTPBytes: c.TFTPBytes,
		HTTPRequests: c.HTTPRequests, HTTPBytes: c.HTTPBytes, DHCPAnswered: c.DHCP.Answered, DHCPIgnored: c.DHCP.Ignored, Unknown: int64(c.Unknown)}
	for _, sc := range c.ByStage {
		if sc.Stage == pxekit.StageScript {
			fromJSON.AtScript = sc.N
		}
	}

	var fromLog statusFigures
	macsInLog := map[string]bool{}
	for _, l := range srv.snapshot() {
		switch l.str("kind") {
		case "dhcp":
			macsInLog[l.str("mac")] = true
			switch l.str("outcome") {
			case "answered":
				fromLog.DHCPAnswered++
			case "ignored":
				fromLog.DHCPIgnored++
			}
		case "tftp":
			if !l.flag("write") {
				fromLog.TFTPTransfers++
				fromLog.TFTPBytes += int64(l.num("bytes"))
			}
		case "http":
			fromLog.HTTPRequests++
			fromLog.HTTPBytes += int64(l.num("bytes"))
		case "unknown-machine":
			fromLog.Unknown++
		}
	}
	fromLog.Machines, fromLog.AtScript = fromJSON.Machines, fromJSON.AtScript // not in the log as such
	if fromJSON != fromLog {
		t.Errorf("counters of /status.json %+v, of the log %+v: want the same", fromJSON, fromLog)
	}
	if fromJSON.Machines != len(macs) || fromJSON.AtScript != len(macs) {
		t.Errorf("/status.json: %d machines, %d at script; want %d and %d (%v)", fromJSON.Machines, fromJSON.AtScript, len(macs), len(macs), macs)
	}

	// The page, once its live update has the same seq.
	seq := strconv.FormatUint(snap.Seq, 10)
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.getElementById("machines").getAttribute("data-seq") === "`+seq+`"`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the page never caught up with seq %s: %v", seq, err)
	}
	page, err := chromedp.Run(tab, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("#counters dd")].map(d => [d.id, d.getAttribute("data-bytes") || d.textContent]))`))
	if err != nil {
		t.Fatalf("read the page's counters: %v", err)
	}
	num := func(id string) int64 {
		f := strings.Fields(page[id])
		if len(f) == 0 {
			t.Errorf("the page has no counter %s: %v", id, page)
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Errorf("counter %s = %q: %v", id, page[id], err)
		}
		return n
	}
	fromPage := statusFigures{Machines: int(num("n-machines")), AtScript: int(num("n-script")), TFTPTransfers: num("n-tftp"),
		TFTPBytes: num("n-tftp-bytes"), HTTPRequests: num("n-http"), HTTPBytes: num("n-http-bytes"),
		DHCPAnswered: num("n-dhcp"), DHCPIgnored: dhcpIgnored(page["n-dhcp"]), Unknown: num("n-unknown")}
	if fromPage != fromJSON {
		t.Errorf("counters of the page %+v, of /status.json %+v: want the same", fromPage, fromJSON)
	}
	t.Logf("counters (page = /status.json = log): %+v", fromJSON)
}

// dhcpIgnored reads "N answered, M ignored…" for M.
func dhcpIgnored(s string) int64 {
	_, rest, _ := strings.Cut(s, ", ")
	n, _ := strconv.ParseInt(strings.Fields(rest + " -1")[0], 10, 64)
	return n
}
