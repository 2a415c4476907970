package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"babelfeed/filter/search"
	"babelfeed/store"
)

// storeOptions are the options every command opens the store with: the
// keyword index is kept up to date by every write.
func storeOptions(readOnly bool) store.Options {
	return store.Options{ReadOnly: readOnly, Timeout: 2 * time.Second, Indexer: search.Indexer()}
}

func (a *app) reindexCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the keyword index of every stored item",
		Long: `Reindex rebuilds the keyword index that query and the HTTP API search: every
item is analysed again in its language (words, stems, stopwords, bigrams
for Chinese, Japanese and Korean).

It is needed once after upgrading from a store without an index, after a
babelfeed with another analysis wrote to the store, or after 'babelfeed
import'/'poll' of an older version; until then queries with words scan the
store (same answers, slower) and --sort relevance is refused. It runs while
'babelfeed run' keeps polling, and an interrupted reindex resumes where it
stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			var bar *progressbar.ProgressBar
			if f, ok := a.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions(-1,
					progressbar.OptionSetWriter(f),
					progressbar.OptionSetDescription("indexing"),
					progressbar.OptionShowCount(),
					progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("items"),
					progressbar.OptionClearOnFinish(),
				)
			}
			start := time.Now()
			items := 0
			err = s.Reindex(cmd.Context(), func(n, total int) {
				items = n
				if bar != nil {
					bar.ChangeMax(total)
					_ = bar.Set(n)
				}
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			took := time.Since(start)
			fmt.Fprintf(a.out, "indexed %d items in %s (%.0f items/s)\n", items, took.Round(time.Millisecond), float64(items)/max(took.Seconds(), 1e-9))
			return nil
		},
	}
}

// ensureIndex builds the keyword index in the background when the store
// has none that this babelfeed can use (an upgraded store, or one written
// by another version): the daemon keeps serving, and queries scan until
// the index is ready.
func ensureIndex(ctx context.Context, s store.Store, log *slog.Logger) {
	ok, err := search.IndexUsable(s)
	if err != nil || ok {
		return
	}
	go func() {
		log.Info("building the keyword index")
		start := time.Now()
		last := time.Now()
		err := s.Reindex(ctx, func(done, total int) {
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				log.Info("building the keyword index", "done", done, "items", total)
			}
		})
		if err != nil {
			log.Warn("keyword index not built", "error", err)
			return
		}
		log.Info("keyword index ready", "took", time.Since(start).Round(time.Millisecond))
	}()
}
