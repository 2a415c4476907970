package search

import (
	"errors"
	"testing"

	"babelfeed/store"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{
		{Kind: CursorNewest, Pos: store.Position{Nanos: -1 << 63, ID: 0}},
		{Kind: CursorNewest, Pos: store.Position{Nanos: 1764000000000000000, ID: 42}},
		{Kind: CursorRelevance, Pos: store.Position{Nanos: 5, ID: 9}, Score: 3.25, MaxID: 1 << 40,
			Stats: map[string]store.LangStats{"it": {Docs: 10, SumLen: 400}, "und": {Docs: 1, SumLen: 0}}},
	} {
		got, err := decodeCursor(c.encode("", 77), "", 77)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if got.Kind != c.Kind || got.Pos != c.Pos || got.Score != c.Score || got.MaxID != c.MaxID || len(got.Stats) != len(c.Stats) {
			t.Errorf("round trip %+v -> %+v", c, got)
		}
		for l, st := range c.Stats {
			if got.Stats[l] != st {
				t.Errorf("stats of %s: %+v, want %+v", l, got.Stats[l], st)
			}
		}
		if _, err := decodeCursor(c.encode("", 77), "", 78); !errors.Is(err, ErrCursor) {
			t.Errorf("a cursor of another query: %v", err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(Cursor{Kind: CursorNewest, Pos: store.Position{Nanos: 1, ID: 2}}.encode("", 5))
	f.Add(Cursor{Kind: CursorRelevance, Score: 1.5, MaxID: 9, Stats: map[string]store.LangStats{"it": {Docs: 3, SumLen: 9}}}.encode("", 5))
	f.Add("AQEAAAAAAAAABQIE")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, "", 5)
		if err != nil {
			if !errors.Is(err, ErrCursor) {
				t.Fatalf("error %v is not ErrCursor", err)
			}
			return
		}
		again, err := decodeCursor(c.encode("", 5), "", 5)
		if err != nil || again.Pos != c.Pos || again.Kind != c.Kind {
			t.Fatalf("re-encoding %q: %+v, %v", s, again, err)
		}
	})
}
