package evidence_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus/evidence"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("%v (make it with: go test ./evidence -run TestExportAndVerify -update)", err)
	}
	return b
}

// leaf is one scalar value of a JSON document and where its bytes are.
type leaf struct {
	path       string
	start, end int
	value      any // string, json.Number, bool or nil
}

// container is an array or object of a JSON document and where it is.
type container struct {
	path       string
	array      bool
	start, end int
	items      [][2]int // byte spans of the array's elements
}

// scan lists the leaves and containers of a JSON document produced by
// encoding/json (each value encoded exactly as json.Marshal encodes it).
func scan(t *testing.T, data []byte) ([]leaf, []container) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		c       container
		key     string
		wantKey bool
		index   int
	}
	var stack []*frame
	var leaves []leaf
	var conts []container
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.c.array {
				fmt.Fprintf(&b, "[%d]", f.index)
			} else {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	// valueStart finds where the value that ends at end begins.
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		end := int(dec.InputOffset())
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && !top.c.array && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				// closes an object below
			} else {
				top.key = tok.(string)
				top.wantKey = false
				continue
			}
		}
		start := before
		for start < end && strings.ContainsRune(" \t\r\n,:", rune(data[start])) {
			start++
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, &frame{c: container{path: path(), array: v == '[', start: end - 1}, wantKey: v == '{'})
			case '}', ']':
				f := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				f.c.end = end
				conts = append(conts, f.c)
				if len(stack) > 0 {
					p := stack[len(stack)-1]
					if p.c.array {
						p.c.items = append(p.c.items, [2]int{f.c.start, end})
						p.index++
					} else {
						p.wantKey = true
					}
				}
			}
		default:
			leaves = append(leaves, leaf{path: path(), start: start, end: end, value: v})
			if top.c.array {
				top.c.items = append(top.c.items, [2]int{start, end})
				top.index++
			} else {
				top.wantKey = true
			}
		}
	}
	return leaves, conts
}

// tampered returns another value of the same kind for a leaf.
func tampered(v any) string {
	enc := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	switch x := v.(type) {
	case nil:
		return enc("AAAA")
	case bool:
		return strconv.FormatBool(!x)
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return x.String() + "1"
		}
		return strconv.FormatInt(n+1, 10)
	case string:
		if x == "" {
			return enc("00")
		}
		if tm, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return enc(tm.Add(time.Nanosecond).Format(time.RFC3339Nano))
		}
		if strings.Trim(x, "0123456789ABCDEF") == "" && len(x)%2 == 0 {
			last := "0"
			if x[len(x)-1] == '0' {
				last = "1"
			}
			return enc(x[:len(x)-1] + last)
		}
		if b, err := base64.StdEncoding.DecodeString(x); err == nil && len(b) > 0 && base64.StdEncoding.EncodeToString(b) == x {
			b[0] ^= 1
			return enc(base64.StdEncoding.EncodeToString(b))
		}
		r := []byte(x)
		if c := r[len(r)-1]; c >= 'a' && c < 'z' || c >= '0' && c < '9' || c >= 'A' && c < 'Z' {
			r[len(r)-1]++
		} else {
			r[len(r)-1] = 'a'
		}
		return enc(string(r))
	}
	panic(fmt.Sprintf("leaf %T", v))
}

func splice(data []byte, start, end int, with string) []byte {
	out := append([]byte{}, data[:start]...)
	out = append(out, with...)
	return append(out, data[end:]...)
}

// TestEveryTamperIsRejected alters every single field of a bundle exported from
// a real chain (one at a time, each to another well-formed value of its kind),
// and reorders, drops and repeats the elements of every list: Verify must
// reject each, with a reason.
func TestEveryTamperIsRejected(t *testing.T) {
	genesis, bundle := readTestdata(t, "genesis.json"), readTestdata(t, "vm-1.json")
	if _, err := evidence.Verify(bundle, genesis); err != nil {
		t.Fatalf("the untouched bundle does not verify: %v", err)
	}
	leaves, conts := scan(t, bundle)
	type tamper struct {
		what string
		data []byte
	}
	var tampers []tamper
	for _, l := range leaves {
		if string(bundle[l.start:l.end]) != mustMarshal(l.value) {
			t.Fatalf("scan: %s spans %q", l.path, bundle[l.start:l.end])
		}
		with := tampered(l.value)
		tampers = append(tampers, tamper{fmt.Sprintf("%s: %s -> %s", l.path, bundle[l.start:l.end], with), splice(bundle, l.start, l.end, with)})
	}
	for _, c := range conts {
		if !c.array || len(c.items) == 0 {
			continue
		}
		first, last := c.items[0], c.items[len(c.items)-1]
		// Drop the last element (with the comma before it, if any).
		cut := last[0]
		if len(c.items) > 1 {
			cut = c.items[len(c.items)-2][1]
		}
		tampers = append(tampers, tamper{c.path + ": last element dropped", splice(bundle, cut, last[1], "")})
		// Repeat the first element.
		tampers = append(tampers, tamper{c.path + ": first element repeated", splice(bundle, first[1], first[1], ","+string(bundle[first[0]:first[1]]))})
		if len(c.items) > 1 {
			second := c.items[1]
			a, b := string(bundle[first[0]:first[1]]), string(bundle[second[0]:second[1]])
			if a != b {
				swapped := splice(bundle, second[0], second[1], a)
				swapped = splice(swapped, first[0], first[1], b)
				tampers = append(tampers, tamper{c.path + ": first two elements swapped", swapped})
			}
		}
	}
	// A few that keep the transaction well-formed: a changed nonce or
	// action (the signature no longer verifies).
	for _, r := range []struct{ old, new string }{
		{`\"nonce\":4,`, `\"nonce\":5,`},
		{`\"cpu\":2,`, `\"cpu\":3,`},
		{`{\"migration_accept\"`, `{\"migration_complete\"`},
	} {
		if !bytes.Contains(bundle, []byte(r.old)) {
			t.Fatalf("bundle has no %s", r.old)
		}
		tampers = append(tampers, tamper{r.old + " -> " + r.new, bytes.Replace(bundle, []byte(r.old), []byte(r.new), 1)})
	}
	reasons := map[string]int{}
	for _, tc := range tampers {
		_, err := evidence.Verify(tc.data, genesis)
		if err == nil {
			t.Errorf("accepted a tampered bundle: %s", tc.what)
			continue
		}
		var e *evidence.Error
		if ok := asError(err, &e); !ok || e.Reason == "" {
			t.Errorf("%s: error %v is not an *evidence.Error with a reason", tc.what, err)
		}
		reasons[strings.SplitN(e.Field, ".", 2)[0]]++
	}
	t.Logf("%d tampers (%d fields, %d lists) all rejected; where verification caught them: %v", len(tampers), len(leaves), len(tampers)-len(leaves), reasons)
}

