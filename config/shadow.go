package config

import "path/filepath"

// Shadow names a candidate policy evaluated beside the enforced one on live
// traffic, without affecting any response (README "Shadow policy"). Its
// source takes the same kinds and settings as policy's; it is off while
// source is empty.
type Shadow struct {
	PolicyStore `yaml:",inline"`
	// Sample is the share of decisions compared, in (0, 1]; 0 means 1.
	Sample float64 `yaml:"sample"`
	// Queue bounds the comparisons waiting to run; a full queue drops and
	// counts (default 1024).
	Queue int `yaml:"queue"`
}

// Enabled reports whether a shadow policy is configured.
func (s Shadow) Enabled() bool { return s.Source != "" }

func (s *Server) resolveShadow(dir string) {
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
	if s.Shadow.Sample == 0 {
		s.Shadow.Sample = 1
	}
	if s.Shadow.Queue == 0 {
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
	if sh.Sample < 0 || sh.Sample > 1 {
		errs.Add(lines["shadow.sample"], "shadow.sample must be between 0 and 1")
	}
	if sh.Queue < 0 {
		errs.Add(lines["shadow.queue"], "shadow.queue must not be negative")
	}
	sh.validate(errs, lines, "shadow")
}
