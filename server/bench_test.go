package server_test

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// BenchmarkGRPCCheck is one Check over loopback through the whole server,
// limits included (the stream admission runs on every call).
func BenchmarkGRPCCheck(b *testing.B) {
	r := startServer(b, []byte(policyOpen), "")
	req := checkRequest("GET", "/steady", nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.client.Check(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGRPCCheckTransport compares one Check over plain TCP and over
// mutual TLS (SPIFFE allow-list on), on connections already established:
// the steady-state cost of TLS records, not of handshakes.
func BenchmarkGRPCCheckTransport(b *testing.B) {
	req := checkRequest("GET", "/steady", nil)
	run := func(b *testing.B, client authv3.AuthorizationClient) {
		if _, err := client.Check(context.Background(), req); err != nil {
			b.Fatal(err) // connect before the clock starts
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := client.Check(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("plain", func(b *testing.B) {
		run(b, startServer(b, []byte(policyOpen), "").client)
	})
	b.Run("mtls", func(b *testing.B) {
		f := newTLSFixture(b)
		r := f.start(b)
		run(b, dialTLS(b, r.srv.GRPCAddr(), f.client(b, f.envoyCert, f.envoyKey)))
	})
}
