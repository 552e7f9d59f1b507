package extauthz

import (
	"encoding/json"
	"math/rand/v2"
	"time"
)

// AccessEntry is one AuthZEN decision in the decision log. It shares the
// log (and its sampling of allows) with edge decisions; API tells them
// apart.
type AccessEntry struct {
	Time time.Time `json:"time"`
	// DecisionID is set by LogAccess when empty.
	DecisionID string  `json:"decision_id"`
	API        string  `json:"api"` // "authzen"
	Endpoint   string  `json:"endpoint"`
	RequestID  string  `json:"request_id,omitempty"`
	Caller     string  `json:"caller,omitempty"`
	Decision   string  `json:"decision"`
	Reason     string  `json:"reason"`
	Rule       string  `json:"rule,omitempty"`
	Subject    string  `json:"subject"`
	Action     string  `json:"action"`
	Resource   string  `json:"resource"`
	Required   string  `json:"required,omitempty"`
	Detail     string  `json:"detail,omitempty"`
	Revision   string  `json:"revision,omitempty"`
	LatencyUS  float64 `json:"latency_us"`
}

// WantsAccess reports whether a decision with this outcome is logged: every
// deny, allows at the sampling rate. Callers check it before building an
// entry.
func (l *DecisionLog) WantsAccess(allowed bool) bool {
	if l == nil {
		return false
	}
	return !allowed || (l.sampleAllows > 0 && rand.Float64() < l.sampleAllows)
}

// LogAccess writes an AuthZEN decision.
func (l *DecisionLog) LogAccess(e *AccessEntry) {
	if l == nil {
		return
	}
	if e.DecisionID == "" {
		e.DecisionID = l.ids.Next().String()
	}
	e.mask(l.mask)
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	l.mu.Lock()
	_, _ = l.w.Write(append(b, '\n'))
	l.mu.Unlock()
}
