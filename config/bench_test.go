package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

// BenchmarkParsePolicy1M parses a policy listing a million tuples, the
// shape of relay's BenchmarkBootstrap1MProcess/file: /plain as a block list
// of plain strings and /single with every item single-quoted (both read on
// their own), /quoted with every item double-quoted (read by yaml.v3 item
// by item).
func BenchmarkParsePolicy1M(b *testing.B) {
	for _, c := range []struct{ name, quote string }{{"plain", ""}, {"single", "'"}, {"quoted", `"`}} {
		quote := c.quote
		b.Run(c.name, func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("model: |\n  model\n    schema 1.1\n  type user\n  type team\n    relations\n      define member: [user, team#member]\n  type document\n    relations\n      define viewer: [user, team#member]\ntuples:\n")
			for i := 1; i <= 1_000_000; i++ {
				if i%2 == 0 {
					fmt.Fprintf(&sb, "  - %steam:t%d#member@user:u%d%s\n", quote, i%10000, i, quote)
				} else {
					fmt.Fprintf(&sb, "  - %sdocument:d%d#viewer@team:t%d#member%s\n", quote, i, i%10000, quote)
				}
			}
			data := []byte(sb.String())
			b.ReportAllocs()
			for b.Loop() {
				p, err := config.ParsePolicy("p.yaml", data)
				if err != nil || len(p.Tuples) != 1_000_000 {
					b.Fatalf("%v, %d tuples", err, len(p.Tuples))
				}
			}
		})
	}
}
