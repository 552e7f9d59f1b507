// Package examples holds the bundled example policy, served by
// `edgeauthz serve` when it is given no configuration.
package examples

import _ "embed"

// Policy is examples/policy.yaml.
//
//go:embed policy.yaml
var Policy []byte

// Issuer is the development token issuer of the bundled example.
const Issuer = "https://dev.edgeauthz.local"

// Audience is the audience the bundled example's tokens carry.
const Audience = "api"
