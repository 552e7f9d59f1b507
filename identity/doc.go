// Package identity verifies callers' JSON Web Tokens against configured issuers
// and mints development keys and tokens.
//
// # Verification
//
// A Verifier trusts a set of issuers, each with keys from a JWKS file, a JWKS
// URL or an HMAC secret. Verify takes a compact JWS and:
//
//   - picks the issuer by the token's iss (unknown: ErrIssuer);
//   - accepts RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA, and
//     HS256/384/512 only for an issuer with an HMAC secret at least as long as
//     the hash; "none", ES256K and anything else is ErrAlgorithm;
//   - refuses key confusion: the key named by kid must be of the kind the
//     header alg needs (RSA, the alg's EC curve, Ed25519) and, when the JWK
//     names an alg, that alg; symmetric keys are never taken from a JWKS, and
//     keys embedded in the token header (jwk, jku, x5u, x5c) are never used;
//   - without a kid, uses the issuer's only key that fits the alg; with one,
//     tries every key published under it that fits the alg;
//   - on an unknown kid, or when no key under a known kid verifies the
//     signature (a key replaced under the same kid), refreshes the issuer's
//     JWKS (URL or file) at most once per Config.MinRefresh, then looks once
//     more (ErrUnknownKey, ErrSignature);
//   - checks the signature before any claim, then exp (required), nbf and iat
//     (not in the future) with Config.Leeway, the lifetime (exp − iat, or
//     exp − now without iat) against Config.MaxLifetime (24h by default;
//     ErrLifetimeTooLong), and aud against the issuer's Audiences (when any
//     are configured).
//
// # Reusing a verification
//
// A Token records the key that verified it. Token.Trusted tells a token
// cache whether the verification may still be reused: for Config.ReuseFor
// after Verify, while the Verifier is open, and while the issuer's current
// keys still hold that key. A key removed from the JWKS, or replaced under
// its kid, ends the trust of every token it signed. Trusted does not
// allocate. It looks the key up only once per token after the issuer's key
// set changed (a refresh that brings the same keys keeps the installed set);
// otherwise it is a few atomic loads.
//
// Errors are sentinels for callers to branch on; all but ErrNoToken match
// ErrInvalidToken. Their messages are fixed and never contain the token, so
// they can go back to the client. ErrorCode gives a metric label.
//
// Claims are decoded with encoding/json: numbers are float64.
//
// # Keys from URLs
//
// JWKS URLs are fetched with jwx's jwk.Cache. New waits up to 5s for the
// first fetches; an issuer whose keys could not be fetched is not a
// configuration error: it is logged, reported to Config.OnRefresh and retried
// with backoff (1s doubling to 30s) until it succeeds, and its tokens fail
// with ErrUnknownKey meanwhile. After that the set is refetched every
// Config.RefreshInterval; the server's Cache-Control max-age and Expires are
// ignored, so that a year's max-age cannot keep a withdrawn key. A fetched
// set without a usable key keeps the previous keys. Responses are limited to
// 1 MiB and non-200 statuses are errors. Redirects are followed at most 3
// times, never from https to http, and to another origin only when every
// issuer of the URL sets Issuer.AllowCrossOriginRedirects.
//
// JWKS files are read again every Config.FilePollInterval (5s) and their keys
// replaced when the content changed.
//
// # Concurrency
//
// A Verifier is safe for concurrent use. Each issuer's keys are an immutable
// index swapped atomically; Verify loads it once. Concurrent requests with an
// unknown kid share one fetch. The background goroutines (this package's and
// jwk.Cache's) stop when the context given to New is done or Close is called;
// Close waits for this package's own. Verify keeps working after Close with
// the keys it has.
//
// # Extraction
//
// Extractor finds the token in Envoy's lower-cased request headers: the
// Authorization Bearer token, or a configured header or cookie. Envoy joins
// repeated headers with commas, so a comma is ErrMalformed rather than a
// choice between two tokens; so are two cookies of the configured name.
//
// # Development keys
//
// GenerateKey, WriteKeyPair and Mint back `edgeauthz keygen` and
// `edgeauthz token`: the kid is the key's RFC 7638 thumbprint, so a minted
// token names the key in the written JWKS.
package identity
