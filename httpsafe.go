package pxekit

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Defaults of HTTPLimits (see RELIABILITY.md, item 10, for what each one
// stopped: idle and slow clients once held thousands of connections).
const (
	// DefaultHTTPMaxConns is how many HTTP connections are served at once;
	// more wait in the kernel's accept queue until one closes.
	DefaultHTTPMaxConns = 1024
	// DefaultHTTPIdleTimeout closes a keep-alive connection idle this long.
	DefaultHTTPIdleTimeout = 60 * time.Second
	// DefaultHTTPWriteTimeout cuts a response off when one write has made
	// no progress (the client took none of it) for this long. A slow
	// download that keeps moving is never cut.
	DefaultHTTPWriteTimeout = 60 * time.Second
	// DefaultHTTPReadHeaderTimeout is how long a client has to send its
	// request headers (slowloris).
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
)

// HTTPLimits are the safety limits of an HTTP server that serves boot
// files to many machines at once. The zero value takes every default;
// a negative field turns that limit off.
type HTTPLimits struct {
	// MaxConns is how many connections are served at once (0:
	// DefaultHTTPMaxConns; negative: no cap).
	MaxConns int
	// IdleTimeout closes an idle keep-alive connection (0:
	// DefaultHTTPIdleTimeout; negative: never).
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (0:
	// DefaultHTTPReadHeaderTimeout; negative: no bound).
	ReadHeaderTimeout time.Duration
	// WriteTimeout cuts a response off when one write has made no
	// progress for this long (0: DefaultHTTPWriteTimeout; negative:
	// never); a Server passes it to its HTTPHandler (HTTPConfig's field
	// of the same name).
	WriteTimeout time.Duration
}

// limit returns v, def when v is zero, or 0 (off) when v is negative.
func limit[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Server returns an http.Server for h with the idle and header timeouts
// of l. It sets no WriteTimeout, which would cut off slow but moving
// downloads of big images: HTTPHandler cuts a response whose writes stall
// instead (see ProgressWriter). Serve it on l.Listener(ln) for the
// connection cap.
func (l HTTPLimits) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limit(l.ReadHeaderTimeout, DefaultHTTPReadHeaderTimeout),
		IdleTimeout:       limit(l.IdleTimeout, DefaultHTTPIdleTimeout),
	}
}

// Listener returns ln capped at l.MaxConns connections at once.
func (l HTTPLimits) Listener(ln net.Listener) net.Listener {
	return LimitListener(ln, limit(l.MaxConns, DefaultHTTPMaxConns))
}

// LimitListener returns a listener that accepts at most n connections at
// once from ln: Accept blocks while n are open, so further clients wait
// in the kernel's accept queue until one closes. n <= 0 returns ln as it
// is.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, n)
}

// ProgressWriter is an http.ResponseWriter that records the status and
// body size of a response and cuts the connection off when a write
// stalls: before each write (http.ServeContent writes 32 KiB at a time)
// the connection's write deadline moves to Stall from now, through
// http.ResponseController, so a client that stops reading is cut off
// after Stall while one that keeps reading, however slowly, is not. It
// replaces any WriteTimeout of the http.Server for that response. Where
// the underlying writer has no deadlines (httptest.ResponseRecorder) it
// only records.
type ProgressWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	stall  time.Duration
	status int
	bytes  int64
	err    error
}

// NewProgressWriter wraps w; stall <= 0 sets no deadline. It sets the
// first deadline at once, so a response with no body writes is flushed
// under it too.
func NewProgressWriter(w http.ResponseWriter, stall time.Duration) *ProgressWriter {
	p := &ProgressWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
	p.Extend()
	return p
}

// Extend moves the write deadline to Stall from now. The handler calls it
// once more before returning, for the final flush.
func (p *ProgressWriter) Extend() {
	if p.stall > 0 {
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.stall)) // http.ErrNotSupported: nothing to move
	}
}

// WriteHeader records the first status and sends the header.
func (p *ProgressWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
	p.ResponseWriter.WriteHeader(code)
}

// Write extends the deadline and writes b.
func (p *ProgressWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	p.Extend()
	n, err := p.ResponseWriter.Write(b)
	p.bytes += int64(n)
	if err != nil && p.err == nil {
		p.err = err
	}
	return n, err
}

// Status is the status sent (200 when the handler wrote nothing else).
func (p *ProgressWriter) Status() int {
	if p.status == 0 {
		return http.StatusOK
	}
	return p.status
}

// Bytes is how many body bytes were written.
func (p *ProgressWriter) Bytes() int64 { return p.bytes }

// Err is the first write error: the client went away, or took nothing
// for Stall ("i/o timeout").
func (p *ProgressWriter) Err() error { return p.err }

// Unwrap gives http.ResponseController the underlying writer.
func (p *ProgressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
