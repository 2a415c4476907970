package fetch

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// readChunks gives back exactly what was read, whatever the sizes and
// however the reader splits it, and passes on a reader's error (a
// connection cut short is not a complete body).
func TestReadChunks(t *testing.T) {
	for _, n := range []int{0, 1, 32<<10 - 1, 32 << 10, 32<<10 + 1, 3 << 20, 5<<20 + 17} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		for name, r := range map[string]io.Reader{
			"plain":    bytes.NewReader(want),
			"one byte": iotest.OneByteReader(bytes.NewReader(want)),
			"half":     iotest.HalfReader(bytes.NewReader(want)),
		} {
			if name == "one byte" && n > 1<<20 {
				continue
			}
			got, err := readChunks(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%d bytes, %s reader: got %d bytes, err %v", n, name, len(got), err)
			}
		}
	}
	cut := io.MultiReader(bytes.NewReader(make([]byte, 100<<10)), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := readChunks(cut); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut body: err %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := readChunks(iotest.ErrReader(nil)); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("reader that never advances: err %v", err)
	}
}
