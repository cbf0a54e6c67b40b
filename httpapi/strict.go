package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/bbusdev/bbus"
)

// checkKeys refuses a JSON body that encoding/json would read loosely: an
// object with the same key twice (json keeps the last), or a key that names a
// field of the struct it decodes into only in another case (json matches
// names case-insensitively). The signed-transaction decoder refuses both; so
// do the bodies of the writes the node signs. A body that is not JSON at all
// passes, for the decoder to describe.
func checkKeys(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkJSON(dec, reflect.TypeOf(v), "")
}

// walkJSON reads one value from dec, which decodes into t (nil: anything).
func walkJSON(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return nil
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	t = jsonTarget(t)
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkJSON(dec, elem, path+"[]"); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = map[string]reflect.Type{}
			structFields(t, fields)
		} else if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil
			}
			k, _ := kt.(string)
			name := path + k
			if seen[k] {
				return bbus.Errorf(bbus.EMALFORMED, "request body has the field %q twice", bbus.Clip(name))
			}
			seen[k] = true
			ft := elem
			if fields != nil {
				var known bool
				if ft, known = fields[k]; !known {
					for f := range fields {
						if strings.EqualFold(f, k) {
							return bbus.Errorf(bbus.EMALFORMED, "request body has the field %q: field names are case-sensitive, the field is %q", bbus.Clip(name), path+f)
						}
					}
				}
			}
			if err := walkJSON(dec, ft, name+"."); err != nil {
				return err
			}
		}
	}
	dec.Token() // the closing delimiter
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// jsonTarget is the type whose shape a JSON value decoding into t must have:
// t without pointers, or nil when anything goes (an interface, or a type
// that decodes itself).
func jsonTarget(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	return t
}

// structFields adds the JSON names of t's fields, and their types, to out,
// with those of embedded structs as encoding/json promotes them.
func structFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if ft := jsonTarget(f.Type); ft != nil && ft.Kind() == reflect.Struct {
				structFields(ft, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup {
			out[name] = f.Type
		}
	}
}
