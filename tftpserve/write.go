package tftpserve

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// serveWrite runs a write transfer: the client sends DATA, the server ACKs
// (one ACK per window, RFC 7440) and streams the payload to the
// WriteHandler, whose verdict decides the final ACK or an ERROR.
func (t *transfer) serveWrite() {
	// DATA packets must fit whole (one byte more detects oversized ones).
	putBuf(t.rbuf)
	t.rbuf = getBuf(4 + t.blksize + 1)
	pr, pw := io.Pipe()
	verdict := make(chan error, 1)
	go func() {
		err := t.srv.WriteHandler.ReceiveTFTP(t.req, pr)
		if err == nil {
			// Drain what the handler did not read, so the engine finishes.
			_, _ = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(errWriterDone)
		verdict <- err
	}()
	err := t.receiveFile(pw)
	if errors.Is(err, errHandlerStopped) {
		herr := <-verdict
		if herr == nil {
			herr = errors.New("tftpserve: write handler returned before the end of the file")
		}
		t.refuseWrite(herr)
		return
	}
	if err != nil {
		cause := t.info.Err
		if cause == nil {
			cause = err
		}
		pw.CloseWithError(cause)
		<-verdict
		return
	}
	pw.Close()
	if herr := <-verdict; herr != nil {
		t.refuseWrite(herr)
		return
	}
	// Accepted: the final ACK. The server dallies after reporting, to
	// re-ACK a retransmitted last block if the ACK is lost.
	t.sendACK(uint16(t.base))
	t.info.Outcome = OutcomeOK
	t.after = t.dally
}

// dally re-ACKs a retransmitted final DATA for a while (RFC 1350).
func (t *transfer) dally() {
	deadline := time.Now().Add(min(t.maxRTO, 5*time.Second))
	for {
		p, err := t.receive(deadline)
		if err != nil {
			return
		}
		if p.op == OpDATA {
			t.sendACK(uint16(t.base))
		}
	}
}

func (t *transfer) refuseWrite(err error) {
	code, msg := errorPacket(err)
	t.sendError(code, msg)
	t.info.Outcome, t.info.ErrorCode, t.info.Err = OutcomeRefused, code, err
}

func (t *transfer) sendACK(block uint16) {
	t.obuf = appendACK(t.obuf[:0], block)
	_ = t.link.send(t.obuf)
}

// receiveFile receives DATA blocks into w until the short final block.
// t.base counts the blocks received in order.
func (t *transfer) receiveFile(w io.Writer) error {
	// The OACK replaces ACK 0 (RFC 2347).
	opts := t.neg.oack(t.req.Options, t.req.Size)
	var reply []byte
	if len(opts) > 0 {
		reply = appendOACK(nil, opts)
	} else {
		reply = appendACK(nil, 0)
	}
	if err := t.link.send(reply); err != nil {
		return t.fail(OutcomeFailed, err)
	}
	W := int64(t.window)
	lastAck := int64(0)
	gapAcked := int64(-1)
	deadline := time.Now().Add(t.rto)
	for {
		p, err := t.receive(deadline)
		if err != nil {
			if !errors.Is(err, errDeadline) {
				return err
			}
			if err := t.timedOut(); err != nil {
				return err
			}
			// Nudge the client: repeat our last word.
			if t.base == 0 {
				_ = t.link.send(reply)
			} else {
				t.sendACK(uint16(t.base))
			}
			deadline = time.Now().Add(t.rto)
			continue
		}
		switch p.op {
		case OpDATA:
			k := t.base + int64(p.block-uint16(t.base))
			switch {
			case k == t.base+1:
				if len(p.data) > t.blksize {
					t.sendError(CodeIllegalOp, "DATA larger than blksize")
					return t.fail(OutcomeFailed, fmt.Errorf("tftpserve: DATA of %d bytes, blksize %d", len(p.data), t.blksize))
				}
				if _, err := w.Write(p.data); err != nil {
					return errHandlerStopped
				}
				t.base = k
				t.info.Bytes += int64(len(p.data))
				t.info.Packets++
				t.retries = 0
				deadline = time.Now().Add(t.rto)
				if len(p.data) < t.blksize {
					return nil // the caller ACKs once the handler accepted it
				}
				if t.base-lastAck >= W {
					t.sendACK(uint16(t.base))
					lastAck = t.base
				}
			case k <= t.base:
				// A retransmission: the client missed our ACK. Re-ACK once
				// per window (the sender must not answer duplicate ACKs, so
				// this cannot multiply traffic).
				if t.base != lastAck || k == t.base {
					t.sendACK(uint16(t.base))
					lastAck = t.base
				}
			default:
				// A gap: ACK the last block received in order, once.
				if gapAcked != t.base {
					gapAcked = t.base
					t.sendACK(uint16(t.base))
					lastAck = t.base
				}
			}
		case OpERROR:
			t.info.ErrorCode = p.code
			return t.fail(OutcomeAborted, fmt.Errorf("%w: code %d %q", ErrClientAborted, p.code, p.msg))
		}
	}
}

// errHandlerStopped: the WriteHandler returned while data was arriving.
var errHandlerStopped = errors.New("tftpserve: write handler stopped reading")
