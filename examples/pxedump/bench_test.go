package main

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// BenchmarkDump measures a whole capture (about 1200 frames, mostly TFTP)
// through the reader, the layer decoder and archdetect.
func BenchmarkDump(b *testing.B) {
	data, err := os.ReadFile(captureFile(b, "ovmf-pxe-tftp-ipxe-efi.pcapng"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := &dumper{out: io.Discard, errOut: io.Discard, json: true}
		if err := d.dump(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
