package extauthz

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// Mask says which decision-log fields are dropped and which are replaced
// by a hash before a line is written (so before it leaves the process, by
// any sink). Fields are named as in the line: sub, org, path, rule,
// required, detail for edge decisions; subject, resource, caller for AuthZEN
// ones.
type Mask struct {
	Drop []string
	Hash []string
}

// maskable are the names a Mask may use.
var maskable = []string{"sub", "org", "path", "rule", "required", "detail", "subject", "resource", "caller"}

// MaskableFields lists the field names a Mask accepts.
func MaskableFields() []string { return slices.Clone(maskable) }

// Validate refuses unknown field names and a field both dropped and hashed.
func (m Mask) Validate() error {
	for _, f := range append(slices.Clone(m.Drop), m.Hash...) {
		if !slices.Contains(maskable, f) {
			return fmt.Errorf("decision_log.mask: %q is not one of %v", f, maskable)
		}
	}
	for _, f := range m.Drop {
		if slices.Contains(m.Hash, f) {
			return fmt.Errorf("decision_log.mask: %q is both dropped and hashed", f)
		}
	}
	return nil
}

func (m *Mask) empty() bool { return m == nil || len(m.Drop)+len(m.Hash) == 0 }

// apply masks the named fields among fields (name → pointer).
func (m *Mask) apply(fields map[string]*string) {
	for _, f := range m.Drop {
		if p := fields[f]; p != nil {
			*p = ""
		}
	}
	for _, f := range m.Hash {
		if p := fields[f]; p != nil && *p != "" {
			*p = hashValue(*p)
		}
	}
}

// hashValue is a stable pseudonym: equal values still correlate across
// lines, the value itself is not written. A guessable value (a small
// id space) can be recovered by hashing guesses; drop such fields instead.
func hashValue(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:12])
}

func (e *Entry) mask(m *Mask) {
	if m.empty() {
		return
	}
	m.apply(map[string]*string{"sub": &e.Subject, "org": &e.Org, "path": &e.Path, "rule": &e.Rule,
		"required": &e.Required, "detail": &e.Detail})
}

func (e *AccessEntry) mask(m *Mask) {
	if m.empty() {
		return
	}
	m.apply(map[string]*string{"subject": &e.Subject, "resource": &e.Resource, "caller": &e.Caller,
		"rule": &e.Rule, "required": &e.Required, "detail": &e.Detail})
}
