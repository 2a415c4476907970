package analyze

import (
	"slices"
	"strings"
	"testing"

	"babelfeed"
)

// finds says whether the query word q finds text, both analysed in lang.
func finds(a *Analyzer, lang, text, q string) bool {
	return a.HasWord(a.NewDoc(lang, text), Tokenize(nil, q))
}

func TestWordsFindTheirInflections(t *testing.T) {
	cases := []struct {
		lang, text, q string
		want          bool
	}{
		// Italian: plurals, verb forms, accents, elisions.
		{"it", "Nuove informazioni sul caso", "informazione", true},
		{"it", "Una sola informazione", "informazioni", true},
		{"it", "La città di Roma", "citta", true},
		{"it", "Le città italiane", "città", true},
		{"it", "L'università di Bologna", "università", true},
		{"it", "Dell'Università si parla", "universita", true},
		{"it", "Il presidente ha parlato", "parlare", true},
		{"it", "Un romanzo storico", "roma", false},
		{"it", "Il governo cade", "governi", true},
		{"it", "Il governo cade", "govern", true}, // a stem is a word too
		{"it", "Il governo cade", "gover", false},
		// German: umlauts, ß, plurals.
		{"de", "Die Universitäten öffnen wieder", "Universität", true},
		{"de", "An der Universität", "universitaeten", false}, // ae spelling is not folded to ä
		{"de", "An der Universität", "Universitaten", true},
		{"de", "Große Häuser", "Haus", true},
		{"de", "Die Straße ist gesperrt", "strasse", true},
		{"de", "Die Straßen sind gesperrt", "Straße", true},
		{"de", "Neue Regierung", "Regierungen", true},
		// French: elisions, accents, plurals.
		{"fr", "L'université publie", "universités", true},
		{"fr", "Les informations du jour", "information", true},
		{"fr", "Aujourd'hui à Paris", "aujourd'hui", true},
		{"fr", "Qu'il pleuve", "pleuvoir", false},
		{"fr", "Un été chaud", "ete", true},
		// Spanish.
		{"es", "Las canciones del verano", "canción", true},
		{"es", "La canción", "canciones", true},
		{"es", "Las universidades públicas", "universidad", true},
		{"es", "El niño juega", "nino", true},
		// Portuguese: -ção / -ções.
		{"pt", "Novas informações sobre o caso", "informação", true},
		{"pt", "Uma informação", "informações", true},
		{"pt", "A nação brasileira", "nacoes", true},
		{"pt", "As universidades", "universidade", true},
		// Russian.
		{"ru", "Университеты открылись", "университет", true},
		{"ru", "Последние новости", "новость", true},
		{"ru", "Ёлка в Москве", "елка", true},
		{"ru", "Новая книга", "книги", true},
		// Turkish.
		{"tr", "Yeni kitaplar çıktı", "kitap", true},
		{"tr", "İstanbul'da hava güzel", "istanbul", true},
		{"tr", "Evlerde elektrik yok", "evler", true},
		{"tr", "Üniversitelerde sınav var", "üniversiteler", true},
		// English.
		{"en", "Running the numbers", "run", true},
		{"en", "The universities", "university", true},
		{"en", "Obama's visit", "obama", true},
		// Chinese: bigrams, single characters, no match across punctuation.
		{"zh", "东京大学的研究人员", "研究", true},
		{"zh", "东京大学的研究人员", "大学", true},
		{"zh", "东京大学的研究人员", "京大学", true},
		{"zh", "东京大学的研究人员", "学", true},
		{"zh", "东京大学的研究人员", "员", true},
		{"zh", "东京大学的研究人员", "大研", false},
		{"zh", "东京，大学", "京大", false},
		{"zh", "东京，大学", "京", true},
		// Japanese: kanji, kana, the long-vowel mark.
		{"ja", "東京タワーに行った", "タワー", true},
		{"ja", "東京タワーに行った", "東京", true},
		{"ja", "東京タワーに行った", "京タ", true},
		{"ja", "東京タワーに行った", "タワ", true},
		{"ja", "東京タワーに行った", "大阪", false},
		// Stopwords are matched as whole words, not dropped.
		{"it", "Il gatto e la volpe", "la", true},
		{"it", "Il gatto e la volpe", "gli", false},
		{"en", "The cat", "the", true},
		// Languages without a stemmer: folded whole words.
		{"pl", "Nowe wiadomości z Polski", "wiadomosci", true},
		{"pl", "Nowe wiadomości z Polski", "wiadomosc", false},
		{"und", "Città", "CITTA", true},
	}
	a := New()
	for _, c := range cases {
		if got := finds(a, c.lang, c.text, c.q); got != c.want {
			var terms []string
			a.TextTerms(c.lang, c.text, func(s string) { terms = append(terms, s) })
			t.Errorf("[%s] %q finds %q: %v, want %v (text terms %q, query %+v)", c.lang, c.q, c.text, got, c.want, terms, a.WordQuery(c.lang, Tokenize(nil, c.q)))
		}
	}
}

