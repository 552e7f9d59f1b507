package extauthz

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/decisionid"
)

// MetadataDecisionID is the dynamic-metadata key of the decision id
// (README: Decision ids).
const MetadataDecisionID = "decision_id"

// grpcCall is one gRPC Check's decision input and, on a cache hit, its
// reply, in one allocation.
type grpcCall struct {
	req  decision.Request
	resp authv3.CheckResponse
	// buf holds the reply's decision-id fragment; a header prefix too
	// long for it costs an allocation, nothing else.
	buf [128]byte
}

// reply answers with a cached decision's pre-encoded parts plus this
// decision's id. The id goes in as a second encoding of the HTTP response
// (with one header) and of the metadata (with one key), written after the
// shared parts: a protobuf reader merges a message field that appears twice,
// appending to its repeated fields and adding to its maps, so Envoy reads
// the cached headers followed by the id header, and the cached metadata
// with decision_id, exactly as an uncached response carries them.
func (c *grpcCall) reply(parts *authv3.CheckResponse, frags *[2]idFragment, id decisionid.ID) *authv3.CheckResponse {
	r := &c.resp
	r.Status, r.HttpResponse, r.DynamicMetadata = parts.Status, parts.HttpResponse, parts.DynamicMetadata
	f := &frags[0]
	if _, allowed := parts.HttpResponse.(*authv3.CheckResponse_OkResponse); allowed {
		f = &frags[1]
	}
	b := append(c.buf[:0], f.b...)
	id.Put(b[f.at[0]:])
	copy(b[f.at[1]:f.at[1]+decisionid.Len], b[f.at[0]:])
	r.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
	return r
}

// idFragment is the encoding of a CheckResponse holding only a decision id
// (appendIDFragment), with the two places the id goes.
type idFragment struct {
	b  []byte
	at [2]int
}

// idFragments returns the deny and the allow fragments for an id header.
func idFragments(header string) [2]idFragment {
	var f [2]idFragment
	for i, allowed := range []bool{false, true} {
		f[i].b, f[i].at = appendIDFragment(nil, allowed, header)
	}
	return f
}

// Field numbers of envoy.service.auth.v3 and google.protobuf.Struct that
// appendIDFragment and metadata write (TestIDFragmentMergesAsResponse and
// TestMetadataEncoding hold them to the generated code).
const (
	fieldDeniedResponse  = 2 // CheckResponse.denied_response
	fieldOkResponse      = 3 // CheckResponse.ok_response
	fieldDynamicMetadata = 4 // CheckResponse.dynamic_metadata
	fieldHTTPHeaders     = 2 // OkHttpResponse.headers, DeniedHttpResponse.headers
	fieldOptionHeader    = 1 // HeaderValueOption.header
	fieldOptionAction    = 3 // HeaderValueOption.append_action
	fieldHeaderKey       = 1 // HeaderValue.key
	fieldHeaderValue     = 2 // HeaderValue.value
	fieldStructFields    = 1 // Struct.fields (map entries)
	fieldEntryKey        = 1
	fieldEntryValue      = 2
	fieldValueNumber     = 2 // Value.number_value
	fieldValueString     = 3 // Value.string_value
)

// appendIDFragment appends the encoding of a CheckResponse holding only a
// decision id: the HTTP response (ok or denied) with the id header, and the
// metadata with decision_id. The id's Len bytes are left as zeros, at the
// offsets it returns.
func appendIDFragment(b []byte, allowed bool, header string) ([]byte, [2]int) {
	const idLen = decisionid.Len
	var at [2]int
	placeholder := func(b []byte, i int) []byte {
		b = protowire.AppendVarint(b, idLen)
		at[i] = len(b)
		return append(b, make([]byte, idLen)...)
	}
	str := func(n int) int { return protowire.SizeBytes(n) + 1 } // one-byte tags throughout
	value := str(len(header)) + str(idLen)
	option := str(value) + 1 + protowire.SizeVarint(uint64(corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	httpField := fieldDeniedResponse
	if allowed {
		httpField = fieldOkResponse
	}
	b = protowire.AppendTag(b, protowire.Number(httpField), protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(str(option)))
	b = protowire.AppendTag(b, fieldHTTPHeaders, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(option))
	b = protowire.AppendTag(b, fieldOptionHeader, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(value))
	b = protowire.AppendTag(b, fieldHeaderKey, protowire.BytesType)
	b = protowire.AppendString(b, header)
	b = protowire.AppendTag(b, fieldHeaderValue, protowire.BytesType)
	b = placeholder(b, 0)
	b = protowire.AppendTag(b, fieldOptionAction, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))

	val := str(idLen)
	entry := str(len(MetadataDecisionID)) + str(val)
	b = protowire.AppendTag(b, fieldDynamicMetadata, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(str(entry)))
	b = protowire.AppendTag(b, fieldStructFields, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entry))
	b = protowire.AppendTag(b, fieldEntryKey, protowire.BytesType)
	b = protowire.AppendString(b, MetadataDecisionID)
	b = protowire.AppendTag(b, fieldEntryValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(val))
	b = protowire.AppendTag(b, fieldValueString, protowire.BytesType)
	return placeholder(b, 1), at
}
