package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"babelfeed/store"
)

// retentionEvery is how often 'run' applies the retention flags: items age
// by the hour, and each pass costs a scan of the feed index.
const retentionEvery = time.Hour

// retentionFlags are --keep-days and --keep-per-feed, shared by poll, run
// and prune. Both are off (0) by default: babelfeed keeps every item.
type retentionFlags struct {
	keepDays    int
	keepPerFeed int
}

func (rf *retentionFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&rf.keepDays, "keep-days", 0, "remove items published (or, undated, first seen) more than this many days ago (0: keep any age)")
	cmd.Flags().IntVar(&rf.keepPerFeed, "keep-per-feed", 0, "keep only each feed's newest this many items (0: any number)")
}

func (rf *retentionFlags) validate() error {
	switch {
	case rf.keepDays < 0:
		return fmt.Errorf("--keep-days must be 0 (keep every age) or a number of days, got %d", rf.keepDays)
	case rf.keepDays > 1_000_000:
		return fmt.Errorf("--keep-days %d is beyond any feed's history; use 0 to keep every age", rf.keepDays)
	case rf.keepPerFeed < 0:
		return fmt.Errorf("--keep-per-feed must be 0 (no limit) or a number of items, got %d", rf.keepPerFeed)
	}
	return nil
}

func (rf *retentionFlags) retention() store.Retention {
	return store.Retention{MaxAge: time.Duration(rf.keepDays) * 24 * time.Hour, MaxPerFeed: rf.keepPerFeed}
}

// describePrune says what a prune pass did, in one line.
func describePrune(r store.Retention, res store.PruneResult) string {
	s := fmt.Sprintf("retention (%s): removed %d items from %d feeds", r, res.Removed, res.Feeds)
	if res.TombstonesExpired > 0 {
		s += fmt.Sprintf(", forgot %d removed items their feeds no longer carry", res.TombstonesExpired)
	}
	return s
}

func (a *app) pruneCmd() *cobra.Command {
	var rf retentionFlags
	cmd := &cobra.Command{
		Use:   "prune --keep-days N | --keep-per-feed M",
		Short: "Remove old items now, by age and/or by count per feed",
		Long: `Prune removes the items the retention flags do not keep, a few hundred per
transaction so a running poller is never held up for long. Each removed item
leaves a tombstone (its key and content hash), so a feed that still carries it
does not bring it back; a tombstone is forgotten two weeks after its feed
stopped carrying the item. 'poll' and 'run' take the same flags and prune as
they go (run: hourly). The file does not shrink: 'babelfeed compact' gives
the space back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.validate(); err != nil {
				return err
			}
			r := rf.retention()
			if !r.Enabled() {
				return errors.New("prune needs --keep-days and/or --keep-per-feed (babelfeed keeps every item unless told otherwise)")
			}
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			res, err := s.Prune(cmd.Context(), r, time.Now())
			fmt.Fprintln(a.out, describePrune(r, res))
			if err != nil {
				return err
			}
			return nil
		},
	}
	rf.register(cmd)
	return cmd
}

// startRetention prunes the store now and every retentionEvery until ctx
// ends or the returned stop is called; stop waits for a pass in progress.
// It does nothing when r keeps everything.
func startRetention(ctx context.Context, s store.Store, r store.Retention, log *slog.Logger) (stop func()) {
	if !r.Enabled() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(retentionEvery)
		defer t.Stop()
		for {
			res, err := s.Prune(ctx, r, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("retention pass failed", "error", err, "removed", res.Removed)
			case res.Removed > 0 || res.TombstonesExpired > 0:
				log.Info("retention pass", "retention", r.String(), "removed", res.Removed, "feeds", res.Feeds, "tombstones_expired", res.TombstonesExpired)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// existingStore refuses a store file that is not there (or empty), for the
// commands that have nothing to do on a new store: a mistyped --db should
// be an error, not a new empty store.
func existingStore(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no store at %s: run 'babelfeed import FILE' first, or pass --db", path)
	case err != nil:
		return fmt.Errorf("open store %s: %w", path, err)
	case st.Mode().IsRegular() && st.Size() == 0:
		return fmt.Errorf("open store %s: %w: the file is empty", path, store.ErrNotStore)
	}
	return nil
}

// openExisting is openStore for commands that must not create a store.
func (a *app) openExisting(readOnly bool) (store.Store, func(), error) {
	if a.daemon == nil {
		path, err := a.storePath()
		if err != nil {
			return nil, nil, err
		}
		if !isPostgres(path) {
			if err := existingStore(path); err != nil {
				return nil, nil, err
			}
		}
	}
	return a.openStore(readOnly)
}
