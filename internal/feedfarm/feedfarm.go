// Package feedfarm serves many small, healthy RSS feeds from several local
// hosts and counts what pollers do to them: requests per feed and requests
// at once per host. Tests and benchmarks of polling at scale (many feeds,
// several poller processes) run against it.
//
// Each host is its own listener on 127.0.0.1 (a host, for politeness, is
// host and port). Every feed answers 200 with an ETag and then 304 to a
// conditional request, so a second poll of a feed is visible in the counts
// whatever the poller does with it.
package feedfarm

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Options shape a farm.
type Options struct {
	Feeds        int // number of feeds; at least 1
	Hosts        int // feeds are dealt round-robin over this many hosts; at least 1
	ItemsPerFeed int // items in each feed; 0 means 3
	// Delay is how long each response takes, so that requests overlap as
	// they do against real servers.
	Delay time.Duration
}

// Farm is a running set of hosts serving feeds.
type Farm struct {
	opts    Options
	servers []*httptest.Server

	requests atomic.Int64
	// perFeed counts requests of each feed; first is when each feed was
	// first asked for (UnixNano, 0 = never).
	perFeed []atomic.Int64
	first   []atomic.Int64
	hosts   []hostCount
	start   time.Time
}

type hostCount struct {
	now, max atomic.Int64
}

// Start starts the hosts. Close stops them.
func Start(opts Options) *Farm {
	if opts.Feeds < 1 {
		opts.Feeds = 1
	}
	if opts.Hosts < 1 {
		opts.Hosts = 1
	}
	if opts.ItemsPerFeed <= 0 {
		opts.ItemsPerFeed = 3
	}
	f := &Farm{
		opts:    opts,
		perFeed: make([]atomic.Int64, opts.Feeds),
		first:   make([]atomic.Int64, opts.Feeds),
		hosts:   make([]hostCount, opts.Hosts),
		start:   time.Now(),
	}
	for h := range opts.Hosts {
		f.servers = append(f.servers, httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.serve(h, w, r)
		})))
	}
	return f
}

// Close stops every host.
func (f *Farm) Close() {
	for _, s := range f.servers {
		s.Close()
	}
}

// URL returns the address of feed i (0 ≤ i < Feeds).
func (f *Farm) URL(i int) string {
	return f.servers[i%len(f.servers)].URL + "/feed/" + strconv.Itoa(i)
}

// OPML returns a subscription list of every feed.
func (f *Farm) OPML() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<opml version="2.0"><head><title>feed farm</title></head><body>` + "\n")
	for i := range f.opts.Feeds {
		fmt.Fprintf(&b, `<outline type="rss" text="farm %d" xmlUrl="%s"/>`+"\n", i, f.URL(i))
	}
	b.WriteString("</body></opml>\n")
	return b.Bytes()
}

func (f *Farm) serve(host int, w http.ResponseWriter, r *http.Request) {
	hc := &f.hosts[host]
	n := hc.now.Add(1)
	defer hc.now.Add(-1)
	for {
		m := hc.max.Load()
		if n <= m || hc.max.CompareAndSwap(m, n) {
			break
		}
	}
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/feed/"))
	if err != nil || id < 0 || id >= f.opts.Feeds || id%len(f.servers) != host {
		http.NotFound(w, r)
		return
	}
	f.requests.Add(1)
	f.perFeed[id].Add(1)
	f.first[id].CompareAndSwap(0, time.Now().UnixNano())
	if f.opts.Delay > 0 {
		select {
		case <-time.After(f.opts.Delay):
		case <-r.Context().Done():
			return
		}
	}
	etag := `"farm-` + strconv.Itoa(id) + `"`
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	_, _ = w.Write(f.document(id))
}

// document is feed id's RSS: items in one of several languages (sentences
// written for this farm), with titles, links and GUIDs unique across the
// farm, so that no two are the same story.
func (f *Farm) document(id int) []byte {
	l := languages[id%len(languages)]
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>farm %d</title><link>http://farm.example/%d</link><language>%s</language>`, id, id, l.code)
	for i := range f.opts.ItemsPerFeed {
		s := l.sentences[(id+i)%len(l.sentences)]
		fmt.Fprintf(&b, `<item><title>%s (%d.%d)</title><link>http://farm.example/%d/%d</link><guid>urn:feedfarm:%d:%d</guid><pubDate>%s</pubDate><description>%s %s</description></item>`,
			s.title, id, i+1, id, i, id, i, time.Date(2026, 11, 20, 8, i%60, id%60, 0, time.UTC).Format(time.RFC1123Z), s.body, l.sentences[(id+i+1)%len(l.sentences)].body)
	}
	b.WriteString(`</channel></rss>`)
	return b.Bytes()
}

// Stats is what pollers did to the farm so far.
type Stats struct {
	Requests int64
	// Polled counts feeds asked for at least once, Twice those asked for
	// more than once.
	Polled, Twice int
	// MaxPerFeed is the most requests any one feed got.
	MaxPerFeed int64
	// MaxAtOnce is the most requests any one host had in progress at once.
	MaxAtOnce int64
	// FirstRequest is when the first feed was asked for; AllPolled when
	// the last feed was first asked for (zero until every feed has been).
	FirstRequest, AllPolled time.Time
}

