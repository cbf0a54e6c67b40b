package ledger

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
)

// The fast decoder (decode.go) must decode exactly as encoding/json whatever
// it accepts, and accept what json.Marshal writes for the records it knows.

type fastGen struct{ r *rand.Rand }

func (g fastGen) str(safe bool) string {
	const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/ "
	const odd = "\"\\<>&\u00e9\x01\x7f"
	n := g.r.IntN(12)
	b := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		if !safe && g.r.IntN(8) == 0 {
			b = append(b, odd[g.r.IntN(len(odd))])
		} else {
			b = append(b, plain[g.r.IntN(len(plain))])
		}
	}
	return string(b)
}

func (g fastGen) int() int64 {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return -g.r.Int64()
	case 2:
		return g.r.Int64N(1000)
	}
	return g.r.Int64()
}

func (g fastGen) time() time.Time {
	t := time.Unix(g.r.Int64N(4e9), g.r.Int64N(1e9))
	switch g.r.IntN(3) {
	case 0:
		return t.UTC()
	case 1:
		return t.In(time.FixedZone("", 3600*int(g.r.IntN(25)-12)))
	}
	return t.UTC().Truncate(time.Second)
}

func (g fastGen) bytes() []byte {
	if g.r.IntN(3) == 0 {
		return nil
	}
	b := make([]byte, g.r.IntN(40))
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

func (g fastGen) strs(safe bool) []string {
	var out []string
	for i := g.r.IntN(4); i > 0; i-- {
		out = append(out, g.str(safe))
	}
	return out
}

// value returns one of fastTypes with every field filled at random, by
// reflection: a field added to a record is generated too.
func (g fastGen) value(safe bool) any {
	v := reflect.New(reflect.TypeOf(fastTypes[g.r.IntN(len(fastTypes))]).Elem())
	g.fill(v.Elem(), safe)
	return v.Interface()
}

func (g fastGen) fill(v reflect.Value, safe bool) {
	switch x := v.Addr().Interface().(type) {
	case *string:
		*x = g.str(safe)
	case *int64:
		*x = g.int()
	case *bool:
		*x = g.r.IntN(2) == 0
	case *[]byte:
		*x = g.bytes()
	case *[]string:
		*x = g.strs(safe)
	case *time.Time:
		*x = g.time()
	default:
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				g.fill(v.Field(i), safe)
			}
		case reflect.Pointer:
			if g.r.IntN(2) == 0 {
				p := reflect.New(v.Type().Elem())
				g.fill(p.Elem(), safe)
				v.Set(p)
			}
		default:
			panic("fastGen: no generator for " + v.Type().String())
		}
	}
}

// TestFastDecoderKnowsEveryField: every record the fast path decodes has a
// table with every one of its fields (and its nested records' fields), so
// that a field added to a record is not left to encoding/json unnoticed (the
// fast path declines a record with a key it does not know). A field of a type
// the fast path cannot decode fails here: teach decode.go its kind.
func TestFastDecoderKnowsEveryField(t *testing.T) {
	for _, err := range fastErrors {
		t.Error(err)
	}
	var count func(typ reflect.Type, tb *table)
	count = func(typ reflect.Type, tb *table) {
		if len(tb.fields) != typ.NumField() {
			t.Errorf("%s: the fast decoder knows %d of its %d fields", typ, len(tb.fields), typ.NumField())
		}
		for _, f := range tb.fields {
			if f.sub != nil {
				count(f.sub.typ, f.sub)
			}
		}
	}
	for _, v := range fastTypes {
		typ := reflect.TypeOf(v)
		tb := fastTables[typ]
		if tb == nil {
			continue // reported above
		}
		count(typ.Elem(), tb)
		// A record with every field set decodes by the fast path.
		full := reflect.New(typ.Elem())
		g := fastGen{rand.New(rand.NewPCG(5, 6))}
		for tries := 0; ; tries++ {
			g.fill(full.Elem(), true)
			b, _ := json.Marshal(full.Interface())
			if !bytes.Contains(b, []byte("null")) {
				if !fastAgrees(t, b, full.Interface()) {
					t.Errorf("%s: the fast decoder declines %s", typ.Elem(), b)
				}
				break
			}
			if tries == 100 {
				t.Fatalf("%s: no record without null in 100 tries", typ.Elem())
			}
		}
	}
	// A type with a field the fast path cannot decode builds no table.
	type odd struct {
		N int `json:"n"`
	}
	if _, errs := buildTables([]any{&odd{}}); len(errs) != 1 {
		t.Fatalf("a struct with an int field: %v, want one error", errs)
	}
}

// fastAgrees decodes b into a new value of v's type both ways and fails if the
// fast decoder accepted it and decoded it otherwise than encoding/json.
func fastAgrees(t *testing.T, b []byte, v any) (accepted bool) {
	t.Helper()
	typ := reflect.TypeOf(v).Elem()
	fast, std := reflect.New(typ).Interface(), reflect.New(typ).Interface()
	if !fastUnmarshal(b, fast) {
		if !reflect.ValueOf(fast).Elem().IsZero() {
			t.Fatalf("declined but changed the value: %s", b)
		}
		return false
	}
	if err := json.Unmarshal(b, std); err != nil {
		t.Fatalf("fast decoder accepts what encoding/json rejects (%v): %s", err, b)
	}
	if !reflect.DeepEqual(fast, std) {
		t.Fatalf("decoders differ on %s:\n fast %+v\n std  %+v", b, fast, std)
	}
	return true
}

