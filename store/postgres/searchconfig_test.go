package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"babelfeed"
	"babelfeed/filter/query"
	"babelfeed/internal/pgtest"
)

// pgConfigs maps languages to PostgreSQL's own text search configurations.
var pgConfigs = map[string]string{
	"it": "italian", "de": "german", "en": "english", "fr": "french", "es": "spanish",
	"pt": "portuguese", "ru": "russian", "tr": "turkish", "nl": "dutch", "sv": "swedish",
}

// TestTextSearchConfigsDiffer measures whether PostgreSQL's per-language
// text search configurations (to_tsvector('italian', ...)) would find the
// same items as filter/analyze, the analysis of the bbolt index: on real
// sentences, one-word queries made of the sentences' own words are
// answered both ways and the answers compared. They differ too often for
// the configurations to replace our analysis (different tokenisers,
// stopword lists, accent handling and stemmer versions), which is why
// items.terms holds filter/analyze's terms. The test records the numbers;
// it fails only if the configurations were to agree everywhere, which
// would mean this design note is out of date.
func TestTextSearchConfigsDiffer(t *testing.T) {
	if testing.Short() || searchScale > 1 {
		t.Skip("a measurement: run without -short and -race")
	}
	langs := slices.Sorted(func(yield func(string) bool) {
		for l := range pgConfigs {
			if !yield(l) {
				return
			}
		}
	})
	sent := corpusSentences(t, langs, 200)
	if len(sent) == 0 {
		t.Skip("corpora not found above the working directory")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE cfg_sample (id int, lang text, body text)`); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	totalQ, totalDiff, totalStops, totalDiffWords := 0, 0, 0, 0
	for _, l := range langs {
		ss := sent[l]
		if len(ss) == 0 {
			continue
		}
		rows := make([][]any, len(ss))
		for i, s := range ss {
			rows[i] = []any{i, l, s}
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"cfg_sample"}, []string{"id", "lang", "body"}, pgx.CopyFromRows(rows)); err != nil {
			t.Fatal(err)
		}
		diff, n, missPG, missOurs, stops, diffWords := 0, 0, 0, 0, 0, 0
		var examples []string
		for range 40 {
			words := strings.Fields(ss[r.IntN(len(ss))])
			w := strings.Trim(words[r.IntN(len(words))], ".,;:!?«»\"()¿¡„“”'")
			if w == "" {
				continue
			}
			node, err := query.Parse(w, searchNow)
			if err != nil || node == nil {
				continue
			}
			var ours []int
			for i, s := range ss {
				if node.Match(&babelfeed.Item{Lang: l, Title: s}, nil) {
					ours = append(ours, i)
				}
			}
			var theirs []int32
			var stop bool
			err = conn.QueryRow(ctx, `SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM cfg_sample
				WHERE lang = $1 AND to_tsvector($2::regconfig, body) @@ plainto_tsquery($2::regconfig, $3)), '{}'),
				numnode(plainto_tsquery($2::regconfig, $3)) = 0`,
				l, pgConfigs[l], w).Scan(&theirs, &stop)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if stop {
				stops++
			}
			th := make([]int, len(theirs))
			for i, v := range theirs {
				th[i] = int(v)
			}
			if !slices.Equal(ours, th) {
				diff++
				if !stop {
					diffWords++
				}
				for _, id := range ours {
					if !slices.Contains(th, id) {
						missPG++
					}
				}
				for _, id := range th {
					if !slices.Contains(ours, id) {
						missOurs++
					}
				}
				if len(examples) < 3 && !stop {
					examples = append(examples, fmt.Sprintf("%q: ours %d items, %s %d", w, len(ours), pgConfigs[l], len(th)))
				}
			}
		}
		totalQ += n
		totalDiff += diff
		totalStops += stops
		totalDiffWords += diffWords
		t.Logf("%s (%s, %d sentences): %d of %d one-word queries answered differently (%d items only we find, %d only PostgreSQL finds); "+
			"%d of the words are PostgreSQL stopwords (it finds nothing), of the other %d, %d differ, e.g. %s",
			l, pgConfigs[l], len(ss), diff, n, missPG, missOurs, stops, n-stops, diffWords, strings.Join(examples, "; "))
	}
	t.Logf("all: %d of %d queries (%.0f%%) differ; without PostgreSQL's stopwords %d of %d (%.0f%%)",
		totalDiff, totalQ, 100*float64(totalDiff)/float64(max(totalQ, 1)),
		totalDiffWords, totalQ-totalStops, 100*float64(totalDiffWords)/float64(max(totalQ-totalStops, 1)))
	if totalQ > 0 && totalDiff == 0 {
		t.Error("PostgreSQL's configurations agree with filter/analyze everywhere: revisit the design")
	}
}
