package main

import (
	"context"
	"errors"
	"io"

	"github.com/edgeauthz/edgeauthz/config"
)

type verifier interface {
	Verify(ctx context.Context, raw string) (map[string]any, error)
	Close() error
}

func newVerifier(ctx context.Context, cfg *config.Server) (verifier, error) {
	return nil, errors.New("token verification is not wired yet")
}

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) int { return exitUsage }
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int  { return exitUsage }
