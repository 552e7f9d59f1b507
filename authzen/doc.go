// Package authzen serves the OpenID AuthZEN Authorization API 1.0 (access
// evaluation, evaluations, subject/resource/action search and the
// .well-known metadata) over the decision core the edge uses: every answer
// comes from the engine's serving snapshot, so one policy answers Envoy and
// the applications alike.
//
// The API is closed to anyone who does not present a configured API key or
// a bearer token with a required scope or role. A Handler is safe for
// concurrent use: each request takes its working memory (body, decoder
// stacks, decoded items, answer) from the Handler's pool and hands it back
// emptied, so no two requests share any of it.
//
// Bodies are decoded in one pass by a decoder made for the request shape
// (decode.go, scan.go), which checks the JSON syntax as encoding/json does
// and refuses duplicate keys while it decodes.
package authzen
