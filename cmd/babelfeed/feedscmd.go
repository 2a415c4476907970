package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"babelfeed"
	"babelfeed/api"
)

func (a *app) feedsCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "feeds",
		Short: "List every feed with its state, last error, items and languages",
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
			feeds, err := s.Feeds()
			if err != nil {
				return fmt.Errorf("feeds: %w", err)
			}
			rows := make([]api.Feed, 0, len(feeds))
			for _, f := range feeds {
				rows = append(rows, api.NewFeed(f))
			}
			return writeFeeds(a.out, format, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or jsonl")
	return cmd
}

// topLangs renders a language distribution as "it 90%, en 10%".
func topLangs(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	total := 0
	for k, v := range m {
		all = append(all, kv{k, v})
		total += v
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var parts []string
	for i, e := range all {
		if i == n {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d%%", e.k, (e.v*100+total/2)/total))
	}
	return strings.Join(parts, ", ")
}

func writeFeeds(w io.Writer, format string, rows []api.Feed) error {
	if format == "json" || format == "jsonl" {
		return writeJSONRows(w, format, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTATUS\tITEMS\tLANGUAGES\tCATEGORY\tTITLE\tNEXT POLL\tLAST ERROR")
	for _, r := range rows {
		state := r.State
		if r.State == string(babelfeed.StateFailing) {
			state = fmt.Sprintf("failing×%d", r.ErrorCount)
		}
		next := ""
		if t, err := time.Parse(time.RFC3339, r.NextPoll); err == nil {
			next = t.Local().Format("01-02 15:04")
		} else if r.State != string(babelfeed.StateGone) {
			next = "due"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, state, r.Status, r.Items,
			topLangs(r.Languages, 3), clip(printable(r.Category), 28), clip(printable(r.Title), 32), next, clip(printable(r.LastError), 60))
	}
	return tw.Flush()
}
