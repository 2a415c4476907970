package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"babelfeed"
	"babelfeed/api"
	"babelfeed/filter/rules"
	"babelfeed/store"
)

func (a *app) rulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Keep or drop items at ingest by language, words, author, regex",
		Long: `Rules decide which new items are stored. A rule is an action (block or keep)
and a query in the query language (lang:it, words, "a phrase", intitle:,
author:, inurl:, /regex/, OR, -not ...), scoped to every feed, to a category
folder and what is below it (--category), or to one feed (--feed).

Block rules apply first: an item that matches one is dropped. Then keep
rules: if any keep rule applies to the item's feed, the item must match one
of them to be kept (as in Miniflux). Rules judge an item when it first
arrives, after its language is tagged; items already stored stay. A dropped
item is remembered and not looked at again until its content or the rules
change. Evaluating the rules on one item has a time limit (1s); an item
that runs out of time is kept, and the timeout counted on the rule.

  babelfeed rules add keep 'lang:it,es'
  babelfeed rules add block --category Italiano -- 'intitle:calcio OR /^diretta/i'
  babelfeed rules test block --feed 3 -- '-lang:it'
  babelfeed rules list
  babelfeed rules rm 2

Rules travel in 'export' / 'import' (an attribute in babelfeed's own OPML
namespace). Put queries that start with '-' after '--'.`,
	}
	cmd.AddCommand(a.rulesAddCmd(), a.rulesListCmd(), a.rulesRmCmd(), a.rulesTestCmd())
	return cmd
}

// ruleScope holds the --feed and --category flags of add and test.
type ruleScope struct {
	feed     string
	category string
}

func (rs *ruleScope) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&rs.feed, "feed", "", "scope: one feed, by ID or URL")
	cmd.Flags().StringVar(&rs.category, "category", "", "scope: a category folder and everything below it (Italiano or Italiano/Sport)")
}

// parseRule reads ACTION QUERY... and the scope flags into a compiled rule.
func parseRule(s store.Store, args []string, scope ruleScope) (*rules.Compiled, error) {
	action := babelfeed.RuleAction(strings.ToLower(args[0]))
	if action != babelfeed.RuleBlock && action != babelfeed.RuleKeep {
		return nil, fmt.Errorf("the first argument is the action, block or keep; got %q", args[0])
	}
	r := babelfeed.Rule{Action: action, Query: strings.TrimSpace(strings.Join(args[1:], " ")), Category: strings.Trim(strings.TrimSpace(scope.category), "/")}
	if scope.feed != "" && r.Category != "" {
		return nil, fmt.Errorf("--feed and --category: a rule has one scope")
	}
	if scope.feed != "" {
		ids, err := resolveFeeds(s, []string{scope.feed})
		if err != nil {
			return nil, err
		}
		r.FeedID = ids[0]
	}
	c, err := rules.Compile(r, time.Now())
	if err != nil {
		return nil, err
	}
	return c, nil
}

func describeRule(r *babelfeed.Rule) string {
	return fmt.Sprintf("%s %s (%s)", r.Action, r.Query, r.Scope())
}

func (a *app) rulesAddCmd() *cobra.Command {
	var scope ruleScope
	cmd := &cobra.Command{
		Use:   "add block|keep QUERY...",
		Short: "Add a rule (see 'rules test' to try it first)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer done()
			c, err := parseRule(s, args, scope)
			if err != nil {
				return fmt.Errorf("rules add: %w", err)
			}
			stored, added, err := s.AddRule(c.Rule)
			if err != nil {
				return err
			}
			if !added {
				fmt.Fprintf(a.out, "rule %d already does this: %s\n", stored.ID, describeRule(&stored))
				return nil
			}
			fmt.Fprintf(a.out, "added rule %d: %s\n", stored.ID, describeRule(&stored))
			return nil
		},
	}
	scope.register(cmd)
	return cmd
}

// ruleRow is a rule as 'rules list' shows it.
type ruleRow struct {
	babelfeed.Rule
	Scope string `json:"scope"`
	Added string `json:"added"`
}

