package extauthz

import (
	"context"
	"hash/maphash"
	"strings"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeauthz/edgeauthz/cache"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/decisionid"
)

// cachedDecision is what a decision cache hit returns: the decision and,
// once a gRPC caller asked for it, its CheckResponse (without a decision
// id) with every part already encoded.
type cachedDecision struct {
	res  decision.Result
	grpc atomic.Pointer[authv3.CheckResponse]
}

// grpcResponse returns the cached decision's CheckResponse parts, building
// and encoding them on first use. A reply shares them and adds its own
// decision id (grpcCall.reply).
func (c *cachedDecision) grpcResponse(a *Authorizer) *authv3.CheckResponse {
	if r := c.grpc.Load(); r != nil {
		return r
	}
	r := preEncodedParts(a.response(&c.res, decisionid.ID{}, nil))
	c.grpc.Store(r)
	return r
}

// preEncodedParts returns a message whose parts (status, HTTP response,
// metadata) each marshal to exactly m's bytes for them at the cost of a
// copy: a part's encoding is carried as the unknown fields of an empty
// message of its type, which protobuf writes out verbatim. A cache hit so
// re-encodes no headers or metadata, and its reply can still add fields of
// its own (protobuf merges a repeated message field).
func preEncodedParts(m *authv3.CheckResponse) *authv3.CheckResponse {
	w := &authv3.CheckResponse{Status: encodedAs(m.Status), DynamicMetadata: encodedAs(m.DynamicMetadata)}
	switch h := m.HttpResponse.(type) {
	case *authv3.CheckResponse_OkResponse:
		w.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: encodedAs(h.OkResponse)}
	case *authv3.CheckResponse_DeniedResponse:
		w.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: encodedAs(h.DeniedResponse)}
	default:
		w.HttpResponse = m.HttpResponse
	}
	return w
}

// encodedAs returns an empty M carrying m's encoding, or m when it has none
// to carry.
func encodedAs[M proto.Message](m M) M {
	if !m.ProtoReflect().IsValid() {
		return m
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return m
	}
	w := m.ProtoReflect().New().Interface().(M)
	w.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
	return w
}

// outcome is one Check's decision with what the transports and the log need.
type outcome struct {
	res    decision.Result
	cached *cachedDecision // set on a cache hit or when the decision was stored
	hit    bool
	start  time.Time
	method string
	path   string
	// id names the decision in the log, the metadata and the headers.
	id decisionid.ID
	// tokenErr is identity.ErrorCode of a refused token, else "".
	tokenErr string
	// req and snap are what was decided from, for the log's inputs and
	// the shadow policy; nil when no policy was asked.
	req    *decision.Request
	snap   *decision.Snapshot
	caller decision.Caller
}

// seeds are per process: keys are unpredictable to clients, so they cannot
// aim collisions at another caller's entry.
type keySeeds struct{ lo, hi maphash.Seed }

func newKeySeeds() keySeeds { return keySeeds{lo: maphash.MakeSeed(), hi: maphash.MakeSeed()} }

