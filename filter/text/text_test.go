package text

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"it paragraphs", `<p>La città di <b>Roma</b> è bellissima.</p><p>Ci torneremo l'anno prossimo.</p>`, 0,
			"La città di Roma è bellissima.\nCi torneremo l'anno prossimo."},
		{"it entities", `Perch&eacute; la citt&agrave; &egrave; &#232; &#xE8; cos&igrave;`, 0,
			"Perché la città è è è così"},
		{"fr double escaped", `L&amp;#39;&amp;eacute;t&amp;eacute; &amp;agrave; Paris`, 0, "L'été à Paris"},
		{"fr escaped tags", `&amp;lt;p&amp;gt;Une journ&amp;eacute;e &amp;lt;em&amp;gt;magnifique&amp;lt;/em&amp;gt;&amp;lt;/p&amp;gt;`, 0,
			"Une journée magnifique"},
		{"fr escaped html without real tags", `&lt;p&gt;Le ch&acirc;teau&lt;/p&gt;&lt;p&gt;La tour&lt;/p&gt;`, 0, "Le château\nLa tour"},
		{"fr escaped comment and div", `&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;Bonjour&lt;/p&gt;&lt;/div&gt;`, 0, "Bonjour"},
		{"literal html tag in text with markup", `<p>La balise &lt;title&gt; est dans &lt;head&gt;.</p>`, 0, "La balise est dans ."},
		{"literal non-html brackets kept", `<p>&lt;anna&gt; ciao a tutti, x &lt; y &amp;&amp; y &gt; z</p>`, 0, "<anna> ciao a tutti, x < y && y > z"},
		{"self-closing iframe", `<p>Prima</p><p><iframe src='v' /></p><p>Dopo</p>`, 0, "Prima\nDopo"},
		{"unclosed script swallows", `Testo<script>var a = "</p>"`, 0, "Testo"},
		{"de script style", `<style>p{color:red}</style><div>Die Straße ist <i>sehr</i> lang.</div><script>alert("x<y")</script><noscript>JS fehlt</noscript>Ende`, 0,
			"Die Straße ist sehr lang.\nEnde"},
		{"de list", `<ul><li>Äpfel</li><li>Birnen</li></ul>`, 0, "Äpfel\nBirnen"},
		{"es whitespace", "  El   niño\n\n\tcomió  <br/>  <br> mañana&nbsp;&nbsp;temprano  ", 0, "El niño comió\nmañana temprano"},
		{"es table", `<table><tr><td>Año</td><td>2024</td></tr><tr><td>Mes</td><td>enero</td></tr></table>`, 0, "Año 2024\nMes enero"},
		{"ru plain", "Привет,   мир &amp; друзья", 0, "Привет, мир & друзья"},
		{"ja", `<h1>東京</h1><p>東京タワーに&#x884C;きました。</p>`, 0, "東京\n東京タワーに行きました。"},
		{"inline joins", `<b>Ro</b>ma`, 0, "Roma"},
		{"plain lone ampersand", "AT&T & Co < 5", 0, "AT&T & Co < 5"},
		{"cap runes", "àèìòù àèìòù", 5, "àèìòù"},
		{"cap html", "<p>uno</p><p>due</p><p>tre</p>", 7, "uno\ndue"},
		{"nfc", "citta\u0300", 0, "città"},
		{"soft hyphen zero width", "Bundes\u00adkanzler\u200bamt", 0, "Bundeskanzleramt"},
		{"invalid utf8", "caf\xe9 ok", 0, "caf\uFFFD ok"},
		{"comment", "a<!-- nascosto -->b", 0, "ab"},
		{"empty", "", 0, ""},
		{"only tags", "<p><br></p>", 0, ""},
		{"xhtml namespace", `<div xmlns="http://www.w3.org/1999/xhtml"><p>Bonjour <a href="/x">le monde</a></p></div>`, 0, "Bonjour le monde"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HTMLToText(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("HTMLToText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8 in %q", got)
			}
			if tt.max > 0 && utf8.RuneCountInString(got) > tt.max {
				t.Errorf("%q longer than %d runes", got, tt.max)
			}
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Città", "citta"},
		{"PERCHÉ", "perche"},
		{"Œuvre Cœur", "oeuvre coeur"},
		{"Ça déjà", "ca deja"},
		{"Straße GRÜSSE", "strasse grusse"},
		{"Ærø København", "aero kobenhavn"},
		{"Łódź", "lodz"},
		{"Đurđevac", "durdevac"},
		{"Año Niño", "ano nino"},
		{"Ёлка и ЙОД", "елка и йод"},
		{"ΣΟΦΊΑ ς", "σοφια σ"},
		{"がぎ", "がぎ"},
		{"İstanbul", "istanbul"},
		{"plain ascii", "plain ascii"},
		{"MiXeD", "mixed"},
		{"e\u0301", "e"},
		{"Ꮀ", "ꮀ"},
		{"ꮀ", "ꮀ"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Fold(tt.want); got != tt.want {
			t.Errorf("Fold is not idempotent: Fold(%q) = %q", tt.want, got)
		}
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"it elisions", "L'università dell'anno: un'altra volta, all'Italia!", []string{"universita", "anno", "altra", "volta", "italia"}},
		{"it curly apostrophe", "Nell’ambito dell’Unione d’Italia", []string{"ambito", "unione", "italia"}},
		{"fr elisions", "Qu'il vienne aujourd'hui, lorsqu'on l’attend jusqu'à midi.", []string{"il", "vienne", "aujourdhui", "on", "attend", "a", "midi"}},
		{"de", "Die Größe der Bäume (12,5 m) überrascht.", []string{"die", "grosse", "der", "baume", "12", "5", "m", "uberrascht"}},
		{"es", "¿Dónde está el señor Núñez? ¡Aquí!", []string{"donde", "esta", "el", "senor", "nunez", "aqui"}},
		{"ru", "Ёжик в тумане, 1975 год.", []string{"ежик", "в", "тумане", "1975", "год"}},
		{"ja", "東京タワーへ行く", []string{"東", "京", "タワー", "へ", "行", "く"}},
		{"en contraction", "Don't stop", []string{"dont", "stop"}},
		{"punct only", "... !!! ---", nil},
		{"numbers", "3.14 e.g.", []string{"3", "14", "e", "g"}},
		{"nfd input", "citta\u0300 vecchia", []string{"citta", "vecchia"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Words(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWordsLongText(t *testing.T) {
	// Longer than one segmentation chunk: no word may be cut at a chunk
	// boundary, including a multi-byte rune there.
	var b strings.Builder
	for b.Len() < 3*chunkSize {
		b.WriteString("città ")
	}
	b.WriteString(strings.Repeat("è", chunkSize)) // one long word, no spaces
	words := Words(b.String())
	i := 0
	for ; i < len(words) && words[i] == "citta"; i++ {
	}
	if i < 3*chunkSize/len("città ") {
		t.Fatalf("only %d × citta before %q", i, words[i])
	}
	// The huge word may be cut, but only between runes.
	for _, w := range words[i:] {
		if strings.Trim(w, "e") != "" {
			t.Fatalf("word %q after the cittas is not all e", w)
		}
	}
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		name  string
		query []string
		texts []string
		want  bool
	}{
		{"it accent", []string{"citta"}, []string{"La Città eterna"}, true},
		{"it query accent", []string{"città"}, []string{"la citta eterna"}, true},
		{"it not prefix", []string{"roma"}, []string{"Un romanzo storico"}, false},
		{"it elision in text", []string{"università"}, []string{"Notizie dall'Università di Padova"}, true},
		{"it elision in query", []string{"dell'anno"}, []string{"L'anno scorso"}, true},
		{"it all words", []string{"roma", "milano"}, []string{"Treni da Roma a Milano"}, true},
		{"it one missing", []string{"roma", "napoli"}, []string{"Treni da Roma a Milano"}, false},
		{"words across texts", []string{"roma", "milano"}, []string{"Roma", "", "milano centrale"}, true},
		{"fr", []string{"ete", "paris"}, []string{"L'été à Paris", "Un résumé"}, true},
		{"fr elision", []string{"il"}, []string{"Qu'il pleuve"}, true},
		{"de sz", []string{"strasse"}, []string{"Die Hauptstraße ist gesperrt"}, false},
		{"de sz whole", []string{"hauptstrasse"}, []string{"Die HAUPTSTRASSE und die Hauptstraße"}, true},
		{"de umlaut", []string{"uber"}, []string{"Über den Wolken"}, true},
		{"es", []string{"nino", "año"}, []string{"El NIÑO del ano nuevo"}, true},
		{"ru", []string{"елка"}, []string{"Новогодняя Ёлка в Москве"}, true},
		{"ru not prefix", []string{"мир"}, []string{"Мировые новости"}, false},
		{"ja substring", []string{"東京"}, []string{"東京タワーに行きました"}, true},
		{"ja absent", []string{"大阪"}, []string{"東京タワーに行きました"}, false},
		{"ja katakana", []string{"タワー"}, []string{"東京タワー"}, true},
		{"mixed scripts", []string{"tokyo", "東京"}, []string{"Tokyo: 東京の天気"}, true},
		{"empty query", nil, []string{"qualcosa"}, true},
		{"punct query", []string{"!!"}, []string{"qualcosa"}, true},
		{"no texts", []string{"roma"}, nil, false},
		{"case", []string{"ROMA"}, []string{"roma"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMatcher(tt.query)
			if got := m.Match(tt.texts...); got != tt.want {
				t.Errorf("NewMatcher(%q).Match(%q) = %v, want %v", tt.query, tt.texts, got, tt.want)
			}
		})
	}
}

func TestMatcherManyTerms(t *testing.T) {
	var q []string
	var text strings.Builder
	for i := 0; i < 100; i++ {
		w := "parola" + strings.Repeat("x", i)
		q = append(q, w)
		text.WriteString(w + " ")
	}
	m := NewMatcher(q)
	if !m.Match(text.String()) {
		t.Fatal("100 terms all present: no match")
	}
	if m.Match(strings.Replace(text.String(), "parolaxxx ", "", 1)) {
		t.Fatal("one term missing: match")
	}
}

func TestMatcherConcurrent(t *testing.T) {
	m := NewMatcher([]string{"città", "roma"})
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := 0; i < 200; i++ {
				ok = ok && m.Match("Roma, città eterna") && !m.Match("Milano")
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Error("wrong answer under concurrency")
		}
	}
}

func TestMatcherAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops objects under the race detector")
	}
	m := NewMatcher([]string{"elezioni", "sindaco"})
	text := strings.Repeat("Le elezioni comunali del prossimo anno: la città sceglierà il nuovo sindaco dopo un lungo dibattito. ", 20)
	allocs := testing.AllocsPerRun(50, func() {
		m.Match(text)
	})
	if allocs > 0 {
		t.Errorf("Match on Latin text allocates %v times per call, want 0", allocs)
	}
}

var benchText = strings.Repeat("Il governo ha presentato oggi la nuova legge di bilancio: più fondi per la sanità e per l'università, "+
	"meno tasse sul lavoro. L'opposizione critica le coperture e chiede un confronto in Parlamento. ", 10)

func BenchmarkMatch(b *testing.B) {
	m := NewMatcher([]string{"università", "parlamento", "assente"})
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	for b.Loop() {
		m.Match(benchText)
	}
}

func BenchmarkWords(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	for b.Loop() {
		Words(benchText)
	}
}

func BenchmarkHTMLToText(b *testing.B) {
	h := strings.Repeat("<p>Il governo ha presentato <b>oggi</b> la nuova legge di bilancio: pi&ugrave; fondi per la sanit&agrave;.</p>\n", 40)
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	for b.Loop() {
		HTMLToText(h, 20000)
	}
}

func BenchmarkFold(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	for b.Loop() {
		Fold(benchText)
	}
}
