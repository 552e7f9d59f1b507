package policytest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/policytest"
)

// fakeVerifier accepts the token "good" with fixed claims.
type fakeVerifier struct{}

func (fakeVerifier) Verify(_ context.Context, raw string) (*identity.Token, error) {
	if raw == "good" {
		return &identity.Token{Claims: map[string]any{"uid": "u1", "tenant": "t1", "scope": "read"}}, nil
	}
	return nil, errors.New("signature invalid")
}

func TestRunFilesExample(t *testing.T) {
	file := "../examples/policy_test.yaml"
	tf, err := config.LoadTestFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := policytest.RunFiles(context.Background(), []string{file}, policytest.Options{})
	if sum.Passed != len(tf.Cases) || sum.Failed != 0 {
		t.Errorf("%s; failures %v", sum.Line(), sum.Failures)
	}
}

func TestRunFilesTokens(t *testing.T) {
	var made *config.Server
	opts := policytest.Options{NewVerifier: func(_ context.Context, cfg *config.Server) (authn.Verifier, error) {
		made = cfg
		return fakeVerifier{}, nil
	}}
	sum := policytest.RunFiles(context.Background(), []string{"testdata/tokens_test.yaml"}, opts)
	if sum.Line() != "4 passed, 0 failed" {
		t.Errorf("%s: %v", sum.Line(), sum.Failures)
	}
	if made == nil || made.Tokens.Claims.Subject != "uid" {
		t.Errorf("verifier not built from the file's config: %+v", made)
	}
	// Without a way to verify tokens, token cases fail with a reason.
	sum = policytest.RunFiles(context.Background(), []string{"testdata/tokens_test.yaml"}, policytest.Options{
		NewVerifier: func(context.Context, *config.Server) (authn.Verifier, error) {
			return nil, errors.New("no keys")
		},
	})
	if sum.Failed != 3 || !strings.Contains(sum.Failures[0].Err.Error(), "no keys") {
		t.Errorf("%s: %v", sum.Line(), sum.Failures)
	}
}

func TestRunFilesBrokenPolicy(t *testing.T) {
	sum := policytest.RunFiles(context.Background(), []string{"testdata/broken_test.yaml"}, policytest.Options{})
	if sum.Line() != "0 passed, 2 failed" {
		t.Fatalf("%s", sum.Line())
	}
	first, second := sum.Failures[0], sum.Failures[1]
	if !strings.Contains(first.Err.Error(), `broken.yaml:4: route "r": unknown role "ghost"`) || first.Line != 3 {
		t.Errorf("first: %d %v", first.Line, first.Err)
	}
	if !strings.Contains(second.Err.Error(), "see above") || second.Name != "two" {
		t.Errorf("second: %v", second.Err)
	}
}

func TestRunFilesUnloadable(t *testing.T) {
	sum := policytest.RunFiles(context.Background(), []string{"testdata/none_test.yaml", "testdata/bad_case_test.yaml"}, policytest.Options{})
	if sum.Failed != 2 || sum.Passed != 0 {
		t.Fatalf("%s: %v", sum.Line(), sum.Failures)
	}
	if sum.Failures[0].Name != "load" {
		t.Errorf("missing file outcome: %+v", sum.Failures[0])
	}
}
