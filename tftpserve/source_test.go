package tftpserve

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.NoError(t, os.WriteFile(path, content, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	for _, window := range []int{1, 2, 16, 64, 512} {
		n := stageLen(f, int64(len(content)), window, bs)
		if window == 1 {
			require.Zero(t, n, "lockstep reads block by block")
		} else {
			require.Positive(t, n)
			require.LessOrEqual(t, n, maxStage)
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
			require.NoError(t, err, "window %d block %d", window, i)
			off := (i - 1) * bs
			want := content[off:min(off+bs, int64(len(content)))]
			require.True(t, bytes.Equal(want, buf[:got]), "window %d block %d", window, i)
		}
		got, err := src.readBlock(buf, blocks+1, bs)
		require.NoError(t, err)
		require.Zero(t, got, "past the end")
	}
}

// TestAtSourceReadAheadShrunkFile: a file cut short after its size was taken
// fails the read instead of sending stale or zero bytes.
func TestAtSourceReadAheadShrunkFile(t *testing.T) {
	const bs = 512
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, make([]byte, 100*bs), 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	src := &atSource{ra: f, size: 100 * bs, stage: make([]byte, stageLen(f, 100*bs, 16, bs))}
	buf := make([]byte, bs)
	_, err = src.readBlock(buf, 1, bs)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, 20*bs))
	var last error
	for i := int64(2); i <= 100 && last == nil; i++ {
		_, last = src.readBlock(buf, i, bs)
	}
	require.ErrorContains(t, last, "shorter than its size")
}

// A memory reader is not staged: copying it twice would gain nothing.
func TestStageLenMemory(t *testing.T) {
	require.Zero(t, stageLen(bytes.NewReader(make([]byte, 1<<20)), 1<<20, 16, 1468))
	var ra io.ReaderAt = io.NewSectionReader(bytes.NewReader(nil), 0, 0)
	require.Zero(t, stageLen(ra, 0, 16, 1468))
}
