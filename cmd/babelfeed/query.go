package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"babelfeed"
	"babelfeed/api"
	"babelfeed/feeds/publish"
	"babelfeed/filter/query"
	"babelfeed/store"
)

func (a *app) queryCmd() *cobra.Command {
	var langs, feedsArg []string
	var since, until, category, format string
	var limit int
	var allDups bool
	cmd := &cobra.Command{
		Use:   "query [WORDS...]",
		Short: "List stored items, newest first, by language, feed, time and keywords",
		Long: `Query lists stored items newest first. Every keyword must occur as a whole
word, case- and accent-insensitively ("citta" finds "Città").

  babelfeed query --lang it xiaomi
  babelfeed query --lang it,es --since 24h --format jsonl
  babelfeed query --feed 3 --since 2026-11-01 --limit 5
  babelfeed query --lang it --format atom > italiano.atom

The same story in two feeds (same link once tracking parameters are
stripped, or the same title within a day) is listed once, by the copy
stored first, unless --all-duplicates. --format atom and jsonfeed print the
items as the HTTP server publishes feeds (Atom 1.0, JSON Feed 1.1).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !oneOf(format, "table", "json", "jsonl", "atom", "jsonfeed") {
				return fmt.Errorf("--format must be table, json, jsonl, atom or jsonfeed, got %q", format)
			}
			q, err := query.Build(query.Params{
				Words: strings.Join(args, " "), Langs: langs, Category: category,
				Since: since, Until: until, Limit: limit,
			}, time.Now())
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			s, done, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer done()
			if q.FeedIDs, err = resolveFeeds(s, feedsArg); err != nil {
				return err
			}
			feeds, err := feedIndex(s)
			if err != nil {
				return err
			}
			// The limit is counted here: hidden duplicates do not count.
			want := q.Limit
			q.Limit = 0
			match := query.Matcher(q)
			hide := publish.Dedup{Store: s, Match: publish.QueryMatcher(q, feeds, match)}
			var rows []api.Item
			var entries []publish.Entry
			err = s.Items(cmd.Context(), q, match, func(it babelfeed.Item) bool {
				if !allDups && hide.Hide(&it) {
					return true
				}
				rows = append(rows, api.NewItem(it, feeds[it.FeedID]))
				entries = append(entries, publish.Entry{Item: it, Feed: feeds[it.FeedID]})
				return want == 0 || len(rows) < want
			})
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			if format == "atom" || format == "jsonfeed" {
				return writeFeed(a.out, format, describeQuery(cmd, args), entries, originalIDs(s, feeds, entries))
			}
			return writeItems(a.out, format, rows)
		},
	}
	cmd.Flags().StringSliceVar(&langs, "lang", nil, "languages, ISO 639-1 codes, comma-separated (it,es); und for undetermined")
	cmd.Flags().StringSliceVar(&feedsArg, "feed", nil, "feed IDs or URLs, comma-separated")
	cmd.Flags().StringVar(&category, "category", "", "category path prefix (Italiano or Italiano/Tecnologia)")
	cmd.Flags().StringVar(&since, "since", "", "published at or after: a duration back from now (24h, 7d) or a date (2026-11-01, RFC 3339)")
	cmd.Flags().StringVar(&until, "until", "", "published before: a duration back from now or a date")
	cmd.Flags().IntVar(&limit, "limit", 50, "most items to list (0: no limit)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json, jsonl, atom (Atom 1.0) or jsonfeed (JSON Feed 1.1)")
	cmd.Flags().BoolVar(&allDups, "all-duplicates", false, "list every copy of a story found in several feeds, not only the first")
	return cmd
}

func writeItems(w io.Writer, format string, rows []api.Item) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	case "json":
		if rows == nil {
			rows = []api.Item{}
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PUBLISHED\tLANG\tFEED\tTITLE")
	for _, r := range rows {
		pub, _ := time.Parse(time.RFC3339, r.Published)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pub.Local().Format("2006-01-02 15:04"), r.Lang, clip(r.FeedTitle, 24), clip(r.Title, 90))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d items\n", len(rows))
	return nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// resolveFeeds turns --feed values (IDs or URLs) into feed IDs.
func resolveFeeds(s *store.Store, vals []string) ([]uint64, error) {
	var ids []uint64
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if id, err := strconv.ParseUint(v, 10, 64); err == nil {
			if _, err := s.Feed(id); err != nil {
				return nil, fmt.Errorf("--feed %s: no such feed", v)
			}
			ids = append(ids, id)
			continue
		}
		f, err := s.FeedByURL(v)
		if err != nil {
			return nil, fmt.Errorf("--feed %s: no feed with that ID or URL", v)
		}
		ids = append(ids, f.ID)
	}
	return ids, nil
}

func feedIndex(s *store.Store) (map[uint64]babelfeed.Feed, error) {
	feeds, err := s.Feeds()
	if err != nil {
		return nil, fmt.Errorf("read feeds: %w", err)
	}
	m := make(map[uint64]babelfeed.Feed, len(feeds))
	for _, f := range feeds {
		m[f.ID] = f
	}
	return m, nil
}

func oneOf(v string, opts ...string) bool {
	for _, o := range opts {
		if v == o {
			return true
		}
	}
	return false
}
