package decision

import "net/http"

// Reason says why a request was allowed or denied. Reasons double as metric
// labels and as the `reason` of deny bodies and decision logs.
type Reason uint8

// The reasons, in the order the checks run (the order the README's reasons table documents).
const (
	ReasonAllowed Reason = iota
	ReasonPublic
	ReasonNoSnapshot
	ReasonStaleSnapshot
	ReasonBadPath
	ReasonBadRequest
	ReasonNoRoute
	ReasonNoToken
	ReasonInvalidToken
	ReasonRevoked
	ReasonNoOrg
	ReasonTenantMismatch
	ReasonMissingRole
	ReasonMissingScope
	ReasonTemplateUnbound
	ReasonRelationDenied
	ReasonRelationDepth
	ReasonRelationError
	ReasonConditionFalse
	ReasonConditionError
	// ReasonMonitor is an allow by a route in monitor mode whose
	// requirements would have denied; Result.MonitoredReason says why.
	ReasonMonitor
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonAllowed:         "allowed",
	ReasonPublic:          "public",
	ReasonNoSnapshot:      "no_snapshot",
	ReasonStaleSnapshot:   "stale_snapshot",
	ReasonBadPath:         "bad_path",
	ReasonBadRequest:      "bad_request",
	ReasonNoRoute:         "no_route",
	ReasonNoToken:         "no_token",
	ReasonInvalidToken:    "invalid_token",
	ReasonRevoked:         "revoked",
	ReasonNoOrg:           "no_org",
	ReasonTenantMismatch:  "tenant_mismatch",
	ReasonMissingRole:     "missing_role",
	ReasonMissingScope:    "missing_scope",
	ReasonTemplateUnbound: "template_unbound",
	ReasonRelationDenied:  "relation_denied",
	ReasonRelationDepth:   "relation_depth",
	ReasonRelationError:   "relation_error",
	ReasonConditionFalse:  "condition_false",
	ReasonConditionError:  "condition_error",
	ReasonMonitor:         "monitor",
}

var reasonMessages = [numReasons]string{
	ReasonAllowed:         "allowed",
	ReasonPublic:          "public route",
	ReasonNoSnapshot:      "no policy is loaded yet",
	ReasonStaleSnapshot:   "the policy is older than the allowed staleness",
	ReasonBadPath:         "the request path is not canonical",
	ReasonBadRequest:      "the request method is not valid",
	ReasonNoRoute:         "no route matches the request",
	ReasonNoToken:         "a bearer token is required",
	ReasonInvalidToken:    "the bearer token is not valid",
	ReasonRevoked:         "the token or its subject has been revoked",
	ReasonNoOrg:           "the token names no organization",
	ReasonTenantMismatch:  "not found",
	ReasonMissingRole:     "a required role is missing",
	ReasonMissingScope:    "a required scope is missing",
	ReasonTemplateUnbound: "a value the rule needs is absent from the request",
	ReasonRelationDenied:  "no relationship grants access",
	ReasonRelationDepth:   "the relationship check exceeded its depth limit",
	ReasonRelationError:   "a relationship condition could not be evaluated",
	ReasonConditionFalse:  "the rule's condition is false",
	ReasonConditionError:  "the rule's condition could not be evaluated",
	ReasonMonitor:         "allowed by a route in monitor mode",
}

// String returns the reason's stable name, e.g. "missing_scope".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Message is a short, client-safe sentence for the reason.
func (r Reason) Message() string {
	if r < numReasons {
		return reasonMessages[r]
	}
	return "denied"
}

// ParseReason maps a reason name back to the Reason.
func ParseReason(s string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), true
		}
	}
	return 0, false
}

// Allowed reports whether the reason is an allow.
func (r Reason) Allowed() bool { return r == ReasonAllowed || r == ReasonPublic || r == ReasonMonitor }

// Monitorable reports whether a route in monitor mode turns a deny for the
// reason into an allow: only the route's authorization requirements are
// monitored. Identity (no_token, invalid_token, revoked), requests that
// cannot be read unambiguously, unmatched requests and an unavailable
// policy are enforced on every route.
func (r Reason) Monitorable() bool { return r >= ReasonNoOrg && r <= ReasonConditionError }

// Status is the HTTP status for the reason: the one place where reasons map
// to statuses. tenantMismatch is the configured status for tenant_mismatch.
func (r Reason) Status(tenantMismatch int) int {
	switch r {
	case ReasonAllowed, ReasonPublic, ReasonMonitor:
		return http.StatusOK
	case ReasonNoSnapshot, ReasonStaleSnapshot:
		return http.StatusServiceUnavailable
	case ReasonBadPath, ReasonBadRequest:
		return http.StatusBadRequest
	case ReasonNoToken, ReasonInvalidToken, ReasonRevoked:
		return http.StatusUnauthorized
	case ReasonTenantMismatch:
		if tenantMismatch == http.StatusForbidden {
			return http.StatusForbidden
		}
		return http.StatusNotFound
	default:
		return http.StatusForbidden
	}
}
