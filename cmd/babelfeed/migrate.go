package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"babelfeed/filter/search"
	"babelfeed/store"
	"babelfeed/store/postgres"
)

// copyStore is what migrate needs of either end: a store it can copy
// whole.
type copyStore interface {
	store.Store
	store.Copier
}

// defaultMigrateBatch is how many records one Import transaction writes:
// enough to amortise a commit (bbolt's fsyncs, a PostgreSQL round trip),
// few enough to keep a batch of items (about 2 KB each) small in memory.
const defaultMigrateBatch = 1000

func (a *app) migrateCmd() *cobra.Command {
	var from, to string
	var batch int
	cmd := &cobra.Command{
		Use:   "migrate [--from STORE] --to STORE",
		Short: "Copy a whole store, IDs included, between bbolt files and PostgreSQL",
		Long: `Migrate copies everything a store holds into an empty one: feeds with their
fetch state, items (IDs kept, so links and cursors stay valid), rules with
their counts, saved queries, what the rules dropped and what retention
removed. Each end is a bbolt file or a PostgreSQL database (postgres://...),
so it moves a store to PostgreSQL for several pollers, and back.

  babelfeed migrate --from ~/.local/share/babelfeed/babelfeed.db \
      --to postgres://babelfeed:secret@db.example/babelfeed

Without --from it copies the store --store names (or the default one).

The destination is indexed as it is written (keyword index, duplicates) and
must be empty: a bbolt file that does not exist yet, or a database without
feeds, items, rules or saved queries. A bbolt source is opened read-only;
stop 'babelfeed run' on it first. At the end the feeds and the items per
language of the destination are counted against what was read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("migrate needs --to: a bbolt file path or a postgres:// URL")
			}
			if from == "" {
				var err error
				if from, err = a.storePath(); err != nil {
					return err
				}
			}
			if from == to {
				return errors.New("migrate: --from and --to name the same store")
			}
			if batch <= 0 {
				return fmt.Errorf("--batch must be positive, got %d", batch)
			}
			return a.migrate(cmd.Context(), from, to, batch)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the store to copy: a bbolt file or a postgres:// URL (default: the store of --store)")
	cmd.Flags().StringVar(&to, "to", "", "the empty store to copy into: a bbolt file (created) or a postgres:// URL")
	cmd.Flags().IntVar(&batch, "batch", defaultMigrateBatch, "records written per transaction")
	return cmd
}

// migrateTally counts what a copy read.
type migrateTally struct {
	feeds, items, rules, saved, dropped, tombstones int
	langs                                           map[string]int
}

func (a *app) migrate(ctx context.Context, from, to string, batch int) (err error) {
	src, closeSrc, err := openCopyStore(ctx, from, true)
	if err != nil {
		return fmt.Errorf("migrate: source: %w", err)
	}
	defer closeSrc()
	created := false
	if !isPostgres(to) {
		if _, err := os.Stat(to); errors.Is(err, fs.ErrNotExist) {
			created = true
		}
	}
	dst, closeDst, err := openCopyStore(ctx, to, false)
	if err != nil {
		return fmt.Errorf("migrate: destination: %w", err)
	}
	began := false
	defer func() {
		closeDst()
		if err == nil || !began {
			if err != nil && created {
				os.Remove(to) // it was created empty by this run
			}
			return
		}
		// A partial copy is worth nothing and would be refused next time.
		if created {
			if rmErr := os.Remove(to); rmErr == nil {
				err = fmt.Errorf("%w (the partial copy %s was deleted)", err, to)
				return
			}
		}
		err = fmt.Errorf("%w (the destination %s holds a partial copy: empty it before trying again)", err, displayStore(to))
	}()
	if err := checkEmpty(dst); err != nil {
		return fmt.Errorf("migrate: destination %s: %w", displayStore(to), err)
	}

	st, err := src.Stats()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var bar *progressbar.ProgressBar
	if f, ok := a.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.NewOptions(st.Feeds+st.Items,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription("copying"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	start := time.Now()
	began = true
	tally, err := copyRecords(ctx, src, dst, batch, func(n int) {
		if bar != nil {
			if n > bar.GetMax() {
				bar.ChangeMax(n)
			}
			_ = bar.Set(n)
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := a.finishImport(ctx, dst, bar != nil); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := verifyCopy(dst, tally); err != nil {
		return fmt.Errorf("migrate: the copy does not match what was read: %w", err)
	}
	took := time.Since(start)
	fmt.Fprintf(a.out, "migrated %d feeds, %d items (%s), %d rules, %d saved queries, %d drop records, %d tombstones from %s to %s in %s (%.0f items/s)\n",
		tally.feeds, tally.items, langSummary(tally.langs), tally.rules, tally.saved, tally.dropped, tally.tombstones,
		displayStore(from), displayStore(to), took.Round(time.Millisecond), float64(tally.items)/max(took.Seconds(), 1e-9))
	return nil
}

// finishImport ends the import, which builds what is built once for all
// items (the bbolt keyword index, the PostgreSQL counts), with a spinner
// on a terminal.
func (a *app) finishImport(ctx context.Context, dst store.Copier, spin bool) error {
	if !spin {
		return dst.FinishImport(ctx)
	}
	f := a.errOut.(*os.File)
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("indexing"),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
	)
	done := make(chan error, 1)
	go func() { done <- dst.FinishImport(ctx) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			_ = bar.Finish()
			return err
		case <-tick.C:
			_ = bar.Add(1)
		}
	}
}

// openCopyStore opens either end of a copy: a bbolt file (the source
// read-only; the destination created when missing) or a PostgreSQL
// database, both with the keyword analysis of this babelfeed.
func openCopyStore(ctx context.Context, location string, source bool) (copyStore, func(), error) {
	if isPostgres(location) {
		db, err := postgres.Open(ctx, location, postgres.Options{Indexer: search.Indexer()})
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	if source {
		if _, err := os.Stat(location); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("no store at %s", location)
		}
	}
	db, err := store.Open(location, storeOptions(source))
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, nil, fmt.Errorf("%w: stop 'babelfeed run' on it first", err)
		}
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// checkEmpty refuses a destination that holds anything a copy would
// collide with.
func checkEmpty(s store.Store) error {
	feeds, err := s.Feeds()
	if err != nil {
		return err
	}
	n, err := s.ItemCount()
	if err != nil {
		return err
	}
	rules, _, err := s.Rules()
	if err != nil {
		return err
	}
	saved, err := s.SavedQueries()
	if err != nil {
		return err
	}
	if len(feeds) > 0 || n > 0 || len(rules) > 0 || len(saved) > 0 {
		return fmt.Errorf("not empty (%d feeds, %d items, %d rules, %d saved queries): migrate copies into an empty store only", len(feeds), n, len(rules), len(saved))
	}
	return nil
}

// copyRecords exports src into dst in batches, reading the next batch
// while the last one is written, and counts what it copied. progress is
// called with the feeds and items copied so far.
func copyRecords(ctx context.Context, src, dst store.Copier, size int, progress func(n int)) (migrateTally, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []store.Record, 2)
	exportErr := make(chan error, 1)
	go func() {
		defer close(batches)
		var cur []store.Record
		send := func() error {
			select {
			case batches <- cur:
				cur = make([]store.Record, 0, size)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := src.Export(ctx, func(r store.Record) error {
			cur = append(cur, r)
			if len(cur) < size {
				return nil
			}
			return send()
		})
		if err == nil && len(cur) > 0 {
			err = send()
		}
		exportErr <- err
	}()

	tally := migrateTally{langs: map[string]int{}}
	var importErr error
	for b := range batches {
		if importErr != nil {
			continue // drain, so the exporter can end
		}
		if importErr = dst.Import(ctx, b); importErr != nil {
			cancel()
			continue
		}
		for _, r := range b {
			switch {
			case r.Feed != nil:
				tally.feeds++
			case r.Item != nil:
				tally.items++
				lang := r.Item.Lang
				if lang == "" {
					lang = "und" // as the stores keep it
				}
				tally.langs[lang]++
			case r.Rule != nil:
				tally.rules++
			case r.Saved != nil:
				tally.saved++
			case r.Dropped != nil:
				tally.dropped++
			case r.Tombstone != nil:
				tally.tombstones++
			}
		}
		progress(tally.feeds + tally.items)
	}
	err := <-exportErr
	if importErr != nil {
		return tally, importErr
	}
	if err != nil {
		return tally, err
	}
	return tally, nil
}

// verifyCopy counts the destination's feeds, items per language, rules
// and saved queries against what was read from the source.
func verifyCopy(dst store.Store, want migrateTally) error {
	st, err := dst.Stats()
	if err != nil {
		return err
	}
	var problems []string
	if st.Feeds != want.feeds {
		problems = append(problems, fmt.Sprintf("%d feeds, %d read", st.Feeds, want.feeds))
	}
	if st.Items != want.items {
		problems = append(problems, fmt.Sprintf("%d items, %d read", st.Items, want.items))
	}
	for _, l := range slices.Sorted(maps.Keys(mergeKeys(st.ByLang, want.langs))) {
		if st.ByLang[l] != want.langs[l] {
			problems = append(problems, fmt.Sprintf("%d items in %s, %d read", st.ByLang[l], l, want.langs[l]))
		}
	}
	rules, _, err := dst.Rules()
	if err != nil {
		return err
	}
	if len(rules) != want.rules {
		problems = append(problems, fmt.Sprintf("%d rules, %d read", len(rules), want.rules))
	}
	saved, err := dst.SavedQueries()
	if err != nil {
		return err
	}
	if len(saved) != want.saved {
		problems = append(problems, fmt.Sprintf("%d saved queries, %d read", len(saved), want.saved))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func mergeKeys(a, b map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// langSummary lists item counts by language, largest first: "it 120, en 80".
func langSummary(langs map[string]int) string {
	if len(langs) == 0 {
		return "no languages"
	}
	keys := slices.Collect(maps.Keys(langs))
	slices.SortFunc(keys, func(x, y string) int {
		if langs[x] != langs[y] {
			return langs[y] - langs[x]
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, langs[k])
	}
	return strings.Join(parts, ", ")
}

// displayStore names a store for people: a PostgreSQL URL without its
// password.
func displayStore(location string) string {
	if isPostgres(location) {
		return redactURL(location)
	}
	return location
}
