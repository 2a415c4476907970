package faultfarm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
)

// sentences are the healthy feeds' text, whole sentences a language
// detector can tell apart.
var sentences = map[string][]string{
	"it": {
		"Il comune ha aperto una nuova biblioteca nel quartiere, con sale di lettura per i ragazzi e un piccolo giardino.",
		"Domani mattina i treni regionali partiranno in ritardo a causa dei lavori sulla linea tra le due città.",
		"La squadra di pallavolo ha vinto la finale dopo una partita lunghissima e combattuta fino all'ultimo punto.",
		"Secondo gli esperti, la stagione delle piogge quest'anno arriverà prima del solito in tutta la regione.",
		"Il museo civico resterà aperto anche la sera per tutto il mese, con visite guidate gratuite il giovedì.",
	},
	"en": {
		"The city council opened a new library in the neighbourhood, with reading rooms for children and a small garden.",
		"Regional trains will leave late tomorrow morning because of the works on the line between the two towns.",
		"The volleyball team won the final after a very long match that was fought until the very last point.",
		"According to the experts, the rainy season will arrive earlier than usual across the whole region this year.",
		"The city museum will also stay open in the evening all month, with free guided tours on Thursdays.",
	},
	"es": {
		"El ayuntamiento abrió una nueva biblioteca en el barrio, con salas de lectura para los niños y un pequeño jardín.",
		"Mañana por la mañana los trenes regionales saldrán con retraso por las obras en la línea entre las dos ciudades.",
		"El equipo de voleibol ganó la final después de un partido larguísimo y disputado hasta el último punto.",
		"Según los expertos, la temporada de lluvias llegará este año antes de lo habitual en toda la región.",
		"El museo municipal también abrirá por la tarde durante todo el mes, con visitas guiadas gratuitas los jueves.",
	},
	"de": {
		"Die Stadt hat im Viertel eine neue Bibliothek eröffnet, mit Leseräumen für Kinder und einem kleinen Garten.",
		"Morgen früh fahren die Regionalzüge wegen der Bauarbeiten auf der Strecke zwischen den beiden Städten später ab.",
		"Die Volleyballmannschaft hat das Finale nach einem sehr langen Spiel gewonnen, das bis zum letzten Punkt umkämpft war.",
		"Nach Ansicht der Fachleute beginnt die Regenzeit in diesem Jahr in der ganzen Region früher als gewöhnlich.",
		"Das städtische Museum bleibt den ganzen Monat auch abends geöffnet, donnerstags mit kostenlosen Führungen.",
	},
	"fr": {
		"La mairie a ouvert une nouvelle bibliothèque dans le quartier, avec des salles de lecture pour les enfants et un petit jardin.",
		"Demain matin, les trains régionaux partiront en retard à cause des travaux sur la ligne entre les deux villes.",
		"L'équipe de volley a gagné la finale après un match très long, disputé jusqu'au dernier point.",
		"Selon les spécialistes, la saison des pluies arrivera cette année plus tôt que d'habitude dans toute la région.",
		"Le musée municipal restera aussi ouvert le soir pendant tout le mois, avec des visites guidées gratuites le jeudi.",
	},
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// healthyFeed is RSS feed n in lang: 5 items, each with its own GUID.
func healthyFeed(lang string, n int, base string) []byte {
	ss := sentences[lang]
	if ss == nil {
		ss = sentences["en"]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<rss version="2.0"><channel><title>%s %d</title><link>%s/</link><language>%s</language>`+"\n", lang, n, base, lang)
	for i := range 5 {
		s := ss[(i+n)%len(ss)]
		fmt.Fprintf(&b, `<item><title>%s</title><link>%s/ok/%s/%d/%d</link><guid>%s/ok/%s/%d/%d</guid><pubDate>Mon, %02d Dec 2025 09:%02d:00 GMT</pubDate><description>%s %s</description></item>`+"\n",
			xmlEscape(s[:strings.IndexAny(s, ",.")]), base, lang, n, i, base, lang, n, i, 1+i, n%60, xmlEscape(s), xmlEscape(ss[(i+n+1)%len(ss)]))
	}
	b.WriteString("</channel></rss>\n")
	return b.Bytes()
}

func (f *Farm) healthy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	n := 0
	fmt.Sscan(r.PathValue("n"), &n)
	w.Write(healthyFeed(r.PathValue("lang"), n, f.base))
}

const rssHead = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<rss version="2.0" xmlns:x="urn:faultfarm"><channel><title>%s</title><link>https://farm.example/</link>` + "\n"
const rssTail = "</channel></rss>\n"

// latin1 encodes s, which must be Latin-1 text, as ISO-8859-1 bytes.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		out = append(out, byte(r))
	}
	return out
}

const italianLatin1 = `<rss version="2.0"><channel><title>Città</title><item><title>Perché la città è più bella</title><guid>l1</guid><description>Lunedì è caldo; però giovedì sarà più fresco in città.</description></item></channel></rss>`

// doc is a built document fault.
type doc struct {
	body  []byte
	ctype string
}

// document returns the body and Content-Type of a document fault, built on
// first use and kept: the largest are a few megabytes, and building them
// again for every request would make a slow (race-instrumented) test
// server the bottleneck instead of the client under test.
func (f *Farm) document(name string) ([]byte, string, bool) {
	f.docMu.Lock()
	defer f.docMu.Unlock()
	if d, ok := f.docs[name]; ok {
		return d.body, d.ctype, true
	}
	body, ctype, ok := f.build(name)
	if ok {
		f.docs[name] = doc{body, ctype}
	}
	return body, ctype, ok
}

// Warm builds every document fault now, so that neither the first request
// nor a memory measure pays for it.
func (f *Farm) Warm() {
	for _, ft := range faults {
		f.document(ft.Name)
	}
}

// build makes the body and Content-Type of a document fault.
func (f *Farm) build(name string) ([]byte, string, bool) {
	o := f.opts
	var b bytes.Buffer
	const rssType = "application/rss+xml"
	switch name {
	case "truncated-xml":
		fmt.Fprintf(&b, rssHead, "troncato")
		var cut int
		for i := range 10 {
			if i == 7 {
				cut = b.Len() + 40
			}
			fmt.Fprintf(&b, "<item><title>Notizia numero %d</title><guid>t%d</guid><description>%s</description></item>\n", i, i, sentences["it"][i%5])
		}
		b.WriteString(rssTail)
		return b.Bytes()[:cut], rssType, true
	case "html-page":
		return []byte(`<!DOCTYPE html><html><head><title>Blog</title><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body><p>Benvenuti<br><img src="x.png"></body></html>`), "text/html; charset=utf-8", true
	case "empty-body":
		return []byte{}, rssType, true
	case "binary-body":
		r := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		return buf, "application/octet-stream", true
	case "wrong-charset":
		return latin1(italianLatin1), rssType + "; charset=utf-8", true
	case "wrong-declared-charset":
		return []byte(`<?xml version="1.0" encoding="windows-1251"?>` + italianLatin1), rssType, true
	case "missing-charset":
		return latin1(italianLatin1), rssType, true
	case "invalid-utf8":
		fmt.Fprintf(&b, rssHead, "rotto")
		b.WriteString("<item><title>Caff\xe8 e citt\xc3 \xff\xfe bene</title><guid>u1</guid><description>Perché \xc0\x80 no</description></item>")
		b.WriteString("<item><title>Tutto è a posto</title><guid>u2</guid></item>")
		b.WriteString(rssTail)
		return b.Bytes(), rssType, true
	case "billion-laughs":
		b.WriteString(`<?xml version="1.0"?>` + "\n" + `<!DOCTYPE rss [` + "\n" + `<!ENTITY lol "lol">` + "\n")
		for i := 1; i <= 9; i++ {
			prev := "lol"
			if i > 1 {
				prev = fmt.Sprintf("lol%d", i-1)
			}
			fmt.Fprintf(&b, `<!ENTITY lol%d "%s">`+"\n", i, strings.Repeat("&"+prev+";", 10))
		}
		b.WriteString(`]>` + "\n" + `<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><guid>b1</guid><description>&lol9;</description></item><item><title>Una voce normale</title><guid>b2</guid></item></channel></rss>`)
		return b.Bytes(), rssType, true
	case "external-entity":
		b.WriteString(`<?xml version="1.0"?>` + "\n" + `<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd"> %remote;]>` + "\n")
		b.WriteString(`<rss version="2.0"><channel><title>x</title><item><title>leak &xxe;</title><guid>x1</guid><description>&xxe;</description></item></channel></rss>`)
		return b.Bytes(), rssType, true
	case "many-items":
		fmt.Fprintf(&b, rssHead, "molte")
		for i := range o.Items {
			fmt.Fprintf(&b, "<item><title>Voce %d</title><guid>m%d</guid></item>\n", i, i)
		}
		b.WriteString(rssTail)
		return b.Bytes(), rssType, true
	case "huge-titles":
		fmt.Fprintf(&b, rssHead, strings.Repeat("titolo ", o.TitleSize/7))
		for i := range 3 {
			fmt.Fprintf(&b, "<item><guid>h%d</guid><title>%d %s</title><description>%s</description></item>\n", i, i,
				strings.Repeat("parola ", o.TitleSize/7), strings.Repeat("testo ", o.TitleSize/6))
		}
		b.WriteString(rssTail)
		return b.Bytes(), rssType, true
	case "huge-ids":
		fmt.Fprintf(&b, rssHead, "lunghi")
		for i := range 3 {
			fmt.Fprintf(&b, "<item><title>Lungo %d</title><guid>%d%s</guid><link>https://farm.example/%d/%s</link></item>\n", i, i, strings.Repeat("g", 100<<10), i, strings.Repeat("p", 100<<10))
		}
		b.WriteString(rssTail)
		return b.Bytes(), rssType, true
	case "many-categories":
		fmt.Fprintf(&b, rssHead, "categorie")
		b.WriteString("<item><title>Tante categorie</title><guid>c1</guid>")
		for i := range o.Items {
			fmt.Fprintf(&b, "<category>cat%d</category>", i)
		}
		b.WriteString("</item>\n" + rssTail)
		return b.Bytes(), rssType, true
	case "many-attributes":
		fmt.Fprintf(&b, rssHead, "attributi")
		b.WriteString("<x:meta")
		for i := range o.Items {
			fmt.Fprintf(&b, ` a%d="%d"`, i, i)
		}
		b.WriteString("/>\n<item><title>Attributi</title><guid>a1</guid></item>\n" + rssTail)
		return b.Bytes(), rssType, true
	case "deep-nesting":
		fmt.Fprintf(&b, rssHead, "profondo")
		b.WriteString("<item><title>Profondo</title><guid>d1</guid>")
		b.WriteString(strings.Repeat("<x:a>", o.Depth))
		b.WriteString(strings.Repeat("</x:a>", o.Depth))
		b.WriteString("</item>\n" + rssTail)
		return b.Bytes(), rssType, true
	case "markup-injection":
		fmt.Fprintf(&b, rssHead, "&lt;script&gt;alert('feed')&lt;/script&gt;Iniezioni")
		b.WriteString(`<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Titolo &lt;b onmouseover=alert(2)&gt;grassetto&lt;/b&gt;</title><guid>i1</guid>` +
			`<link>javascript:alert(3)</link><description><![CDATA[<img src=x onerror=alert(4)>Testo<iframe src="javascript:alert(5)"></iframe><script>alert(6)</script>]]></description>` +
			`<author>&lt;svg onload=alert(7)&gt;</author><category>&lt;script&gt;x&lt;/script&gt;</category></item>` + "\n")
		b.WriteString(`<item><title>Link con dati</title><guid>i2</guid><link> data:text/html;base64,PHNjcmlwdD5hbGVydCg4KTwvc2NyaXB0Pg==</link></item>` + "\n")
		b.WriteString(`<item><title>Link con spazi</title><guid>i3</guid><link>java&#x09;script:alert(9)</link></item>` + "\n")
		b.WriteString(rssTail)
		return b.Bytes(), rssType, true
	case "markup-injection-json":
		return []byte(`{"version":"https://jsonfeed.org/version/1.1","title":"\u001b]0;pwned\u0007\u001b[31mRosso","home_page_url":"javascript:alert(1)","items":[` +
			`{"id":"e1","title":"\u001b[2J\u001b[31mSchermo\u0007 pulito","url":"javascript:alert(2)","content_html":"<script>alert(3)</script><p onclick=\"alert(4)\">Testo</p>","authors":[{"name":"\u001b[1mAutore"}]},` +
			`{"id":"e2","title":"Voce \u202eal contrario","url":"vbscript:msgbox(5)","content_text":"<b>non markup</b>"}]}`), "application/feed+json", true
	case "date-chaos":
		fmt.Fprintf(&b, rssHead, "date")
		for i, d := range []string{"Mon, 01 Jan 99999 00:00:00 GMT", "Wed, 31 Dec 1969 23:59:59 GMT", "ieri sera", "2026-13-45T99:99:99Z", "0", "Tue, 01 Jan 2999 00:00:00 GMT"} {
			fmt.Fprintf(&b, "<item><title>Data %d</title><guid>dc%d</guid><pubDate>%s</pubDate></item>\n", i, i, d)
		}
		b.WriteString(rssTail)
		return b.Bytes(), rssType, true
	case "json-wrong-types":
		return []byte(`{"version":"https://jsonfeed.org/version/1.1","title":42,"home_page_url":["x"],"items":[{"id":7,"title":{"a":1},"content_text":false,"date_published":12345,"tags":"uno"}]}`), "application/feed+json", true
	case "json-many-items":
		b.WriteString(`{"version":"https://jsonfeed.org/version/1.1","title":"molte","items":[`)
		for i := range o.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"j%d","title":"Voce %d"}`, i, i)
		}
		b.WriteString("]}")
		return b.Bytes(), "application/feed+json", true
	case "json-deep":
		b.WriteString(`{"version":"https://jsonfeed.org/version/1.1","title":"profondo","items":[{"id":"1","title":"t","_x":`)
		b.WriteString(strings.Repeat("[", o.Depth))
		b.WriteString(strings.Repeat("]", o.Depth))
		b.WriteString("}]}")
		return b.Bytes(), "application/feed+json", true
	}
	return nil, "", false
}
