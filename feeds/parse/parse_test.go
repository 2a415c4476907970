package parse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"babelfeed"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestParser() *Parser {
	return New(Options{Now: func() time.Time { return testNow }})
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseFixture(t *testing.T, name string) *Result {
	t.Helper()
	res, err := newTestParser().Parse(context.Background(), readFixture(t, name), "")
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	checkInvariants(t, name, res, testNow)
	return res
}

func itemByTitle(t *testing.T, res *Result, prefix string) babelfeed.Item {
	t.Helper()
	for _, it := range res.Items {
		if strings.HasPrefix(it.Title, prefix) {
			return it
		}
	}
	t.Fatalf("no item titled %q…", prefix)
	return babelfeed.Item{}
}

var (
	// tagRe finds tags of common HTML elements; angle brackets around other
	// words ("<Leader>", an IRC nick) are text.
	tagRe = regexp.MustCompile(`(?i)<!--|</?(a|b|i|u|p|br|hr|em|strong|span|div|img|ul|ol|li|table|tr|td|th|h[1-6]|` +
		`blockquote|pre|code|script|style|iframe|html|head|body|title|font|section|article|figure)(\s[^<>]*)?/?>`)
	entityRe = regexp.MustCompile(`&(amp|lt|gt|quot|apos|nbsp|#[0-9]+|#x[0-9a-fA-F]+);`)
)

// checkInvariants holds for every item of every document.
func checkInvariants(t testing.TB, name string, res *Result, now time.Time) {
	t.Helper()
	keys := map[string]bool{}
	for i, it := range res.Items {
		where := fmt.Sprintf("%s item %d (%q)", name, i, it.Title)
		for field, s := range map[string]string{"Title": it.Title, "Summary": it.Summary, "Content": it.Content} {
			if !utf8.ValidString(s) {
				t.Errorf("%s: %s is not valid UTF-8", where, field)
			}
			if field == "Content" {
				continue
			}
			if m := tagRe.FindString(s); m != "" {
				t.Errorf("%s: %s has a tag %q: %q", where, field, m, clip(s))
			}
			if m := entityRe.FindString(s); m != "" {
				t.Errorf("%s: %s has an entity %q: %q", where, field, m, clip(s))
			}
		}
		if strings.Contains(it.Title, "\n") {
			t.Errorf("%s: title has a line break", where)
		}
		if it.Key == "" {
			t.Errorf("%s: empty Key", where)
		}
		if keys[it.Key] {
			t.Errorf("%s: duplicate Key %q", where, it.Key)
		}
		keys[it.Key] = true
		if it.Published.IsZero() {
			t.Errorf("%s: zero Published", where)
		}
		if it.Published.After(now.Add(futureSlack)) {
			t.Errorf("%s: Published %v after now %v", where, it.Published, now)
		}
		if it.ContentHash == "" {
			t.Errorf("%s: empty ContentHash", where)
		}
		if it.Title == "" && it.Summary == "" && it.URL == "" {
			t.Errorf("%s: empty item kept", where)
		}
		if it.DeclaredLang != res.Language {
			t.Errorf("%s: DeclaredLang %q, feed language %q", where, it.DeclaredLang, res.Language)
		}
	}
}

func clip(s string) string {
	if r := []rune(s); len(r) > 120 {
		return string(r[:120]) + "…"
	}
	return s
}

func TestParseRSS2Italian(t *testing.T) {
	res := parseFixture(t, "rss2_it.xml")
	if res.Format != "rss 2.0" || res.Language != "it" {
		t.Errorf("Format %q Language %q", res.Format, res.Language)
	}
	if res.Title != "Cronache di Quartiere & dintorni" {
		t.Errorf("feed title %q", res.Title)
	}
	if res.SiteURL != "https://quartiere.example.it/" || res.Description != "Notizie dal quartiere, ogni giorno." {
		t.Errorf("SiteURL %q Description %q", res.SiteURL, res.Description)
	}
	if res.TTLMinutes != 45 || !reflect.DeepEqual(res.SkipHours, []int{1, 2, 0}) ||
		!reflect.DeepEqual(res.SkipDays, []string{"Sunday"}) ||
		res.UpdatePeriod != "daily" || res.UpdateFrequency != 2 {
		t.Errorf("hints: ttl %d hours %v days %v period %q freq %d",
			res.TTLMinutes, res.SkipHours, res.SkipDays, res.UpdatePeriod, res.UpdateFrequency)
	}

	// Escaped markup and double-escaped entities in the title; HTML and a
	// script in the description; content differing from the description.
	lib := itemByTitle(t, res, "Il sindaco inaugura la nuova biblioteca &")
	if lib.Title != "Il sindaco inaugura la nuova biblioteca & la piazza" {
		t.Errorf("title %q", lib.Title)
	}
	if lib.Summary != "Sabato mattina il sindaco ha aperto le porte della nuova biblioteca di quartiere." {
		t.Errorf("summary %q", lib.Summary)
	}
	if !strings.Contains(lib.Content, "ventimila volumi") || strings.Contains(lib.Content, "<") {
		t.Errorf("content %q", lib.Content)
	}
	if lib.URL != "https://quartiere.example.it/notizie/biblioteca-nuova" {
		t.Errorf("relative link with spaces resolved to %q", lib.URL)
	}
	if lib.Author != "Giulia Bianchi" || !reflect.DeepEqual(lib.Categories, []string{"Cultura", "Città"}) {
		t.Errorf("author %q categories %q", lib.Author, lib.Categories)
	}
	if want := time.Date(2026, 2, 28, 8, 30, 0, 0, time.UTC); !lib.Published.Equal(want) || lib.Published.Location() != time.UTC {
		t.Errorf("published %v, want %v in UTC", lib.Published, want)
	}
	if !lib.FirstSeen.Equal(testNow) {
		t.Errorf("first seen %v", lib.FirstSeen)
	}

	// The GUID "quartiere-0001" and "lavori" occur twice: keyed with links.
	if lib.Key != "quartiere-0001|https://quartiere.example.it/notizie/biblioteca-nuova" {
		t.Errorf("repeated GUID key %q", lib.Key)
	}
	copyItem := itemByTitle(t, res, "Il sindaco inaugura la nuova biblioteca")
	if copyItem.Key != lib.Key { // itemByTitle found the first: look further
		t.Fatalf("first match %q", copyItem.Key)
	}
	if last := res.Items[len(res.Items)-2]; last.Key != "quartiere-0001|https://quartiere.example.it/notizie/biblioteca-copia" {
		t.Errorf("second item with the repeated GUID: key %q", last.Key)
	}
	var lavori []string
	for _, it := range res.Items {
		if it.GUID == "lavori" {
			lavori = append(lavori, it.Key)
		}
	}
	if !reflect.DeepEqual(lavori, []string{
		"lavori|https://quartiere.example.it/notizie/tram-1",
		"lavori|https://quartiere.example.it/notizie/tram-2",
	}) {
		t.Errorf("repeated GUID keys %q", lavori)
	}

	// No GUID: the link is the key.
	mercato := itemByTitle(t, res, "Mercato rionale")
	if mercato.Key != "https://quartiere.example.it/notizie/mercato-estate" || mercato.GUID != "" {
		t.Errorf("no-GUID key %q", mercato.Key)
	}
	if mercato.Title != "Mercato rionale: orari d'estate" {
		t.Errorf("numeric entity title %q", mercato.Title)
	}

	// Future date clamped to now; missing date is now.
	if c := itemByTitle(t, res, "Concerto"); !c.Published.Equal(testNow) {
		t.Errorf("future date not clamped: %v", c.Published)
	}
	if a := itemByTitle(t, res, "Avviso senza data"); !a.Published.Equal(testNow) || a.URL != "" {
		t.Errorf("no-date item published %v url %q", a.Published, a.URL)
	}
	// An Italian day name defeats gofeed; the fallback reads it.
	if d := itemByTitle(t, res, "Data scritta"); !d.Published.Equal(time.Date(2026, 2, 23, 9, 15, 0, 0, time.UTC)) {
		t.Errorf("Italian date parsed as %v", d.Published)
	}
	// Neither GUID nor link: a hash of title and date.
	solo := itemByTitle(t, res, "Solo un titolo")
	if !strings.HasPrefix(solo.Key, "hash:") || len(solo.Key) != len("hash:")+32 {
		t.Errorf("hash key %q", solo.Key)
	}
	// The item with only a GUID is dropped.
	for _, it := range res.Items {
		if it.GUID == "vuoto" {
			t.Errorf("empty item kept: %+v", it)
		}
	}
	if len(res.Items) != 9 {
		t.Errorf("%d items, want 9", len(res.Items))
	}
}

func TestParseRDFGerman(t *testing.T) {
	res := parseFixture(t, "rdf_de.rdf")
	if res.Format != "rss 1.0" || res.Language != "de" || res.UpdatePeriod != "hourly" || res.UpdateFrequency != 4 {
		t.Errorf("Format %q Language %q period %q freq %d", res.Format, res.Language, res.UpdatePeriod, res.UpdateFrequency)
	}
	if len(res.Items) != 2 {
		t.Fatalf("%d items", len(res.Items))
	}
	it := res.Items[0]
	if it.Title != "Rheinbrücke wird ab Montag gesperrt" || it.Author != "Jörg Müller" ||
		it.Key != "https://stadtbote.example.de/artikel/1" ||
		!it.Published.Equal(time.Date(2026, 2, 27, 6, 45, 0, 0, time.UTC)) ||
		!reflect.DeepEqual(it.Categories, []string{"Verkehr"}) {
		t.Errorf("item %+v", it)
	}
	if res.Items[1].Title != "Größter Weihnachtsmarkt schließt früher" {
		t.Errorf("title %q", res.Items[1].Title)
	}
}

func TestParseAtomFrench(t *testing.T) {
	res := parseFixture(t, "atom_fr.xml")
	if res.Format != "atom 1.0" || res.Language != "fr" || res.Title != "Le carnet d'un cycliste" {
		t.Errorf("Format %q Language %q Title %q", res.Format, res.Language, res.Title)
	}
	it := itemByTitle(t, res, "L’été")
	if it.Title != "L’été sur la côte de granit rose" {
		t.Errorf("title %q", it.Title)
	}
	if it.URL != "https://carnet.example.fr/billets/granit-rose" {
		t.Errorf("xml:base link %q", it.URL)
	}
	if it.Summary != "Trois jours de vélo entre Perros-Guirec et Trégastel." {
		t.Errorf("summary %q", it.Summary)
	}
	want := "Nous sommes partis de Perros-Guirec un matin de brume.\nLe soir, les rochers roses brillaient sous le soleil couchant : inoubliable."
	if it.Content != want {
		t.Errorf("xhtml content %q, want %q", it.Content, want)
	}
	if !it.Published.Equal(time.Date(2026, 2, 20, 7, 0, 0, 0, time.UTC)) || !it.Updated.Equal(time.Date(2026, 2, 21, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("published %v updated %v", it.Published, it.Updated)
	}
	// Only <updated>: it is the published date too. Escaped HTML content
	// with no summary becomes the summary. The feed's author is inherited.
	cr := itemByTitle(t, res, "Réparer")
	if !cr.Published.Equal(time.Date(2026, 2, 10, 18, 30, 0, 0, time.UTC)) ||
		cr.Summary != "Il faut une rustine, de la colle et un peu de patience." || cr.Content != "" ||
		cr.Author != "Élodie Martin" {
		t.Errorf("item %+v", cr)
	}
}

func TestParseJSONFeedSpanish(t *testing.T) {
	res := parseFixture(t, "json_es.json")
	if res.Format != "json 1.1" || res.Language != "es" || res.SiteURL != "https://recetas.example.es/" {
		t.Errorf("Format %q Language %q SiteURL %q", res.Format, res.Language, res.SiteURL)
	}
	if len(res.Items) != 3 {
		t.Fatalf("%d items", len(res.Items))
	}
	tortilla := res.Items[0]
	if tortilla.Title != "Tortilla de patatas & cebolla" || tortilla.Summary != "El clásico de los domingos en casa." ||
		!strings.Contains(tortilla.Content, "según mi abuela") || tortilla.Author != "Carmen López" {
		t.Errorf("item %+v", tortilla)
	}
	gazpacho := res.Items[1]
	if gazpacho.URL != "https://recetas.example.es/gazpacho" || gazpacho.Key != gazpacho.URL ||
		!gazpacho.Published.Equal(time.Date(2026, 2, 24, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("item %+v", gazpacho)
	}
	if nota := res.Items[2]; nota.Title != "" || nota.Key != "receta-40" || !strings.Contains(nota.Summary, "arroz con leche") {
		t.Errorf("item %+v", nota)
	}
}

// latin1Feed is a Portuguese RSS feed in ISO-8859-1 bytes whose prolog
// declares no encoding, served without a charset.
const latin1Feed = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel>" +
	"<title>Not\xedcias da Regi\xe3o</title><link>https://regiao.example.pt/</link>" +
	"<description>Informa\xe7\xe3o local</description><language>pt-BR</language>" +
	"<item><title>Ca\xe7a ao tesouro na pra\xe7a: crian\xe7as s\xe3o as her\xf3is</title>" +
	"<link>https://regiao.example.pt/caca</link>" +
	"<description>A compet\xeancia come\xe7a \xe0s dez horas, perto da esta\xe7\xe3o.</description>" +
	"<pubDate>Wed, 25 Feb 2026 10:00:00 GMT</pubDate></item>" +
	"</channel></rss>"

func TestParseLatin1WithoutDeclaration(t *testing.T) {
	res, err := newTestParser().Parse(context.Background(), []byte(latin1Feed), "application/rss+xml")
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, "latin1", res, testNow)
	if res.Title != "Notícias da Região" || res.Language != "pt" || res.Description != "Informação local" {
		t.Errorf("feed %q %q %q", res.Title, res.Language, res.Description)
	}
	if len(res.Items) != 1 {
		t.Fatalf("%d items", len(res.Items))
	}
	it := res.Items[0]
	if it.Title != "Caça ao tesouro na praça: crianças são as heróis" ||
		it.Summary != "A competência começa às dez horas, perto da estação." {
		t.Errorf("item %q / %q", it.Title, it.Summary)
	}
}

func TestParseUTF16(t *testing.T) {
	src := `<?xml version="1.0" encoding="UTF-16"?><rss version="2.0"><channel><title>Jornal</title>` +
		`<item><title>Atenção: eleições</title><link>https://x.example/1</link></item></channel></rss>`
	var le []byte
	le = append(le, 0xFF, 0xFE)
	for _, r := range src {
		le = append(le, byte(r), byte(r>>8))
	}
	res, err := newTestParser().Parse(context.Background(), le, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 || res.Items[0].Title != "Atenção: eleições" {
		t.Errorf("items %+v", res.Items)
	}
}

func TestParseMaxItemsAndCaps(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<rss version="2.0"><channel><title>Tante notizie</title>`)
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, `<item><title>Notizia numero %d, con un titolo piuttosto lungo</title><link>https://n.example/%d</link>`+
			`<description>Testo della notizia %d: %s</description></item>`, i, i, i, strings.Repeat("parole ", 50))
	}
	b.WriteString(`</channel></rss>`)
	p := New(Options{Now: func() time.Time { return testNow }, MaxItems: 10, MaxTitle: 12, MaxText: 40})
	res, err := p.Parse(context.Background(), []byte(b.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 10 || !res.Truncated {
		t.Fatalf("%d items, truncated %v", len(res.Items), res.Truncated)
	}
	if res.Items[0].URL != "https://n.example/0" || res.Items[9].URL != "https://n.example/9" {
		t.Errorf("kept %q … %q, want the first ten", res.Items[0].URL, res.Items[9].URL)
	}
	for _, it := range res.Items {
		if n := utf8.RuneCountInString(it.Title); n > 12 {
			t.Errorf("title %q has %d runes", it.Title, n)
		}
		if n := utf8.RuneCountInString(it.Summary); n > 40 {
			t.Errorf("summary %q has %d runes", it.Summary, n)
		}
	}
	res, err = New(Options{MaxItems: 30}).Parse(context.Background(), []byte(b.String()), "")
	if err != nil || res.Truncated || len(res.Items) != 30 {
		t.Errorf("exactly MaxItems: %d items, truncated %v, %v", len(res.Items), res.Truncated, err)
	}
}

func TestParseHashKeyStable(t *testing.T) {
	feed := `<rss version="2.0"><channel><title>x</title><item><title>Senza link</title></item>` +
		`<item><title>Con data</title><pubDate>Wed, 25 Feb 2026 10:00:00 GMT</pubDate></item></channel></rss>`
	clock := testNow
	p := New(Options{Now: func() time.Time { return clock }})
	a, err := p.Parse(context.Background(), []byte(feed), "")
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	b, err := p.Parse(context.Background(), []byte(feed), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Items {
		if a.Items[i].Key != b.Items[i].Key || a.Items[i].ContentHash != b.Items[i].ContentHash {
			t.Errorf("item %d: key/hash changed between polls: %q %q", i, a.Items[i].Key, b.Items[i].Key)
		}
	}
	if a.Items[0].Key == a.Items[1].Key {
		t.Error("different titles, same key")
	}
}

func TestContentHashChanges(t *testing.T) {
	base := contentHash("t", "u", "s", "c")
	for _, h := range []string{contentHash("t2", "u", "s", "c"), contentHash("t", "u2", "s", "c"),
		contentHash("t", "u", "s2", "c"), contentHash("t", "u", "s", "c2"), contentHash("tu", "", "s", "c")} {
		if h == base {
			t.Error("hash did not change")
		}
	}
	if len(base) != 32 {
		t.Errorf("hash %q", base)
	}
}

func TestNotAFeedHTML(t *testing.T) {
	_, err := newTestParser().ParseURL(context.Background(), readFixture(t, "page.html"), "text/html; charset=utf-8", "https://lago.example.it/notizie/oggi")
	var naf *NotAFeedError
	if !errors.As(err, &naf) {
		t.Fatalf("err = %v, want *NotAFeedError", err)
	}
	want := []string{
		"https://lago.example.it/feed/rss.xml",
		"https://lago.example.it/feed/atom.xml",
		"https://lago.example.it/notizie/feed.json",
	}
	if naf.Kind != KindHTML || !reflect.DeepEqual(naf.Alternates, want) {
		t.Errorf("kind %q alternates %q, want %q", naf.Kind, naf.Alternates, want)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "not a feed (an HTML page); it advertises a feed at https://lago.example.it/feed/rss.xml") {
		t.Errorf("message %q", msg)
	}
}

func TestNotAFeedKinds(t *testing.T) {
	tests := []struct {
		name, body, ctype, kind string
		alternates              []string
	}{
		{"html without alternates", "<html><body><p>Ciao</p></body></html>", "", KindHTML, nil},
		{"html fragment by content type", "<p>Solo un paragrafo</p>", "text/html", KindHTML, nil},
		{"html with base", `<!doctype html><head><base href="https://base.example/sub/"><link rel="alternate" type="application/rss+xml" href="rss"></head>`, "", KindHTML,
			[]string{"https://base.example/sub/rss"}},
		{"opml", `<?xml version="1.0"?><opml version="2.0"><body/></opml>`, "", KindOPML, nil},
		{"other xml", `<?xml version="1.0"?><!-- nota --><note><to>Anna</to></note>`, "", KindXML, nil},
		{"empty", " \n ", "", KindEmpty, nil},
		{"json object", `{"status": "ok", "count": 3}`, "application/json", KindJSON, nil},
		{"json array", `[1, 2, 3]`, "application/json", KindJSON, nil},
		{"text", "Servizio non disponibile", "text/plain", KindText, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestParser().Parse(context.Background(), []byte(tt.body), tt.ctype)
			var naf *NotAFeedError
			if !errors.As(err, &naf) {
				t.Fatalf("err = %v, want *NotAFeedError", err)
			}
			if naf.Kind != tt.kind || !reflect.DeepEqual(naf.Alternates, tt.alternates) {
				t.Errorf("kind %q alternates %q, want %q %q (%v)", naf.Kind, naf.Alternates, tt.kind, tt.alternates, err)
			}
		})
	}
}

func TestParseRootAfter4KB(t *testing.T) {
	feed := `<?xml version="1.0" encoding="utf-8"?>` + "\n<!-- " + strings.Repeat("commento lungo ", 400) + "-->\n" +
		`<rss version="2.0"><channel><title>Lontano</title><item><title>Arrivato</title><link>https://l.example/1</link></item></channel></rss>`
	res, err := newTestParser().Parse(context.Background(), []byte(feed), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 || res.Items[0].Title != "Arrivato" {
		t.Errorf("items %+v", res.Items)
	}
}

func TestParseTruncatedSalvaged(t *testing.T) {
	for _, tc := range []struct {
		file, cutAfter string
		want           int
	}{
		{"rss2_it.xml", "Il primo tratto chiude", 2},
		{"rdf_de.rdf", "Wegen des Sturms", 1},
		{"atom_fr.xml", "Il faut une rustine", 1},
	} {
		full := readFixture(t, tc.file)
		i := bytes.Index(full, []byte(tc.cutAfter))
		if i < 0 {
			t.Fatalf("%s: %q not found", tc.file, tc.cutAfter)
		}
		res, err := newTestParser().Parse(context.Background(), full[:i+len(tc.cutAfter)], "")
		if err != nil {
			t.Errorf("%s cut: %v", tc.file, err)
			continue
		}
		checkInvariants(t, tc.file+" cut", res, testNow)
		if len(res.Items) != tc.want || !res.Partial {
			t.Errorf("%s cut: %d items, partial %v; want %d, true", tc.file, len(res.Items), res.Partial, tc.want)
		}
	}
	res, err := newTestParser().Parse(context.Background(), readFixture(t, "rss2_it.xml"), "")
	if err != nil || res.Partial {
		t.Errorf("whole document: partial %v, %v", res.Partial, err)
	}
}

func TestParseBrokenFeed(t *testing.T) {
	_, err := newTestParser().Parse(context.Background(), []byte(`<rss version="2.0"><channel><title>Tronc`), "")
	var naf *NotAFeedError
	if err == nil || errors.As(err, &naf) {
		t.Errorf("truncated feed: err = %v, want a parse error that is not NotAFeedError", err)
	}
}

func TestParseCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newTestParser().Parse(ctx, readFixture(t, "rss2_it.xml"), ""); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestParseConcurrent(t *testing.T) {
	p := newTestParser()
	files := []string{"rss2_it.xml", "rdf_de.rdf", "atom_fr.xml", "json_es.json"}
	errs := make(chan error, 4*len(files))
	for g := 0; g < 4; g++ {
		go func() {
			for _, f := range files {
				res, err := p.Parse(context.Background(), readFixture(t, f), "")
				if err == nil && len(res.Items) == 0 {
					err = fmt.Errorf("%s: no items", f)
				}
				errs <- err
			}
		}()
	}
	for i := 0; i < 4*len(files); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestNormaliseLanguage(t *testing.T) {
	tests := map[string]string{
		"IT-it": "it", "en-US": "en", "pt-BR": "pt", "pt_BR": "pt", "de": "de", "FR": "fr",
		"eng": "en", "Italiano": "it", "español": "es", "it, en": "it", "zh-Hans": "zh", "iw": "he",
		"": "", "und": "", "xx": "", "{lang}": "", "x-default": "", "fil": "", " ru ": "ru",
		"en-us;q=0.8": "en", strings.Repeat("a", 50): "",
	}
	for in, want := range tests {
		if got := NormaliseLanguage(in); got != want {
			t.Errorf("NormaliseLanguage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLocalDate(t *testing.T) {
	tests := map[string]time.Time{
		"Lun, 12 Gen 2026 10:00:00 +0100":   time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC),
		"Mar, 03 Mar 2026 08:00:00 GMT":     time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC),
		"mercredi 4 février 2026 18:30":     time.Date(2026, 2, 4, 18, 30, 0, 0, time.UTC),
		"Mittwoch, 4. März 2026 18:30 Uhr":  time.Date(2026, 3, 4, 18, 30, 0, 0, time.UTC),
		"4 de marzo de 2026":                time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC),
		"Quarta-feira, 4 Março 2026 10:00":  time.Time{}, // "Quarta-feira" is one token: not a day name
		"04/03/2026 10:00":                  time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC),
		"ieri sera":                         time.Time{},
		"Dom, 01 Feb 2026 07:05:00 +0100":   time.Date(2026, 2, 1, 6, 5, 0, 0, time.UTC),
		"2026-02-27 14:00":                  time.Date(2026, 2, 27, 14, 0, 0, 0, time.UTC),
		"Ven, 13 Dic 2025 23:59:59 +0000":   time.Date(2025, 12, 13, 23, 59, 59, 0, time.UTC),
		"sábado, 7 de febrero de 2026 9:00": time.Date(2026, 2, 7, 9, 0, 0, 0, time.UTC),
	}
	for in, want := range tests {
		got, ok := parseLocalDate(in)
		if ok != !want.IsZero() || !got.Equal(want) {
			t.Errorf("parseLocalDate(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
}