// decideOnce runs one authorization: caller, cache, decision, metrics,
// log. check (trace.go) calls it, in a span when tracing is on.
func (a *Authorizer) decideOnce(ctx context.Context, req *decision.Request) outcome {
	o := outcome{start: a.now(), method: req.Method, path: req.Target, id: a.ids.Next()}
	snap, unavailable, ok := a.engine.Acquire()
	if !ok {
		o.res = unavailable
		a.record(&o)
		return o
	}
	// Revocations are checked by Decide, against the snapshot, so a cached
	// principal is still refused once revoked.
	who := a.authn.Authenticate(ctx, req.Headers)
	a.metrics.tokenLookup(who.Lookup)
	o.tokenErr = who.Caller.ErrorCode
	o.req, o.snap, o.caller = req, snap, who.Caller

	var key cache.Key
	// The key leaves out headers no rule reads: a method override, which
	// Decide refuses, must not find the decision of the same request
	// without it.
	useCache := a.decisions != nil && who.Caller.Token != decision.TokenInvalid && !a.hasIdentityHeaders(req.Headers) &&
		decision.CheckMethodOverride(req.Method, req.Headers) == nil &&
		decision.CheckMethodParam(req.Method, req.Target, req.Headers, req.Body) == nil
	if useCache {
		key = a.cacheKey(snap, req, &who.Caller, &who.TokenKey)
		if c, ok := a.decisions.Get(key); ok {
			a.metrics.cacheHit("decision")
			o.res, o.cached, o.hit = c.res, c, true
			a.record(&o)
			a.shadow.offer(&o)
			return o
		}
		a.metrics.cacheMiss("decision")
	}
	o.res = snap.Decide(req, who.Caller)
	// A decision the cache does not admit (a key seen for the first time)
	// is answered directly, without building an entry or pre-encoding.
	if useCache && o.res.Cacheable && a.decisions.Admit(key) {
		c := &cachedDecision{res: o.res}
		a.decisions.Set(key, c, decisionBytes(c))
		o.cached = c
	}
	a.record(&o)
	a.shadow.offer(&o)
	return o
}

// refuse records a deny decided by the transport before the policy is asked
// (a request it cannot describe unambiguously).
func (a *Authorizer) refuse(req *decision.Request, r decision.Reason, detail string) outcome {
	o := outcome{start: a.now(), method: req.Method, path: req.Target, id: a.ids.Next()}
	o.res = decision.Result{Reason: r, Status: r.Status(0), Detail: detail}
	if snap, _ := a.engine.Snapshot(); snap != nil {
		o.res.Revision = snap.Revision()
	}
	a.record(&o)
	return o
}

// hasIdentityHeaders reports whether the client sent headers with the
// identity prefix; such a request's response must strip them, so it is not
// served from (or stored in) the cache.
func (a *Authorizer) hasIdentityHeaders(h map[string]string) bool {
	for k := range h {
		if strings.HasPrefix(k, a.headers.Prefix) {
			return true
		}
	}
	return false
}

// cacheKey hashes everything a decision can depend on: the snapshot, the
// token, the method, host, raw target (with its query), the context
// extensions and the headers some rule reads.
func (a *Authorizer) cacheKey(snap *decision.Snapshot, req *decision.Request, c *decision.Caller, tokenHash *[32]byte) cache.Key {
	var lo, hi maphash.Hash
	lo.SetSeed(a.seeds.lo)
	hi.SetSeed(a.seeds.hi)
	write := func(s string) {
		lo.WriteString(s)
		lo.WriteByte(0)
		hi.WriteString(s)
		hi.WriteByte(0)
	}
	write(snap.Revision())
	if c.Token == decision.TokenValid {
		lo.Write(tokenHash[:])
		hi.Write(tokenHash[:])
	} else {
		write("-")
	}
	write(req.Method)
	write(strings.ToLower(req.Host))
	write(req.Target)
	// Map order is random; combine the pairs order-independently.
	var ctxLo, ctxHi uint64
	for k, v := range req.Context {
		ctxLo += pairHash(a.seeds.lo, k, v)
		ctxHi += pairHash(a.seeds.hi, k, v)
	}
	names, all := snap.CacheKeyHeaders()
	var hLo, hHi uint64
	if all {
		for k, v := range req.Headers {
			hLo += pairHash(a.seeds.lo, k, v)
			hHi += pairHash(a.seeds.hi, k, v)
		}
	} else {
		for _, n := range names {
			write(req.Headers[n])
		}
	}
	return cache.Key{Lo: lo.Sum64() ^ ctxLo ^ hLo*31, Hi: hi.Sum64() ^ ctxHi ^ hHi*31}
}

func pairHash(seed maphash.Seed, k, v string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(k)
	h.WriteByte(0)
	h.WriteString(v)
	return h.Sum64()
}
