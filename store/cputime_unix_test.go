//go:build unix

package store

import (
	"syscall"
	"time"
)

// cpuTime is the user+system CPU time this process has used: on a shared
// machine it says more about the code than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
