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
		{"sample over 1", "shadow:\n  source: c.yaml\n  sample: 2\n", "server.yaml:3: shadow.sample must be between 0 and 1"},
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
