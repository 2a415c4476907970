package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"babelfeed/feeds/opml"
)

func (a *app) exportCmd() *cobra.Command {
	var outPath string
	cmd := &cobra.Command{
		Use:   "export [-o FILE]",
		Short: "Write the subscriptions as OPML 2.0, categories nested, rules included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer done()
			feeds, err := s.Feeds()
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			rs, _, err := s.Rules()
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			outPath := a.resolvePath(outPath)
			if outPath == "" || outPath == "-" {
				bw := bufio.NewWriter(a.out)
				if err := opml.WriteWithRules(bw, "babelfeed subscriptions", feeds, rs); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				return bw.Flush()
			}
			// Write beside the target and rename, so a failed export never
			// leaves a half-written file where a good one was.
			tmp, err := os.CreateTemp(filepath.Dir(outPath), ".babelfeed-export-*")
			if err != nil {
				return fmt.Errorf("export to %s: %w", outPath, err)
			}
			defer os.Remove(tmp.Name())
			bw := bufio.NewWriter(tmp)
			if err := opml.WriteWithRules(bw, "babelfeed subscriptions", feeds, rs); err != nil {
				tmp.Close()
				return fmt.Errorf("export to %s: %w", outPath, err)
			}
			if err := bw.Flush(); err != nil {
				tmp.Close()
				return fmt.Errorf("export to %s: %w", outPath, err)
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("export to %s: %w", outPath, err)
			}
			if err := os.Rename(tmp.Name(), outPath); err != nil {
				return fmt.Errorf("export to %s: %w", outPath, err)
			}
			fmt.Fprintf(a.errOut, "exported %d feeds and %d rules to %s\n", len(feeds), len(rs), outPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}
