package main

import (
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
	"babelfeed/filter/search"
	"babelfeed/store"
)

func (a *app) queryCmd() *cobra.Command {
	var langs, feedsArg []string
	var since, until, category, format, sortBy, cursor string
	var limit int
	var allDups bool
	cmd := &cobra.Command{
		Use:   "query [QUERY...]",
		Short: "Search stored items by keyword, language, feed and time",
		Long: `Query searches the stored items, newest first or by relevance. The arguments
are a query (quote it for the shell when it has quotes or parentheses):

  xiaomi telefono           both words, anywhere in title, text or author
  "nuovo modello"           these words in this order, as written
  apple OR samsung          either;  -calcio  not this;  (a OR b) -c
  lang:it  lang:it,es  -lang:en  feed:12  cat:Italiano/Tecnologia
  intitle:xiaomi  author:rossi  inurl:sport  /regex/  intitle:/^breaking/i
  since:24h  since:7d  since:2026-11-01  until:2026-11-20

Words are matched in each item's own language: case, accents and elisions
(l'università) do not matter, and words are compared by their stem where
the language has a stemmer, so "informazioni" finds "informazione" and
"Universität" finds "Universitäten"; a phrase in quotes is matched as
written. Chinese, Japanese and Korean are searched as written, without
spaces. The flags narrow the query as the same terms would.

  babelfeed query --lang it xiaomi
  babelfeed query 'lang:it,es (apple OR samsung) -usato' --sort relevance
  babelfeed query --lang it,es --since 24h --format jsonl
  babelfeed query --feed 3 --since 2026-11-01 --limit 5
  babelfeed query --lang it --format atom > italiano.atom

The same story in two feeds (same link once tracking parameters are
stripped, or the same title within a day) is listed once, by the copy
stored first, unless --all-duplicates. --format atom and jsonfeed print the
items as the HTTP server publishes feeds (Atom 1.0, JSON Feed 1.1). When
--limit cuts the listing short, the table ends with the --cursor that
continues it (other formats print it on standard error).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !oneOf(format, "table", "json", "jsonl", "atom", "jsonfeed") {
				return fmt.Errorf("--format must be table, json, jsonl, atom or jsonfeed, got %q", format)
			}
			order, err := search.ParseSort(sortBy)
			if err != nil {
				return fmt.Errorf("--sort: %w", err)
			}
			if limit < 0 {
				return fmt.Errorf("--limit must be 0 (no limit) or more, got %d", limit)
			}
			node, err := query.Compose(strings.Join(args, " "), query.Filters{
				Langs: langs, Category: category, Since: since, Until: until,
			}, time.Now())
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			s, done, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer done()
			ids, err := resolveFeeds(s, feedsArg)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				ref := &query.FeedRef{}
				for _, id := range ids {
					ref.Values = append(ref.Values, strconv.FormatUint(id, 10))
				}
				node = query.AndOf(node, ref)
			}
			page, err := search.Search(cmd.Context(), s, search.Request{
				Query: node, Sort: order, Limit: limit, Cursor: cursor, AllDuplicates: allDups,
			})
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			if !page.Indexed && page.Checked > 0 {
				fmt.Fprintln(a.errOut, "note: the keyword index is not built, so the store was scanned (run 'babelfeed reindex')")
			}
			var rows []api.Item
			var entries []publish.Entry
			for _, h := range page.Hits {
				row := api.NewItem(h.Item, h.Feed)
				row.Score = h.Score
				rows = append(rows, row)
				entries = append(entries, publish.Entry{Item: h.Item, Feed: h.Feed})
			}
			if format == "atom" || format == "jsonfeed" {
				feeds, err := feedIndex(s)
				if err != nil {
					return err
				}
				return writeFeed(a.out, format, describeQuery(cmd, args), entries, originalIDs(s, feeds, entries))
			}
			if err := writeItems(a.out, format, rows); err != nil {
				return err
			}
			if page.Next != "" {
				w := a.errOut
				if format == "table" {
					w = a.out
				}
				fmt.Fprintf(w, "more: --cursor %s\n", page.Next)
			}
			return nil
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
	cmd.Flags().StringVar(&sortBy, "sort", "newest", "order: newest (first), or relevance (BM25; title words count more; newest first among equals)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue a listing after the page that printed this cursor (same query and --sort)")
	return cmd
}

func writeItems(w io.Writer, format string, rows []api.Item) error {
	if format == "json" || format == "jsonl" {
		return writeJSONRows(w, format, rows)
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
func resolveFeeds(s store.Store, vals []string) ([]uint64, error) {
	var ids []uint64
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if id, err := strconv.ParseUint(v, 10, 64); err == nil {
			if _, err := s.Feed(id); err != nil {
				return nil, fmt.Errorf("no feed with ID %s", v)
			}
			ids = append(ids, id)
			continue
		}
		f, err := s.FeedByURL(v)
		if err != nil {
			return nil, fmt.Errorf("no feed with ID or URL %s", v)
		}
		ids = append(ids, f.ID)
	}
	return ids, nil
}

func feedIndex(s store.Store) (map[uint64]babelfeed.Feed, error) {
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
