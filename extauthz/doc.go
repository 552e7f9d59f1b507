// Package extauthz adapts edgeauthz's decision core to Envoy's ext_authz v3
// protocol over gRPC and to the HTTP authorization endpoint.
//
// Beside the enforced decision it can compare a shadow (candidate) policy's
// (shadow.go): off the response path, through a bounded queue that one
// worker drains. The decision log (log.go) can record each decision's inputs
// (loginput.go) so that a log can be replayed against another policy.
package extauthz
