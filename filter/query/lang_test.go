package query

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"babelfeed"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestParseRendersStructure(t *testing.T) {
	cases := []struct{ in, want string }{
		{"xiaomi", "xiaomi"},
		{"xiaomi telefono", "xiaomi telefono"},
		{"apple OR samsung", "(apple OR samsung)"},
		{"a b OR c", "a (b OR c)"},
		{"(apple OR samsung) -usato", "(apple OR samsung) -usato"},
		{`"telefono pieghevole"`, `"telefono pieghevole"`},
		{"lang:it,ES -lang:en", "lang:it,es -lang:en"},
		{"intitle:xiaomi author:rossi", "intitle:xiaomi author:rossi"},
		{`intitle:"nuovo modello"`, `intitle:"nuovo modello"`},
		{`/^breaking/i`, `/^breaking/i`},
		{`inurl:/\/sport\//`, `inurl:/\/sport\//`},
		{`cat:Italiano/Tecnologia feed:3,https://x.example/rss`, `cat:"Italiano/Tecnologia" feed:3,https://x.example/rss`},
		{"since:24h until:2026-11-20", "since:24h until:2026-11-20"},
		{"e-mail", `"e-mail"`}, // a hyphen inside a word is not negation
		{"-(a OR b)", "-(a OR b)"},
		{"  ", ""},
	}
	for _, c := range cases {
		n, err := Parse(c.in, testNow)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		got := ""
		if n != nil {
			got = n.String()
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %s, want %s", c.in, got, c.want)
		}
		// Rendering is itself a query meaning the same thing.
		if n != nil {
			again, err := Parse(got, testNow)
			if err != nil || again.String() != got {
				t.Errorf("re-parse of %q: %v / %v", got, again, err)
			}
		}
	}
}

func TestParseErrorsPointAtTheProblem(t *testing.T) {
	cases := []struct {
		in, msg string
		col     int
	}{
		{`"unclosed phrase`, "unclosed quote", 1},
		{"(a OR b", "unclosed '('", 1},
		{"a OR b)", "unbalanced ')'", 7},
		{"OR a", "OR needs a term on its left", 1},
		{"a OR", "OR needs a term on its right", 3},
		{"a -", "'-' needs a term", 3},
		{"lang:italian", "ISO 639-1", 1},
		{"lang:", "needs a value", 1},
		{"since:yesterday", "neither a duration", 1},
		{"/(unclosed/", "bad /regex/", 1},
		{"/open", "unclosed /regex/", 1},
		{"()", "empty group", 2},
		{"!!!", "no letters or digits", 1},
		{`ab"cd"`, "quote inside a word", 3},
	}
	for _, c := range cases {
		_, err := Parse(c.in, testNow)
		if err == nil {
			t.Errorf("Parse(%q): want an error", c.in)
			continue
		}
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Errorf("Parse(%q): error %T, want *SyntaxError", c.in, err)
			continue
		}
		if !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Parse(%q): message %q lacks %q", c.in, se.Msg, c.msg)
		}
		if !strings.Contains(err.Error(), "at character "+strconv.Itoa(c.col)) {
			t.Errorf("Parse(%q): %v, want it at character %d", c.in, err, c.col)
		}
	}
}

func TestMatch(t *testing.T) {
	feed := &babelfeed.Feed{ID: 7, URL: "https://tech.example.it/rss", Category: []string{"Italiano", "Tecnologia"}}
	it := &babelfeed.Item{
		FeedID: 7, Lang: "it", Author: "Giulia Rossi",
		Title:     "Xiaomi presenta il nuovo telefono pieghevole",
		Summary:   "Il modello arriverà nei negozi della città a dicembre, con un prezzo più basso.",
		URL:       "https://tech.example.it/2026/11/xiaomi-pieghevole",
		Published: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
	}
	cases := []struct {
		q    string
		want bool
	}{
		{"xiaomi", true},
		{"XIAOMI citta", true},
		{"xiao", false},
		{"xiaom", true}, // the stem of xiaomi: stems are words too
		{"modelli", true},
		{"negozio", true},
		{"Città", true},
		{"il", true},   // a stopword, present
		{"gli", false}, // a stopword, absent
		{`"il modello"`, true},
		{`"il modelli"`, false}, // phrases are not stemmed
		{"intitle:modello", false},
		{"author:giulia", true},
		{"author:xiaomi", false},
		{"inurl:xiaomi", true},
		{"inurl:xiaom", false}, // URLs are not stemmed
		{"samsung", false},
		{"samsung OR xiaomi", true},
		{"xiaomi -pieghevole", false},
		{`"nuovo telefono"`, true},
		{`"nuovo telefono pieghevole"`, true},
		{`"telefono nuovo"`, false},
		{"lang:it", true},
		{"lang:es,fr", false},
		{"-lang:en", true},
		{"intitle:xiaomi", true},
		{"intitle:negozi", false},
		{"author:rossi", true},
		{"inurl:2026", true},
		{`inurl:/\/2026\/11\//`, true},
		{`/^xiaomi/`, false},
		{`/^xiaomi/i`, true},
		{"feed:7", true},
		{"feed:https://tech.example.it/rss", true},
		{"feed:8", false},
		{"cat:italiano", true},
		{"cat:Italiano/Tecnologia", true},
		{"cat:Ital", false},
		{"since:2d", true},
		{"since:12h", false},
		{"until:2026-11-27", false},
		{"(samsung OR apple) OR (xiaomi lang:it)", true},
	}
	for _, c := range cases {
		n, err := Parse(c.q, testNow)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.q, err)
			continue
		}
		if got := n.Match(it, feed); got != c.want {
			t.Errorf("%q matches: %v, want %v", c.q, got, c.want)
		}
	}
}