func TestTokenize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"L'Università dell'Anno", "universita anno"},
		{"qu'il l’homme d'Italia", "il homme italia"},
		{"aujourd'hui don't", "aujourdhui dont"},
		{"e-mail 3.14 COVID-19", "e mail 3 14 covid 19"},
		{"Straße ŒUVRE Ærø", "strasse oeuvre aero"},
		{"東京 タワー", "東 +京 タ +ワ +ー"},
		{"東京、大阪", "東 +京 大 +阪"},
		{"iPhone東京", "iphone 東 +京"},
		{"ข่าววันนี้", "ข่ +า +ว +วั +น +นี้"},
		{"", ""},
	}
	for _, c := range cases {
		var parts []string
		for _, tk := range Tokenize(nil, c.in) {
			s := tk.Text
			if tk.Joined {
				s = "+" + s
			}
			parts = append(parts, s)
		}
		if got := strings.Join(parts, " "); got != c.want {
			t.Errorf("Tokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLongWordsAreCut(t *testing.T) {
	long := strings.Repeat("à", 100)
	toks := Tokenize(nil, long)
	if len(toks) != 1 || len(toks[0].Text) > MaxTermLen {
		t.Fatalf("Tokenize of a 100-letter word: %+v", toks)
	}
	a := New()
	if !finds(a, "it", "una "+long+" parola", strings.Repeat("a", 80)) {
		t.Error("a long word does not find itself")
	}
}

func TestStopwordsAreFolded(t *testing.T) {
	for _, c := range []struct{ lang, w string }{{"it", "e"}, {"it", "piu"}, {"de", "fur"}, {"fr", "ou"}, {"es", "mas"}, {"ru", "ее"}} {
		if !Stopword(c.lang, c.w) {
			t.Errorf("%q is not a stopword of %s", c.w, c.lang)
		}
	}
	// Content words that fold onto a stopword of another word were left
	// out of the lists.
	for _, c := range []struct{ lang, w string }{{"tr", "su"}, {"it", "stato"}, {"fr", "ete"}, {"en", "us"}, {"en", "may"}} {
		if Stopword(c.lang, c.w) {
			t.Errorf("%q must not be a stopword of %s", c.w, c.lang)
		}
	}
}

func TestItemTerms(t *testing.T) {
	it := &babelfeed.Item{
		Lang:    "it",
		Title:   "Xiaomi abbassa il prezzo del nuovo modello",
		Summary: "Il prezzo di Xiaomi scende nei negozi. Prezzi bassi per tutti.",
		Author:  "Giulia Rossi",
	}
	got := map[string]TermInfo{}
	New().ItemTerms(it, func(term string, info TermInfo) { got[term] = info })
	if ti := got["prezz"]; ti.Freq != 3 || ti.Where != InTitle {
		t.Errorf("prezzo: %+v, want 3 occurrences, in the title", ti)
	}
	if ti := got["xiaom"]; ti.Freq != 2 || ti.Where != InTitle {
		t.Errorf("xiaomi: %+v", got["xiaom"])
	}
	if ti := got["ross"]; ti.Where != InAuthor {
		t.Errorf("rossi: %+v, want in the author", ti)
	}
	if _, ok := got["il"]; ok {
		t.Error("stopword il was indexed as a stem")
	}
	if ti := got[StopPrefix+"il"]; ti.Freq != 2 || ti.Where != InTitle {
		t.Errorf("stopword il: %+v, want it kept whole, twice", ti)
	}
	var terms []string
	for term := range got {
		terms = append(terms, term)
	}
	slices.Sort(terms)
	if strings.Join(terms, " ") != "\x01del \x01di \x01il \x01nei \x01per \x01tutti abbass bass giul modell negoz nuov prezz ross scend xiaom" {
		t.Errorf("terms: %q", terms)
	}
}

func TestPhraseQuery(t *testing.T) {
	a := New()
	q := a.PhraseQuery("it", Tokenize(nil, "il nuovo modello"))
	if q.Exact || strings.Join(q.Terms, " ") != "\x01il nuov modell" {
		t.Errorf("PhraseQuery: %+v", q)
	}
	q = a.PhraseQuery("ja", Tokenize(nil, "東京 タワー"))
	if strings.Join(q.Terms, " ") != "東京 タワ ワー" {
		t.Errorf("PhraseQuery of units: %+v (a space is no join)", q)
	}
	d := a.NewDoc("it", "Xiaomi presenta il nuovo modello")
	for _, c := range []struct {
		q    string
		want bool
	}{{"il nuovo modello", true}, {"nuovo modello", true}, {"modello nuovo", false}, {"nuovi modelli", false}} {
		if got := d.HasPhrase(Tokenize(nil, c.q)); got != c.want {
			t.Errorf("phrase %q: %v, want %v", c.q, got, c.want)
		}
	}
}

func TestPrefixMatch(t *testing.T) {
	for _, c := range []struct {
		term, u string
		want    bool
	}{{"東京", "東", true}, {"東", "東", true}, {"京東", "東", false}, {"วั", "ว", false}, {"วว", "ว", true}} {
		if got := PrefixMatch(c.term, c.u); got != c.want {
			t.Errorf("PrefixMatch(%q, %q) = %v", c.term, c.u, got)
		}
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{"L'Università dell'anno", "東京タワーに行った", "Straße", "ข่าววันนี้", "a\u0301b", "\xff\xfe", "İstanbul'da"} {
		f.Add(s, "it")
		f.Add(s, "tr")
	}
	a := New()
	f.Fuzz(func(t *testing.T, s, lang string) {
		toks := Tokenize(nil, s)
		var terms []string
		a.TextTerms(lang, s, func(term string) { terms = append(terms, term) })
		d := a.NewDoc(lang, s)
		for _, tk := range toks {
			if tk.Text == "" || len(tk.Text) > MaxTermLen {
				t.Fatalf("bad token %+v of %q", tk, s)
			}
			// Every word of a text finds the text, by itself and as a
			// one-word phrase.
			one := []Token{{Text: tk.Text, Spaceless: tk.Spaceless}}
			if !a.HasWord(d, one) {
				t.Fatalf("word %q does not find its text %q (terms %q)", tk.Text, s, terms)
			}
			// Analysing a token again gives the token.
			again := Tokenize(nil, tk.Text)
			if !tk.Spaceless && (len(again) != 1 || again[0].Text != tk.Text) {
				t.Fatalf("token %q of %q tokenizes to %+v", tk.Text, s, again)
			}
		}
		for _, term := range terms {
			if term == "" || strings.IndexByte(term, 0) >= 0 || len(term) > MaxTermLen {
				t.Fatalf("bad term %q of %q", term, s)
			}
		}
		// The whole text is a phrase of itself.
		if len(toks) > 0 && !d.HasPhrase(toks) {
			t.Fatalf("%q does not contain itself as a phrase", s)
		}
		// The streaming check agrees with the one on tokens, for pieces
		// of the text and for the text against a piece of itself.
		for i := 0; i+1 < len(toks) && i < 8; i++ {
			want := toks[i:min(len(toks), i+1+len(s)%3)]
			if ContainsText(s, want) != Contains(toks, want) {
				t.Fatalf("ContainsText(%q, %+v) disagrees with Contains", s, want)
			}
			rev := []Token{toks[len(toks)-1], toks[0]}
			if ContainsText(s, rev) != Contains(toks, rev) {
				t.Fatalf("ContainsText(%q, %+v) disagrees with Contains", s, rev)
			}
		}
	})
}
