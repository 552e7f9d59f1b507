// Package leaktest fails a test binary whose code under test leaves
// goroutines running: servers, loaders, caches, JWKS refreshers, gRPC.
package leaktest

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// suspects are the packages whose goroutines must all have stopped.
var suspects = []string{"edgeauthz/edgeauthz/", "ristretto", "lestrrat-go/httprc", "google.golang.org/grpc"}

// Main runs the tests and then fails the run if a suspect goroutine is
// still alive. Use it as: func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if code == 0 {
		if leaked := leaked(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines outlived the tests:\n%s\n", leaked)
			code = 1
		}
	}
	return code
}

func leaked() string {
	http.DefaultClient.CloseIdleConnections()
	var found []string
	// Goroutines finish asynchronously after Close; this only bounds the wait.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		found = found[:0]
		for _, g := range stacks[1:] { // the first is this goroutine
			for _, s := range suspects {
				if strings.Contains(g, s) && !strings.Contains(g, "internal/leaktest") {
					found = append(found, g)
					break
				}
			}
		}
		if len(found) == 0 {
			return ""
		}
	}
	return strings.Join(found, "\n\n")
}
