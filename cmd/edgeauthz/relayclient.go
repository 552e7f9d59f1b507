package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/relay"
)

// relayWrite posts a write to a relay's write API with the bearer token in
// tokenFile (or $EDGEAUTHZ_TOKEN) and returns its answer.
func relayWrite(ctx context.Context, relayURL, tokenFile, path, contentType string, body []byte) (relay.WriteResult, error) {
	token := os.Getenv("EDGEAUTHZ_TOKEN")
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return relay.WriteResult{}, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return relay.WriteResult{}, errors.New("a relay write needs a token: --token-file FILE or $EDGEAUTHZ_TOKEN")
	}
	u := strings.TrimSuffix(relayURL, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+path, bytes.NewReader(body))
	if err != nil {
		return relay.WriteResult{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return relay.WriteResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return relay.WriteResult{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return relay.WriteResult{}, fmt.Errorf("relay: %s: %s", resp.Status, e.Error)
		}
		return relay.WriteResult{}, fmt.Errorf("relay: %s", resp.Status)
	}
	var res relay.WriteResult
	if err := json.Unmarshal(b, &res); err != nil {
		return relay.WriteResult{}, fmt.Errorf("relay answer: %w", err)
	}
	return res, nil
}