func asError(err error, target **evidence.Error) bool {
	e, ok := err.(*evidence.Error)
	*target = e
	return ok
}

func mustMarshal(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Representations that keep every value but change bytes are rejected too.
func TestNonCanonicalEncodingsAreRejected(t *testing.T) {
	genesis, bundle := readTestdata(t, "genesis.json"), readTestdata(t, "vm-1.json")
	var compact bytes.Buffer
	json.Compact(&compact, bundle)
	if _, err := evidence.Verify(compact.Bytes(), genesis); err != nil {
		t.Fatalf("white space is not content, yet: %v", err)
	}
	for _, r := range []struct{ old, new string }{
		{`"format": "bbus-evidence/3"`, `"format": "bbus-evidence\/1"`},                      // an escape
		{`"data_hash": "`, `"data_hash": "` + "\u200b"},                                      // a character more
		{`"vm": "vm-1",`, `"vm": "vm-1", "vm": "vm-1",`},                                     // a repeated key
		{`"format": "bbus-evidence/3",`, `"format": "bbus-evidence/3", "comment": "hello",`}, // an unknown field
		{`"round": 0,`, `"round": 0e0,`},                                                     // a number's form
		{`Z"`, `+00:00"`},                                                                    // a time's zone, same instant
	} {
		if !bytes.Contains(bundle, []byte(r.old)) {
			t.Fatalf("bundle has no %s", r.old)
		}
		if _, err := evidence.Verify(bytes.Replace(bundle, []byte(r.old), []byte(r.new), 1), genesis); err == nil {
			t.Errorf("accepted %s -> %s", r.old, r.new)
		} else {
			t.Logf("%s -> %s: %v", r.old, r.new, err)
		}
	}
	// The hex of a header hash in lower case: the same bytes, another encoding.
	i := bytes.Index(bundle, []byte(`"data_hash": "`)) + len(`"data_hash": "`)
	lower := append([]byte{}, bundle...)
	copy(lower[i:i+64], bytes.ToLower(bundle[i:i+64]))
	if _, err := evidence.Verify(lower, genesis); err == nil {
		t.Error("accepted a hash in lower-case hex")
	}
	// Another time zone, same instant.
	tz := bytes.Replace(bundle, []byte(`"expires": "2026`), []byte(`"expires": "2026`), 1)
	if j := bytes.Index(tz, []byte(`"expires": "`)); j > 0 {
		j += len(`"expires": "`)
		end := bytes.IndexByte(tz[j:], '"') + j
		tm, _ := time.Parse(time.RFC3339, string(tz[j:end]))
		tz = splice(tz, j, end, tm.In(time.FixedZone("", 3600)).Format(time.RFC3339))
		if _, err := evidence.Verify(tz, genesis); err == nil {
			t.Error("accepted an expiry in another time zone")
		} else {
			t.Logf("expiry at +01:00: %v", err)
		}
	}
}

// BenchmarkVerify verifies a bundle of 100 transactions (a VM migrated 33
// times between two clouds) from testdata.
func BenchmarkVerify(b *testing.B) {
	genesis, bundle := readTestdata(b, "genesis.json"), readTestdata(b, "busy-100.json")
	rep, err := evidence.Verify(bundle, genesis)
	if err != nil {
		b.Fatal(err)
	}
	if len(rep.Txs) != 100 {
		b.Fatalf("%d transactions", len(rep.Txs))
	}
	b.SetBytes(int64(len(bundle)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := evidence.Verify(bundle, genesis); err != nil {
			b.Fatal(err)
		}
	}
}

// A commit that lacks a signature needed for more than two thirds of the
// voting power proves nothing, though every signature in it verifies.
func TestCommitWithoutTwoThirdsIsRejected(t *testing.T) {
	genesis, bundle := readTestdata(t, "genesis.json"), readTestdata(t, "vm-1.json")
	b, err := evidence.Decode(bundle)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	for _, h := range b.Headers {
		if h.Commit != nil && len(h.Commit.Signatures) == 2 {
			h.Commit.Signatures[1] = cmttypes.NewCommitSigAbsent()
			done = true
			break
		}
	}
	if !done {
		t.Fatal("no commit of two validators in the bundle")
	}
	out, _ := json.Marshal(b)
	_, err = evidence.Verify(out, genesis)
	if err == nil || !strings.Contains(err.Error(), "voting power") {
		t.Fatalf("a commit signed by half the power: %v", err)
	}
	t.Log(err)
}
