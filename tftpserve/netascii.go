package tftpserve

import "io"

// netasciiReader converts a file to netascii (RFC 1350, RFC 764): LF becomes
// CR LF and a bare CR becomes CR NUL.
type netasciiReader struct {
	r       io.Reader
	buf     [512]byte
	in      []byte
	pending byte // second byte of an expanded pair, 0xff-flagged by hasPend
	hasPend bool
	err     error
}

func newNetasciiReader(r io.Reader) io.Reader { return &netasciiReader{r: r} }

func (n *netasciiReader) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) {
		if n.hasPend {
			p[w] = n.pending
			w++
			n.hasPend = false
			continue
		}
		if len(n.in) == 0 {
			if n.err != nil {
				break
			}
			if w > 0 {
				break // return what we have before blocking again
			}
			k, err := n.r.Read(n.buf[:])
			n.in, n.err = n.buf[:k], err
			continue
		}
		c := n.in[0]
		n.in = n.in[1:]
		switch c {
		case '\n':
			p[w] = '\r'
			n.pending, n.hasPend = '\n', true
		case '\r':
			p[w] = '\r'
			n.pending, n.hasPend = 0, true
		default:
			p[w] = c
		}
		w++
	}
	if w == 0 && n.err != nil {
		return 0, n.err
	}
	return w, nil
}
