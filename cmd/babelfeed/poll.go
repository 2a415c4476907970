package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"babelfeed"
	"babelfeed/feeds/fetch"
	"babelfeed/feeds/parse"
	"babelfeed/feeds/poll"
	"babelfeed/feeds/schedule"
	"babelfeed/filter/lang"
	"babelfeed/store"
)

// pollFlags are the knobs of a poll pass, shared by `poll` and `run`.
type pollFlags struct {
	workers  int
	perHost  int
	timeout  time.Duration
	maxBody  int64
	maxItems int
	langs    []string
	minGap   time.Duration
	// keep is the retention applied after each pass (off by default).
	keep retentionFlags
	// denyPrivate refuses feeds (and redirects) to loopback, private and
	// link-local addresses, for shared deployments.
	denyPrivate bool
	// lease and pollerID configure a daemon on a shared (PostgreSQL)
	// store: run only.
	lease    time.Duration
	pollerID string
}

func (pf *pollFlags) register(cmd *cobra.Command) {
	pf.keep.register(cmd)
	cmd.Flags().IntVar(&pf.workers, "workers", 8, "feeds fetched at once")
	cmd.Flags().IntVar(&pf.perHost, "per-host", 2, "requests at once to one host")
	cmd.Flags().DurationVar(&pf.timeout, "timeout", 30*time.Second, "time limit for one fetch, body included")
	cmd.Flags().Int64Var(&pf.maxBody, "max-body", 20<<20, "largest feed body accepted, in bytes after decompression")
	cmd.Flags().IntVar(&pf.maxItems, "max-items", 1000, "most items taken from one fetch")
	cmd.Flags().DurationVar(&pf.minGap, "host-gap", 500*time.Millisecond, "least time between the starts of two requests to one host")
	cmd.Flags().StringSliceVar(&pf.langs, "languages", nil, "languages the detector may answer, ISO 639-1 codes (default: all lingua knows)")
	cmd.Flags().BoolVar(&pf.denyPrivate, "deny-private", false, "refuse feeds and redirects to loopback, private and link-local addresses (checked after DNS resolution; the environment's proxy is then not used)")
}

func (pf *pollFlags) validate() error {
	if err := pf.keep.validate(); err != nil {
		return err
	}
	switch {
	case pf.workers < 1:
		return fmt.Errorf("--workers must be at least 1, got %d", pf.workers)
	case pf.perHost < 1:
		return fmt.Errorf("--per-host must be at least 1, got %d", pf.perHost)
	case pf.timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", pf.timeout)
	case pf.maxBody < 1024:
		return fmt.Errorf("--max-body must be at least 1024 bytes, got %d", pf.maxBody)
	case pf.minGap < 0:
		return fmt.Errorf("--host-gap must not be negative, got %s", pf.minGap)
	case pf.maxItems < 1:
		return fmt.Errorf("--max-items must be at least 1, got %d", pf.maxItems)
	case pf.lease != 0 && pf.lease < time.Second: // run only
		return fmt.Errorf("--lease must be at least 1s, got %s", pf.lease)
	}
	if len(pf.langs) > 0 {
		if err := lang.CheckLanguages(pf.langs); err != nil {
			return fmt.Errorf("--languages: %w", err)
		}
	}
	return nil
}

// newPoller builds the fetch → parse → tag → store pipeline.
func (pf *pollFlags) newPoller(s store.Store, log *slog.Logger) (*poll.Poller, error) {
	cfg := lang.DefaultConfig()
	if len(pf.langs) > 0 {
		cfg.Languages = pf.langs
	}
	det, err := lang.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("build language detector: %w", err)
	}
	return &poll.Poller{
		Store:      s,
		Fetch:      fetch.New(fetch.Options{Timeout: pf.timeout, MaxBody: pf.maxBody, DenyPrivate: pf.denyPrivate}),
		Parse:      parse.New(parse.Options{MaxItems: pf.maxItems, MaxGunzip: pf.maxBody}),
		Tagger:     det,
		Policy:     schedule.DefaultPolicy(),
		Workers:    pf.workers,
		PerHost:    pf.perHost,
		MinHostGap: pf.minGap,
		Log:        log,
	}, nil
}

