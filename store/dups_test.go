package store

import (
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"babelfeed"
)

func TestCanonicalURL(t *testing.T) {
	same := [][]string{
		{
			"https://www.Example.org/news/story-1?utm_source=rss&utm_medium=feed",
			"http://example.org/news/story-1/",
			"https://EXAMPLE.org:443/news/story-1#comments",
			"https://example.org/news/story-1?fbclid=abc&gclid=x&ref=homepage",
		},
		{
			"https://example.org/read?id=7&page=2",
			"https://example.org/read?page=2&id=7&utm_campaign=z",
		},
	}
	for _, group := range same {
		want := CanonicalURL(group[0])
		if want == "" {
			t.Fatalf("CanonicalURL(%q) is empty", group[0])
		}
		for _, u := range group[1:] {
			if got := CanonicalURL(u); got != want {
				t.Errorf("CanonicalURL(%q) = %q, want %q (as %q)", u, got, want, group[0])
			}
		}
	}
	differ := [][2]string{
		{"https://example.org/news/story-1", "https://example.org/news/story-2"},
		{"https://example.org/read?id=7", "https://example.org/read?id=8"},
		{"https://example.org/a", "https://example.net/a"},
		{"https://example.org:8080/a", "https://example.org/a"},
	}
	for _, d := range differ {
		if CanonicalURL(d[0]) == CanonicalURL(d[1]) {
			t.Errorf("CanonicalURL makes %q and %q the same", d[0], d[1])
		}
	}
	for _, none := range []string{"", "https://example.org/", "https://www.example.org", "mailto:a@example.org", "/relative/path", "https:///nohost", "::"} {
		if got := CanonicalURL(none); got != "" {
			t.Errorf("CanonicalURL(%q) = %q, want empty (no story)", none, got)
		}
	}
}

func TestNormalizeTitle(t *testing.T) {
	a := NormalizeTitle("L'Università di Bologna apre le porte!")
	b := NormalizeTitle("  l’universita   di BOLOGNA apre le porte ")
	if a == "" || a != b {
		t.Errorf("titles differing in case, accents and punctuation: %q vs %q", a, b)
	}
	if NormalizeTitle("Straße gesperrt wegen Bauarbeiten") == NormalizeTitle("Strasse gesperrt wegen Bauarbeiten heute") {
		t.Error("different titles normalised the same")
	}
	for _, short := range []string{"", "News", "Editoriale del giorno", "!!!"} {
		if got := NormalizeTitle(short); got != "" && len([]rune(strings.ReplaceAll(got, " ", ""))) < 16 {
			t.Errorf("NormalizeTitle(%q) = %q: too short to identify a story", short, got)
		}
	}
	if NormalizeTitle("東京で記録的な大雨") == "" {
		t.Error("a Japanese title of 9 characters should identify a story")
	}
}

func TestCodecDuplicateOfCompatible(t *testing.T) {
	orig := babelfeed.Item{FeedID: 3, Key: "k", Title: "t", Lang: "it"}
	v1 := encodeItem(nil, &orig)
	if v1[0] != codecVersion {
		t.Fatalf("an original is written as version %d, want %d (the old form)", v1[0], codecVersion)
	}
	dup := orig
	dup.DuplicateOf = 1 << 40
	v2 := encodeItem(nil, &dup)
	if v2[0] != codecVersionV2 {
		t.Fatalf("a duplicate is written as version %d, want %d", v2[0], codecVersionV2)
	}
	got, err := decodeItem(9, v2)
	if err != nil {
		t.Fatal(err)
	}
	dup.ID = 9
	if !reflect.DeepEqual(got, dup) {
		t.Errorf("round trip:\n in  %+v\n out %+v", dup, got)
	}
	for n := range len(v2) {
		if _, err := decodeItem(9, v2[:n]); err == nil {
			t.Errorf("record cut to %d of %d bytes decoded", n, len(v2))
		}
	}
}

// story builds an item with a given link and title.
func story(key, link, title string, published time.Time) babelfeed.Item {
	it := item(key, "it", published, title)
	it.URL = link
	return it
}

// TestRemovingEveryFeedEmptiesTheDuplicateIndex: no duplicate record
// outlives the items it names (store.Check does not look at them).
func TestRemovingEveryFeedEmptiesTheDuplicateIndex(t *testing.T) {
	s := openTemp(t)
	var feeds []babelfeed.Feed
	for _, u := range []string{"https://a.example/", "https://b.example/", "https://c.example/"} {
		feeds = append(feeds, addFeed(t, s, u))
	}
	link := "https://news.example/story"
	title := "Una storia raccontata da molti giornali"
	for i, f := range feeds {
		save(t, s, f.ID, story("k", link, title, base.Add(time.Duration(i)*time.Hour)))
	}
	// The original first, so that the others are promoted on the way.
	for _, f := range feeds {
		if err := s.RemoveFeed(f.ID); err != nil {
			t.Fatal(err)
		}
		checkConsistency(t, s)
	}
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketDupURL, bucketDupTitle, bucketDupOf} {
			n += tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	if n != 0 {
		t.Errorf("%d duplicate index entries left after every feed was removed", n)
	}
}
