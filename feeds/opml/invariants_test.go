package opml

import (
	"bytes"
	"net/url"
	"slices"
	"testing"

	"babelfeed"
)

// checkInvariants asserts what every parsed Document promises: http(s)
// URLs with a host, no URL twice, and a Write/Parse round trip that keeps
// URLs and categories.
func checkInvariants(t testing.TB, name string, doc *Document) {
	t.Helper()
	seen := make(map[string]bool)
	feeds := make([]babelfeed.Feed, 0, len(doc.Outlines))
	for _, o := range doc.Outlines {
		u, err := url.Parse(o.XMLURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Errorf("%s: line %d: outline URL %q is not an http(s) URL with a host", name, o.Line, o.XMLURL)
		}
		if seen[o.XMLURL] {
			t.Errorf("%s: URL %q returned twice", name, o.XMLURL)
		}
		seen[o.XMLURL] = true
		if o.Title == "" {
			t.Errorf("%s: line %d: empty title", name, o.Line)
		}
		for _, c := range o.Category {
			if c == "" {
				t.Errorf("%s: line %d: empty category name in %q", name, o.Line, o.Category)
			}
		}
		feeds = append(feeds, o.Feed())
	}
	for _, s := range doc.Skipped {
		if s.Reason == "" {
			t.Errorf("%s: line %d: skipped without a reason", name, s.Line)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, doc.Title, feeds); err != nil {
		t.Errorf("%s: Write: %v", name, err)
		return
	}
	back, err := Parse(&buf)
	if err != nil {
		t.Errorf("%s: Parse(Write(doc)): %v\n%s", name, err, buf.String())
		return
	}
	if len(back.Skipped) != 0 {
		t.Errorf("%s: Parse(Write(doc)) skipped %v", name, back.Skipped)
	}
	if len(back.Outlines) != len(doc.Outlines) {
		t.Errorf("%s: round trip: %d outlines, want %d", name, len(back.Outlines), len(doc.Outlines))
		return
	}
	// Write groups feeds by folder, so compare as sets keyed by URL.
	want := make(map[string][]string, len(doc.Outlines))
	for _, o := range doc.Outlines {
		want[o.XMLURL] = o.Category
	}
	for _, o := range back.Outlines {
		cat, ok := want[o.XMLURL]
		if !ok {
			t.Errorf("%s: round trip: unexpected URL %q", name, o.XMLURL)
			continue
		}
		if !slices.Equal(cat, o.Category) {
			t.Errorf("%s: round trip: %s: category %q, want %q", name, o.XMLURL, o.Category, cat)
		}
	}
}
