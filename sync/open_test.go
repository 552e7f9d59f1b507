package sync

import (
	"reflect"
	"testing"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		source string
		want   any // nil: an error
	}{
		{"policy.yaml", &FileSource{}},
		{"/etc/edgeauthz/policy.yaml", &FileSource{}},
		{"file:///etc/edgeauthz/policy.yaml", &FileSource{}},
		{"https://bundles.example.com/policy.yaml", &HTTPSource{}},
		{"HTTP://bundles.example.com/policy.yaml", &HTTPSource{}},
		{"postgres://user@127.0.0.1:1/db", &PostgresSource{}},
		{"postgresql://user@127.0.0.1:1/db", &PostgresSource{}},
		{"s3://bucket/policy.yaml", nil},
		{"", nil},
	}
	for _, tt := range tests {
		src, err := Open(tt.source, Options{})
		if tt.want == nil {
			if err == nil {
				t.Errorf("Open(%q) = %T, want an error", tt.source, src)
			}
			if src != nil {
				src.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tt.source, err)
			continue
		}
		if reflect.TypeOf(src) != reflect.TypeOf(tt.want) {
			t.Errorf("Open(%q) = %T, want %T", tt.source, src, tt.want)
		}
		src.Close()
	}
}
