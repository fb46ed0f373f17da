package strictjson

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

type item struct {
	Month  int    `json:"month"`
	Income string `json:"income"`
}

type Common struct {
	Reason string `json:"reason"`
}

type selfDecoding struct{ raw string }

func (s *selfDecoding) UnmarshalJSON(b []byte) error { s.raw = string(b); return nil }

type request struct {
	Common
	Own    selfDecoding      `json:"own,omitempty"`
	Method string            `json:"method"`
	Months []item            `json:"months,omitempty"`
	Extra  map[string]string `json:"extra,omitempty"`
	Inner  *item             `json:"inner,omitempty"`
	hidden int               //lint:ignore U1000 an unexported field is not a JSON key
}

func TestCheck(t *testing.T) {
	cases := []struct {
		doc, path, key string // key "" means the document passes
	}{
		{`{"method":"a","months":[{"month":1,"income":"1"},{"month":2,"income":"2"}]}`, "", ""},
		{`{"method":"a","method":"b"}`, "", "method"},
		{`{"Method":"a"}`, "", "Method"},
		{`{"METHOD":"a"}`, "", "METHOD"},
		{`{"methods":"a"}`, "", "methods"},
		{`{"hidden":1}`, "", "hidden"},
		{`{"months":[{"month":1},{"month":2,"Month":5}]}`, "months[1]", "Month"},
		{`{"months":[{"month":1},{"month":2,"month":5}]}`, "months[1]", "month"},
		{`{"months":[{"month":1}],"months":[]}`, "", "months"},
		{`{"inner":{"income":"1","income":"2"}}`, "inner", "income"},
		{`{"inner":{"Income":"1"}}`, "inner", "Income"},
		{`{"extra":{"anything":"x","Anything":"y"}}`, "", ""},
		{`{"extra":{"a":"x","a":"y"}}`, "extra", "a"},
		{`{"method":"a"`, "", ""}, // not JSON: the decoder's to refuse
		{`[{"a":1,"a":2}]`, "[0]", "a"},
		{`{"\u006dethod":"a","method":"b"}`, "", "method"}, // the same key, escaped
		{`{"extra":{"b":1},"method":"x","inner":{"month":1}}`, "", ""},
		{`{"reason":"embedded fields are promoted"}`, "", ""},
		{`{"Reason":"but keep their case"}`, "", "Reason"},
		{`{"own":{"Anything":1,"anything":2}}`, "", ""}, // a type that decodes itself
		{`{"own":{"a":1,"a":2}}`, "own", "a"},           // repeats are refused everywhere
	}
	for _, c := range cases {
		err := Check([]byte(c.doc), &request{})
		var ke *KeyError
		switch {
		case c.key == "" && err != nil:
			t.Errorf("%s: %v", c.doc, err)
		case c.key != "" && (!errors.As(err, &ke) || ke.Key != c.key || ke.Path != c.path):
			t.Errorf("%s: got %v (%+v), want key %q at %q", c.doc, err, ke, c.key, c.path)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"method":"a","months":[{"month":1,"income":"1"}]}`))
	f.Add([]byte(`{"a":{"b":[1,{"c":2}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		Check(data, &request{}) // must not panic
	})
}

// A document nested tens of thousands of levels deep is refused at the
// depth limit, in memory that does not grow with its depth: before the
// limit, each level built a path as long as the levels above it, and an
// 80 KB body took gigabytes.
func TestADeeplyNestedDocumentIsRefusedCheaply(t *testing.T) {
	const depth = 40_000
	body := `{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var v struct {
		A any `json:"a"`
	}
	err := Check([]byte(body), &v)
	runtime.ReadMemStats(&after)
	var ke *KeyError
	if !errors.As(err, &ke) || !strings.Contains(ke.Msg, "deeper than 64") {
		t.Fatalf("a body nested %d deep: %v", depth, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("checking it allocated %d bytes", grew)
	}
	// At the limit, a document is checked as any other.
	ok := `{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`
	if err := Check([]byte(ok), &v); err != nil {
		t.Fatalf("a body nested %d deep: %v", MaxDepth, err)
	}
}
