package extauthz_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Servers, loaders, caches, JWKS refreshers and gRPC connections must all
// stop when the tests close them; a goroutine that outlives the run fails it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The default HTTP client's idle keep-alive connections belong to
		// net/http, not to the code under test.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
