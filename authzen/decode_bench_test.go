package authzen

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// batchBody is a 100-item evaluations body: one top-level subject, each
// item an action and a resource with properties.
func batchBody() []byte {
	var sb strings.Builder
	sb.WriteString(`{"subject":{"type":"user","id":"CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},"evaluations":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t` + strconv.Itoa(i) +
			`","properties":{"ownerID":"morty@the-citadel.com"}}}`)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// BenchmarkDecode100 decodes a 100-item batch with the request decoder
// (syntax, duplicate keys and fields in one pass) and, for comparison, with
// encoding/json into the same shape (fields only, no duplicate-key check).
func BenchmarkDecode100(b *testing.B) {
	body := batchBody()
	b.Run("decoder", func(b *testing.B) {
		var sc scratch
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			sc.reset()
			sc.body.Write(body)
			if err := sc.decode(fieldEvaluations | fieldOptions); err != nil || len(sc.req.items) != 100 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			var v refEvaluations
			if err := json.Unmarshal(body, &v); err != nil || len(v.Evaluations) != 100 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	})
}
