package opml

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestListparserExpectations checks the listparser conformance files whose
// `Eval:` comments state something this package also promises. Where this
// package deliberately differs, the case says so:
//   - title wins over text when both are set (listparser prefers text);
//   - a URL met twice is imported once, in its first folder (listparser
//     merges the folders of duplicates);
//   - the category attribute gives one path, the first (listparser keeps
//     every path and tag);
//   - documents that are not well-formed XML are rejected (listparser
//     recovers with its "bozo" flag), except HTML entities and bare "&".
func TestListparserExpectations(t *testing.T) {
	dir := filepath.Join(corporaDir(t), "listparser-tests", "tests", "files")
	type want struct {
		err      string // non-empty: Parse must fail with this substring
		title    string // document title, when checked
		version  string
		n        int      // number of outlines
		url      string   // first outline's URL, when checked
		otitle   string   // first outline's title, when checked
		cat      []string // first outline's category, when n > 0
		skipped  int
		reason   string // first skip reason's substring, when skipped > 0
		sameName bool   // first two outlines share their title
	}
	for file, w := range map[string]want{
		"opml/outline_xmlUrl.xml":                            {n: 1, url: "http://domain/feed", otitle: "feedname"},
		"opml/outline_xmlUrl-miscapitalized.xml":             {n: 1, url: "http://domain/feed"},
		"opml/outline_xmlUrl-whitespace.xml":                 {n: 1, url: "http://domain/feed"},
		"opml/outline_xmlUrl-empty.xml":                      {skipped: 1, reason: "empty xmlUrl"},
		"opml/outline-duplication-1.xml":                     {n: 1, skipped: 1, reason: "duplicate of line"},
		"opml/outline-duplication-2.xml":                     {n: 1, cat: []string{"hier1"}, skipped: 1, reason: "duplicate of line"},
		"opml/opml_version-1.xml":                            {version: "1.0", skipped: 1, reason: "no xmlUrl"},
		"opml/opml_version-11.xml":                           {version: "1.1", skipped: 1},
		"opml/opml_version-2.xml":                            {version: "2.0", skipped: 1},
		"opml/opml_version-missing.xml":                      {version: "", skipped: 1},
		"opml/opml_version-unknown.xml":                      {version: "OPML:TNG", skipped: 1},
		"opml/head_title.xml":                                {title: "listtitle", skipped: 1},
		"opml/head_title-whitespace.xml":                     {title: "listtitle", skipped: 1},
		"opml/outline_text.xml":                              {n: 1, otitle: "feedname"},
		"opml/outline_text-whitespace.xml":                   {n: 1, otitle: "feedname"},
		"opml/outline_title-text_empty.xml":                  {n: 1, otitle: "feedname"},
		"opml/outline_title-text_missing.xml":                {n: 1, otitle: "feedname"},
		"opml/outline_title-text_missing-whitespace.xml":     {n: 1, otitle: "feedname"},
		"opml/outline_text-overrides_title.xml":              {n: 1, otitle: "title"}, // deliberate: title wins
		"opml/outline_type-case_insensitive.xml":             {n: 1},
		"opml/outline_type-link.xml":                         {n: 1},
		"opml/outline_type-missing.xml":                      {n: 1},
		"opml/outline_type-pie.xml":                          {n: 1},
		"opml/outline_type-rss.xml":                          {n: 1},
		"opml/outline_type-unknown.xml":                      {n: 1},
		"opml/opportunities/opml-htmlUrl.xml":                {skipped: 1, reason: "empty xmlUrl (only an htmlUrl"},
		"opml/opportunities/opml-htmlUrl-miscapitalized.xml": {skipped: 1, reason: "only an htmlUrl"},
		"opml/include/outline_url.xml":                       {skipped: 1, reason: `type="include"`},
		"opml/link/outline_url.xml":                          {skipped: 1, reason: `type="link"`},
		"opml/categories/hier-1-single.xml":                  {n: 1, cat: []string{"grouping"}},
		"opml/categories/hier-2-nested.xml":                  {n: 1, cat: []string{"grouping1", "grouping2"}},
		"opml/categories/hier-3-whitespace.xml":              {n: 1, cat: []string{"grouping"}},
		"opml/categories/hier-4-mixed.xml":                   {n: 1, cat: []string{"grouping"}},
		"opml/categories/hier-5-title.xml":                   {n: 1, cat: []string{"wordpress"}},
		"opml/categories/cats-1-single_standalone.xml":       {n: 1, cat: []string{"root"}},
		"opml/categories/cats-2-single_hierarchy.xml":        {n: 1, cat: []string{"root", "parent", "child"}},
		"opml/categories/cats-3-multiple.xml":                {n: 1, cat: []string{"root1", "node1"}},
		"opml/categories/cats-4-bad.xml":                     {n: 1, cat: []string{"root1"}},
		"opml/categories/tags-1-single.xml":                  {n: 1, cat: []string{"tag1"}},
		"opml/categories/tags-4-bad.xml":                     {n: 1, cat: []string{"tag1"}},
		"opml/categories/duplication.xml":                    {n: 1, cat: []string{"dupe"}},
		"malformed/html-entity-attribute.xml":                {n: 2, sameName: true},
		"malformed/html-entity-text-1.xml":                   {title: "archæology", skipped: 1},
		"malformed/html-entity-text-2.xml":                   {title: "1 μs is brief", skipped: 1},
		"malformed/undefined-entity-attribute.xml":           {err: "invalid character entity &egregiouslyundefined;"},
		"malformed/end-element-missing.xml":                  {err: "unexpected EOF"},
		"malformed/end-element-unexpected.xml":               {err: "closed by </unexpected>"},
		"malformed/concatenated-documents.xml":               {err: "only one root element"},
	} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		doc, err := Parse(strings.NewReader(string(data)))
		if w.err != "" {
			if err == nil || !strings.Contains(err.Error(), w.err) {
				t.Errorf("%s: err %v, want %q", file, err, w.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		checkInvariants(t, file, doc)
		if len(doc.Outlines) != w.n || len(doc.Skipped) != w.skipped {
			t.Errorf("%s: %d outlines, %d skipped; want %d, %d (%+v %+v)", file, len(doc.Outlines), len(doc.Skipped), w.n, w.skipped, doc.Outlines, doc.Skipped)
			continue
		}
		if w.title != "" && doc.Title != w.title {
			t.Errorf("%s: title %q, want %q", file, doc.Title, w.title)
		}
		if strings.Contains(file, "opml_version") && doc.Version != w.version {
			t.Errorf("%s: version %q, want %q", file, doc.Version, w.version)
		}
		if w.n > 0 {
			o := doc.Outlines[0]
			if w.url != "" && o.XMLURL != w.url {
				t.Errorf("%s: url %q, want %q", file, o.XMLURL, w.url)
			}
			if w.otitle != "" && o.Title != w.otitle {
				t.Errorf("%s: outline title %q, want %q", file, o.Title, w.otitle)
			}
			if !reflect.DeepEqual(o.Category, w.cat) {
				t.Errorf("%s: category %q, want %q", file, o.Category, w.cat)
			}
		}
		if w.sameName && doc.Outlines[0].Title != doc.Outlines[1].Title {
			t.Errorf("%s: titles %q and %q differ", file, doc.Outlines[0].Title, doc.Outlines[1].Title)
		}
		if w.reason != "" && !strings.Contains(doc.Skipped[0].Reason, w.reason) {
			t.Errorf("%s: reason %q, want %q", file, doc.Skipped[0].Reason, w.reason)
		}
	}
}
