package identity_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/edgeauthz/edgeauthz/identity"
)

// TestErrorCodesComplete: every code ErrorCode can return is listed.
func TestErrorCodesComplete(t *testing.T) {
	for _, err := range []error{identity.ErrNoToken, identity.ErrMalformed, identity.ErrExpired, identity.ErrNotYetValid,
		identity.ErrIssuer, identity.ErrAudience, identity.ErrSignature, identity.ErrUnknownKey, identity.ErrAlgorithm,
		identity.ErrLifetimeTooLong, identity.ErrInvalidToken, errors.New("other"), fmt.Errorf("wrapped: %w", identity.ErrExpired)} {
		if c := identity.ErrorCode(err); !slices.Contains(identity.ErrorCodes(), c) {
			t.Errorf("ErrorCode(%v) = %q, not in ErrorCodes()", err, c)
		}
	}
}
