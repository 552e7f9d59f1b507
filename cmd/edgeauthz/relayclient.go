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

// relayWrite posts a write to a relay's write API and returns its answer.
// The writer is named by the bearer token in tokenFile (or
// $EDGEAUTHZ_TOKEN) or, without one, by the client certificate of tf.
func relayWrite(ctx context.Context, relayURL, tokenFile string, tf *clientTLSFlags, path, contentType string, body []byte) (relay.WriteResult, error) {
	token := os.Getenv("EDGEAUTHZ_TOKEN")
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return relay.WriteResult{}, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" && *tf.cert == "" {
		return relay.WriteResult{}, errors.New("a relay write needs a credential: --token-file FILE, $EDGEAUTHZ_TOKEN, or a writer's --tls-cert-file")
	}
	client, err := tf.httpClient()
	if err != nil {
		return relay.WriteResult{}, err
	}
	u := strings.TrimSuffix(relayURL, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if err := tf.checkURL(u); err != nil {
		return relay.WriteResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+path, bytes.NewReader(body))
	if err != nil {
		return relay.WriteResult{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
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
