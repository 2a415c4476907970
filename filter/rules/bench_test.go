package rules

import (
	"strings"
	"testing"
	"time"

	"babelfeed"
)

// BenchmarkDecide evaluates ten rules of every kind on a news-sized item
// (a title and 1,500 characters of text) that none of them matches, so
// every rule runs: with the per-item time limit (a goroutine and a timer
// per item) and without it.
func BenchmarkDecide(b *testing.B) {
	queries := []struct {
		action babelfeed.RuleAction
		q      string
	}{
		{babelfeed.RuleBlock, "calcio"},
		{babelfeed.RuleBlock, `intitle:"serie a"`},
		{babelfeed.RuleBlock, "author:redazione"},
		{babelfeed.RuleBlock, `/\b(oroscopo|lotteria)\b/i`},
		{babelfeed.RuleBlock, `inurl:/\/sport\//`},
		{babelfeed.RuleBlock, "(apple OR samsung) -recensione"},
		{babelfeed.RuleBlock, "lang:en intitle:live"},
		{babelfeed.RuleBlock, `intitle:/^(LIVE|DIRETTA)\b/`},
		{babelfeed.RuleKeep, "lang:de,fr"},
		{babelfeed.RuleKeep, "bicicletta OR ciclabile"},
	}
	var rs []babelfeed.Rule
	for i, q := range queries {
		rs = append(rs, babelfeed.Rule{ID: uint64(i + 1), Action: q.action, Query: q.q})
	}
	text := strings.Repeat("Il consiglio comunale ha approvato ieri sera il nuovo piano per il centro storico della città. ", 16)
	it := &babelfeed.Item{Lang: "it", Title: "Il consiglio approva il piano del centro storico", Summary: text,
		URL: "https://notizie.example.it/cronaca/2026/11/piano-centro", Published: time.Now()}
	f := &babelfeed.Feed{ID: 1, URL: "https://notizie.example.it/rss"}
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"limit", DefaultTimeout}, {"inline", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			set, errs := NewSet(rs, 1, time.Now())
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			set.Timeout = tc.timeout
			fr := set.ForFeed(f)
			cpu0 := cpuTime()
			for b.Loop() {
				if d := fr.Decide(it); d.Keep || d.TimedOut {
					b.Fatalf("decision %+v", d)
				}
			}
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/item")
		})
	}
}
