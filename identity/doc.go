// Package identity verifies callers' JSON Web Tokens against configured issuers
// and mints development keys and tokens.
package identity
