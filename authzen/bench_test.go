package authzen_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/authzen"
)

// BenchmarkEvaluationHTTP sends single evaluations over HTTP/1.1 keep-alive
// to the AuthZEN handler and, in the same run, to a trivial handler that
// only decodes the JSON body and answers a constant; it reports both and
// their ratio.
func BenchmarkEvaluationHTTP(b *testing.B) {
	az := httptest.NewServer(newHandler(b, "todo"))
	defer az.Close()
	trivial := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"decision":true}`+"\n")
	}))
	defer trivial.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	body := []byte(evalBody(morty, "can_update_todo", "morty@the-citadel.com"))
	send := func(url string) {
		req, _ := http.NewRequest(http.MethodPost, url+authzen.PathEvaluation, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"decision":true`)) {
			b.Fatalf("%d %s", resp.StatusCode, out)
		}
	}
	send(az.URL)
	send(trivial.URL)
	b.ReportAllocs()
	b.ResetTimer()
	var tAZ, tTrivial time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		send(az.URL)
		t1 := time.Now()
		send(trivial.URL)
		tAZ += t1.Sub(t0)
		tTrivial += time.Since(t1)
	}
	b.ReportMetric(float64(tAZ.Nanoseconds())/float64(b.N), "authzen-ns/req")
	b.ReportMetric(float64(tTrivial.Nanoseconds())/float64(b.N), "trivial-ns/req")
	b.ReportMetric(float64(tAZ)/float64(tTrivial), "ratio")
}

// batch builds an evaluations body of n items over the Todo example.
func batch(n int, actions ...string) []byte {
	var sb strings.Builder
	sb.WriteString(`{"subject":{"type":"user","id":"` + morty + `"},"evaluations":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"action":{"name":"` + actions[i%len(actions)] + `"},"resource":{"type":"todo","id":"t` +
			strings.Repeat("x", i%7) + `","properties":{"ownerID":"morty@the-citadel.com"}}}`)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// BenchmarkEvaluations100 is the server time of one 100-item batch, from
// the request to the written response, in process (no network).
func BenchmarkEvaluations100(b *testing.B) {
	h := newHandler(b, "todo")
	for _, c := range []struct {
		name    string
		actions []string
	}{
		{"roles", []string{"can_read_todos", "can_create_todo", "can_read_todos", "can_create_todo"}},
		{"roles+cel", []string{"can_update_todo", "can_delete_todo"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := batch(100, c.actions...)
			rec := httptest.NewRecorder()
			serve := func() {
				req := httptest.NewRequest(http.MethodPost, authzen.PathEvaluations, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer k")
				req.Header.Set("Content-Type", "application/json")
				rec.Body.Reset()
				h.ServeHTTP(rec, req)
			}
			serve()
			if rec.Code != 200 || bytes.Count(rec.Body.Bytes(), []byte(`"decision":true`)) != 100 {
				b.Fatalf("%d %s", rec.Code, rec.Body.Bytes())
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := authzen.CPUTime()
			for i := 0; i < b.N; i++ {
				serve()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/batch")
			b.ReportMetric(float64((authzen.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/batch")
		})
	}
}

// TestBatchAllocationsPerItem: a role batch allocates nothing per item: a
// 100-item batch allocates no more than a 10-item one (the request's own
// allocations, the body among them, are the same for both).
func TestBatchAllocationsPerItem(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	h := newHandler(t, "todo")
	allocs := func(n int) float64 {
		body := batch(n, "can_read_todos", "can_create_todo")
		rec := httptest.NewRecorder()
		serve := func() {
			req := httptest.NewRequest(http.MethodPost, authzen.PathEvaluations, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			rec.Body.Reset()
			h.ServeHTTP(rec, req)
		}
		serve()
		if rec.Code != 200 || bytes.Count(rec.Body.Bytes(), []byte(`"decision":true`)) != n {
			t.Fatalf("%d %s", rec.Code, rec.Body.Bytes())
		}
		return testing.AllocsPerRun(200, serve)
	}
	small, large := allocs(10), allocs(100)
	if large > small+1 {
		t.Errorf("a 100-item batch allocates %v times, a 10-item batch %v: items allocate", large, small)
	}
	t.Logf("allocations per request: %v (10 items), %v (100 items)", small, large)
}
