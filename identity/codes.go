package identity

// ErrorCodes lists every non-empty value ErrorCode returns, so that a metric
// labelled with them can be resolved up front and stays bounded.
func ErrorCodes() []string {
	return []string{"no_token", "malformed", "expired", "not_yet_valid", "bad_issuer", "bad_audience",
		"bad_signature", "unknown_kid", "alg_not_allowed", "lifetime_too_long", "invalid_token", "error"}
}
