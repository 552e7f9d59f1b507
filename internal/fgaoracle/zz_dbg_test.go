package fgaoracle

import (
	"context"
	"flag"
	"testing"
)

var flagDbgClass = flag.String("dbg.class", "", "")

func TestZZDbg(t *testing.T) {
	if *flagDbgClass == "" {
		t.Skip()
	}
	df := newDiffer(t)
	var st Stats
	for s := int64(1); s <= int64(*flagFixed); s++ {
		c := Generate(s, DefaultSizes)
		ds, err := df.Run(context.Background(), c, &st)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if k := known(d, false); k == *flagDbgClass || (*flagDbgClass == "any" && k == "") {
				t.Logf("seed %d: %s\n%s", s, d, d.Model.DSL())
			}
		}
	}
}