func TestMatchLanguages(t *testing.T) {
	cases := []struct {
		lang, title, q string
		want           bool
	}{
		{"de", "Die Universitäten öffnen", "Universität", true},
		{"de", "Die Universitäten öffnen", "lang:de universitat", true},
		{"fr", "L'université de Lyon", "universites", true},
		{"ja", "東京タワーに行った", "タワー", true},
		{"ja", "東京タワーに行った", "東京 -大阪", true},
		{"zh", "东京大学的研究人员", `"大学 的"`, true},
		{"zh", "东京大学的研究人员", "大研", false},
		{"ru", "Последние новости", "новость", true},
		// A word is analysed in the item's language: the Italian stem of
		// "informazioni" is no English stem.
		{"en", "informazione", "informazioni", false},
		{"it", "informazione", "informazioni", true},
	}
	for _, c := range cases {
		n, err := Parse(c.q, testNow)
		if err != nil {
			t.Fatal(err)
		}
		it := &babelfeed.Item{Lang: c.lang, Title: c.title}
		if got := n.Match(it, nil); got != c.want {
			t.Errorf("[%s] %q matches %q: %v, want %v", c.lang, c.q, c.title, got, c.want)
		}
	}
}

func TestSinceUsesFirstSeenWithoutDate(t *testing.T) {
	it := &babelfeed.Item{FirstSeen: testNow.Add(-time.Hour)}
	for q, want := range map[string]bool{"since:2h": true, "since:30m": false, "until:30m": true, "until:2h": false} {
		n, err := Parse(q, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Match(it, nil); got != want {
			t.Errorf("%s on an undated item first seen an hour ago: %v", q, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"xiaomi", `a "b c" OR -(d lang:it)`, "intitle:/x/i since:7d", "cat:\"a b\" feed:1,2", "((", `"`, "-", "lang:", "/a\\/b/"} {
		f.Add(s)
	}
	it := &babelfeed.Item{Title: "Città di prova", Summary: "testo", Lang: "it"}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := Parse(q, testNow)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", q, err)
			}
			return
		}
		if n == nil {
			return
		}
		n.Match(it, nil)
		s := n.String()
		again, err := Parse(s, testNow)
		if err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", s, q, err)
		}
		if again.String() != s {
			t.Fatalf("rendering is not stable: %q -> %q -> %q", q, s, again.String())
		}
	})
}

func TestCompose(t *testing.T) {
	n, err := Compose("xiaomi OR samsung", Filters{Langs: []string{"it,ES"}, Feeds: []string{"3,https://x.example/rss"}, Category: "/Italiano/", Since: "24h"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.String(), `(xiaomi OR samsung) lang:it,es feed:3,https://x.example/rss cat:"Italiano" since:24h`; got != want {
		t.Errorf("Compose = %s, want %s", got, want)
	}
	if n, err := Compose("", Filters{}, testNow); n != nil || err != nil {
		t.Errorf("Compose of nothing = %v, %v", n, err)
	}
	for _, c := range []struct {
		q    string
		f    Filters
		want string
	}{
		{"(a", Filters{}, "unclosed"},
		{"", Filters{Langs: []string{"italian"}}, "lang:"},
		{"", Filters{Since: "yesterday"}, "since:"},
		{"", Filters{Until: "soon"}, "until:"},
		{"", Filters{Since: "2026-11-20", Until: "2026-11-10"}, "is not before"},
	} {
		if _, err := Compose(c.q, c.f, testNow); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compose(%q, %+v): %v, want an error with %q", c.q, c.f, err, c.want)
		}
	}
}