func (a *app) rulesListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the rules with what each has dropped, kept and timed out on",
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
			rs, _, err := s.Rules()
			if err != nil {
				return err
			}
			rows := make([]ruleRow, 0, len(rs))
			for _, r := range rs {
				rows = append(rows, ruleRow{Rule: r, Scope: r.Scope(), Added: api.RFC3339(r.Added)})
			}
			if format == "json" || format == "jsonl" {
				return writeJSONRows(a.out, format, rows)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACTION\tSCOPE\tDROPPED\tKEPT\tTIMEOUTS\tQUERY")
			for _, r := range rows {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Action, clip(r.Scope, 30), r.Dropped, r.Kept, r.Timeouts, clip(r.Query, 200))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%d rules\n", len(rows))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or jsonl")
	return cmd
}

func (a *app) rulesRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID...",
		Short: "Remove rules; what they dropped is judged again when its feed next brings it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			for _, arg := range args {
				id, err := strconv.ParseUint(arg, 10, 64)
				if err != nil {
					return fmt.Errorf("rules rm: %q is not a rule ID", arg)
				}
				if err := s.RemoveRule(id); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "removed rule %d\n", id)
			}
			return nil
		},
	}
}

// testRow is one item 'rules test' lists.
type testRow struct {
	Decision string   `json:"decision"` // keep or drop, with the rule added
	Changed  bool     `json:"changed"`  // the rule changes the item's fate
	RuleID   uint64   `json:"rule_id,omitempty"`
	Item     api.Item `json:"item"`
}

func (a *app) rulesTestCmd() *cobra.Command {
	var scope ruleScope
	var format string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "test block|keep QUERY...",
		Short: "Show what a rule would keep or drop among the stored items, without saving it",
		Long: `Test runs the stored rules with and without the new one over the stored items
in its scope (duplicates included: rules act before duplicates are marked)
and lists the items whose fate the rule changes, newest first; --all lists
every item in scope. Nothing is written.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !oneOf(format, "table", "jsonl") {
				return fmt.Errorf("--format must be table or jsonl, got %q", format)
			}
			s, done, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer done()
			cand, err := parseRule(s, args, scope)
			if err != nil {
				return fmt.Errorf("rules test: %w", err)
			}
			stored, version, err := s.Rules()
			if err != nil {
				return err
			}
			set, _ := rules.NewSet(stored, version, time.Now())
			var rows []testRow
			sum, err := rules.Try(cmd.Context(), s, set, cand, func(e rules.Effect) bool {
				if (all || e.Changed()) && (limit == 0 || len(rows) < limit) {
					d := "keep"
					if !e.After.Keep {
						d = "drop"
					}
					rows = append(rows, testRow{Decision: d, Changed: e.Changed(), RuleID: e.After.RuleID, Item: api.NewItem(e.Item, e.Feed)})
				}
				return true
			})
			if err != nil {
				return err
			}
			if format == "jsonl" {
				if err := writeJSONRows(a.out, format, rows); err != nil {
					return err
				}
				fmt.Fprintf(a.errOut, "%d items in scope: %d kept, %d dropped; this rule drops %d, keeps %d the other rules drop\n",
					sum.InScope, sum.Kept, sum.Dropped, sum.NewlyDropped, sum.NewlyKept)
				return nil
			}
			fmt.Fprintf(a.out, "rule: %s\n", describeRule(&cand.Rule))
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "DECISION\tPUBLISHED\tLANG\tFEED\tTITLE")
			for _, r := range rows {
				d := r.Decision
				if r.Changed {
					d += " *"
				}
				pub, _ := time.Parse(time.RFC3339, r.Item.Published)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d, pub.Local().Format("2006-01-02 15:04"), r.Item.Lang, clip(r.Item.FeedTitle, 24), clip(r.Item.Title, 80))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%d stored items in scope: with this rule %d kept, %d dropped; it would drop %d and keep %d that the other rules drop (* marks them)\n",
				sum.InScope, sum.Kept, sum.Dropped, sum.NewlyDropped, sum.NewlyKept)
			return nil
		},
	}
	scope.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or jsonl")
	cmd.Flags().IntVar(&limit, "limit", 20, "most items to list (0: no limit); the counts cover every item")
	cmd.Flags().BoolVar(&all, "all", false, "list every item in scope, not only those the rule changes")
	return cmd
}
