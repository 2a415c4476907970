package lang

import (
	"strings"
	"sync"
	"testing"
	"unicode"

	"babelfeed"
)

// testLanguages keeps the unit tests small: the models of a few languages
// load in about a second and stay well under a gigabyte with -race.
var testLanguages = []string{"en", "it", "es", "fr", "de", "pt", "ru", "uk", "kk", "ja", "zh", "el"}

var (
	testOnce     sync.Once
	testDetector *Detector
	testErr      error
)

// detector returns the one Detector shared by the unit tests.
func detector(t *testing.T) *Detector {
	t.Helper()
	testOnce.Do(func() {
		cfg := DefaultConfig()
		cfg.Languages = testLanguages
		cfg.HighAccuracy = []string{"en", "it", "es", "pt"}
		testDetector, testErr = New(cfg)
	})
	if testErr != nil {
		t.Fatalf("New: %v", testErr)
	}
	return testDetector
}

func TestNothingToGoOn(t *testing.T) {
	d := detector(t)
	for _, s := range []string{"", "   ", "12345", "!!!", "2024-05-01 12:30", "€ 1.234,56 (+3,4%)", "ab",
		"https://www.example.com/news/2024/05/article.html", "redazione@example.it", "🙂🙂🙂"} {
		got := d.Detect(s, "", "", nil)
		if got.Lang != babelfeed.Undetermined || got.Method != babelfeed.LangUndetermined || got.Guess != "" {
			t.Errorf("Detect(%q) = %+v, want und/undetermined with no guess", s, got)
		}
		// A prior from earlier items is no reason to name a language for
		// text that has none.
		got = d.Detect(s, "", "", map[string]int{"it": 30})
		if got.Lang != babelfeed.Undetermined || got.Method != babelfeed.LangUndetermined {
			t.Errorf("Detect(%q) in an Italian feed = %+v, want und/undetermined", s, got)
		}
	}
}

func TestDeclaredOnly(t *testing.T) {
	d := detector(t)
	for _, decl := range []string{"it", "IT-it", "it_IT", " it "} {
		got := d.Detect("12345", "", decl, map[string]int{"en": 3})
		if got.Lang != "it" || got.Method != babelfeed.LangDeclared {
			t.Errorf("Detect(12345, declared %q) = %+v, want it/declared", decl, got)
		}
	}
	// A declaration of a language that is not enabled is ignored.
	if got := d.Detect("", "", "nl", nil); got.Lang != babelfeed.Undetermined {
		t.Errorf("Detect(\"\", declared nl) = %+v, want und", got)
	}
	if got := d.Detect("", "", "xx-YY", nil); got.Lang != babelfeed.Undetermined {
		t.Errorf("Detect(\"\", declared xx-YY) = %+v, want und", got)
	}
}

