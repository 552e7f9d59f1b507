// Package authn is the one authentication step of every front door: the
// gRPC and HTTP authorization servers, the AuthZEN API, `edgeauthz check`
// and `edgeauthz test`. Headers go in, a decision.Caller comes out: no token,
// a refused token (with its error and error code), or a verified token's
// principal. Tokens are verified behind one small Verifier interface, and a
// verified token's principal may be kept in a token cache bounded by bytes.
//
// An Authenticator is safe for concurrent use; it changes neither the
// headers it reads nor the Caller it has returned.
package authn
