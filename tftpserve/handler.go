package tftpserve

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"time"
)

// A Handler resolves a read request to content.
//
// ServeTFTP either sends content through w (Write, ReadFrom or ServeContent)
// or refuses the request with w.WriteError. A handler that returns without
// doing either sends an empty file. The transfer to the client happens while
// the handler writes: Write blocks while the client is slow, and the
// request's context is cancelled when the client aborts or the server shuts
// down.
type Handler interface {
	ServeTFTP(w ResponseWriter, r *Request)
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(w ResponseWriter, r *Request)

// ServeTFTP calls f(w, r).
func (f HandlerFunc) ServeTFTP(w ResponseWriter, r *Request) { f(w, r) }

// A ResponseWriter sends one file to a client.
//
// Only the first of ServeContent, ReadFrom, Write or WriteError decides how
// the transfer is made; later calls to ServeContent, ReadFrom or WriteError
// return or record an error. Several Writes form one stream.
type ResponseWriter interface {
	// SetSize announces the exact number of bytes that will be written, so
	// that a client asking for tsize gets it. Call it before the first Write.
	// A stream that then ends short of size, or goes beyond it, fails: the
	// client gets an ERROR, never a file of another size.
	SetSize(size int64)

	// Write streams content. The first Write sends the option
	// acknowledgement (with tsize if SetSize was called). The file ends
	// when the handler returns; if the request's context was cancelled by
	// then (Shutdown, a time limit), the stream counts as cut short and the
	// client gets an ERROR instead of a final block.
	Write(p []byte) (int, error)

	// ReadFrom sends everything r yields. When r is an io.ReaderAt with a
	// known size (an *os.File, a *bytes.Reader, an io.SectionReader) it is
	// served like ServeContent.
	ReadFrom(r io.Reader) (int64, error)

	// ServeContent sends size bytes read from content and returns when the
	// client has acknowledged them or the transfer failed. A size < 0 means
	// unknown: content is read until io.EOF. Retransmissions re-read blocks
	// by offset, so content needs no buffering.
	ServeContent(content io.ReaderAt, size int64) error

	// WriteError refuses the request with an ERROR packet. An *Error sets
	// the code and message; errors matching fs.ErrNotExist send code 1, and
	// fs.ErrPermission or ErrInvalidPath code 2; any other error sends code 0
	// with a generic message (the error itself is only logged).
	WriteError(err error)
}

// A WriteHandler stores a file a client uploads (WRQ). ReceiveTFTP reads
// the content from body until io.EOF and returns nil to accept it: the
// client gets its final ACK only then. A returned error is sent as with
// ResponseWriter.WriteError (for example an *Error with CodeDiskFull); if
// the client aborts or stops answering, body returns an error.
type WriteHandler interface {
	ReceiveTFTP(r *Request, body io.Reader) error
}

// WriteHandlerFunc adapts a function to a WriteHandler.
type WriteHandlerFunc func(r *Request, body io.Reader) error

// ReceiveTFTP calls f(r, body).
func (f WriteHandlerFunc) ReceiveTFTP(r *Request, body io.Reader) error { return f(r, body) }

// Request is a read or write request as the server hands it to a Handler
// or WriteHandler.
type Request struct {
	// RemoteAddr is the client's address and port (its TID).
	RemoteAddr netip.AddrPort
	// LocalAddr is the server address the request arrived on, when known.
	LocalAddr netip.Addr
	// Filename is the name exactly as the client sent it.
	Filename string
	// Path is Filename normalised by CleanPath: slashes only, relative, no
	// "." or ".." segments. Handlers should use Path.
	Path string
	// Mode is the transfer mode in lower case: "octet" or "netascii".
	Mode string
	// Options are the options the client asked for, in order, as sent.
	Options []Option

	// BlockSize, WindowSize and Timeout are the negotiated values: 512, 1
	// and 0 (no timeout option) when the client asked for nothing.
	BlockSize  int
	WindowSize int
	Timeout    time.Duration
	// WantSize reports whether the client asked for tsize.
	WantSize bool

	// Write is true for a write request (WRQ), given to a WriteHandler.
	Write bool
	// Size is the size a writing client announced with tsize, or -1.
	Size int64

	ctx context.Context
}

// Context returns the request's context. It is cancelled when the transfer
// ends: the client aborted, the server gave up, or the server shut down.
// Its deadline is the server's transfer time limit (Server.TransferTimeout).
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// Option returns the value of the named option (case-insensitive) as the
// client sent it, and whether it was present.
func (r *Request) Option(name string) (string, bool) {
	for _, o := range r.Options {
		if equalFold(o.Name, name) {
			return o.Value, true
		}
	}
	return "", false
}

// Error is a TFTP error a handler sends to refuse a request.
type Error struct {
	Code    ErrorCode
	Message string
}

// Error returns "tftpserve: " followed by the meaning of the code and the
// message ("tftpserve: option refused: bad blksize"). A message that already
// starts with the code's meaning, as "file not found" does, is not
// repeated after it.
func (e *Error) Error() string {
	meaning := e.Code.String()
	switch {
	case e.Message == "":
		return "tftpserve: " + meaning
	case len(e.Message) >= len(meaning) && equalFold(e.Message[:len(meaning)], meaning):
		return "tftpserve: " + e.Message
	}
	return "tftpserve: " + meaning + ": " + e.Message
}

// Errors handlers commonly send.
var (
	// ErrNotFound is sent for missing files (code 1).
	ErrNotFound = &Error{Code: CodeNotFound, Message: "file not found"}
	// ErrAccessDenied is sent for names or files a client may not read (code 2).
	ErrAccessDenied = &Error{Code: CodeAccess, Message: "access violation"}
	// ErrInvalidPath reports a file name that CleanPath refuses (code 2).
	ErrInvalidPath = errors.New("tftpserve: invalid file name")
	// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or Close.
	ErrServerClosed = errors.New("tftpserve: server closed")
	// ErrClientAborted is reported when the client ended the transfer with an ERROR.
	ErrClientAborted = errors.New("tftpserve: client aborted the transfer")
	// ErrTimeout is reported when the client stopped answering.
	ErrTimeout = errors.New("tftpserve: client stopped answering")
	// ErrTransferTimeLimit is reported when a transfer ran longer than
	// Server.TransferTimeout.
	ErrTransferTimeLimit = errors.New("tftpserve: transfer time limit reached")
	// errWriterDone is returned by writes after the transfer ended.
	errWriterDone = errors.New("tftpserve: transfer already finished")
)

// errorPacket maps a handler's error to the code and message sent on the wire.
func errorPacket(err error) (ErrorCode, string) {
	var te *Error
	switch {
	case errors.As(err, &te):
		return te.Code, te.Message
	case errors.Is(err, fs.ErrNotExist):
		return CodeNotFound, "file not found"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, ErrInvalidPath):
		return CodeAccess, "access violation"
	}
	return CodeUndefined, "server error"
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
