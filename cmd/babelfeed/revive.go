package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"babelfeed"
)

func (a *app) reviveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revive FEED...",
		Short: "Poll gone or failing feeds again from now on (IDs or URLs)",
		Long: `Revive clears a feed's failure record and makes it due at once. Feeds whose
server answered 410 Gone are not polled until revived.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			ids, err := resolveFeeds(s, args)
			if err != nil {
				return err
			}
			for _, id := range ids {
				f, err := s.Feed(id)
				if err != nil {
					return err
				}
				f.State = babelfeed.StateOK
				f.ErrorCount = 0
				f.FailingSince = babelfeed.Feed{}.FailingSince
				f.NextPoll = babelfeed.Feed{}.NextPoll
				f.NextReason = "revived by the user"
				if err := s.UpdateFeed(f); err != nil {
					return fmt.Errorf("revive feed %d: %w", id, err)
				}
				if a.daemon != nil {
					a.daemon.daemon.Schedule(f)
				}
				fmt.Fprintf(a.out, "revived %d %s: due now\n", f.ID, f.URL)
			}
			return nil
		},
	}
}

func (a *app) unsubscribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe FEED...",
		Short: "Remove feeds and their items (IDs or URLs)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := a.openExisting(false)
			if err != nil {
				return err
			}
			defer done()
			ids, err := resolveFeeds(s, args)
			if err != nil {
				return err
			}
			for _, id := range ids {
				f, err := s.Feed(id)
				if err != nil {
					return err
				}
				if a.daemon != nil {
					a.daemon.daemon.Forget(id)
				}
				if err := s.RemoveFeed(id); err != nil {
					return fmt.Errorf("unsubscribe feed %d: %w", id, err)
				}
				fmt.Fprintf(a.out, "unsubscribed %d %s (%d items removed)\n", f.ID, f.URL, f.Items)
			}
			return nil
		},
	}
}
