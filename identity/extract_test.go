package identity_test

import (
	"errors"
	"testing"

	"github.com/edgeauthz/edgeauthz/identity"
)

func TestExtract(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
	tests := []struct {
		name    string
		ext     identity.Extractor
		headers map[string]string
		want    string
		err     error
	}{
		{"bearer", identity.Extractor{}, map[string]string{"authorization": "Bearer " + tok}, tok, nil},
		{"scheme is case-insensitive", identity.Extractor{}, map[string]string{"authorization": "bEaReR " + tok}, tok, nil},
		{"surrounding spaces", identity.Extractor{}, map[string]string{"authorization": "  Bearer   " + tok + " "}, tok, nil},
		{"two authorization values", identity.Extractor{}, map[string]string{"authorization": "Bearer " + tok + ", Bearer " + tok}, "", identity.ErrMalformed},
		{"basic", identity.Extractor{}, map[string]string{"authorization": "Basic dXNlcjpwYXNz"}, "", identity.ErrMalformed},
		{"bare token in authorization", identity.Extractor{}, map[string]string{"authorization": tok}, "", identity.ErrMalformed},
		{"bearer without token", identity.Extractor{}, map[string]string{"authorization": "Bearer "}, "", identity.ErrMalformed},
		{"token with a space", identity.Extractor{}, map[string]string{"authorization": "Bearer a b"}, "", identity.ErrMalformed},
		{"token with a quote", identity.Extractor{}, map[string]string{"authorization": `Bearer "abc"`}, "", identity.ErrMalformed},
		{"absent", identity.Extractor{}, map[string]string{"host": "x"}, "", identity.ErrNoToken},
		{"empty header is absent", identity.Extractor{}, map[string]string{"authorization": " "}, "", identity.ErrNoToken},
		{"nil headers", identity.Extractor{}, nil, "", identity.ErrNoToken},

		{"custom header, raw token", identity.Extractor{Header: "X-Token"}, map[string]string{"x-token": tok}, tok, nil},
		{"custom header, bearer", identity.Extractor{Header: "x-token"}, map[string]string{"x-token": "Bearer " + tok}, tok, nil},
		{"custom header, two values", identity.Extractor{Header: "x-token"}, map[string]string{"x-token": tok + "," + tok}, "", identity.ErrMalformed},
		{"custom header ignores authorization", identity.Extractor{Header: "x-token"}, map[string]string{"authorization": "Bearer " + tok}, "", identity.ErrNoToken},

		{"cookie", identity.Extractor{Cookie: "accessToken"}, map[string]string{"cookie": "a=1; accessToken=" + tok + "; b=2"}, tok, nil},
		{"quoted cookie", identity.Extractor{Cookie: "accessToken"}, map[string]string{"cookie": `accessToken="` + tok + `"`}, tok, nil},
		{"cookie from joined cookie headers", identity.Extractor{Cookie: "at"}, map[string]string{"cookie": "x=1, at=" + tok}, tok, nil},
		{"two cookies of the name", identity.Extractor{Cookie: "at"}, map[string]string{"cookie": "at=" + tok + "; at=" + tok}, "", identity.ErrMalformed},
		{"cookie name is a prefix", identity.Extractor{Cookie: "at"}, map[string]string{"cookie": "att=" + tok}, "", identity.ErrNoToken},
		{"empty cookie", identity.Extractor{Cookie: "at"}, map[string]string{"cookie": "at="}, "", identity.ErrMalformed},
		{"header first, then cookie", identity.Extractor{Cookie: "at"}, map[string]string{"authorization": "Bearer " + tok, "cookie": "at=other"}, tok, nil},
		{"bad header is not rescued by the cookie", identity.Extractor{Cookie: "at"}, map[string]string{"authorization": "Basic x", "cookie": "at=" + tok}, "", identity.ErrMalformed},
		{"cookie when the header is absent", identity.Extractor{Header: "x-token", Cookie: "at"}, map[string]string{"cookie": "at=" + tok}, tok, nil},
		{"cookie not configured", identity.Extractor{}, map[string]string{"cookie": "at=" + tok}, "", identity.ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ext.Extract(tt.headers)
			if got != tt.want {
				t.Errorf("token = %q, want %q", got, tt.want)
			}
			if tt.err == nil && err != nil {
				t.Fatalf("error = %v", err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestExtractDoesNotAllocate(t *testing.T) {
	headers := map[string]string{"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln", "cookie": "a=1; at=x.y.z"}
	for _, e := range []identity.Extractor{{}, {Header: "x-token", Cookie: "at"}} {
		if n := testing.AllocsPerRun(100, func() { e.Extract(headers) }); n != 0 {
			t.Errorf("%+v: Extract allocates %.0f times", e, n)
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	headers := map[string]string{"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln", "host": "x"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (identity.Extractor{}).Extract(headers); err != nil {
			b.Fatal(err)
		}
	}
}
