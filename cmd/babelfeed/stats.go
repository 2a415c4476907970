package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) statsCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count items per language and per feed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !oneOf(format, "table", "json") {
				return fmt.Errorf("--format must be table or json, got %q", format)
			}
			s, done, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer done()
			st, err := s.Stats()
			if err != nil {
				return fmt.Errorf("stats: %w", err)
			}
			feeds, err := feedIndex(s)
			if err != nil {
				return err
			}
			type feedRow struct {
				ID        uint64         `json:"id"`
				Title     string         `json:"title"`
				Items     int            `json:"items"`
				Languages map[string]int `json:"languages"`
			}
			var byFeed []feedRow
			for id, f := range feeds {
				byFeed = append(byFeed, feedRow{ID: id, Title: f.Title, Items: st.ByFeed[id], Languages: f.Languages})
			}
			sort.Slice(byFeed, func(i, j int) bool { return byFeed[i].ID < byFeed[j].ID })
			if format == "json" {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(map[string]any{
					"items": st.Items, "feeds": st.Feeds, "file_bytes": st.FileBytes, "data_bytes": st.DataBytes,
					"languages": st.ByLang, "by_feed": byFeed,
				})
			}
			fmt.Fprintf(a.out, "%d items in %d feeds, store %s (%.1f MB used of a %.1f MB file)\n\n", st.Items, st.Feeds, s.Path(), float64(st.DataBytes)/1e6, float64(st.FileBytes)/1e6)
			type kv struct {
				k string
				v int
			}
			var langs []kv
			for k, v := range st.ByLang {
				langs = append(langs, kv{k, v})
			}
			sort.Slice(langs, func(i, j int) bool {
				if langs[i].v != langs[j].v {
					return langs[i].v > langs[j].v
				}
				return langs[i].k < langs[j].k
			})
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "LANG\tITEMS")
			for _, l := range langs {
				fmt.Fprintf(tw, "%s\t%d\n", l.k, l.v)
			}
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "FEED\tITEMS\tLANGUAGES\tTITLE")
			for _, f := range byFeed {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", f.ID, f.Items, topLangs(f.Languages, 3), clip(f.Title, 50))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}
