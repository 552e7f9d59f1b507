package main

import (
	"log/slog"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memLimitRatio is the share of the container's memory limit the Go heap
// is held under: the rest is the runtime's own, stacks and the binary.
const memLimitRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to memLimitRatio
// of what provider reports (the cgroup's memory limit in serve). Near it
// the collector runs more often instead of letting garbage from a load
// push the process past the pod's limit. It is a complement, not a bound:
// a live heap above the limit still grows. GOMEMLIMIT in the environment
// wins, AUTOMEMLIMIT=off turns it off (or sets another ratio), and without
// a limit to read the runtime's default (none) stays.
func setMemoryLimit(log *slog.Logger, provider memlimit.Provider) {
	_, _ = memlimit.Set( // errors are logged by Set
		memlimit.WithRatio(memLimitRatio),
		memlimit.WithProvider(func() (uint64, error) {
			limit, err := provider()
			if err != nil {
				// No cgroup (not Linux, not in a container): no limit,
				// quietly, as without this.
				return 0, memlimit.ErrNoLimit
			}
			return limit, nil
		}),
		memlimit.WithLogger(log.With("component", "memlimit")),
	)
}
