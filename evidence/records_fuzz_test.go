package evidence

import (
	"bytes"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
)

// FuzzProvedRecords checks an invoice's and a violation's records as if each
// were proved, whatever they hold (what a coalition of validators could sign
// into a state of its own): the checks return an error or a result, and never
// panic. The seed is a true invoice's records (invoiceRecords).
//
//	go test ./evidence -run '^$' -fuzz FuzzProvedRecords -fuzztime 60s -fuzzminimizetime 1s
func FuzzProvedRecords(f *testing.F) {
	seed := map[string]json.RawMessage{}
	for k, v := range invoiceRecords(f) {
		if s, ok := v.(string); ok && s == "" {
			seed[k] = json.RawMessage(`""`)
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		seed[k] = raw
	}
	raw, _ := json.Marshal(seed)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs map[string]json.RawMessage
		if json.Unmarshal(data, &recs) != nil {
			return
		}
		keys := make([]string, 0, len(recs))
		for k := range recs {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return bytes.Compare([]byte(keys[i]), []byte(keys[j])) < 0 })
		for _, subject := range []*Bundle{{Invoice: "inv-1"}, {Violation: "vio-1"}} {
			p := &proved{height: 10, values: map[string][]byte{}, fields: map[string]string{}}
			for i, k := range keys {
				v := []byte(recs[k])
				if string(v) == `""` {
					v = []byte{}
				}
				subject.State.Proofs = append(subject.State.Proofs, StateProof{Key: []byte(k), Value: v})
				p.values[k], p.fields[k] = v, "state.proofs["+string(rune('0'+i%10))+"]"
			}
			v := &verifier{b: subject}
			if subject.Invoice != "" {
				v.invoice(p)
			} else {
				v.violation(p)
			}
			p.allUsed()
		}
	})
}

// FuzzVMRecords checks the transactions of a real VM bundle against a VM
// record, last interval and last migration of any content: an error or
// nil, never a panic.
//
//	go test ./evidence -run '^$' -fuzz FuzzVMRecords -fuzztime 60s -fuzzminimizetime 1s
func FuzzVMRecords(f *testing.F) {
	data, err := os.ReadFile("testdata/vm-1.json")
	if err != nil {
		f.Fatal(err)
	}
	b, err := Decode(data)
	if err != nil {
		f.Fatal(err)
	}
	var vmKey, ivKey, migKey string
	values := map[string][]byte{}
	for _, sp := range b.State.Proofs {
		switch k := string(sp.Key); {
		case strings.HasPrefix(k, "v/"):
			vmKey = k
		case strings.HasPrefix(k, "h/"):
			ivKey = k
		case strings.HasPrefix(k, "m/"):
			migKey = k
		}
		values[string(sp.Key)] = sp.Value
	}
	if vmKey == "" || ivKey == "" || migKey == "" {
		f.Fatalf("the bundle proves %v", values)
	}
	f.Add(values[vmKey], values[ivKey], values[migKey])
	f.Fuzz(func(t *testing.T, vm, iv, mig []byte) {
		v := &verifier{b: b}
		p := &proved{height: b.State.Height, values: map[string][]byte{vmKey: vm, ivKey: iv, migKey: mig},
			fields: map[string]string{vmKey: "vm", ivKey: "interval", migKey: "migration"}}
		h := &history{}
		var txs []*vtx
		for i := range b.Txs {
			stx, err := bbus.DecodeTx([]byte(b.Txs[i].Raw))
			if err != nil {
				t.Fatal(err)
			}
			tx := &vtx{field: "tx", stx: stx, height: b.Txs[i].Height, time: b.Txs[i].Time}
			txs = append(txs, tx)
			h.add(tx)
		}
		h.name(txs, "")
		v.vmComplete(p, txs, h)
	})
}
