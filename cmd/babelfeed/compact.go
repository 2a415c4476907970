package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"babelfeed/store"
)

func (a *app) compactCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the store file to its live size (the daemon must be stopped)",
		Long: `Compact gives back the space of removed items: a bbolt file never shrinks by
itself. It copies the store into a temporary file beside it, syncs the copy
to disk, checks that it holds as many records as the original, and renames it
over the original in one step, so a crash or a full disk at any moment
leaves the old file or the new one, never half of either. It needs the store
to itself: stop 'babelfeed run' first. Prune old items first to have space
to give back ('babelfeed prune --keep-days 90').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := a.storePath()
			if err != nil {
				return err
			}
			if isPostgres(path) {
				return fmt.Errorf("compact: %s is a PostgreSQL store; compaction is for bbolt files (PostgreSQL reclaims space with VACUUM)", redactURL(path))
			}
			if sock := socketPath(path); daemonAnswers(sock) {
				return fmt.Errorf("compact %s: 'babelfeed run' is serving this store (socket %s); stop it first, compaction needs the file to itself", path, sock)
			}
			if err := existingStore(path); err != nil {
				return err
			}
			res, err := store.Compact(path, store.Options{Timeout: 2 * time.Second})
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("%w; stop it first, compaction needs the file to itself", err)
			}
			if err != nil {
				return err
			}
			saved := res.Before - res.After
			fmt.Fprintf(a.out, "compacted %s: %s before, %s after (%s given back)\n", path, sizeMB(res.Before), sizeMB(res.After), sizeMB(saved))
			return nil
		},
	}
}

// sizeMB renders a byte count for people.
func sizeMB(n int64) string {
	if n < 1<<20 && n > -(1<<20) {
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
