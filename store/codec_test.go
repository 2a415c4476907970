package store

import (
	"reflect"
	"testing"
	"time"

	"babelfeed"
)

func TestCodecRoundTrip(t *testing.T) {
	rome := time.FixedZone("CET", 3600)
	cases := []babelfeed.Item{
		{},
		{
			FeedID: 7, Key: "https://example.it/a", GUID: "https://example.it/a", URL: "https://example.it/a",
			Title: "L'università è aperta", Summary: "Città, perché, così: ½ € ✓", Content: "日本語のテキスト",
			Author: "Redazione", Categories: []string{"Cronaca", "", "Politica"},
			Published: time.Date(2025, 3, 1, 9, 30, 0, 123456789, rome), Updated: time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
			FirstSeen: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
			Lang:      "it", LangConfidence: 0.987654321, LangMethod: babelfeed.LangPrior, DeclaredLang: "it-IT", ContentHash: "0123456789abcdef",
		},
		{Key: "guid-1", GUID: "guid-1", URL: "https://x.example/1", Lang: "und"},                // URL differs
		{Key: "k", GUID: "https://x.example/2", URL: "https://x.example/2"},                     // URL is the GUID
		{Key: "k", GUID: "g", URL: "k", Published: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, // URL is the key
	}
	for i, in := range cases {
		rec := encodeItem(nil, &in)
		out, err := decodeItem(99, rec)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		in.ID = 99
		for _, p := range []*time.Time{&in.Published, &in.Updated, &in.FirstSeen} {
			if !p.IsZero() {
				*p = p.UTC()
			}
		}
		if !reflect.DeepEqual(in, out) {
			t.Errorf("case %d:\n in  %+v\n out %+v", i, in, out)
		}
		// Every truncation is an error, never a panic or a silent success.
		for n := range len(rec) {
			if _, err := decodeItem(99, rec[:n]); err == nil {
				t.Errorf("case %d: record cut to %d of %d bytes decoded", i, n, len(rec))
			}
		}
	}
	if _, err := decodeItem(1, []byte{codecVersion + 1}); err == nil {
		t.Error("unknown record version decoded")
	}
}

func FuzzDecodeItem(f *testing.F) {
	it := babelfeed.Item{FeedID: 1, Key: "k", Title: "t", Categories: []string{"a"}, Published: time.Unix(1e9, 5)}
	f.Add(encodeItem(nil, &it))
	f.Add([]byte{codecVersion, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := decodeItem(1, b)
		if err != nil {
			return
		}
		// What decodes must encode back to a record that decodes the same.
		again, err := decodeItem(1, encodeItem(nil, &it))
		if err != nil || !reflect.DeepEqual(it, again) {
			t.Fatalf("re-decode: %v\n%+v\n%+v", err, it, again)
		}
	})
}
