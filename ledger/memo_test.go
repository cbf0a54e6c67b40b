package ledger

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// fill sets every field of v, recursively, to a value that is not zero: one
// element in each slice and map, a new value behind each pointer.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

// shared returns the path of the first slice, map or pointer that a and b
// (of one type) both refer to, or "".
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		if a.Type() == reflect.TypeOf(time.Time{}) {
			return "" // a value; its location is never changed in place
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range min(a.Len(), b.Len()) {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
	}
	return ""
}

// The memo's copies share no memory with what it keeps, for every field of
// every type it keeps: a field added to one of them without its copy fails here.
func TestMemoCopiesAreDeep(t *testing.T) {
	for _, v := range []any{&bbus.Cloud{}, &bbus.Oracle{}, &bbus.Params{}} {
		fill(reflect.ValueOf(v).Elem())
		kept := cloneRecord(v)
		if kept == nil {
			t.Fatalf("%T is not kept", v)
		}
		out := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if !copyRecord(out, kept) {
			t.Fatalf("%T: no copy", v)
		}
		if !reflect.DeepEqual(out, v) || !reflect.DeepEqual(kept, v) {
			t.Errorf("%T: the copies differ from the record", v)
		}
		for _, pair := range [][2]any{{v, kept}, {kept, out}} {
			if p := shared(reflect.ValueOf(pair[0]), reflect.ValueOf(pair[1]), reflect.TypeOf(v).Elem().Name()); p != "" {
				t.Errorf("%T: a copy shares %s with the record", v, p)
			}
		}
	}
}

// getJSON answers from the memo exactly what decoding answers, and a record
// it handed out can be changed without changing the next one.
func TestMemoGivesTheDecoding(t *testing.T) {
	c := &bbus.Cloud{ID: "memo-a", Name: "a", PubKey: testPub("memo-a"), Status: bbus.CloudActive,
		Approvals: []string{"b", "c"}, Admitted: &bbus.Stamp{At: time.Unix(100, 5).UTC(), Height: 3}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	st := kv.NewMem()
	st.Set(cloudKey(c.ID), b)
	var want bbus.Cloud
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got := new(bbus.Cloud)
		if !getJSON(st, cloudKey(c.ID), got) {
			t.Fatal("no record")
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("read %d: %+v, decoding gives %+v", i, got, want)
		}
		got.Approvals[0], got.Admitted.Height, got.PubKey[0] = "z", 99, got.PubKey[0]+1
	}
	// A record read into a value that is not zero is decoded into it, as
	// encoding/json does, not replaced.
	p := bbus.Params{TxMaxTTLSeconds: 5}
	st.Set(keyParams, []byte(`{"approval_num":2}`))
	if !getJSON(st, keyParams, &p) || p.TxMaxTTLSeconds != 5 || p.ApprovalNum != 2 {
		t.Fatalf("params read into a set value: %+v", p)
	}
}

// The memo keeps at most two generations of its size.
func TestMemoIsBounded(t *testing.T) {
	m := newRecordMemo(4)
	for i := range 100 {
		p := &bbus.Params{JoinPower: int64(i)}
		b, _ := json.Marshal(p)
		m.put(b, p)
		var got bbus.Params
		if !m.get(b, &got) || got != *p {
			t.Fatalf("entry %d: got %+v", i, got)
		}
	}
	if n := len(m.cur) + len(m.prev); n > 8 {
		t.Fatalf("%d entries kept, at most 8", n)
	}
}
