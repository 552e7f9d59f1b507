// Package edgetest runs a real edgeauthz server in-process for tests, and is
// meant for tests only.
//
// Start writes the policy, the configuration and a signing key's JWKS into a
// temporary folder, parses the configuration with the same loader the binary
// uses, and runs server.New and Run on loopback ports chosen by the kernel.
// It waits for the first policy snapshot, then offers a gRPC ext_authz
// client, the HTTP and admin base URLs, the server's log, the decision log,
// and a token minter for the key it published. Everything it starts stops in
// t.Cleanup (or earlier, through Stop), so a package may check with goleak
// that no goroutine outlives its tests.
//
// A Server is used from the test goroutine; Logs may be read from any
// goroutine.
package edgetest