// Sentences written for these tests (not taken from any corpus).
var sentences = map[string][]string{
	"it": {
		"Il consiglio comunale ha approvato ieri sera il nuovo piano per le piste ciclabili del centro storico.",
		"Domani pioverà su gran parte del Nord, mentre al Sud le temperature resteranno sopra la media del periodo.",
	},
	"es": {
		"El ayuntamiento aprobó anoche el nuevo plan de carriles para bicicletas en el centro de la ciudad.",
		"Mañana lloverá en buena parte del norte, mientras que en el sur las temperaturas seguirán altas.",
	},
	"fr": {
		"Le conseil municipal a adopté hier soir le nouveau plan de pistes cyclables pour le centre-ville.",
		"Demain, il pleuvra sur une grande partie du nord, tandis que le sud restera au-dessus des normales.",
	},
	"de": {
		"Der Stadtrat hat gestern Abend den neuen Plan für Radwege in der Innenstadt beschlossen.",
		"Morgen regnet es in weiten Teilen des Nordens, im Süden bleibt es dagegen ungewöhnlich warm.",
	},
	"pt": {
		"A câmara municipal aprovou ontem à noite o novo plano de ciclovias para o centro da cidade.",
		"Amanhã vai chover em grande parte do norte, enquanto no sul as temperaturas continuam acima da média.",
	},
	"en": {
		"The city council approved the new plan for cycle lanes in the old town late last night.",
		"Tomorrow it will rain across most of the north, while the south stays warmer than usual for the season.",
	},
	"ru": {
		"Вчера вечером городской совет утвердил новый план велосипедных дорожек в центре города.",
		"Завтра на большей части севера пройдут дожди, а на юге сохранится тёплая погода.",
	},
	"uk": {
		"Учора ввечері міська рада затвердила новий план велосипедних доріжок у центрі міста.",
		"Гадаю, що це тобі відомо.", // щ and і only: lingua's character filter alone says Kazakh
	},
	"ja": {
		"昨夜、市議会は旧市街の自転車レーンに関する新しい計画を承認しました。",
		"明日は北部の広い範囲で雨が降る見込みです。",
	},
	"zh": {
		"市议会昨晚批准了老城区自行车道的新计划，预计明年春天开始施工。",
	},
	"el": {
		"Το δημοτικό συμβούλιο ενέκρινε χθες το βράδυ το νέο σχέδιο για ποδηλατόδρομους.",
	},
}

func TestSentences(t *testing.T) {
	d := detector(t)
	for want, list := range sentences {
		for _, s := range list {
			got := d.Detect("", s, "", nil)
			if got.Lang != want || got.Method != babelfeed.LangDetected {
				t.Errorf("Detect(%q) = %+v, want %s/detected", s, got, want)
			}
			// A feed that declares another language does not change a
			// confident detection.
			other := "en"
			if want == "en" {
				other = "it"
			}
			if got := d.Detect("", s, other, map[string]int{other: 50}); got.Lang != want {
				t.Errorf("Detect(%q) in a %s feed = %+v, want %s", s, other, got, want)
			}
		}
	}
}

func TestPriorSettlesShortText(t *testing.T) {
	d := detector(t)
	italianFeed := map[string]int{"it": 40, "en": 2}
	for _, title := range []string{"Ciao", "Roma", "Buongiorno"} {
		got := d.Detect(title, "", "", italianFeed)
		if got.Lang != "it" {
			t.Errorf("Detect(%q) in an Italian feed = %+v, want it", title, got)
		}
		if got.Method != babelfeed.LangPrior && got.Method != babelfeed.LangDetected {
			t.Errorf("Detect(%q) in an Italian feed: method %q", title, got.Method)
		}
	}
	if got := d.Detect("Ciao", "", "it", nil); got.Lang != "it" || got.Method != babelfeed.LangPrior {
		t.Errorf("Detect(Ciao) in a feed declared it = %+v, want it/prior", got)
	}
	// A short all-kanji headline is Chinese on its own, Japanese in a
	// Japanese feed.
	if got := d.Detect("東京五輪延期", "", "", map[string]int{"ja": 12}); got.Lang != "ja" || got.Method != babelfeed.LangPrior {
		t.Errorf("all-kanji headline in a Japanese feed = %+v, want ja/prior", got)
	}
	if got := d.Detect("東京五輪延期", "", "", nil); got.Lang == "ja" {
		t.Errorf("all-kanji headline alone = %+v, want zh or und", got)
	}
}

func TestConfidentEnglishInItalianFeed(t *testing.T) {
	d := detector(t)
	got := d.Detect("Apple unveils its new laptops",
		"The company said the machines will ship next month and cost less than the models they replace.",
		"it", map[string]int{"it": 120})
	if got.Lang != "en" || got.Method != babelfeed.LangDetected {
		t.Errorf("English item in an Italian feed = %+v, want en/detected", got)
	}
}

