package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// Type URLs of the relay's resources.
const (
	PolicyType = "type.edgeauthz.dev/edgeauthz.relay.v1.Policy"
	TuplesType = "type.edgeauthz.dev/edgeauthz.relay.v1.Tuples"
	DeltasType = "type.edgeauthz.dev/edgeauthz.relay.v1.Deltas"
)

// Resource names.
const (
	PolicyName   = "policy"
	ManifestName = "manifest"
	chunkPrefix  = "chunk/"
	deltaPrefix  = "delta/"
	afterPrefix  = "after/"
)

// ErrMalformed marks a resource that does not decode.
var ErrMalformed = errors.New("malformed relay resource")

// Policy is a policy revision that compiled on the relay.
type Policy struct {
	Revision int64  `json:"revision"`
	Name     string `json:"name"`
	Document string `json:"document"`
}

// Manifest names the base: its changelog position and the SHA-256 of each
// chunk's tuples (Chunk.Hash), by chunk name.
type Manifest struct {
	Seq    int64             `json:"seq"`
	Chunks map[string]string `json:"chunks"`
}

// Chunk is the base's tuples of one bucket, sorted.
type Chunk struct {
	Tuples []string `json:"tuples"`
}

// Change is one changelog row.
type Change struct {
	Seq   int64  `json:"s"`
	Write bool   `json:"w"`
	Tuple string `json:"t"`
}

// Delta is the changelog rows in (From, To], in seq order.
type Delta struct {
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	Changes []Change `json:"changes"`
}

// ChunkName is the name of bucket i's chunk.
func ChunkName(i int) string { return chunkPrefix + strconv.Itoa(i) }

// DeltaName is the name of the delta (from, to].
func DeltaName(from, to int64) string {
	return deltaPrefix + strconv.FormatInt(from, 10) + "-" + strconv.FormatInt(to, 10)
}

// IsChunk reports whether name is a chunk's.
func IsChunk(name string) bool { return strings.HasPrefix(name, chunkPrefix) }

// IsDelta reports whether name is a delta's.
func IsDelta(name string) bool { return strings.HasPrefix(name, deltaPrefix) }

// AfterName is the DeltasType subscription of an edge that holds the store
// as of seq: the relay answers it with the deltas after seq.
func AfterName(seq int64) string { return afterPrefix + strconv.FormatInt(seq, 10) }

// ParseAfter reads the position an AfterName names.
func ParseAfter(name string) (seq int64, ok bool) {
	rest, ok := strings.CutPrefix(name, afterPrefix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	return seq, err == nil && seq >= 0 && strconv.FormatInt(seq, 10) == rest
}

// ChunkIndex reads the bucket a ChunkName names, -1 when it names none.
func ChunkIndex(name string) int {
	rest, ok := strings.CutPrefix(name, chunkPrefix)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || strconv.Itoa(i) != rest {
		return -1
	}
	return i
}

// Check reports whether the manifest names the chunks 0..n-1 (n ≥ 1) and
// nothing else, the shape Bucket assumes.
func (m *Manifest) Check() error {
	if m.Seq < 0 || len(m.Chunks) == 0 {
		return fmt.Errorf("%w: manifest seq %d with %d chunks", ErrMalformed, m.Seq, len(m.Chunks))
	}
	for name := range m.Chunks {
		if i := ChunkIndex(name); i < 0 || i >= len(m.Chunks) {
			return fmt.Errorf("%w: manifest names %q among %d chunks", ErrMalformed, name, len(m.Chunks))
		}
	}
	return nil
}

// TupleKey is the part of a tuple that identifies it, object#relation@user
// without its condition, as rebac.ParseTuple reads it. A row ParseTuple
// refuses (written by an older edgeauthz, or by hand) is named as the
// store deletes it, by rebac.ParseTupleKey's lenient split; a string that
// is not even that is its own key. The key is a prefix of t: nothing is
// allocated for the million keys of a bootstrap.
func TupleKey(t string) string {
	tp, err := rebac.ParseTuple(t)
	if err != nil {
		if tp, err = rebac.ParseTupleKey(t); err != nil {
			return t
		}
	}
	return t[:len(tp.Object)+1+len(tp.Relation)+1+len(tp.User)]
}

// Bucket is the chunk a tuple's key belongs to among n.
func Bucket(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Hash is a chunk's content hash as the manifest lists it.
func Hash(tuples []string) string {
	h := sha256.New()
	for _, t := range tuples {
		h.Write([]byte(t))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Encode wraps a payload as a resource.
func Encode(v any) (proto.Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return wrapperspb.Bytes(b), nil
}

// Decode reads a resource's payload into v.
func Decode(a *anypb.Any, v any) error {
	var bv wrapperspb.BytesValue
	if err := proto.Unmarshal(a.GetValue(), &bv); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := json.Unmarshal(bv.GetValue(), v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}
