// Package strictjson refuses what encoding/json forgives in a request: a key
// named twice in one object (the decoder keeps the last, so a reviewer and the
// code could read different values) and a key whose case differs from the
// field it would fill (the decoder matches case-insensitively).
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// MaxDepth bounds how deep a request's objects and arrays nest. No request
// of the API nests past a handful of levels; a document nested deeper is
// refused before its paths are built, which for tens of thousands of
// levels would take memory quadratic in the depth.
const MaxDepth = 64

// KeyError names the offending key.
type KeyError struct {
	Path string // where, e.g. "months[1]"; "" at the top
	Key  string
	Msg  string
}

func (e *KeyError) Error() string { return e.Msg }

// Check walks data and reports the first key named twice in one object, or,
// for the objects v's type describes (v is a pointer to the struct the data
// will be decoded into), the first key that is not exactly one of its JSON
// field names. A document that is not valid JSON is left to the decoder to
// refuse; keys inside values v does not describe are only checked for
// repeats.
func Check(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	root := structType(reflect.TypeOf(v))
	child := func(parent *frame) (reflect.Type, string) {
		if parent == nil {
			return root, ""
		}
		if parent.keys == nil { // array element
			p := fmt.Sprintf("%s[%d]", parent.path, parent.index)
			return parent.elem, p
		}
		var t reflect.Type
		if parent.typ != nil {
			t = fieldType(parent.typ, parent.key)
		}
		p := parent.key
		if parent.path != "" {
			p = parent.path + "." + parent.key
		}
		return t, p
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) == MaxDepth {
					return &KeyError{Path: top.path, Msg: fmt.Sprintf("the JSON nests deeper than %d levels", MaxDepth)}
				}
				t, p := child(top)
				f := &frame{path: p}
				if d == '{' {
					f.keys, f.typ = map[string]bool{}, structType(t)
				} else if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
					f.elem = structType(t.Elem())
				}
				stack = append(stack, f)
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					stack[len(stack)-1].valueDone()
				}
			}
			continue
		}
		if top != nil && top.keys != nil && !top.hasKey {
			k, _ := tok.(string)
			if top.keys[k] {
				return &KeyError{top.path, k, fmt.Sprintf("the key %q appears twice in one object", k)}
			}
			if top.typ != nil && fieldType(top.typ, k) == nil {
				if f := fieldFold(top.typ, k); f != "" {
					return &KeyError{top.path, k, fmt.Sprintf("%q is not a field; the field is %q", k, f)}
				}
				return &KeyError{top.path, k, fmt.Sprintf("%q is not a field of this request", k)}
			}
			top.keys[k], top.key, top.hasKey = true, k, true
			continue
		}
		if top != nil {
			top.valueDone()
		}
	}
}

// frame is an open object or array.
type frame struct {
	keys   map[string]bool // nil for an array
	typ    reflect.Type    // the struct this object decodes into, or nil
	elem   reflect.Type    // for an array: its elements' struct type, or nil
	path   string
	index  int    // for an array: the element being read
	key    string // the last key read in this object
	hasKey bool   // a key was read and its value not yet
}

// valueDone records that the value of the current key, or the current
// element, ended.
func (f *frame) valueDone() {
	if f.keys == nil {
		f.index++
	} else {
		f.hasKey = false
	}
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// structType is the struct type whose keys t's JSON objects are checked
// against, or nil: a type that decodes itself (json.Unmarshaler) is not
// checked, as encoding/json does not read its fields.
func structType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	return t
}

// known holds fields' answer per type: every API body is checked, and a
// type's fields do not change.
var known sync.Map // reflect.Type -> map[string]reflect.Type

// fields maps the JSON names of t's fields to their types, those of
// embedded structs promoted as encoding/json promotes them.
func fields(t reflect.Type) map[string]reflect.Type {
	if f, ok := known.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			n, _, _ := strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			if f.Anonymous && n == "" {
				et := f.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct && depth < 8 {
					walk(et, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if n == "" {
				n = f.Name
			}
			if _, shadowed := out[n]; !shadowed || depth == 0 {
				out[n] = f.Type
			}
		}
	}
	walk(t, 0)
	known.Store(t, out)
	return out
}

// fieldType returns the type of t's field whose JSON name is exactly key,
// or nil.
func fieldType(t reflect.Type, key string) reflect.Type { return fields(t)[key] }

// fieldFold returns the JSON name of t's field that key matches but for
// case, or "".
func fieldFold(t reflect.Type, key string) string {
	for n := range fields(t) {
		if strings.EqualFold(n, key) {
			return n
		}
	}
	return ""
}
