package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"babelfeed"
	"babelfeed/api"
	"babelfeed/feeds/publish"
	"babelfeed/filter/query"
	"babelfeed/store"
)

func (a *app) savedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "saved",
		Short: "Named queries, published by 'babelfeed run' as Atom and JSON Feed",
		Long: `A saved query is a name and a query in the query language. While 'babelfeed run'
serves the HTTP API, each one is a feed a reader can subscribe to:

  http://127.0.0.1:7070/feeds/NAME.atom    Atom 1.0
  http://127.0.0.1:7070/feeds/NAME.json    JSON Feed 1.1

Any query is one too: /feed.atom?q=QUERY and /feed.json?q=QUERY. Entries keep
their own language (xml:lang, JSON Feed language), link, author and dates;
feeds page by 50 (limit=, up to 1000) with rel="next" / next_url, answer
conditional requests with 304, and show cross-feed duplicates once unless
all_duplicates=1. With --token, readers may pass ?token=TOKEN.

  babelfeed saved add latino -- 'lang:it,es -calcio'
  babelfeed saved list
  babelfeed saved rm latino`,
	}
	cmd.AddCommand(a.savedAddCmd(), a.savedListCmd(), a.savedRmCmd())
	return cmd
}

func (a *app) savedAddCmd() *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "add NAME QUERY...",
		Short: "Save a query under a name (letters, digits, - and _)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, q := args[0], strings.TrimSpace(strings.Join(args[1:], " "))
			if err := store.ValidSavedName(name); err != nil {
				return err
			}
			if _, err := query.Parse(q, time.Now()); err != nil {
				return fmt.Errorf("saved add %s: %w", name, err)
			}
			s, done, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer done()
			if err := s.SaveQuery(store.SavedQuery{Name: name, Query: q}, replace); err != nil {
				if !replace {
					return fmt.Errorf("%w (--replace to change it)", err)
				}
				return err
			}
			fmt.Fprintf(a.out, "saved %s: %s\n  published as /feeds/%s.atom and /feeds/%s.json\n", name, q, name, name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "replace a saved query of the same name")
	return cmd
}

func (a *app) savedListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the saved queries and where they are published",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !oneOf(format, "table", "json", "jsonl") {
				return fmt.Errorf("--format must be table, json or jsonl, got %q", format)
			}
			s, done, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer done()
			qs, err := s.SavedQueries()
			if err != nil {
				return err
			}
			type row struct {
				Name  string `json:"name"`
				Query string `json:"query"`
				Added string `json:"added"`
				Atom  string `json:"atom"`
				JSON  string `json:"json"`
			}
			rows := make([]row, 0, len(qs))
			for _, q := range qs {
				rows = append(rows, row{q.Name, q.Query, api.RFC3339(q.Added), "/feeds/" + q.Name + ".atom", "/feeds/" + q.Name + ".json"})
			}
			if format != "table" {
				return writeJSONRows(a.out, format, rows)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFEED\tQUERY")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Atom, clip(r.Query, 200))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%d saved queries\n", len(rows))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or jsonl")
	return cmd
}

func (a *app) savedRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove saved queries (their feeds answer 404 from then on)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			for _, name := range args {
				if err := s.RemoveSavedQuery(name); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "removed %s\n", name)
			}
			return nil
		},
	}
}

// writeFeed prints query results as an Atom or JSON Feed document, as the
// HTTP server publishes them (one page: the --limit newest).
func writeFeed(w io.Writer, format, description string, entries []publish.Entry, originals map[uint64]string) error {
	m := publish.Meta{ID: publish.QueryID(description), Title: "babelfeed: " + description, Subtitle: description}
	if format == "atom" {
		return publish.WriteAtom(w, m, entries)
	}
	return publish.WriteJSONFeed(w, m, entries, originals)
}

// describeQuery renders a query command line (its filters and words) for
// the title and id of the feed it prints.
func describeQuery(cmd *cobra.Command, args []string) string {
	var parts []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "format", "limit", "db":
			return
		}
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		parts = append(parts, "--"+f.Name+"="+v)
	})
	parts = append(parts, args...)
	if len(parts) == 0 {
		return "all items"
	}
	return strings.Join(parts, " ")
}

// originalIDs maps the original of each duplicate among entries to its
// entry id.
func originalIDs(s store.Store, feeds map[uint64]babelfeed.Feed, entries []publish.Entry) map[uint64]string {
	ids := map[uint64]string{}
	for _, e := range entries {
		if o := e.Item.DuplicateOf; o != 0 {
			if orig, err := s.Item(o); err == nil {
				f := feeds[orig.FeedID]
				ids[o] = publish.EntryID(&orig, &f)
			}
		}
	}
	return ids
}
