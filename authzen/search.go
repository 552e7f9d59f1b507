package authzen

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
)

// Page sizes of the search endpoints.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
	// searchTimeout bounds one search's candidate walk.
	searchTimeout = 2 * time.Second
)

type searchEntity struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type pageOut struct {
	NextToken string `json:"next_token"`
	Count     int    `json:"count"`
	Total     int    `json:"total"`
}

type searchResponse struct {
	Page    pageOut        `json:"page"`
	Context map[string]any `json:"context,omitempty"`
	Results []searchEntity `json:"results"`
}

func (c *call) search(ctx context.Context, snap *decision.Snapshot, sc *scratch, w which) (int, []byte, error) {
	if err := sc.decode(fieldPage); err != nil {
		return 0, nil, err
	}
	req := &sc.req
	var q decision.AccessRequest
	if err := req.toAccess(nil, w, &prep{c: c, snap: snap, all: true}, &sc.p, nil, &q); err != nil {
		return 0, nil, err
	}
	var err error
	limit := defaultPageLimit
	if req.hasLimit {
		limit = req.limit
		if limit <= 0 || limit > maxPageLimit {
			return 0, nil, badRequest("page.limit must be between 1 and %d", maxPageLimit)
		}
	}
	// The token binds the query it pages through: a token sent with another
	// query (or limit) is refused rather than answered with a wrong page.
	fp := fingerprint(&q, w, limit)
	offset := 0
	if req.hasToken && req.token != "" {
		if offset, err = readToken(req.token, fp); err != nil {
			return 0, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, searchTimeout)
	defer cancel()
	var ids []string
	var truncated bool
	switch w {
	case searchSubject:
		ids, truncated = snap.SearchSubjects(ctx, &q)
	case searchResource:
		ids, truncated = snap.SearchResources(ctx, &q)
	default:
		ids, truncated = snap.SearchActions(ctx, &q)
	}
	resp := searchResponse{Page: pageOut{Total: len(ids)}, Results: []searchEntity{}}
	if offset > len(ids) {
		offset = len(ids)
	}
	end := min(offset+limit, len(ids))
	for _, id := range ids[offset:end] {
		switch w {
		case searchSubject:
			resp.Results = append(resp.Results, searchEntity{Type: q.Subject.Type, ID: id})
		case searchResource:
			resp.Results = append(resp.Results, searchEntity{Type: q.Resource.Type, ID: id})
		default:
			resp.Results = append(resp.Results, searchEntity{Name: id})
		}
	}
	resp.Page.Count = len(resp.Results)
	if end < len(ids) {
		resp.Page.NextToken = makeToken(end, fp)
	}
	if truncated {
		resp.Context = map[string]any{"truncated": true}
	}
	c.logSearch(&q, snap.Revision(), len(ids))
	b, err := json.Marshal(&resp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, append(b, '\n'), nil
}

func (c *call) logSearch(q *decision.AccessRequest, revision string, n int) {
	res := decision.Result{Allowed: true, Reason: decision.ReasonAllowed, Revision: revision,
		Rule: "search", Detail: "results: " + strconv.Itoa(n)}
	c.log(q, &res)
}

// fingerprint hashes everything a page token must be sent with again.
func fingerprint(q *decision.AccessRequest, w which, limit int) [16]byte {
	b, _ := json.Marshal([]any{int(w), limit, q.Subject.Type, q.Subject.ID, q.Subject.Properties,
		q.Action.Name, q.Action.Properties, q.Resource.Type, q.Resource.ID, q.Resource.Properties, q.Context})
	sum := sha256.Sum256(b)
	var fp [16]byte
	copy(fp[:], sum[:16])
	return fp
}

// makeToken encodes the next offset with the query's fingerprint. The same
// query at the same offset always gets the same token.
func makeToken(offset int, fp [16]byte) string {
	var b [24]byte
	copy(b[:16], fp[:])
	binary.BigEndian.PutUint64(b[16:], uint64(offset))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func readToken(tok string, fp [16]byte) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 24 {
		return 0, badRequest("page.token is not a token this server issued")
	}
	if [16]byte(b[:16]) != fp {
		return 0, badRequest("page.token belongs to another query: send the same subject, action, resource, context and limit")
	}
	off := binary.BigEndian.Uint64(b[16:])
	if off > 1<<31 {
		return 0, badRequest("page.token is not a token this server issued")
	}
	return int(off), nil
}
