package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"babelfeed"
	"babelfeed/filter/lang"
)

func (a *app) retagCmd() *cobra.Command {
	var langs []string
	cmd := &cobra.Command{
		Use:   "retag",
		Short: "Tag every stored item's language again with the current detector settings",
		Long: `Retag runs the language detector over every stored item again, for instance
after changing --languages, and rewrites the items whose language, confidence
or method changed (indexes and per-feed counts follow). Nothing else of an
item changes, so no data is lost; it is safe to run while 'babelfeed run'
polls (it then runs inside the daemon).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lang.CheckLanguages(langs); err != nil {
				return fmt.Errorf("--languages: %w", err)
			}
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			cfg := lang.DefaultConfig()
			if len(langs) > 0 {
				cfg.Languages = langs
			}
			det, err := lang.New(cfg)
			if err != nil {
				return fmt.Errorf("retag: %w", err)
			}
			feeds, err := feedIndex(s)
			if err != nil {
				return err
			}
			total, err := s.ItemCount()
			if err != nil {
				return fmt.Errorf("retag: %w", err)
			}
			var bar *progressbar.ProgressBar
			if f, ok := a.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(f),
					progressbar.OptionSetDescription("retagging"), progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
			}
			changed := 0
			err = s.UpdateItems(cmd.Context(), func(it *babelfeed.Item) bool {
				body := it.Summary
				if body == "" {
					body = it.Content
				}
				r := det.Detect(it.Title, body, it.DeclaredLang, feeds[it.FeedID].Languages)
				if r.Lang == it.Lang && r.Method == it.LangMethod && r.Confidence == it.LangConfidence {
					return false
				}
				it.Lang, it.LangConfidence, it.LangMethod = r.Lang, r.Confidence, r.Method
				changed++
				return true
			}, func(n int) {
				if bar != nil {
					_ = bar.Set(n)
				}
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return fmt.Errorf("retag: %w", err)
			}
			fmt.Fprintf(a.out, "retagged %d items: %d changed\n", total, changed)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&langs, "languages", nil, "languages the detector may answer, ISO 639-1 codes (default: all lingua knows)")
	return cmd
}
