package postgres

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"babelfeed"
	"babelfeed/filter/search"
)

// BenchmarkSearchPage compares a page of 50 on 20,000 items (lingua's
// sentences in ten languages, plus a common word in 30% of the items, a
// phrase in 5% and a rare word in a handful) in PostgreSQL and in bbolt:
//
//	source /work/notes/pgenv.sh   # or any BABELFEED_TEST_POSTGRES
//	go test -run '^$' -bench SearchPage -benchtime 30x ./store/postgres
//
// The PostgreSQL store is vacuumed and analysed first, as autovacuum does
// to a settled store (BABELFEED_BENCH_FRESH=1: measured right after the
// inserts).
func BenchmarkSearchPage(b *testing.B) {
	corpus := corpusSentences(b, []string{"it", "de", "en", "fr", "es", "pt", "ru", "tr", "ja", "zh"}, 1000)
	if corpus == nil {
		b.Skip("corpora not found above the working directory")
	}
	p := newPair(b, 5, corpus)
	p.decorate = func(r *rand.Rand, it *babelfeed.Item) {
		if r.IntN(10) < 3 {
			it.Summary += " Europa"
		}
		if r.IntN(20) == 0 {
			it.Summary += " Europa unita"
		}
		if r.IntN(2000) == 0 {
			it.Title += " zanzibarite"
		}
	}
	p.fill(20000)
	ctx := context.Background()
	if os.Getenv("BABELFEED_BENCH_FRESH") == "" {
		// What autovacuum does to a store that has settled: statistics for
		// the planner, the GIN pending list merged, pages all-visible. Set
		// BABELFEED_BENCH_FRESH=1 to measure right after the inserts.
		if _, err := p.pg.pool.Exec(ctx, "VACUUM ANALYZE items"); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct{ name, q string }{
		{"lang_it", "lang:it"},
		{"rare", "zanzibarite"},
		{"common", "europa"},
		{"phrase", `"europa unita"`},
		{"common_lang_it", "europa lang:it"},
	} {
		n := parseAt(b, c.q)
		for _, sort := range []search.Sort{search.Newest, search.Relevance} {
			req := search.Request{Query: n, Sort: sort, Limit: 50}
			// Equal first, then timed.
			p.compare(c.q, req, nil)
			b.Run(c.name+"/"+sort.String()+"/bbolt", func(b *testing.B) {
				for b.Loop() {
					if _, err := search.Search(ctx, p.bb, req); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(c.name+"/"+sort.String()+"/postgres", func(b *testing.B) {
				for b.Loop() {
					if _, err := p.pg.Search(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
