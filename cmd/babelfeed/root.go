package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"babelfeed/filter/search"
	"babelfeed/store"
	"babelfeed/store/postgres"
)

// app holds what every subcommand shares: the flags of the root command and
// the standard streams (injected so tests can run commands in-process).
type app struct {
	dbPath string
	// daemon is set when the command runs inside 'babelfeed run' on behalf
	// of a CLI that found the daemon's socket.
	daemon *daemonCtx
	cwd    string // the calling CLI's working directory, inside the daemon
	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	return (&app{in: in, out: out, errOut: errOut}).rootCmd()
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "babelfeed",
		Short: "A feed aggregator that knows the language of every item",
		Long: `babelfeed subscribes to RSS, Atom and JSON feeds from an OPML list, polls them,
tags every item with its language and stores it, so you can read and search
by language.

  babelfeed import feeds.opml        # subscribe
  babelfeed poll                     # fetch every due feed once, tag, store
  babelfeed query --lang it xiaomi   # read what came in, by language and keyword
  babelfeed rules add keep lang:it,es   # store only Italian and Spanish items
  babelfeed saved add latino -- 'lang:it,es -calcio'   # a feed for your reader (run)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.PersistentFlags().StringVar(&a.dbPath, "store", "", "where items are kept: a bbolt file, or a PostgreSQL database as postgres://user:pass@host/db (env BABELFEED_STORE or BABELFEED_DB; default the file $XDG_DATA_HOME/babelfeed/babelfeed.db)")
	root.PersistentFlags().StringVar(&a.dbPath, "db", "", "the same as --store")
	storeCmds := []*cobra.Command{
		a.importCmd(),
		a.exportCmd(),
		a.pollCmd(),
		a.queryCmd(),
		a.feedsCmd(),
		a.statsCmd(),
		a.reviveCmd(),
		a.unsubscribeCmd(),
		a.reindexCmd(),
		a.retagCmd(),
		a.checkCmd(),
		a.pruneCmd(),
	}
	a.forwardable(storeCmds...)
	root.AddCommand(storeCmds...)
	// Commands with subcommands: the subcommands use the store.
	for _, group := range []*cobra.Command{a.rulesCmd(), a.savedCmd()} {
		a.forwardable(group.Commands()...)
		root.AddCommand(group)
	}
	if a.daemon == nil {
		root.AddCommand(a.runCmd(), a.compactCmd(), a.migrateCmd())
	}
	return root
}

// storePath resolves --store (or --db), then BABELFEED_STORE and
// BABELFEED_DB, then the XDG data directory: a bbolt file path or a
// PostgreSQL URL (see isPostgres).
func (a *app) storePath() (string, error) {
	if a.dbPath != "" {
		return a.dbPath, nil
	}
	for _, env := range []string{"BABELFEED_STORE", "BABELFEED_DB"} {
		if p := os.Getenv(env); p != "" {
			return p, nil
		}
	}
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the default store: no --db, no BABELFEED_DB and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "babelfeed", "babelfeed.db"), nil
}

// openStore opens the store for writing, or for reading only when readOnly,
// and returns the function that releases it. Inside the daemon it hands
// out the daemon's own open store. A read-only open of a store that does
// not exist yet is an error rather than an empty result, so a mistyped
// --db is noticed.
func (a *app) openStore(readOnly bool) (store.Store, func(), error) {
	if a.daemon != nil {
		return a.daemon.store, func() {}, nil
	}
	path, err := a.storePath()
	if err != nil {
		return nil, nil, err
	}
	if isPostgres(path) {
		return openPostgres(path, 16) // enough for poll's default workers
	}
	if readOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no store at %s: run 'babelfeed import FILE' first, or pass --db", path)
		}
	}
	s, err := store.Open(path, storeOptions(readOnly))
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, nil, fmt.Errorf("%w (no babelfeed daemon answered on %s)", err, socketPath(path))
		}
		return nil, nil, err
	}
	return s, func() { s.Close() }, nil
}

// isPostgres reports whether a store location names a PostgreSQL database
// rather than a bbolt file.
func isPostgres(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

// openPostgres connects to a PostgreSQL store. Several processes share one
// (pollers and CLI alike), so there is no daemon socket to go through and
// no lock to wait for.
func openPostgres(dsn string, maxConns int32) (store.Store, func(), error) {
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{Indexer: search.Indexer(), MaxConns: maxConns})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { s.Close() }, nil
}

// redactURL hides the password of a PostgreSQL URL before it is printed.
func redactURL(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Scheme == "" {
		return location
	}
	return u.Redacted()
}
