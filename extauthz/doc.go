// Package extauthz adapts edgeauthz's decision core to Envoy's ext_authz v3
// protocol over gRPC and to the HTTP authorization endpoint.
package extauthz
