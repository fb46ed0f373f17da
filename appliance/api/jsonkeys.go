package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// uniqueKeys reports the first object in a JSON document that names a key
// twice. A document that is not valid JSON is left to the decoder to refuse.
func uniqueKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// One set of keys per open object; nil for an open array.
	var open []map[string]bool
	expectKey := func() bool { return len(open) > 0 && open[len(open)-1] != nil }
	afterKey := false // the last token was a key: the next one is its value
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				open = append(open, map[string]bool{})
			case '[':
				open = append(open, nil)
			default:
				open = open[:len(open)-1]
			}
			afterKey = false
			continue
		}
		if expectKey() && !afterKey {
			k, _ := tok.(string)
			if open[len(open)-1][k] {
				return fmt.Errorf("the key %q appears twice in one object", k)
			}
			open[len(open)-1][k] = true
			afterKey = true
			continue
		}
		afterKey = false
	}
}
