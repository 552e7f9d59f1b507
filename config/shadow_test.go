package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
)

func TestParseServerShadow(t *testing.T) {
	s, err := config.ParseServer("/srv/server.yaml", []byte("policy: {poll_interval: 7s}\nshadow: {source: candidate.yaml}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Shadow.Enabled() || s.Shadow.Source != "file:///srv/candidate.yaml" || s.Shadow.Sample != 1 ||
		s.Shadow.Queue != 1024 || s.Shadow.PollInterval != 7*time.Second {
		t.Errorf("shadow %+v", s.Shadow)
	}
	s, err = config.ParseServer("/srv/server.yaml", []byte("shadow:\n  source: https://store/p.yaml\n  signing_key: keys/jwks.json\n  sample: 0.1\n  queue: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Shadow.SigningKey != "/srv/keys/jwks.json" || s.Shadow.Sample != 0.1 || s.Shadow.Queue != 10 {
		t.Errorf("shadow %+v", s.Shadow)
	}
	if s, err := config.ParseServer("/srv/server.yaml", nil); err != nil || s.Shadow.Enabled() {
		t.Errorf("default: %v %+v", err, s.Shadow)
	}
}

func TestParseServerShadowErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"no source", "shadow: {sample: 0.5}\n", "server.yaml:1: shadow: set source"},
		{"sample over 1", "shadow:\n  source: c.yaml\n  sample: 2\n", "server.yaml:3: shadow.sample must be a share in (0, 1]"},
		{"sample NaN", "shadow:\n  source: c.yaml\n  sample: .nan\n", "server.yaml:3: shadow.sample must be a share in (0, 1] (0.1 compares one decision in ten), not NaN"},
		{"sample +Inf", "shadow:\n  source: c.yaml\n  sample: .inf\n", "server.yaml:3: shadow.sample must be a share in (0, 1]"},
		{"sample -Inf", "shadow:\n  source: c.yaml\n  sample: -.inf\n", "server.yaml:3: shadow.sample must be a share in (0, 1]"},
		{"sample 0", "shadow:\n  source: c.yaml\n  sample: 0\n", "server.yaml:3: shadow.sample must be a share in (0, 1]"},
		{"sample -0.0", "shadow:\n  source: c.yaml\n  sample: -0.0\n", "server.yaml:3: shadow.sample must be a share in (0, 1]"},
		{"sample negative", "shadow:\n  source: c.yaml\n  sample: -0.5\n", "server.yaml:3: shadow.sample must be a share in (0, 1]"},
		{"sample 0 in flow style", "shadow: {source: c.yaml, sample: 0}\n", "server.yaml:1: shadow.sample must be a share in (0, 1]"},
		{"queue huge", "shadow: {source: policy.yaml, queue: 99999999999}\n", "server.yaml:1: shadow.queue must be between 1 and 65536 (unset: 1024), not 99999999999"},
		{"queue just over", "shadow:\n  source: c.yaml\n  queue: 65537\n", "server.yaml:3: shadow.queue must be between 1 and 65536"},
		{"queue 0", "shadow:\n  source: c.yaml\n  queue: 0\n", "server.yaml:3: shadow.queue must be between 1 and 65536"},
		{"queue negative", "shadow:\n  source: c.yaml\n  queue: -1\n", "server.yaml:3: shadow.queue must be between 1 and 65536"},
		{"bad scheme", "shadow:\n  source: ftp://x/c.yaml\n", `server.yaml:2: shadow.source: scheme "ftp"`},
		{"signing key on a file", "shadow:\n  source: c.yaml\n  signing_key: k.pem\n", "server.yaml:3: shadow.signing_key applies to http(s) bundles only"},
		{"persisted", "shadow:\n  source: c.yaml\n  persist_dir: /var/lib/x\n", "shadow: persist_dir and persist_key_file apply to policy only"},
		{"stale", "shadow:\n  source: c.yaml\n  max_staleness: 1m\n", "server.yaml:3: shadow.max_staleness applies to policy only"},
		{"unknown key", "shadow:\n  source: c.yaml\n  smaple: 1\n", `unknown key "smaple"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.ParseServer("server.yaml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestParseServerShadowBounds: the bounds themselves are accepted, and an
// unset sample or queue takes its default.
func TestParseServerShadowBounds(t *testing.T) {
	for _, c := range []struct {
		src    string
		sample float64
		queue  int
	}{
		{"shadow: {source: c.yaml}\n", 1, 1024},
		{"shadow: {source: c.yaml, sample: 1, queue: 65536}\n", 1, config.MaxShadowQueue},
		{"shadow: {source: c.yaml, sample: 0.000001, queue: 1}\n", 0.000001, 1},
	} {
		s, err := config.ParseServer("server.yaml", []byte(c.src))
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		if s.Shadow.Sample != c.sample || s.Shadow.Queue != c.queue {
			t.Errorf("%q: sample %g queue %d, want %g %d", c.src, s.Shadow.Sample, s.Shadow.Queue, c.sample, c.queue)
		}
	}
}