func TestFastUnmarshalAgreesWithEncodingJSON(t *testing.T) {
	g := fastGen{rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < 20000; i++ {
		safe := i%2 == 0
		v := g.value(safe)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !fastAgrees(t, b, v) && safe && !bytes.Contains(b, []byte("null")) {
			t.Fatalf("fast decoder declines what json.Marshal wrote: %s", b)
		}
		// Mutations: the fast decoder may decline them, but what it accepts
		// must decode as encoding/json decodes it.
		for j := 0; j < 8; j++ {
			m := bytes.Clone(b)
			switch g.r.IntN(4) {
			case 0:
				m[g.r.IntN(len(m))] = "{}[],:\"\\0123456789-.eE tfnul"[g.r.IntN(28)]
			case 1:
				k := g.r.IntN(len(m))
				m = append(m[:k], m[k+1:]...)
			case 2:
				k := g.r.IntN(len(m))
				m = append(m[:k], append([]byte{"{}[],:\" 0-"[g.r.IntN(10)]}, m[k:]...)...)
			case 3:
				m = bytes.Replace(m, []byte(`"`), []byte(`"a`), 1)
			}
			fastAgrees(t, m, v)
		}
	}
	// Keys json.Unmarshal matches without regard to case, duplicates, and
	// values that are not the canonical form.
	for _, b := range []string{
		`{"ID":"x"}`, `{"id":"x","id":"y"}`, `{"capacity":{"cpu":1,"cpu":2}}`, `{"power":1.0}`, `{"power":1e3}`,
		`{"power":01}`, `{"pub_key":null}`, `{"approvals":[]}`, `{"id":"\u0041"}`, `{"id" :"x"}`, `{}`, `{"joined":{}}`,
		`{"power":-0}`, `{"power":9223372036854775808}`, `{"pub_key":"AQ="}`, `{"pub_key":"AQ=="}`,
	} {
		fastAgrees(t, []byte(b), &bbus.Cloud{})
	}
	// A value that is not empty is left to encoding/json, which merges into it.
	c := &bbus.Cloud{Name: "kept"}
	if fastUnmarshal([]byte(`{"id":"x"}`), c) || c.Name != "kept" {
		t.Fatal("the fast decoder replaced a value that was not empty")
	}
}

func FuzzFastUnmarshal(f *testing.F) {
	g := fastGen{rand.New(rand.NewPCG(3, 4))}
	for i := 0; i < 20; i++ {
		b, _ := json.Marshal(g.value(true))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range fastTypes {
			fastAgrees(t, b, v)
		}
	})
}

func benchDecode(b *testing.B, v any, fast bool) {
	raw, _ := json.Marshal(v)
	typ := reflect.TypeOf(v).Elem()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		x := reflect.New(typ).Interface()
		if fast {
			mustUnmarshal(raw, x)
		} else if err := json.Unmarshal(raw, x); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRecords() []any {
	now := time.Date(2026, 11, 25, 19, 0, 0, 123456789, time.UTC)
	st := bbus.Stamp{At: now, Height: 123456, Tx: "4f2a9c7e4f2a9c7e4f2a9c7e4f2a9c7e4f2a9c7e4f2a9c7e4f2a9c7e4f2a9c7e"}
	big := bbus.Resources{CPU: 1 << 40, MemMiB: 1 << 40, DiskIOPS: 1 << 40, NetMbps: 1 << 40}
	return []any{
		&bbus.Cloud{ID: "cloud0", Name: "Cloud Zero", PubKey: make([]byte, 32), ValidatorKey: make([]byte, 32), Power: 10, Status: bbus.CloudActive,
			NodeID: "0123456789abcdef0123456789abcdef01234567", P2PAddress: "node0.cloud0.example:26656",
			Capacity: big, Allocated: bbus.Resources{CPU: 123456, MemMiB: 123456789}, Joined: st, Admitted: &st, HostedVMs: 12345, ReputationBP: 10000},
		&bbus.Migration{ID: "mig-12345", VM: "vm-abcdef-12345", From: "cloud0", To: "cloud1", Resources: bbus.Resources{CPU: 2, MemMiB: 4096},
			Status: bbus.MigrationAccepted, Proposed: st, LapsesAt: now, Accepted: &st},
	}
}

// BenchmarkDecodeRecord compares the ledger's decoding of a cloud and a
// migration record (fast path) with encoding/json's.
func BenchmarkDecodeRecord(b *testing.B) {
	for _, v := range benchRecords() {
		name := reflect.TypeOf(v).Elem().Name()
		b.Run(name+"/ledger", func(b *testing.B) { benchDecode(b, v, true) })
		b.Run(name+"/encoding_json", func(b *testing.B) { benchDecode(b, v, false) })
	}
}
