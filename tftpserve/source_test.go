package tftpserve

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAtSourceReadAhead reads a file block by block through the read-ahead
// stage, in order and with the jumps back a retransmitted window makes, and
// checks every block against the file.
func TestAtSourceReadAhead(t *testing.T) {
	const bs = 1468
	content := make([]byte, 200*bs+777)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatalf("os.WriteFile(path, content, 0o644): %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("os.Open(path): %v", err)
	}
	defer f.Close()

	for _, window := range []int{1, 2, 16, 64, 512} {
		n := stageLen(f, int64(len(content)), window, bs, false)
		if window == 1 {
			if n != 0 {
				t.Fatalf("lockstep reads block by block: n = %v, want 0", n)
			}
		} else {
			if n <= 0 {
				t.Fatalf("n = %v, want > 0", n)
			}
			if n > maxStage {
				t.Fatalf("n = %v, want <= %v", n, maxStage)
			}
		}
		src := &atSource{ra: f, size: int64(len(content)), stage: make([]byte, n)}
		blocks := int64(len(content)/bs + 1)
		order := []int64{}
		for i := int64(1); i <= blocks; i++ {
			order = append(order, i)
			if i%37 == 0 { // a window resent from an earlier block
				order = append(order, i-20, i-19, i-18)
			}
		}
		buf := make([]byte, bs)
		for _, i := range order {
			got, err := src.readBlock(buf, i, bs)
			if err != nil {
				t.Fatalf("window %d block %d: %v", window, i, err)
			}
			off := (i - 1) * bs
			want := content[off:min(off+bs, int64(len(content)))]
			if !bytes.Equal(want, buf[:got]) {
				t.Fatalf("window %d block %d", window, i)
			}
		}
		got, err := src.readBlock(buf, blocks+1, bs)
		if err != nil {
			t.Fatalf("src.readBlock(buf, blocks+1, bs): %v", err)
		}
		if got != 0 {
			t.Fatalf("past the end: got = %v, want 0", got)
		}
	}
}

// TestAtSourceReadAheadShrunkFile: a file cut short after its size was taken
// fails the read instead of sending stale or zero bytes.
func TestAtSourceReadAheadShrunkFile(t *testing.T) {
	const bs = 512
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 100*bs), 0o644); err != nil {
		t.Fatalf("os.WriteFile(path, make([]byte, 100*bs), 0o644): %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("os.Open(path): %v", err)
	}
	defer f.Close()
	src := &atSource{ra: f, size: 100 * bs, stage: make([]byte, stageLen(f, 100*bs, 16, bs, false))}
	buf := make([]byte, bs)
	_, err = src.readBlock(buf, 1, bs)
	if err != nil {
		t.Fatalf("src.readBlock(buf, 1, bs): %v", err)
	}
	if err := os.Truncate(path, 20*bs); err != nil {
		t.Fatalf("os.Truncate(path, 20*bs): %v", err)
	}
	var last error
	for i := int64(2); i <= 100 && last == nil; i++ {
		_, last = src.readBlock(buf, i, bs)
	}
	if last == nil || !strings.Contains(last.Error(), "shorter than its size") {
		t.Fatalf("last = %v, want an error containing %q", last, "shorter than its size")
	}
}

// A memory reader is not staged: copying it twice would gain nothing.
func TestStageLenMemory(t *testing.T) {
	if got := stageLen(bytes.NewReader(make([]byte, 1<<20)), 1<<20, 16, 1468, false); got != 0 {
		t.Fatalf("stageLen(bytes.NewReader(make([]byte, 1<<20)), 1<<20, 16, 1468, false) = %v, want 0", got)
	}
	var ra io.ReaderAt = io.NewSectionReader(bytes.NewReader(nil), 0, 0)
	if got := stageLen(ra, 0, 16, 1468, false); got != 0 {
		t.Fatalf("stageLen(ra, 0, 16, 1468, false) = %v, want 0", got)
	}
}
