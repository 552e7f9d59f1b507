// Package config reads edgeauthz's two file formats, the server configuration
// and the policy, into plain structs. Every error names file:line; unknown keys
// are refused; all errors of a file are reported at once.
package config
