package fgaoracle

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestTmpModel(t *testing.T) {
	o, _ := New()
	defer o.Close()
	for _, dsl := range strings.Split(os.Getenv("DSLS"), "----\n") {
		_, err := o.Load(context.Background(), dsl, nil)
		_, eerr := LoadEdge(dsl, nil)
		t.Logf("\n%s\nopenfga: %v\nedge: %v", dsl, err, eerr)
	}
}
