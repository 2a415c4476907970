// Package feedcheck runs independent feed clients on babelfeed's published
// feeds, for tests: Debian's python3-feedparser (Atom), xmllint
// (well-formedness) and a Python check of JSON Feed 1.1's required
// fields. None of them shares code with the writer, so they catch what a
// round trip through babelfeed's own parser would not. A test skips, with
// the reason, when a tool is not installed (.ci/run installs them).
package feedcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Entry is an Atom entry as feedparser reads it.
type Entry struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Link      string `json:"link"`
	Lang      string `json:"lang"` // xml:lang in scope of the entry's title
	Author    string `json:"author"`
	Published string `json:"published"` // RFC 3339, UTC
	Updated   string `json:"updated"`
	Summary   string `json:"summary"`
	Content   string `json:"content"`
	Source    string `json:"source"` // title of atom:source
}

// Atom is what feedparser made of a document.
type Atom struct {
	Bozo     bool    `json:"bozo"`
	BozoText string  `json:"bozo_exception"`
	Version  string  `json:"version"`
	Title    string  `json:"title"`
	Next     string  `json:"next"` // href of link rel="next"
	Entries  []Entry `json:"entries"`
}

const feedparserScript = `
import json, sys, time, calendar
import feedparser
d = feedparser.parse(open(sys.argv[1], 'rb').read())
def iso(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', t) if t else ''
out = {'bozo': bool(d.bozo), 'bozo_exception': str(d.get('bozo_exception', '')),
       'version': d.version, 'title': d.feed.get('title', ''), 'next': '', 'entries': []}
for l in d.feed.get('links', []):
    if l.get('rel') == 'next':
        out['next'] = l.get('href', '')
for e in d.entries:
    content = e.get('content') or [{}]
    out['entries'].append({
        'id': e.get('id', ''), 'title': e.get('title', ''), 'link': e.get('link', ''),
        'lang': (e.get('title_detail') or {}).get('language') or '',
        'author': e.get('author', ''),
        'published': iso(e.get('published_parsed')), 'updated': iso(e.get('updated_parsed')),
        'summary': e.get('summary', ''), 'content': content[0].get('value', ''),
        'source': (e.get('source') or {}).get('title', ''),
    })
json.dump(out, sys.stdout)
`

// python returns a Python interpreter that can import module, or skips.
// The Debian packages install for /usr/bin/python3, which need not be the
// python3 first on PATH.
func python(t testing.TB, module string) string {
	t.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import "+module).Run() == nil {
			return path
		}
	}
	t.Skipf("no python3 with %s found (apt-get install python3-feedparser): skipping the independent feed check", module)
	return ""
}

func writeTemp(t testing.TB, doc []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "feed")
	if err := os.WriteFile(p, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Feedparser parses an Atom document with feedparser.
func Feedparser(t testing.TB, doc []byte) Atom {
	t.Helper()
	py := python(t, "feedparser")
	cmd := exec.Command(py, "-c", feedparserScript, writeTemp(t, doc))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("feedparser: %v\n%s", err, stderr.String())
	}
	var a Atom
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("feedparser output: %v\n%s", err, out)
	}
	return a
}

// XMLLint checks that doc is well-formed XML with xmllint --noout.
func XMLLint(t testing.TB, doc []byte) {
	t.Helper()
	path, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not found (apt-get install libxml2-utils): skipping the well-formedness check")
	}
	cmd := exec.Command(path, "--noout", writeTemp(t, doc))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("xmllint --noout: %v\n%s", err, out)
	}
}

// JSONItem is a JSON Feed item as the Python check read it.
type JSONItem struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	Title    string `json:"title"`
	Text     string `json:"content_text"`
	Language string `json:"language"`
	Date     string `json:"date_published"`
}

// JSONFeed is what the Python check read.
type JSONFeed struct {
	Problems []string   `json:"problems"`
	Next     string     `json:"next_url"`
	Items    []JSONItem `json:"items"`
}

// The check follows https://jsonfeed.org/version/1.1: version, title and
// items are required; each item needs an id (a string) and content_html or
// content_text; dates are RFC 3339; a language is a string.
const jsonFeedScript = `
import json, sys, datetime
doc = json.load(open(sys.argv[1], encoding='utf-8'))
problems = []
if doc.get('version') != 'https://jsonfeed.org/version/1.1':
    problems.append('version is %r' % doc.get('version'))
if not isinstance(doc.get('title'), str):
    problems.append('no title')
items = doc.get('items')
if not isinstance(items, list):
    problems.append('no items list'); items = []
out = []
for i, it in enumerate(items):
    if not isinstance(it.get('id'), str) or not it['id']:
        problems.append('item %d: no string id' % i)
    if not isinstance(it.get('content_text'), str) and not isinstance(it.get('content_html'), str):
        problems.append('item %d: neither content_text nor content_html' % i)
    for k in ('date_published', 'date_modified'):
        if k in it:
            try:
                datetime.datetime.fromisoformat(it[k].replace('Z', '+00:00'))
            except Exception as e:
                problems.append('item %d: %s %r: %s' % (i, k, it[k], e))
    if 'language' in it and not isinstance(it['language'], str):
        problems.append('item %d: language is not a string' % i)
    out.append({k: it.get(k, '') for k in ('id', 'url', 'title', 'content_text', 'language', 'date_published')})
json.dump({'problems': problems, 'next_url': doc.get('next_url', ''), 'items': out}, sys.stdout)
`

// CheckJSONFeed reads a JSON Feed with Python's json module and checks the
// fields JSON Feed 1.1 requires; problems are test errors.
func CheckJSONFeed(t testing.TB, doc []byte) JSONFeed {
	t.Helper()
	py := python(t, "json")
	cmd := exec.Command(py, "-c", jsonFeedScript, writeTemp(t, doc))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("JSON Feed check: %v\n%s", err, stderr.String())
	}
	var f JSONFeed
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("JSON Feed check output: %v\n%s", err, out)
	}
	for _, p := range f.Problems {
		t.Errorf("JSON Feed: %s", p)
	}
	return f
}
