package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
)

// claimsCases are payloads where a decoder is easy to get wrong.
var claimsCases = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0}`, `{"a":0.5e-3,"b":1E+2,"c":-12.25}`,
	`{"exp":1795435200,"iat":1795431600.5,"big":9007199254740993,"tiny":5e-324}`,
	`{"a":-0,"b":0,"c":-7,"d":999999999999999,"e":-999999999999999,"f":9999999999999999,"g":1234567890123456789}`,
	`{"a":1e400}`, `{"a":-1e400}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":+1}`, `{"a":1e}`, `{"a":-}`,
	`{"a":"x","a":{"b":[1]}}`, `{"a":{"b":1},"a":{"c":2}}`,
	`{"s":"plain","e":"","esc":"q\"b\\s\/n\nt\tr\rb\bf\f"}`,
	`{"u":"\u00e9\u4E2D\u0000"}`, `{"pair":"\ud83d\ude00"}`, `{"lone":"\ud800"}`, `{"lone2":"\udc00x"}`,
	`{"half":"\ud800\u0041"}`, `{"two":"\ud800\ud800\udc00"}`, `{"bad":"\u12"}`, `{"bad":"\uzzzz"}`, `{"bad":"\x"}`,
	`{"ctl":"a` + "\x01" + `"}`, `{"nl":"a` + "\n" + `"}`, `{"tab":"` + "\t" + `"}`,
	`{"a":[],"b":[[],{}],"c":[1,"x",true,false,null]}`, `{"t":true,"f":false,"n":null}`,
	`{"a":tru}`, `{"a":truex}`, `{"a":nul}`, `{"a":1,}`, `{"a":[1,]}`, `{,}`, `{"a" 1}`, `{"a":1 "b":2}`,
	`{"a":1}x`, `{"a":1}{}`, `{"a":1`, `{"a":"x`, `{"a`, `{`, ``, ` `, `null`, `[]`, `[1]`, `"x"`, `1`, `true`,
	`{1:2}`, `{"a":1}` + "\n\t\r ", "\ufeff{}", `{"é":"ü","k":"` + strings.Repeat("z", 300) + `"}`,
	`{"iss":"https://issuer.example","sub":"usr_1","aud":["api","api2"],"roles":["viewer"],"scope":"read write"}`,
	`{"a":` + strings.Repeat("[", maxClaimsDepth-1) + strings.Repeat("]", maxClaimsDepth-1) + `}`,
}

// checkLikeEncodingJSON fails t unless parseObject decodes b as
// encoding/json does into map[string]any: the same values, or an error for
// both (encoding/json leaves a map nil for "null", which is no object).
// Input nested deeper than maxClaimsDepth is refused by parseObject alone.
func checkLikeEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	if !utf8.Valid(b) {
		return // Verify refuses it before parsing
	}
	var want map[string]any
	wantErr := json.Unmarshal(b, &want)
	if wantErr == nil && want == nil {
		wantErr = errors.New("not an object")
	}
	got, err := parseObject(b)
	if errors.Is(err, errJSONDepth) {
		return
	}
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("parseObject(%q) = %v, %v; encoding/json: %v, %v", b, got, err, want, wantErr)
	// DeepEqual takes -0 for 0; fmt prints the sign (and sorts maps).
	case err == nil && (!reflect.DeepEqual(got, want) || fmt.Sprint(got) != fmt.Sprint(want)):
		t.Fatalf("parseObject(%q) = %#v; encoding/json: %#v", b, got, want)
	}
}

func TestParseObjectMatchesEncodingJSON(t *testing.T) {
	for _, c := range claimsCases {
		checkLikeEncodingJSON(t, []byte(c))
	}
}

// TestParseObjectDepth: nesting past maxClaimsDepth is refused, up to it
// accepted.
func TestParseObjectDepth(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat(`{"a":`, n-1) + `1` + strings.Repeat(`}`, n))
	}
	if _, err := parseObject(nest(maxClaimsDepth)); err != nil {
		t.Fatalf("depth %d: %v", maxClaimsDepth, err)
	}
	if _, err := parseObject(nest(maxClaimsDepth + 1)); !errors.Is(err, errJSONDepth) {
		t.Fatalf("depth %d: err = %v, want errJSONDepth", maxClaimsDepth+1, err)
	}
	deepArray := []byte(`{"a":` + strings.Repeat("[", 10*maxClaimsDepth) + strings.Repeat("]", 10*maxClaimsDepth) + `}`)
	if _, err := parseObject(deepArray); !errors.Is(err, errJSONDepth) {
		t.Fatalf("deep array: err = %v, want errJSONDepth", err)
	}
}

// FuzzParseObject compares parseObject with encoding/json.
func FuzzParseObject(f *testing.F) {
	for _, c := range claimsCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkLikeEncodingJSON(t, b) })
}

// BenchmarkDecodeClaims decodes a typical access token's claims with
// parseObject and, for comparison, with encoding/json and goccy/go-json,
// the decoder it replaced.
func BenchmarkDecodeClaims(b *testing.B) {
	payload := []byte(`{"iss":"https://issuer.example","sub":"usr_12345","aud":["api","api2"],"exp":1795435200,` +
		`"iat":1795431600,"jti":"7f0c3a9e-5a1b-4d4e-9a53-6d2b1c0e8f11","oid":"org_1","roles":["viewer","editor"],` +
		`"scope":"read:documents write:documents"}`)
	b.Run("parseObject", func(b *testing.B) {
		var d claimsDecoder // as Verify does: one reused decoder
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.parse(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(payload, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goccy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := gojson.Unmarshal(payload, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
