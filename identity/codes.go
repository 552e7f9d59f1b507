package identity

// ErrorCodes lists every non-empty value ErrorCode returns, so that a metric
// labelled with them can be resolved up front and stays bounded.
func ErrorCodes() []string {
	return []string{"no_token", "malformed", "expired", "not_yet_valid", "issuer", "audience",
		"signature", "unknown_key", "algorithm", "lifetime_too_long", "invalid_token", "error"}
}
