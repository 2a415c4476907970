package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"babelfeed/store"
)

// exitInconsistent is the exit status of 'check' when it found problems, so
// that scripts can tell a damaged store (2) from a check that could not run
// (1).
const exitInconsistent = 2

func (a *app) checkCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the store: bbolt's page check, indexes, counts, duplicates",
		Long: `Check verifies the store without changing it: bbolt's own consistency check
of the file (every page used once, none both used and free), then babelfeed's
invariants: every item has its key entry and its time, language and feed
index entries and no entry points to a missing item; no two items share a
feed and key; each feed's item and language counts match its items; ID
sequences are ahead of every ID used; tombstones left by retention belong to
existing feeds and hide no live item.

It exits 0 when the store is sound, 2 when it found problems (listed, at most
50), and 1 when it could not check. While 'babelfeed run' is running, the
check runs inside it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !oneOf(format, "text", "json") {
				return fmt.Errorf("--format must be text or json, got %q", format)
			}
			s, done, err := a.openExisting(true)
			if err != nil {
				return err
			}
			defer done()
			rep, err := s.Check(cmd.Context())
			if err != nil && !errors.Is(err, store.ErrInconsistent) {
				return err
			}
			if format == "json" {
				problems := rep.Problems
				if problems == nil {
					problems = []string{}
				}
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(map[string]any{
					"store": s.Path(), "ok": rep.OK(), "feeds": rep.Feeds, "items": rep.Items,
					"tombstones": rep.Tombstones, "pages": rep.Pages,
					"problems": problems, "more_problems": rep.MoreProblems,
				}); err != nil {
					return err
				}
			} else {
				var b strings.Builder
				fmt.Fprintf(&b, "store %s: %d feeds, %d items, %d tombstones", s.Path(), rep.Feeds, rep.Items, rep.Tombstones)
				if rep.Pages > 0 { // bbolt's page walk; PostgreSQL has none to report
					fmt.Fprintf(&b, ", %d pages", rep.Pages)
				}
				b.WriteString(" checked\n")
				for _, p := range rep.Problems {
					fmt.Fprintf(&b, "problem: %s\n", p)
				}
				if rep.MoreProblems > 0 {
					fmt.Fprintf(&b, "... and %d more problems\n", rep.MoreProblems)
				}
				if rep.OK() {
					b.WriteString("ok: no problems found\n")
				}
				if _, err := io.WriteString(a.out, b.String()); err != nil {
					return fmt.Errorf("check: write the report: %w", err)
				}
			}
			if err != nil {
				return exitError{code: exitInconsistent, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}
