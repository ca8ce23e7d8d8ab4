package tftpserve

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParsePacket(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want packet
		err  bool
	}{
		{"rrq", []byte("\x00\x01boot/x.efi\x00octet\x00"), packet{op: OpRRQ, filename: "boot/x.efi", mode: "octet"}, false},
		{"rrq options", []byte("\x00\x01f\x00octet\x00tsize\x000\x00blksize\x001468\x00"),
			packet{op: OpRRQ, filename: "f", mode: "octet", options: []Option{{"tsize", "0"}, {"blksize", "1468"}}}, false},
		{"rrq padding", []byte("\x00\x01f\x00octet\x00\x00\x00\x00"), packet{op: OpRRQ, filename: "f", mode: "octet"}, false},
		{"wrq", []byte("\x00\x02f\x00netascii\x00"), packet{op: OpWRQ, filename: "f", mode: "netascii"}, false},
		{"data", []byte("\x00\x03\xff\xffabc"), packet{op: OpDATA, block: 65535, data: []byte("abc")}, false},
		{"empty data", []byte("\x00\x03\x00\x00"), packet{op: OpDATA, block: 0, data: []byte{}}, false},
		{"ack", []byte("\x00\x04\x01\x02"), packet{op: OpACK, block: 258}, false},
		{"error", []byte("\x00\x05\x00\x08User aborted the transfer\x00"), packet{op: OpERROR, code: 8, msg: "User aborted the transfer"}, false},
		{"error no NUL", []byte("\x00\x05\x00\x01nope"), packet{op: OpERROR, code: 1, msg: "nope"}, false},
		{"oack", []byte("\x00\x06blksize\x001432\x00"), packet{op: OpOACK, options: []Option{{"blksize", "1432"}}}, false},
		{"empty", nil, packet{}, true},
		{"one byte", []byte{0}, packet{}, true},
		{"opcode 0", []byte{0, 0}, packet{}, true},
		{"opcode 7", []byte{0, 7, 0, 0}, packet{}, true},
		{"rrq no NUL", []byte("\x00\x01file"), packet{}, true},
		{"rrq no mode", []byte("\x00\x01file\x00"), packet{}, true},
		{"rrq dangling option", []byte("\x00\x01f\x00octet\x00blksize\x00"), packet{}, true},
		{"rrq empty option name", []byte("\x00\x01f\x00octet\x00\x00x\x00"), packet{}, true},
		{"short ack", []byte{0, 4, 1}, packet{}, true},
		{"short data", []byte{0, 3, 1}, packet{}, true},
		{"short error", []byte{0, 5, 1}, packet{}, true},
		{"too many options", append([]byte("\x00\x01f\x00octet\x00"), bytes.Repeat([]byte("a\x00b\x00"), 40)...), packet{}, true},
		{"oversized request", append([]byte("\x00\x01f\x00octet\x00"), make([]byte, 1100)...), packet{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePacket(tc.in)
			if tc.err {
				if err == nil || !errors.Is(err, errMalformed) {
					t.Fatalf("err %v, want errMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		got, want []byte
	}{
		{appendOACK(nil, []Option{{"tsize", "10"}, {"blksize", "1468"}}), []byte("\x00\x06tsize\x0010\x00blksize\x001468\x00")},
		{appendACK(nil, 0xabcd), []byte{0, 4, 0xab, 0xcd}},
		{appendDataHeader(nil, 1), []byte{0, 3, 0, 1}},
		{appendError(nil, CodeNotFound, "no\x00such"), []byte("\x00\x05\x00\x01nosuch\x00")},
		{appendError(nil, 0, strings.Repeat("x", 300)), append(append([]byte{0, 5, 0, 0}, strings.Repeat("x", 200)...), 0)},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("got % x, want % x", tc.got, tc.want)
		}
	}
}

func TestStrings(t *testing.T) {
	if OpOACK.String() != "OACK" || Opcode(9).String() != "opcode(9)" || CodeOptionRefused.String() != "option refused" || ErrorCode(99).String() != "error(99)" {
		t.Fatal("names")
	}
	if ErrNotFound.Error() != "tftpserve: file not found" {
		t.Fatal(ErrNotFound.Error())
	}
}

// FuzzParsePacket: the decoder never panics, and what it accepts encodes
// back to a packet that decodes to the same value.
func FuzzParsePacket(f *testing.F) {
	for _, s := range []string{
		"\x00\x01boot/x.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00",
		"\x00\x02f\x00netascii\x00",
		"\x00\x03\x00\x01data",
		"\x00\x04\xff\xff",
		"\x00\x05\x00\x08User aborted the transfer\x00",
		"\x00\x06blksize\x001432\x00tsize\x0099\x00",
		"\x00\x01f\x00octet\x00\x00\x00",
		"\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePacket(b)
		if err != nil {
			return
		}
		var enc []byte
		switch p.op {
		case OpRRQ, OpWRQ:
			enc = appendRequest(nil, p.op, p.filename, p.mode, p.options...)
		case OpOACK:
			enc = appendOACK(nil, p.options)
		case OpDATA:
			enc = append(appendDataHeader(nil, p.block), p.data...)
		case OpACK:
			enc = appendACK(nil, p.block)
		case OpERROR:
			if strings.IndexByte(p.msg, 0) >= 0 || len(p.msg) > 200 {
				return
			}
			enc = appendError(nil, p.code, p.msg)
		}
		q, err := parsePacket(enc)
		if err != nil {
			t.Fatalf("re-encoded %v does not parse: %v", p.op, err)
		}
		if fmt.Sprintf("%+v", p) != fmt.Sprintf("%+v", q) {
			t.Fatalf("round trip\n%+v\n%+v", p, q)
		}
		// Negotiation never panics on what the decoder accepts.
		_, _ = negotiate(p.options, Limits{BlockSize: 1468, WindowSize: 64, MaxTimeout: 255, Retries: 5}, lower(p.mode))
		_, _ = CleanPath(p.filename)
	})
}

// FuzzCleanPath: whatever CleanPath accepts is relative, slash-separated
// and free of "..", NUL and backslashes, and cleaning it again is a no-op.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"boot/x", "/boot//x", `\boot\..\x`, "a/./b", "..", "", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := CleanPath(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v does not wrap ErrInvalidPath", err)
			}
			return
		}
		if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("CleanPath(%q) = %q", name, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("CleanPath(%q) = %q has segment %q", name, p, seg)
			}
		}
		if q, err := CleanPath(p); err != nil || q != p {
			t.Fatalf("not idempotent: %q -> %q (%v)", p, q, err)
		}
	})
}
