package ledger

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// A fast decoder for the records the ledger reads on every transaction
// (clouds, VMs, migrations, hosting intervals, parameters), written by
// json.Marshal: encoding/json's reflection reads them at ~40 MB/s, a third of a
// node's time per transaction. It accepts only what json.Marshal writes for
// these types and any deviation (an unknown, duplicate or differently spelt
// key, an escape, a non-ASCII byte, null, a float, ...) makes it decline, and
// mustUnmarshal falls back to encoding/json. What it accepts, it decodes
// exactly as encoding/json does (decode_test.go checks both on the same input).
//
// Each type's fields come from its struct by reflection, once (fastTables), so
// a field added to a record is decoded by the fast path too; a field of a type
// it cannot decode makes the type's table fail to build, which a test reports.

// fastTypes are the records the fast path decodes.
var fastTypes = []any{&bbus.Cloud{}, &bbus.VM{}, &bbus.Migration{}, &bbus.Interval{}, &bbus.Params{}}

// fastTables holds the table of each of fastTypes (by pointer type) that
// builds; fastErrors says why the others do not.
var fastTables, fastErrors = buildTables(fastTypes)

func buildTables(types []any) (map[reflect.Type]*table, []error) {
	tables := map[reflect.Type]*table{}
	var errs []error
	for _, v := range types {
		t, err := newTable(reflect.TypeOf(v).Elem())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tables[reflect.TypeOf(v)] = t
	}
	return tables, errs
}

// fastUnmarshal decodes b into v if it can, and reports whether it did. v is
// left untouched when it declines.
func fastUnmarshal(b []byte, v any) bool {
	t := fastTables[reflect.TypeOf(v)]
	if t == nil {
		return false
	}
	rv := reflect.ValueOf(v).Elem()
	if !rv.IsZero() {
		return false
	}
	d := decoder{b: b}
	if d.object(t, rv) && d.end() {
		return true
	}
	rv.SetZero()
	return false
}

// kind is how the fast path decodes one field.
type kind int

const (
	kString kind = iota
	kInt
	kBool
	kBytes
	kStrings
	kTime
	kStruct    // a nested record (its own table)
	kStructPtr // a pointer to one, allocated when its key is there
)

var kinds = map[reflect.Type]kind{
	reflect.TypeFor[string](): kString, reflect.TypeFor[int64](): kInt, reflect.TypeFor[bool](): kBool,
	reflect.TypeFor[[]byte](): kBytes, reflect.TypeFor[[]string](): kStrings, reflect.TypeFor[time.Time](): kTime,
}

// table is how to decode one struct type: its fields by JSON key, in the
// order the struct declares them.
type table struct {
	typ    reflect.Type
	fields []field
	byKey  map[string]int // index in fields
}

type field struct {
	key   string
	index int // in the struct
	kind  kind
	sub   *table // kStruct and kStructPtr
}

// newTable builds the table of struct type t, or says which field the fast
// path cannot decode: every field must be exported, carry a json key and be of
// a type in kinds or a struct (or pointer to one) whose fields are.
func newTable(t reflect.Type) (*table, error) {
	if t.Kind() != reflect.Struct || t.NumField() > 64 {
		return nil, fmt.Errorf("%s: not a struct of at most 64 fields", t)
	}
	tb := &table{typ: t, byKey: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || key == "" || key == "-" {
			return nil, fmt.Errorf("%s.%s: the fast decoder wants an exported field with a json key", t, sf.Name)
		}
		f := field{key: key, index: i}
		k, ok := kinds[sf.Type]
		switch {
		case ok:
			f.kind = k
		case sf.Type.Kind() == reflect.Struct:
			f.kind = kStruct
		case sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct:
			f.kind = kStructPtr
		default:
			return nil, fmt.Errorf("%s.%s: the fast decoder cannot decode a %s", t, sf.Name, sf.Type)
		}
		if f.kind == kStruct || f.kind == kStructPtr {
			st := sf.Type
			if f.kind == kStructPtr {
				st = st.Elem()
			}
			sub, err := newTable(st)
			if err != nil {
				return nil, err
			}
			f.sub = sub
		}
		tb.byKey[key] = len(tb.fields)
		tb.fields = append(tb.fields, f)
	}
	return tb, nil
}

