package config

import (
	"math"
	"path/filepath"
)

// MaxShadowQueue bounds shadow.queue. The queue's buffer is allocated
// whole at start, about 250 bytes a slot before the requests it holds:
// 65536 slots are some 16 MiB, far past what one worker drains between
// bursts, while a mistyped count would exhaust memory at start.
const MaxShadowQueue = 1 << 16

// Shadow names a candidate policy evaluated beside the enforced one on live
// traffic, without affecting any response (README "Shadow policy"). Its
// source takes the same kinds and settings as policy's; it is off while
// source is empty.
type Shadow struct {
	PolicyStore `yaml:",inline"`
	// Sample is the share of decisions compared, in (0, 1]; unset means 1.
	Sample float64 `yaml:"sample"`
	// Queue bounds the comparisons waiting to run; a full queue drops and
	// counts. Unset means 1024; at most MaxShadowQueue.
	Queue int `yaml:"queue"`
}

// Enabled reports whether a shadow policy is configured.
func (s Shadow) Enabled() bool { return s.Source != "" }

// resolveShadow fills the shadow's defaults; lines tells an unset sample
// (which defaults to 1) from a sample written as 0 (which is refused).
func (s *Server) resolveShadow(dir string, lines map[string]int) {
	if !s.Shadow.Enabled() {
		return
	}
	s.Shadow.resolve(func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	})
	if s.Shadow.PollInterval == 0 {
		s.Shadow.PollInterval = s.Policy.PollInterval
	}
	if _, set := lines["shadow.sample"]; !set && s.Shadow.Sample == 0 {
		s.Shadow.Sample = 1
	}
	if _, set := lines["shadow.queue"]; !set && s.Shadow.Queue == 0 {
		s.Shadow.Queue = 1024
	}
}

func (s *Server) validateShadow(errs *List, lines map[string]int) {
	sh := &s.Shadow
	if !sh.Enabled() {
		if sh.Sample != 0 || sh.Queue != 0 || sh.SigningKey != "" || sh.PollInterval != 0 {
			errs.Add(lines["shadow"], "shadow: set source (the candidate policy's store)")
		}
		return
	}
	// The candidate only informs: it is neither persisted nor held to a
	// staleness bound, and an edge without it still serves.
	if sh.PersistDir != "" || sh.PersistKeyFile != "" {
		errs.Add(lines["shadow"], "shadow: persist_dir and persist_key_file apply to policy only")
	}
	if sh.MaxStaleness != 0 {
		errs.Add(lines["shadow.max_staleness"], "shadow.max_staleness applies to policy only")
	}
	// NaN fails every comparison, so it is named: it would pass a range
	// check written the other way round, and breaks the JSON summary.
	if math.IsNaN(sh.Sample) || sh.Sample <= 0 || sh.Sample > 1 {
		errs.Add(lines["shadow.sample"], "shadow.sample must be a share in (0, 1] (0.1 compares one decision in ten), not %g", sh.Sample)
	}
	if sh.Queue < 1 || sh.Queue > MaxShadowQueue {
		errs.Add(lines["shadow.queue"], "shadow.queue must be between 1 and %d (unset: 1024), not %d", MaxShadowQueue, sh.Queue)
	}
	sh.validate(errs, lines, "shadow")
}
