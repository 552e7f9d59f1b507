package server_test

import (
	"context"
	"testing"
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
