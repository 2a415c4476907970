package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"babelfeed"
	"babelfeed/feeds/poll"
	"babelfeed/server"
	"babelfeed/store"
)

// daemonCtx is what a CLI command needs to run inside 'babelfeed run'.
type daemonCtx struct {
	store  store.Store
	daemon *poll.Daemon
}

func (a *app) runCmd() *cobra.Command {
	var pf pollFlags
	var listen, logFormat, opmlPath, token, publicURL string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the background poller and the HTTP API until stopped",
		Long: `Run polls every feed as it falls due, for as long as it runs, and serves the
HTTP API (loopback by default). On a store with no feeds it imports the OPML
file given by --opml (feeds.opml) first. SIGINT or SIGTERM stop it gracefully:
fetches in flight are cancelled, nothing is half written, and the next start
carries on from the stored schedule.

While it runs, the other commands (query, feeds, stats, import, export, poll,
check, prune...) talk to it through a unix socket beside the store, since the
store file can be open in one process only; compact needs it stopped. With
--keep-days and/or --keep-per-feed it removes older items at start and
hourly (see 'babelfeed prune'). A kill at any moment loses nothing that was
stored: each feed's items are saved in one transaction.

On a PostgreSQL store (--store postgres://…) any number of 'run' processes,
on any machines, share the work: each due feed is claimed by one poller
under a lease (--lease), per-host limits (--per-host, --host-gap) hold
across all of them, and a crashed poller's feeds are taken over when its
leases run out. Every other command opens the database directly.

API: GET /api/items, /api/items/{id}, /api/feeds, /api/feeds/{id}, /api/stats,
/api/export; POST /api/import, /api/poll[?feed=ID]; GET /healthz, /metrics.
Feeds: GET /feeds/NAME.atom, /feeds/NAME.json (saved queries, see 'saved'),
/feed.atom?q=QUERY, /feed.json?q=QUERY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			if logFormat != "text" && logFormat != "json" && logFormat != "auto" {
				return fmt.Errorf("--log-format must be auto, text or json, got %q", logFormat)
			}
			if token == "" {
				token = os.Getenv("BABELFEED_TOKEN")
			}
			if err := checkListen(listen, token); err != nil {
				return err
			}
			log := newLogger(a.errOut, logFormat, verbose)
			return a.runDaemon(cmd.Context(), log, pf, listen, token, opmlPath, publicURL)
		},
	}
	pf.register(cmd)
	cmd.Flags().DurationVar(&pf.lease, "lease", time.Minute, "PostgreSQL store: how long a feed this poller claimed stays its own unless renewed (it is, while the poll runs); after a crash, the other pollers take its feeds over once it has passed")
	cmd.Flags().StringVar(&pf.pollerID, "poller-id", "", "PostgreSQL store: this poller's name in leases, unique among the pollers (default: host name, process ID, random)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "address of the HTTP API (empty: no HTTP API)")
	cmd.Flags().StringVar(&token, "token", "", "bearer token required by the HTTP API (env BABELFEED_TOKEN); required beyond loopback")
	cmd.Flags().StringVar(&logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, JSON otherwise)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every poll, not only failures and summaries")
	cmd.Flags().StringVar(&opmlPath, "opml", "feeds.opml", "OPML file imported when the store has no feeds")
	cmd.Flags().StringVar(&publicURL, "public-url", "", "base URL of the published feeds' links (rel=self, next), when served behind a reverse proxy")
	return cmd
}

// checkListen refuses an API reachable from other machines without a token.
func checkListen(addr, token string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return nil
	}
	if token == "" {
		return fmt.Errorf("--listen %s is reachable beyond this machine: set --token (or BABELFEED_TOKEN) so the API is not open to anyone", addr)
	}
	return nil
}

func newLogger(w io.Writer, format string, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (a *app) runDaemon(ctx context.Context, log *slog.Logger, pf pollFlags, listen, token, opmlPath, publicURL string) error {
	path, err := a.storePath()
	if err != nil {
		return err
	}
	// A PostgreSQL store is shared: several daemons poll it together
	// (leases decide who fetches what) and every CLI opens it directly.
	// A bbolt file has one daemon, which serves the CLI on a socket.
	shared := isPostgres(path)
	sock := socketPath(path)
	var s store.Store
	if shared {
		// Each worker may hold a connection, besides the claim loop, the
		// lease renewer and the HTTP API.
		ps, done, err := openPostgres(path, int32(pf.workers+8))
		if err != nil {
			return err
		}
		defer done()
		s = ps
		path = redactURL(path)
	} else {
		if daemonAnswers(sock) {
			return fmt.Errorf("another babelfeed daemon already serves %s (socket %s)", path, sock)
		}
		bs, err := store.Open(path, storeOptions(false))
		if err != nil {
			return err
		}
		defer bs.Close()
		s = bs
	}
	ensureIndex(ctx, s, log)

	feeds, err := s.Feeds()
	if err != nil {
		return fmt.Errorf("read feeds: %w", err)
	}
	if len(feeds) == 0 && opmlPath != "" {
		if err := a.importDefault(s, opmlPath, log); err != nil {
			return err
		}
	}

	p, err := pf.newPoller(s, log)
	if err != nil {
		return err
	}
	d := poll.NewDaemon(p)
	d.Lease, d.Owner = pf.lease, pf.pollerID
	// A host slot is not renewed during its request: it must outlast the
	// longest fetch, or a slow request would free it for another poller.
	d.SlotHold = max(2*time.Minute, pf.timeout+30*time.Second)
	metrics := server.NewMetrics()
	d.OnOutcome = func(o poll.Outcome) {
		metrics.Observe(o)
		switch {
		case o.Err != nil:
			log.Warn("poll failed", "feed", o.Feed.ID, "url", o.Feed.URL, "error", o.Err, "errors", o.Feed.ErrorCount, "next", o.Feed.NextPoll, "state", o.Feed.State)
		default:
			log.Debug("polled", "feed", o.Feed.ID, "url", o.Feed.URL, "status", o.Status, "added", o.Added, "updated", o.Updated, "not_modified", o.NotModified, "next", o.Feed.NextPoll, "why", o.Feed.NextReason)
		}
	}

	srv := &server.Server{Store: s, Daemon: d, Metrics: metrics, Token: token, Log: log, PublicURL: publicURL}
	dctx := &daemonCtx{store: s, daemon: d}

	var cliSrv *http.Server
	if !shared {
		// The CLI socket: only this user may connect (0600), so it needs no token.
		_ = os.Remove(sock)
		ul, err := net.Listen("unix", sock)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", sock, err)
		}
		if err := os.Chmod(sock, 0o600); err != nil {
			ul.Close()
			return fmt.Errorf("restrict %s: %w", sock, err)
		}
		defer os.Remove(sock)
		cliSrv = &http.Server{Handler: a.cliHandler(dctx, srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := cliSrv.Serve(ul); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("CLI socket stopped", "error", err)
			}
		}()
	}

	var apiSrv *http.Server
	if listen != "" {
		tl, err := net.Listen("tcp", listen)
		if err != nil {
			if cliSrv != nil {
				cliSrv.Close()
			}
			return fmt.Errorf("listen on %s: %w", listen, err)
		}
		apiSrv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := apiSrv.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP API stopped", "error", err)
			}
		}()
		log.Info("HTTP API listening", "addr", tl.Addr().String())
	}

	feeds, _ = s.Feeds()
	log.Info("poller started", "store", path, "feeds", len(feeds), "workers", pf.workers, "per_host", pf.perHost)
	stopRetention := startRetention(ctx, s, pf.keep.retention(), log)
	defer stopRetention()
	runErr := d.Run(ctx)
	log.Info("stopping: waiting for fetches in flight")

	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if apiSrv != nil {
		_ = apiSrv.Shutdown(shutdown)
	}
	if cliSrv != nil {
		_ = cliSrv.Shutdown(shutdown)
	}
	log.Info("stopped")
	return runErr
}

// importDefault subscribes an empty store to the default OPML list.
func (a *app) importDefault(s store.Store, opmlPath string, log *slog.Logger) error {
	doc, err := a.readOPML(opmlPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			log.Warn("store has no feeds and the default OPML file is missing; import one with 'babelfeed import FILE'", "opml", opmlPath)
			return nil
		}
		return err
	}
	feeds := make([]babelfeed.Feed, 0, len(doc.Outlines))
	for _, o := range doc.Outlines {
		feeds = append(feeds, o.Feed())
	}
	added, _, err := s.AddFeeds(feeds, false)
	if err != nil {
		return fmt.Errorf("import %s: %w", opmlPath, err)
	}
	log.Info("store was empty: imported the default subscriptions", "opml", opmlPath, "added", len(added), "skipped", len(doc.Skipped))
	return nil
}
