package main

import (
	"errors"
	"fmt"
	"syscall"

	"babelfeed/feeds/poll"
)

// storeWriteFailure reports whether err says the store's disk refused a
// write: full, over quota, over the file size limit, read-only or failing.
// Unlike a feed's own failure (recorded on the feed, retried later), that
// is the user's problem to fix, so the command must fail.
func storeWriteFailure(err error) bool {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// storeFailures turns outcomes whose items could not be written into one
// error, or nil.
func storeFailures(outcomes []poll.Outcome) error {
	n := 0
	var first error
	for _, o := range outcomes {
		if o.Err != nil && storeWriteFailure(o.Err) {
			if n == 0 {
				first = o.Err
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("poll: the store could not be written for %d feeds (nothing of theirs was saved; they are fetched again next time): %w", n, first)
}
