package main

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// TestSetMemoryLimit: serve holds the heap under 90% of the container's
// limit; GOMEMLIMIT in the environment, AUTOMEMLIMIT=off or no readable
// limit leave the runtime's limit as it was.
func TestSetMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	const before = 7777 * mib
	tests := []struct {
		name     string
		env      map[string]string
		provider memlimit.Provider
		want     int64
	}{
		{name: "cgroup limit", provider: memlimit.Limit(512 * mib), want: 512 * mib * 9 / 10},
		{name: "no cgroup", provider: func() (uint64, error) { return 0, errors.New("no cgroup here") }, want: math.MaxInt64},
		{name: "unlimited", provider: func() (uint64, error) { return 0, memlimit.ErrNoLimit }, want: math.MaxInt64},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "300MiB"}, provider: memlimit.Limit(512 * mib), want: before},
		{name: "AUTOMEMLIMIT=off", env: map[string]string{"AUTOMEMLIMIT": "off"}, provider: memlimit.Limit(512 * mib), want: before},
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			debug.SetMemoryLimit(before)
			setMemoryLimit(slog.New(slog.NewTextHandler(io.Discard, nil)), tt.provider)
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit %d; want %d", got, tt.want)
			}
		})
	}
}
