//go:build unix

package extauthz

import (
	"syscall"
	"time"
)

// cpuTime is the process's user and system CPU time so far. On a shared
// machine a benchmark's wall time includes waiting for a CPU; CPU time does
// not. It counts every goroutine's work, the shadow worker's included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