func TestURLsAndAddressesDoNotCount(t *testing.T) {
	d := detector(t)
	it := "Il consiglio comunale ha approvato il piano per le piste ciclabili"
	noise := " https://www.example.com/the-news/today/read-more-about-this-story?utm_source=feed&utm_medium=rss" +
		" write to the-editor-in-chief@newsroom.example.com www.another-example.org/about/the-team"
	got := d.Detect(it, noise, "", nil)
	if got.Lang != "it" || got.Method != babelfeed.LangDetected {
		t.Errorf("Italian title with English-looking URLs = %+v, want it/detected", got)
	}
	c := clean("Leggi su https://example.com/a?b=c oppure www.example.org/x e scrivi a a.b@example.it  \n ora")
	if c != "Leggi su oppure e scrivi a ora" {
		t.Errorf("clean = %q", c)
	}
	// NFC: "e" + combining grave accent becomes "è".
	if c := clean("caff\u0065\u0300"); c != "caff\u00e8" {
		t.Errorf("clean did not compose: %q", c)
	}
}

func TestNew(t *testing.T) {
	for _, cfg := range []Config{
		{Languages: []string{"it", "xx"}},
		{Languages: []string{"it"}},
		{Languages: []string{"it", "en"}, MinConfidence: 1.5},
		{Languages: []string{"it", "en"}, RareWeight: -1},
		{Languages: []string{"it", "en"}, MaxChars: -1},
		{Languages: []string{"it", "en"}, Candidates: -1},
		{Languages: []string{"it", "en"}, HighAccuracy: []string{"zz"}},
		{Languages: []string{"it", "en"}, Favoured: []string{"zz"}, RareWeight: 0.5},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	d := detector(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lang, list := range sentences {
				for _, s := range list {
					if got := d.Detect("", s, "", nil); got.Lang != lang {
						t.Errorf("concurrent Detect(%q) = %s, want %s", s, got.Lang, lang)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestTruncateAndPieces(t *testing.T) {
	if got := truncate("uno due tre quattro", 9); got != "uno due" {
		t.Errorf("truncate = %q, want %q", got, "uno due")
	}
	if got := truncate("àèìòù", 3); got != "àèì" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("breve", 0); got != "breve" {
		t.Errorf("truncate without cap = %q", got)
	}
	text := "Banana bandana, BANANA! La bandiera è là: ananas e banane." + " " + strings.Repeat("parola ", 3)
	trigrams := func(piece string) []string {
		var out []string
		for _, w := range strings.Fields(piece) {
			r := []rune(w)
			for i := 0; i+3 <= len(r); i++ {
				out = append(out, string(r[i:i+3]))
			}
		}
		return out
	}
	want := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		for _, tri := range trigrams(w) {
			want[tri] = true
		}
	}
	got := map[string]bool{}
	pieces := trigramPieces(text, 4, 8)
	if len(pieces) < 3 {
		t.Fatalf("trigramPieces gave %d pieces: %q", len(pieces), pieces)
	}
	for _, p := range pieces {
		for _, tri := range trigrams(p) {
			if got[tri] {
				t.Errorf("trigram %q in two pieces: %q", tri, pieces)
			}
			got[tri] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("pieces hold %d distinct trigrams, the text %d: %q", len(got), len(want), pieces)
	}
	for tri := range want {
		if !got[tri] {
			t.Errorf("trigram %q lost", tri)
		}
	}
	// Fragments are dealt round-robin: the first piece samples the whole
	// text, not its opening.
	var words []string
	for i := 0; i < 40; i++ {
		words = append(words, "x"+string(rune('a'+i%20))+string(rune('a'+i/20))) // one trigram each
	}
	pieces = trigramPieces(strings.Join(words, " "), 10, 20)
	if first := strings.Fields(pieces[0]); len(first) != 10 || first[0] != words[0] || first[1] != words[4] || first[9] != words[36] {
		t.Errorf("first piece %q does not sample the text", pieces[0])
	}
}
