package extauthz_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/edgeauthz/edgeauthz/extauthz"
)

// decisionIDForm is the form of every decision id: a per-process prefix and
// a counter, fixed width.
var decisionIDForm = regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-f]{16}$`)

// maskedDecisionID stands for the decision id in golden files.
const maskedDecisionID = "MASKED-DECISION-ID"

// decisionID returns a response's decision id after checking that it is
// well-formed, that the metadata and exactly one header (the last) carry the
// same one, and that the header goes where it must: upstream on an allow, to
// the client on a deny.
func decisionID(t testing.TB, res *authv3.CheckResponse) string {
	t.Helper()
	id := res.GetDynamicMetadata().GetFields()[extauthz.MetadataDecisionID].GetStringValue()
	if !decisionIDForm.MatchString(id) {
		t.Fatalf("metadata decision_id = %q, want a decision id", id)
	}
	var headers []*corev3.HeaderValueOption
	if ok := res.GetOkResponse(); ok != nil {
		headers = ok.GetHeaders()
	} else {
		headers = res.GetDeniedResponse().GetHeaders()
	}
	n := 0
	for _, h := range headers {
		if h.GetHeader().GetKey() == "x-auth-decision-id" {
			n++
		}
	}
	if n != 1 || len(headers) == 0 || headers[len(headers)-1].GetHeader().GetKey() != "x-auth-decision-id" {
		t.Fatalf("want one x-auth-decision-id header, the last; headers: %v", headers)
	}
	last := headers[len(headers)-1]
	if last.GetHeader().GetValue() != id || last.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
		t.Fatalf("x-auth-decision-id header %v, want %s overwriting", last, id)
	}
	return id
}

// maskDecisionID returns a copy of res with its (checked) decision id
// replaced by maskedDecisionID, so that answers compare across decisions.
func maskDecisionID(t testing.TB, res *authv3.CheckResponse) *authv3.CheckResponse {
	t.Helper()
	decisionID(t, res)
	m := proto.Clone(res).(*authv3.CheckResponse)
	m.DynamicMetadata.Fields[extauthz.MetadataDecisionID] = structpb.NewStringValue(maskedDecisionID)
	headers := m.GetDeniedResponse().GetHeaders()
	if ok := m.GetOkResponse(); ok != nil {
		headers = ok.GetHeaders()
	}
	headers[len(headers)-1].Header.Value = maskedDecisionID
	return m
}

// TestDecisionIDJoinsLogAndAnswers: every decision, allowed or denied,
// over gRPC or HTTP, cached or not, has its own id, and the decision log's
// line carries the same id as the answer (gRPC: the metadata and the
// header; HTTP: the response header), so the two logs can be joined.
func TestDecisionIDJoinsLogAndAnswers(t *testing.T) {
	a, _, _ := testKeys(t)
	logPath := filepath.Join(t.TempDir(), "decisions.jsonl")
	h := start(t, harnessOptions{policy: testPolicy(t),
		extra: fmt.Sprintf("decision_log: {output: %q, sample_allows: 1.0}\n", logPath)})
	tok := mint(t, a, validClaims())

	var answered []string // ids in answer order
	for range 4 {         // the repeats come from the decision cache
		answered = append(answered, decisionID(t, h.check(req{path: docPath, headers: bearer(tok)})))
	}
	answered = append(answered, decisionID(t, h.check(req{path: docPath})))
	for _, r := range []struct {
		token  string
		status int
	}{{tok, http.StatusOK}, {"", http.StatusUnauthorized}} {
		hr, err := http.NewRequest("GET", h.base+"/authz"+docPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.token != "" {
			hr.Header.Set("Authorization", "Bearer "+r.token)
		}
		hr.Header.Set("X-Auth-Decision-Id", "spoofed")
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		id := res.Header.Get("X-Auth-Decision-Id")
		if res.StatusCode != r.status || !decisionIDForm.MatchString(id) || len(res.Header.Values("X-Auth-Decision-Id")) != 1 {
			t.Fatalf("HTTP answer %d with decision ids %q, want %d and one id", res.StatusCode, res.Header.Values("X-Auth-Decision-Id"), r.status)
		}
		answered = append(answered, id)
	}
	h.stop() // flushes the log

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	for line := range strings.Lines(string(data)) {
		var e struct {
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		logged = append(logged, e.DecisionID)
	}
	if !slices.Equal(logged, answered) {
		t.Fatalf("logged decision ids\n%v\nanswered\n%v", logged, answered)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(answered)))) != len(answered) {
		t.Fatalf("a decision id was given twice: %v", answered)
	}
}
