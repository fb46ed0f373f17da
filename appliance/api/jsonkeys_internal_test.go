package api

import "testing"

func TestAKeyNamedTwiceInOneObjectIsRefused(t *testing.T) {
	for doc, dup := range map[string]bool{
		`{"username":"w13","roles":["worker"],"username":"secadmin"}`: true,
		`{"a":{"b":1,"b":2}}`:                 true,
		`{"a":[{"b":1},{"b":2}],"c":{"b":3}}`: false,
		`{"a":{"b":1},"b":2}`:                 false,
		`{"a":[1,"a",{"a":"a"}],"b":"a"}`:     false,
		`[{"x":1},{"x":1,"x":2}]`:             true,
		`{"\u0061":1,"a":2}`:                  true,  // the same key, escaped
		`{"a":1`:                              false, // malformed: the decoder's to refuse
	} {
		if err := uniqueKeys([]byte(doc)); (err != nil) != dup {
			t.Errorf("%s: %v, want duplicate %v", doc, err, dup)
		}
	}
}