func (a *app) pollCmd() *cobra.Command {
	var pf pollFlags
	var all bool
	var feedArgs []string
	cmd := &cobra.Command{
		Use:   "poll",
		Short: "Fetch every due feed once, tag each item's language, store",
		Long: `Poll fetches every due feed once (newly imported feeds are due), concurrently,
tags the language of each new or changed item and stores it. It exits 0 when
the pass ran, even if some feeds failed; each failure is recorded on its feed
(see 'babelfeed feeds') and listed at the end. It exits 1 if the store itself
could not be written (a full disk): nothing of those feeds was saved.

With --keep-days and/or --keep-per-feed, the pass ends by removing the items
beyond them (see 'babelfeed prune'); by default every item is kept.

While 'babelfeed run' is running, poll asks it to poll now and waits for the
outcome, so the daemon's per-host limits still hold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			feeds, err := s.Feeds()
			if err != nil {
				return fmt.Errorf("poll: %w", err)
			}
			due, err := selectFeeds(s, feeds, feedArgs, all)
			if err != nil {
				return err
			}
			if len(due) == 0 {
				fmt.Fprintf(a.out, "nothing to poll: %d feeds, none due\n", len(feeds))
				return nil
			}
			start := time.Now()
			var outcomes []poll.Outcome
			if a.daemon != nil {
				ids := make([]uint64, len(due))
				for i, f := range due {
					ids[i] = f.ID
				}
				outcomes, err = a.daemon.daemon.PollWait(cmd.Context(), ids)
				if err != nil {
					return fmt.Errorf("poll now: %w", err)
				}
			} else {
				p, err := pf.newPoller(s, slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: slog.LevelError + 4})))
				if err != nil {
					return fmt.Errorf("poll: %w", err)
				}
				outcomes = a.pollWithProgress(cmd.Context(), p, due)
			}
			a.printPollSummary(outcomes, time.Since(start))
			if err := cmd.Context().Err(); err != nil {
				return fmt.Errorf("poll interrupted: %w", err)
			}
			if err := storeFailures(outcomes); err != nil {
				return err
			}
			if r := pf.keep.retention(); r.Enabled() {
				res, err := s.Prune(cmd.Context(), r, time.Now())
				fmt.Fprintln(a.out, describePrune(r, res))
				if err != nil {
					return fmt.Errorf("poll: %w", err)
				}
			}
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "poll every feed that is not gone, due or not")
	cmd.Flags().StringSliceVar(&feedArgs, "feed", nil, "poll only these feeds (IDs or URLs), due or not")
	return cmd
}

// selectFeeds picks the feeds a poll pass takes: the named ones, all, or
// the due ones.
func selectFeeds(s store.Store, feeds []babelfeed.Feed, feedArgs []string, all bool) ([]babelfeed.Feed, error) {
	if len(feedArgs) > 0 {
		ids, err := resolveFeeds(s, feedArgs)
		if err != nil {
			return nil, err
		}
		var out []babelfeed.Feed
		for _, id := range ids {
			f, err := s.Feed(id)
			if err != nil {
				return nil, err
			}
			if f.State == babelfeed.StateGone {
				return nil, fmt.Errorf("feed %d is gone (the server answered 410); 'babelfeed revive %d' to poll it again", f.ID, f.ID)
			}
			out = append(out, f)
		}
		return out, nil
	}
	if all {
		var out []babelfeed.Feed
		for _, f := range feeds {
			if f.State != babelfeed.StateGone {
				out = append(out, f)
			}
		}
		return out, nil
	}
	return poll.Due(feeds, time.Now()), nil
}

func (a *app) pollWithProgress(ctx context.Context, p *poll.Poller, due []babelfeed.Feed) []poll.Outcome {
	var bar *progressbar.ProgressBar
	if f, ok := a.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.NewOptions(len(due),
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription("polling"),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(),
		)
	}
	outcomes := p.PollFeeds(ctx, due, func(poll.Outcome) {
		if bar != nil {
			_ = bar.Add(1)
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	return outcomes
}

func (a *app) printPollSummary(outcomes []poll.Outcome, took time.Duration) {
	var ok, notMod, failed, deferred, leased, added, updated, dropped, timeouts int
	var failures []poll.Outcome
	for _, o := range outcomes {
		switch {
		case errors.Is(o.Err, poll.ErrLeased):
			// A shared store: another poller is fetching it right now.
			leased++
		case o.Err != nil:
			failed++
			failures = append(failures, o)
		case o.Deferred:
			deferred++
		case o.NotModified:
			ok++
			notMod++
		default:
			ok++
		}
		added += o.Added
		updated += o.Updated
		dropped += o.Dropped
		timeouts += o.RuleTimeouts
	}
	sort.Slice(failures, func(i, j int) bool { return failures[i].Feed.ID < failures[j].Feed.ID })
	for _, o := range failures {
		fmt.Fprintf(a.out, "failed  %d %s: %s\n", o.Feed.ID, o.Feed.URL, printable(o.Err.Error()))
	}
	fmt.Fprintf(a.out, "polled %d feeds in %s: %d ok (%d not modified), %d failed, %d deferred by their host; %d items added, %d updated\n",
		len(outcomes), took.Round(time.Millisecond), ok, notMod, failed, deferred, added, updated)
	if leased > 0 {
		fmt.Fprintf(a.out, "%d feeds left to the other pollers of this store, which were polling them\n", leased)
	}
	if dropped > 0 || timeouts > 0 {
		fmt.Fprintf(a.out, "rules dropped %d new items; %d kept because the rules ran out of time on them\n", dropped, timeouts)
	}
}