// object decodes one object of table t into v (a settable struct of t's
// type): exact keys, each at most once.
func (d *decoder) object(t *table, v reflect.Value) bool {
	more, ok := d.open()
	var seen uint64
	// json.Marshal writes the keys in the order of the fields, omitting
	// some: the key is looked for after the last one first.
	i := -1
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		for i++; i < len(t.fields) && t.fields[i].key != string(k); i++ {
		}
		if i == len(t.fields) {
			var known bool
			if i, known = t.byKey[string(k)]; !known {
				return false
			}
		}
		more, ok = d.next(&seen, i, d.value(&t.fields[i], v.Field(t.fields[i].index)))
	}
	return ok
}

// value decodes the value of field f into v.
func (d *decoder) value(f *field, v reflect.Value) bool {
	switch f.kind {
	case kString:
		s, ok := d.quoted()
		v.SetString(string(s))
		return ok
	case kInt:
		var n int64
		ok := d.int(&n)
		v.SetInt(n)
		return ok
	case kBool:
		return d.bool(v.Addr().Interface().(*bool))
	case kBytes:
		return d.bytes(v.Addr().Interface().(*[]byte))
	case kStrings:
		return d.strings(v.Addr().Interface().(*[]string))
	case kTime:
		return d.time(v.Addr().Interface().(*time.Time))
	case kStruct:
		return d.object(f.sub, v)
	}
	p := reflect.New(f.sub.typ)
	v.Set(p)
	return d.object(f.sub, p.Elem())
}

// decoder reads the canonical JSON of one value from b. Its methods return
// false on anything else; then the value is to be decoded by encoding/json.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) end() bool { return d.i == len(d.b) }

func (d *decoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// quoted returns the bytes between the quotes of a string without escapes,
// control or non-ASCII characters.
func (d *decoder) quoted() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (d *decoder) str(dst *string) bool {
	s, ok := d.quoted()
	*dst = string(s)
	return ok
}

func (d *decoder) int(dst *int64) bool {
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || d.i-digits > 1 && d.b[digits] == '0' {
		return false
	}
	// A fraction or an exponent is no int64 json.Marshal writes.
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return false
	}
	// 19 digits fit a uint64; longer numbers are left to encoding/json.
	if d.i-digits > 19 {
		return false
	}
	var n uint64
	for _, c := range d.b[digits:d.i] {
		n = n*10 + uint64(c-'0')
	}
	neg := digits > start
	if !neg && n > 1<<63-1 || neg && n > 1<<63 {
		return false
	}
	if neg {
		*dst = int64(-n)
	} else {
		*dst = int64(n)
	}
	return true
}

func (d *decoder) bool(dst *bool) bool {
	switch {
	case d.lit("true"):
		*dst = true
	case d.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// bytes decodes base64 as encoding/json decodes a []byte.
func (d *decoder) bytes(dst *[]byte) bool {
	s, ok := d.quoted()
	if !ok {
		return false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	*dst = b[:n]
	return err == nil
}

// time decodes a time as encoding/json does: by time.Time's UnmarshalJSON.
func (d *decoder) time(dst *time.Time) bool {
	start := d.i
	if _, ok := d.quoted(); !ok {
		return false
	}
	return dst.UnmarshalJSON(d.b[start:d.i]) == nil
}

func (d *decoder) strings(dst *[]string) bool {
	if !d.byte('[') || d.byte(']') {
		return false // json.Marshal writes no empty list here (omitempty)
	}
	var out []string
	for {
		var s string
		if !d.str(&s) {
			return false
		}
		out = append(out, s)
		if d.byte(']') {
			*dst = out
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

// open starts an object; more reports whether it has a first key.
func (d *decoder) open() (more, ok bool) {
	if !d.byte('{') {
		return false, false
	}
	return !d.byte('}'), true
}

// key reads a key and its colon.
func (d *decoder) key() ([]byte, bool) {
	k, ok := d.quoted()
	return k, ok && d.byte(':')
}

// next follows a value: another key (more) or the end of the object. Every
// key index may come once: seen has a bit per index.
func (d *decoder) next(seen *uint64, index int, valueOK bool) (more, ok bool) {
	if !valueOK || *seen&(1<<index) != 0 {
		return false, false
	}
	*seen |= 1 << index
	if d.byte('}') {
		return false, true
	}
	return true, d.byte(',')
}
