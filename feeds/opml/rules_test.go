package opml

import (
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"babelfeed"
)

func TestRulesRoundTrip(t *testing.T) {
	feeds := []babelfeed.Feed{
		{ID: 1, URL: "https://www.ansa.it/sito/ansait_rss.xml", Title: "ANSA", Category: []string{"Italiano", "Notizie"}},
		{ID: 2, URL: "https://elpais.example/rss?a=1&b=2", Title: "El País", Category: []string{"Español"}},
		{ID: 3, URL: "https://example.org/top", Title: "No folder"},
	}
	rules := []babelfeed.Rule{
		{ID: 1, Action: babelfeed.RuleKeep, Query: "lang:it,es"},
		{ID: 2, Action: babelfeed.RuleBlock, Query: `intitle:"calcio & serie A" -author:<redazione>`},
		{ID: 3, Action: babelfeed.RuleBlock, Query: `/^(LIVE|Diretta)\b/i`, Category: "italiano/notizie"}, // folder matched ignoring case
		{ID: 4, Action: babelfeed.RuleBlock, Query: "oroscopo", Category: "Italiano/Sport/Calcio"},        // a folder with no feed
		{ID: 5, Action: babelfeed.RuleKeep, Query: `inurl:/\/economia\// OR "€ 100"`, FeedID: 2},
		{ID: 6, Action: babelfeed.RuleBlock, Query: "'quote' \"double\" \t tab", FeedID: 2},
	}
	var buf bytes.Buffer
	if err := WriteWithRules(&buf, "with rules", feeds, rules); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `xmlns:babelfeed="`+Namespace+`"`) {
		t.Fatalf("namespace not declared:\n%s", out)
	}
	doc, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("Parse(WriteWithRules): %v\n%s", err, out)
	}
	if len(doc.Skipped) != 0 || len(doc.RuleErrors) != 0 || len(doc.Outlines) != 3 {
		t.Fatalf("outlines %d, skipped %+v, rule errors %+v\n%s", len(doc.Outlines), doc.Skipped, doc.RuleErrors, out)
	}
	urlOf := map[uint64]string{}
	for _, f := range feeds {
		urlOf[f.ID] = f.URL
	}
	describe := func(action babelfeed.RuleAction, query, cat, feedURL string) string {
		return string(action) + " | " + query + " | " + strings.ToLower(cat) + " | " + feedURL
	}
	var want, got []string
	for _, r := range rules {
		want = append(want, describe(r.Action, r.Query, r.Category, urlOf[r.FeedID]))
	}
	for _, r := range doc.Rules {
		got = append(got, describe(r.Rule.Action, r.Rule.Query, r.Rule.Category, r.FeedURL))
		if r.Line == 0 {
			t.Errorf("rule %q without a line", r.Rule.Query)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("rules after the round trip:\n%s\nwant\n%s\n--- document:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	// Writing what was read gives the same document (but the date).
	var again bytes.Buffer
	var feeds2 []babelfeed.Feed
	byURL := map[string]uint64{}
	for i, o := range doc.Outlines {
		f := o.Feed()
		f.ID = uint64(i + 1)
		byURL[o.XMLURL] = f.ID
		feeds2 = append(feeds2, f)
	}
	var rules2 []babelfeed.Rule
	for _, r := range doc.Rules {
		rr := r.Rule
		rr.FeedID = byURL[r.FeedURL]
		rules2 = append(rules2, rr)
	}
	if err := WriteWithRules(&again, "with rules", feeds2, rules2); err != nil {
		t.Fatal(err)
	}
	if dropDate(again.String()) != dropDate(out) {
		t.Errorf("second write differs:\n%s\n---\n%s", again.String(), out)
	}
	if path, err := exec.LookPath("xmllint"); err == nil {
		cmd := exec.Command(path, "--noout", "-")
		cmd.Stdin = strings.NewReader(out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("xmllint: %v\n%s", err, msg)
		}
	}
}

func dropDate(s string) string {
	i := strings.Index(s, "<dateCreated>")
	j := strings.Index(s, "</dateCreated>")
	if i < 0 || j < 0 {
		return s
	}
	return s[:i] + s[j:]
}

func TestWriteWithoutRulesUnchanged(t *testing.T) {
	feeds := roundTripFeeds()
	var a, b bytes.Buffer
	if err := Write(&a, "t", feeds); err != nil {
		t.Fatal(err)
	}
	if err := WriteWithRules(&b, "t", feeds, nil); err != nil {
		t.Fatal(err)
	}
	if dropDate(a.String()) != dropDate(b.String()) || strings.Contains(a.String(), "babelfeed") {
		t.Errorf("no rules should write the plain document:\n%s\n---\n%s", a.String(), b.String())
	}
}

func TestWriteRuleOfUnknownFeed(t *testing.T) {
	err := WriteWithRules(&bytes.Buffer{}, "t", []babelfeed.Feed{{ID: 1, URL: "https://a.example/"}},
		[]babelfeed.Rule{{ID: 9, Action: babelfeed.RuleBlock, Query: "x", FeedID: 2}})
	if err == nil {
		t.Error("a rule of a feed not written: want an error")
	}
}

func TestParseRulesForgivingAndReported(t *testing.T) {
	doc := `<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head>
<body babelfeed:rules='[{"action":"block","query":"calcio"}]'>
  <outline text="Folder" babelfeed:rules='not json'>
    <outline type="rss" text="A" xmlUrl="https://a.example/rss" babelfeed:rules='[{"action":"drop","query":"x"}]'/>
    <outline type="rss" text="B" xmlUrl="https://b.example/rss" babelfeed:rules='[{"action":"keep","query":"lang:it"}]'/>
    <outline type="rss" text="B again" xmlUrl="https://b.example/rss" babelfeed:rules='[{"action":"keep","query":"lang:es"}]'/>
  </outline>
  <outline text="Only rules" babelfeed:rules='[{"action":"keep","query":"  lang:de  "}]'/>
  <outline text="Empty folder"/>
</body></opml>`
	d, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	// Undeclared prefix: read anyway.
	var got []string
	for _, r := range d.Rules {
		got = append(got, string(r.Rule.Action)+" "+r.Rule.Query+" @"+r.Rule.Category+" "+r.FeedURL)
	}
	want := []string{
		"block calcio @ ",
		"keep lang:it @ https://b.example/rss",
		"keep lang:de @Only rules ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(d.RuleErrors) != 3 {
		t.Errorf("rule errors: %+v (want the bad JSON, the bad action, the duplicate outline's rules)", d.RuleErrors)
	}
	if len(d.Outlines) != 2 || len(d.Skipped) != 2 {
		t.Errorf("outlines %d (want 2), skipped %+v (want the duplicate and the empty folder)", len(d.Outlines), d.Skipped)
	}
}
