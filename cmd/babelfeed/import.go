package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"babelfeed"
	"babelfeed/feeds/opml"
	"babelfeed/filter/rules"
	"babelfeed/store"
)

func (a *app) importCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Subscribe to the feeds of an OPML file ('-' reads standard input)",
		Long: `Import reads an OPML 1.0, 1.1 or 2.0 subscription list and subscribes to every
feed in it. Nested outlines become a category path (Italiano/Tecnologia).
Outlines without a usable http(s) xmlUrl are reported and skipped; a file that
is not OPML is rejected and nothing is written. Rules exported by babelfeed
(the babelfeed:rules attribute) are imported too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := a.readOPML(args[0])
			if err != nil {
				return err
			}
			feeds := make([]babelfeed.Feed, 0, len(doc.Outlines))
			for _, o := range doc.Outlines {
				feeds = append(feeds, o.Feed())
			}
			open := a.openStore
			if dryRun {
				open = a.openStoreForDryRun
			}
			s, done, err := open(false)
			if err != nil {
				return err
			}
			defer done()
			added, existing, err := s.AddFeeds(feeds, dryRun)
			if err != nil {
				return fmt.Errorf("subscribe to the feeds of %s: %w", args[0], err)
			}
			if a.daemon != nil && !dryRun {
				for _, f := range added {
					a.daemon.daemon.Schedule(f)
				}
			}
			w := a.out
			verb := "added"
			if dryRun {
				verb = "would add"
			}
			for _, sk := range doc.Skipped {
				fmt.Fprintf(w, "skipped line %d %q: %s\n", sk.Line, nonEmpty(sk.Title, sk.URL), sk.Reason)
			}
			fmt.Fprintf(w, "%s: %s %d, already present %d, skipped %d\n", args[0], verb, len(added), len(existing), len(doc.Skipped))
			if len(doc.Rules) == 0 && len(doc.RuleErrors) == 0 {
				return nil
			}
			rr, err := rules.Import(s, doc, append(added, existing...), dryRun, time.Now())
			if err != nil {
				return fmt.Errorf("import the rules of %s: %w", args[0], err)
			}
			for _, p := range rr.Problems {
				fmt.Fprintf(w, "rule not imported: %s\n", p)
			}
			fmt.Fprintf(w, "rules: %s %d, already present %d, not imported %d\n", verb, len(rr.Added), len(rr.Existing), len(rr.Problems))
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be imported without writing anything")
	return cmd
}

func (a *app) readOPML(name string) (*opml.Document, error) {
	var r io.Reader
	if name == "-" {
		r = a.in
		name = "standard input"
	} else {
		f, err := os.Open(a.resolvePath(name))
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	}
	doc, err := opml.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	return doc, nil
}

func nonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// openStoreForDryRun opens the store for a dry run; when there is none yet,
// it answers from a throwaway empty store so that a dry run never creates
// the user's store file.
func (a *app) openStoreForDryRun(readOnly bool) (store.Store, func(), error) {
	if a.daemon != nil {
		return a.openStore(readOnly)
	}
	path, err := a.storePath()
	if err != nil {
		return nil, nil, err
	}
	if isPostgres(path) {
		return a.openStore(readOnly)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return a.openStore(readOnly)
	}
	dir, err := os.MkdirTemp("", "babelfeed-dry-run-")
	if err != nil {
		return nil, nil, fmt.Errorf("dry run: %w", err)
	}
	s, err := store.Open(filepath.Join(dir, "empty.db"), storeOptions(false))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("dry run: %w", err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }, nil
}