// Stats reports the counts.
func (f *Farm) Stats() Stats {
	st := Stats{Requests: f.requests.Load()}
	var first, last int64
	for i := range f.perFeed {
		if at := f.first[i].Load(); at != 0 && (first == 0 || at < first) {
			first = at
		}
		n := f.perFeed[i].Load()
		if n > 0 {
			st.Polled++
		}
		if n > 1 {
			st.Twice++
		}
		st.MaxPerFeed = max(st.MaxPerFeed, n)
		last = max(last, f.first[i].Load())
	}
	for i := range f.hosts {
		st.MaxAtOnce = max(st.MaxAtOnce, f.hosts[i].max.Load())
	}
	if first != 0 {
		st.FirstRequest = time.Unix(0, first)
	}
	if st.Polled == len(f.perFeed) {
		st.AllPolled = time.Unix(0, last)
	}
	return st
}

// TwiceFeeds lists the feeds asked for more than once.
func (f *Farm) TwiceFeeds() []int {
	var out []int
	for i := range f.perFeed {
		if f.perFeed[i].Load() > 1 {
			out = append(out, i)
		}
	}
	return out
}

// Items is how many distinct items the farm serves in all.
func (f *Farm) Items() int { return f.opts.Feeds * f.opts.ItemsPerFeed }

type sentence struct{ title, body string }

type language struct {
	code      string
	sentences []sentence
}

// languages holds sentences written for this farm, so that items carry real
// language for the tagger.
var languages = []language{
	{"en", []sentence{
		{"The harbour council approves the budget for new piers", "After a long evening of debate, the members agreed to repair the old wooden piers before the winter storms arrive."},
		{"Farmers expect a late harvest after the rainy summer", "Most orchards in the valley will pick their apples two weeks later than usual, according to the growers' association."},
		{"The city library opens its reading room on Sundays", "Students asked for quiet places to study during the exam season, and the library found the money to pay extra staff."},
	}},
	{"it", []sentence{
		{"Il consiglio comunale approva il nuovo piano per il porto", "Dopo una lunga discussione, i consiglieri hanno deciso di riparare i vecchi moli prima che arrivino le mareggiate invernali."},
		{"I contadini aspettano una vendemmia tardiva dopo l'estate piovosa", "Nella valle molte cantine raccoglieranno l'uva con due settimane di ritardo, secondo l'associazione dei produttori."},
		{"La biblioteca civica apre la sala di lettura anche la domenica", "Gli studenti chiedevano un posto tranquillo per studiare durante la sessione d'esami e il comune ha trovato i fondi."},
	}},
	{"es", []sentence{
		{"El ayuntamiento aprueba el presupuesto para el nuevo muelle", "Tras un largo debate, los concejales decidieron reparar los viejos embarcaderos antes de que lleguen los temporales del invierno."},
		{"Los agricultores esperan una cosecha tardía tras un verano lluvioso", "La mayoría de los huertos del valle recogerán las manzanas dos semanas más tarde de lo habitual, según la cooperativa."},
		{"La biblioteca municipal abrirá su sala de lectura los domingos", "Los estudiantes pedían un lugar tranquilo para preparar los exámenes y el consistorio ha encontrado el dinero necesario."},
	}},
	{"de", []sentence{
		{"Der Stadtrat genehmigt das Geld für die neuen Anlegestellen", "Nach einer langen Debatte beschlossen die Mitglieder, die alten Holzstege noch vor den Winterstürmen zu reparieren."},
		{"Die Bauern rechnen nach dem verregneten Sommer mit einer späten Ernte", "Die meisten Obstgärten im Tal werden ihre Äpfel zwei Wochen später pflücken als sonst, sagt der Verband der Erzeuger."},
		{"Die Stadtbibliothek öffnet ihren Lesesaal auch am Sonntag", "Studierende hatten um ruhige Plätze zum Lernen in der Prüfungszeit gebeten, und die Stadt hat das Geld dafür gefunden."},
	}},
	{"fr", []sentence{
		{"Le conseil municipal vote le budget des nouveaux quais du port", "Après une longue soirée de débats, les élus ont décidé de réparer les vieux pontons avant l'arrivée des tempêtes d'hiver."},
		{"Les agriculteurs attendent une récolte tardive après un été pluvieux", "La plupart des vergers de la vallée cueilleront leurs pommes avec deux semaines de retard, selon la coopérative."},
		{"La bibliothèque municipale ouvre sa salle de lecture le dimanche", "Les étudiants réclamaient un endroit calme pour réviser pendant les examens, et la mairie a trouvé les fonds nécessaires."},
	}},
	{"pt", []sentence{
		{"A câmara municipal aprova o orçamento para o novo cais do porto", "Depois de um longo debate, os vereadores decidiram reparar os velhos pontões antes da chegada das tempestades de inverno."},
		{"Os agricultores esperam uma colheita tardia depois de um verão chuvoso", "A maioria dos pomares do vale vai colher as maçãs com duas semanas de atraso, segundo a cooperativa dos produtores."},
		{"A biblioteca municipal abre a sala de leitura aos domingos", "Os estudantes pediam um lugar sossegado para estudar durante os exames, e a autarquia encontrou o dinheiro necessário."},
	}},
}
