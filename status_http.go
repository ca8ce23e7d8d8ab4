package pxekit

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The status page: one html/template for the page and for each row and
// the counters alone, which the live updates send, so that a row looks
// the same whether the page or an update drew it. The script only places
// what the server rendered and counts the seconds; without it, the page
// reloads itself every few seconds.

//go:embed status.tmpl
var statusTemplateText string

//go:embed status.js
var statusScript string

//go:embed status.css
var statusStyle string

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"unixms": func(t time.Time) int64 { return t.UnixMilli() },
	"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"bytes":  byteSize,
	"script": func() template.JS { return template.JS(statusScript) },
	"style":  func() template.CSS { return template.CSS(statusStyle) },
}).Parse(statusTemplateText))

// statusCSP allows the page's own inline script and style (by hash) and
// its live updates, nothing else.
var statusCSP = "default-src 'none'; script-src '" + cspHash(statusScript) + "'; style-src '" + cspHash(statusStyle) +
	"'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func cspHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

// maxStatusStreams bounds the live update streams of one table.
const maxStatusStreams = 64

// statusKeepAlive is how often an idle stream sends a comment, so that
// proxies keep it open and a gone browser is noticed.
const statusKeepAlive = 15 * time.Second

// statusCoalesce is how long a stream waits after a change for more, so
// that a boot storm sends a few updates a second, not one per event. A
// stream also waits statusBusy times as long as its last update took to
// make and send, so that a table of thousands of busy machines costs a
// browser's stream a bounded share of a core.
const (
	statusCoalesce = 50 * time.Millisecond
	statusBusy     = 4
)

// Handler serves the table over HTTP, by the end of the request's path:
// ".json" the StatusSnapshot as JSON, "/events" the live updates
// (Server-Sent Events), anything else the page (HTML, usable without
// JavaScript: it then reloads itself every 5 seconds). Mount it at
// /status, /status.json and /status/events of a mux (the page finds the
// other two relative to its own path). It answers GET and HEAD.
func (st *Status) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		switch p := r.URL.Path; {
		case strings.HasSuffix(p, ".json"):
			st.serveJSON(w)
		case strings.HasSuffix(p, "/events") && r.Method == http.MethodHead:
			h.Set("Content-Type", "text/event-stream")
		case strings.HasSuffix(p, "/events"):
			st.serveEvents(w, r)
		default:
			st.servePage(w)
		}
	})
}

