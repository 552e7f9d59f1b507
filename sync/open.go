package sync

import (
	"fmt"
	"strings"
)

// Options configures the source Open picks.
type Options struct {
	File     FileOptions
	HTTP     HTTPOptions
	Postgres PostgresOptions
}

// Open returns the source for a policy.source value: http(s)://URL,
// postgres:// or postgresql:// DSN, file://PATH or a bare path. Relative
// paths are the caller's to resolve (against the configuration file).
func Open(source string, opts Options) (Source, error) {
	scheme, _, _ := strings.Cut(source, "://")
	switch strings.ToLower(scheme) {
	case "http", "https":
		return NewHTTPSource(source, opts.HTTP)
	case "postgres", "postgresql":
		return NewPostgresSource(source, opts.Postgres)
	case "file":
		return NewFileSource(source, opts.File), nil
	}
	if strings.Contains(source, "://") {
		return nil, fmt.Errorf("policy source %q: unknown scheme (want file://, http(s):// or postgres://)", source)
	}
	if source == "" {
		return nil, fmt.Errorf("policy source is empty")
	}
	return NewFileSource(source, opts.File), nil
}
