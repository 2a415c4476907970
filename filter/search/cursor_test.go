package search

import (
	"errors"
	"testing"

	"babelfeed/store"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{
		{kind: kindNewest, pos: store.Position{Nanos: -1 << 63, ID: 0}},
		{kind: kindNewest, pos: store.Position{Nanos: 1764000000000000000, ID: 42}},
		{kind: kindRelevance, pos: store.Position{Nanos: 5, ID: 9}, score: 3.25, maxID: 1 << 40,
			stats: map[string]store.LangStats{"it": {Docs: 10, SumLen: 400}, "und": {Docs: 1, SumLen: 0}}},
	} {
		got, err := decodeCursor(c.encode(77), 77)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if got.kind != c.kind || got.pos != c.pos || got.score != c.score || got.maxID != c.maxID || len(got.stats) != len(c.stats) {
			t.Errorf("round trip %+v -> %+v", c, got)
		}
		for l, st := range c.stats {
			if got.stats[l] != st {
				t.Errorf("stats of %s: %+v, want %+v", l, got.stats[l], st)
			}
		}
		if _, err := decodeCursor(c.encode(77), 78); !errors.Is(err, ErrCursor) {
			t.Errorf("a cursor of another query: %v", err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{kind: kindNewest, pos: store.Position{Nanos: 1, ID: 2}}.encode(5))
	f.Add(cursor{kind: kindRelevance, score: 1.5, maxID: 9, stats: map[string]store.LangStats{"it": {Docs: 3, SumLen: 9}}}.encode(5))
	f.Add("AQEAAAAAAAAABQIE")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, 5)
		if err != nil {
			if !errors.Is(err, ErrCursor) {
				t.Fatalf("error %v is not ErrCursor", err)
			}
			return
		}
		again, err := decodeCursor(c.encode(5), 5)
		if err != nil || again.pos != c.pos || again.kind != c.kind {
			t.Fatalf("re-encoding %q: %+v, %v", s, again, err)
		}
	})
}