func (st *Status) serveJSON(w http.ResponseWriter) {
	b, err := json.Marshal(st.Snapshot())
	if err != nil {
		http.Error(w, "pxekit: status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// statusPage is the page template's data.
type statusPage struct {
	Seq      uint64
	Now      time.Time
	Counters StatusCounters
	Rows     []statusRowView
}

// statusRowView is one row as the template draws it.
type statusRowView struct {
	StatusMachine
	now time.Time
}

func (st *Status) servePage(w http.ResponseWriter) {
	snap := st.Snapshot()
	page := statusPage{Seq: snap.Seq, Now: snap.Time, Counters: snap.Counters, Rows: make([]statusRowView, len(snap.Machines))}
	for i, m := range snap.Machines {
		page.Rows[i] = statusRowView{m, snap.Time}
	}
	var buf bytes.Buffer
	if err := statusTemplate.ExecuteTemplate(&buf, "page", page); err != nil {
		http.Error(w, "pxekit: status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", statusCSP)
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(buf.Bytes())
}

// serveEvents streams the changes: an "update" event, its id the table's
// seq, each time something changed (coalesced), a comment every
// statusKeepAlive. A client resumes from its Last-Event-ID or ?since=.
func (st *Status) serveEvents(w http.ResponseWriter, r *http.Request) {
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		since, err = strconv.ParseUint(id, 10, 64)
	}
	if err != nil {
		since = ^uint64(0) // unknown: the client reloads
	}
	st.mu.Lock()
	st.init()
	full := st.streams >= maxStatusStreams
	if !full {
		st.streams++
	}
	closed := st.closed
	st.mu.Unlock()
	if full {
		http.Error(w, "pxekit: status: too many live update streams", http.StatusServiceUnavailable)
		return
	}
	defer func() {
		st.mu.Lock()
		st.streams--
		st.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(statusKeepAlive * 2))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte("retry: 2000\n\n")) {
		return
	}
	keep := time.NewTicker(statusKeepAlive)
	defer keep.Stop()
	pause := statusCoalesce
	for {
		d, wake := st.since(since)
		if d.reset || d.seq != since {
			began := time.Now()
			msg, err := d.event()
			if err != nil || !send(msg) || d.reset {
				return
			}
			since = d.seq
			pause = max(statusCoalesce, statusBusy*time.Since(began))
		}
		select {
		case <-wake:
			select { // gather what comes with it
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			case <-closed:
				return
			}
		case <-keep.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		case <-closed:
			return
		}
	}
}

// event renders d as one Server-Sent Event: the rows and counters drawn
// by the page's own templates.
func (d statusDelta) event() ([]byte, error) {
	msg := struct {
		Seq      uint64   `json:"seq"`
		Now      int64    `json:"now"`
		Reset    bool     `json:"reset,omitempty"`
		Counters string   `json:"counters"`
		Rows     []string `json:"rows"`
		Gone     []string `json:"gone"`
	}{Seq: d.seq, Now: d.at.UnixMilli(), Reset: d.reset, Rows: make([]string, 0, len(d.rows)), Gone: d.gone}
	if msg.Gone == nil {
		msg.Gone = []string{}
	}
	var buf bytes.Buffer
	if err := statusTemplate.ExecuteTemplate(&buf, "counters", d.counters); err != nil {
		return nil, err
	}
	msg.Counters = buf.String()
	for _, m := range d.rows {
		buf.Reset()
		if err := statusTemplate.ExecuteTemplate(&buf, "row", statusRowView{m, d.at}); err != nil {
			return nil, err
		}
		msg.Rows = append(msg.Rows, buf.String())
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+64)
	out = fmt.Appendf(out, "id: %d\nevent: update\ndata: ", d.seq)
	out = append(out, b...) // JSON has no newline
	return append(out, "\n\n"...), nil
}

// StageFor is how long the machine has been at its stage.
func (v statusRowView) StageFor() string { return duration(v.now.Sub(v.StageSince)) }

// ErrorAgo is how long ago the last error was.
func (v statusRowView) ErrorAgo() string { return duration(v.now.Sub(v.LastErrorAt)) }

// statusProgress is a transfer as a progress element and its words.
type statusProgress struct {
	// Max and Value are the element's; Indeterminate leaves Value out.
	Max, Value    int64
	Indeterminate bool
	// Label names the transfer ("tftp ipxe.efi"), Text says how far it
	// got, Detail how (rate, options, outcome).
	Label, Text, Detail string
}

// Progress is the row's transfer as the page shows it; nil without one.
func (v statusRowView) Progress() *statusProgress {
	t := v.Transfer
	if t == nil {
		return nil
	}
	p := &statusProgress{Label: t.Protocol + " " + t.File, Max: t.Size, Value: t.Bytes}
	switch {
	case t.Size > 0:
		p.Value = min(t.Bytes, t.Size)
		p.Text = fmt.Sprintf("%s of %s (%d%%)", byteSize(p.Value), byteSize(t.Size), p.Value*100/t.Size)
	case t.Size == 0:
		p.Max, p.Value = 1, 1
		p.Text = "empty file"
	default:
		p.Max, p.Value = 1, 0
		p.Indeterminate = t.Running
		p.Text = byteSize(t.Bytes) + " of an unknown size"
	}
	var detail []string
	if t.Rate > 0 {
		detail = append(detail, byteSize(int64(t.Rate))+"/s")
	}
	if t.BlockSize > 0 {
		detail = append(detail, fmt.Sprintf("blksize %d, windowsize %d", t.BlockSize, max(t.WindowSize, 1)))
	}
	switch {
	case t.Running:
		detail = append(detail, "running")
	case t.Outcome != "":
		detail = append(detail, t.Outcome)
	}
	p.Detail = strings.Join(detail, " · ")
	return p
}

// byteSize writes n bytes for people: "512 B", "1.5 KiB", "12.0 MiB".
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// duration writes d for people, to the second: "4s", "2m 05s", "1h 02m".
func duration(d time.Duration) string {
	s := max(int64(d/time.Second), 0)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh %02dm", s/3600, s/60%60)
}
