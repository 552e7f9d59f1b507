package config_test

import (
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

// TestParseServerLimitsErrors: transport limits, readiness and decision-log
// bounds are validated with the file's lines.
func TestParseServerLimitsErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []lineMsg
	}{
		{"limit zero", "limits:\n  grpc:\n    max_concurrent_streams: 0\n", []lineMsg{{3, "limits.grpc.max_concurrent_streams must be positive"}}},
		{"limit negative", "limits:\n  http:\n    write_timeout: -1s\n", []lineMsg{{3, "limits.http.write_timeout must be positive"}}},
		{"limits on one line", "limits: {grpc: {message_wait: 0s, max_waiting_streams: 0}}\n",
			[]lineMsg{{1, "limits.grpc.max_waiting_streams"}, {1, "limits.grpc.message_wait"}}},
		{"unknown limit", "limits:\n  grpc:\n    max_streams: 5\n", []lineMsg{{3, `unknown key "max_streams"`}}},
		{"header list too big", "limits:\n  grpc:\n    max_header_list_bytes: 99999999\n", []lineMsg{{3, "max_header_list_bytes must be at most"}}},
		{"header list zero", "limits: {grpc: {max_header_list_bytes: 0}}\n", []lineMsg{{1, "limits.grpc.max_header_list_bytes must be positive"}}},
		{"short age grace", "limits:\n  grpc:\n    max_connection_age_grace: 10ms\n", []lineMsg{{3, "at least 1s"}}},
		{"tiny log fields", "decision_log:\n  max_field_bytes: 4\n", []lineMsg{{2, "max_field_bytes must be at least 16"}}},
		{"readiness typo", "readiness: {require_keys: true}\n", []lineMsg{{1, `unknown key "require_keys"`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := config.ParseServer("server.yaml", []byte(c.src))
			if s != nil {
				t.Error("a config came back with the error")
			}
			checkErrors(t, err, c.want)
		})
	}
}

// TestServerLimitsDefaults: a file that sets one limit keeps the defaults of
// every other, so no bound is ever left at zero (unlimited).
func TestServerLimitsDefaults(t *testing.T) {
	s, err := config.ParseServer("/srv/server.yaml", []byte("limits: {grpc: {max_concurrent_streams: 5}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := config.DefaultLimits()
	want.GRPC.MaxConcurrentStreams = 5
	if s.Limits != want {
		t.Errorf("limits %+v, want %+v", s.Limits, want)
	}
	if !s.Readiness.RequireIssuerKeys || s.DecisionLog.MaxFieldBytes != 1024 {
		t.Errorf("readiness %+v, decision log %+v", s.Readiness, s.DecisionLog)
	}
}
