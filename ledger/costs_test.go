package ledger

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// Tests that what one lookup or transaction reads does not grow with the
// ledger's history: they count the records read through a counting reader.

// countingReader counts the records a reader hands out (Get hits and
// iterated entries).
type countingReader struct {
	kv.Store
	reads int
}

func (r *countingReader) Get(key []byte) []byte {
	v := r.Store.Get(key)
	if v != nil {
		r.reads++
	}
	return v
}

func (r *countingReader) Iterate(prefix, start []byte, fn func(k, v []byte) bool) {
	r.Store.Iterate(prefix, start, func(k, v []byte) bool {
		r.reads++
		return fn(k, v)
	})
}

// travellerVM writes a VM with n hosting intervals straight into st: interval
// i runs from t0+i minutes to t0+i+1 minutes on cloud a or b, and every tenth
// is zero-length (a migration completed in the block that opened it).
func travellerVM(st kv.Store, n int64, t0 time.Time) *bbus.VM {
	vm := &bbus.VM{ID: "vm-t", Owner: "a", Host: "a", State: bbus.VMRunning, Registered: bbus.Stamp{At: t0}, Intervals: n,
		Resources: bbus.Resources{CPU: 1, MemMiB: 1024}}
	at := t0
	for i := int64(1); i <= n; i++ {
		iv := &bbus.Interval{VM: vm.ID, Seq: i, Cloud: []string{"a", "b"}[i%2], Start: bbus.Stamp{At: at}}
		if i%10 != 0 {
			at = at.Add(time.Minute)
		}
		if i < n {
			iv.End = &bbus.Stamp{At: at}
		}
		putJSON(st, intervalKey(vm.ID, i), iv)
	}
	putJSON(st, vmKey(vm.ID), vm)
	return vm
}

// naiveHostAt is what HostAt answered by reading every interval.
func naiveHostAt(r kv.Reader, vm *bbus.VM, t time.Time) (int64, string) {
	ivs := intervals(r, vm.ID)
	for i := len(ivs) - 1; i >= 0; i-- {
		iv := ivs[i]
		if iv.Start.At.After(t) {
			continue
		}
		if iv.End != nil && !t.Before(iv.End.At) {
			if vm.Terminated != nil && i == len(ivs)-1 {
				return 0, "terminated"
			}
			break
		}
		return iv.Seq, ""
	}
	return 0, "not registered"
}

func TestHostAtSeeksAndAgreesWithAScan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := kv.NewMem()
	vm := travellerVM(st, 60, t0)
	for _, terminated := range []bool{false, true} {
		if terminated {
			last := new(bbus.Interval)
			getJSON(st, intervalKey(vm.ID, vm.Intervals), last)
			end := bbus.Stamp{At: last.Start.At.Add(time.Minute)}
			last.End, vm.Terminated = &end, &end
			putJSON(st, intervalKey(vm.ID, vm.Intervals), last)
			putJSON(st, vmKey(vm.ID), vm)
		}
		for s := -90; s < 60*60+120; s += 30 {
			at := t0.Add(time.Duration(s) * time.Second)
			wantSeq, wantErr := naiveHostAt(st, vm, at)
			iv, err := HostAt(st, vm.ID, at)
			switch {
			case wantErr == "" && (err != nil || iv.Seq != wantSeq):
				t.Fatalf("HostAt(%v) = %v, %v; want interval %d", at, iv, err, wantSeq)
			case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
				t.Fatalf("HostAt(%v) = %v, %v; want %q", at, iv, err, wantErr)
			}
		}
	}
}

func TestPerVMLookupsReadLogarithmically(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mem := kv.NewMem()
	vm := travellerVM(mem, 4000, t0)
	r := &countingReader{Store: mem}
	at := t0.Add(1234*time.Minute + 30*time.Second)
	if _, err := HostAt(r, vm.ID, at); err != nil {
		t.Fatal(err)
	}
	if r.reads > 30 {
		t.Errorf("HostAt read %d records of a VM with 4000 intervals; want O(log n), at most 30", r.reads)
	}
	r.reads = 0
	c := &ctx{st: kv.NewOverlay(r)}
	parts := c.hostedParts(vm.ID, at, at.Add(3*time.Minute))
	if len(parts) < 3 || r.reads > 40 {
		t.Errorf("hostedParts of a 3-minute window found %d parts reading %d records; want >= 3 parts, at most 40 reads", len(parts), r.reads)
	}
	r.reads = 0
	page, next, err := VMIntervals(r, vm.ID, bbus.Page{Limit: 10, After: "2000"})
	if err != nil || len(page) != 10 || page[0].Seq != 2001 || next != "2010" || r.reads > 15 {
		t.Errorf("VMIntervals after 2000: %d intervals from %v, next %q, err %v, %d reads", len(page), page, next, err, r.reads)
	}
	if _, _, err := VMIntervals(r, vm.ID, bbus.Page{After: "x"}); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("VMIntervals after x: %v, want invalid", err)
	}
	last, next, _ := VMIntervals(r, vm.ID, bbus.Page{Limit: 1000, After: strconv.Itoa(3500)})
	if len(last) != 500 || next != "" {
		t.Errorf("the last page holds %d intervals, next %q; want 500, none", len(last), next)
	}
}

// recordingStore records where each scan of prefix starts.
type recordingStore struct {
	kv.Store
	prefix string
	starts [][]byte
}

func (r *recordingStore) Iterate(prefix, start []byte, fn func(k, v []byte) bool) {
	if string(prefix) == r.prefix || bytes.HasPrefix(start, []byte(r.prefix)) {
		r.starts = append(r.starts, start)
	}
	r.Store.Iterate(prefix, start, fn)
}

// TestBeginBlockBounded: 2,500 proposals lapse at once and 5,000 transaction
// ids expire at once; each block lapses at most MaxLapsesPerBlock and forgets
// at most MaxExpiriesPerBlock ids, in key order; the backlog says what waits;
// a proposal past its time is refused as lapsed while it waits, and a new
// proposal for its VM lapses it; and the scans start past what is done.
func TestBeginBlockBounded(t *testing.T) {
	const n = 2500
	g := testGenesis([]string{"a", "b"}, func(string) bbus.Resources {
		return bbus.Resources{CPU: 1 << 20, MemMiB: 1 << 30, DiskIOPS: 1 << 20, NetMbps: 1 << 20}
	}, bbus.DefaultParams())
	l, mem := newTestLedger(), kv.NewMem()
	if err := l.InitGenesis(mem, testChainID, g, testGenesisTime); err != nil {
		t.Fatal(err)
	}
	st := &recordingStore{Store: mem, prefix: string(prefixLapse)}
	h := Header{Height: 1, Time: testGenesisTime.Add(10 * time.Second)}
	l.BeginBlock(st, h)
	nonce := uint64(0)
	do := func(signer string, a bbus.Action) Result {
		nonce++
		r := l.Apply(st, h, txSpec{chain: testChainID, signer: signer, nonce: nonce, expires: h.Time.Unix() + 60, action: a}.sign())
		if !r.OK() && r.Type != "migration_accept" {
			t.Fatalf("%s: %s: %s", a.Type(), r.Code, r.Message)
		}
		return r
	}
	var migs []string
	for i := 0; i < n; i++ {
		vm := fmt.Sprintf("vm-%04d", i)
		do("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
		migs = append(migs, do("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: "b"}}).ID)
	}
	h = Header{Height: 2, Time: h.Time.Add(time.Hour + time.Second)}
	done, replays := 0, 2*n
	for block := 0; done < n-1; block++ {
		lapsesDue, replaysDue := ExpiryBacklog(st, h.Time, 1<<20)
		if lapsesDue != n-done-min(block, 1) || replaysDue != replays {
			t.Fatalf("block %d: backlog %d lapses, %d ids; want %d, %d", block, lapsesDue, replaysDue, n-done-min(block, 1), replays)
		}
		events := l.BeginBlock(st, h)
		if len(events) != min(MaxLapsesPerBlock, n-1-done) {
			t.Fatalf("block %d: %d events, want %d", block, len(events), min(MaxLapsesPerBlock, n-1-done))
		}
		for i, e := range events {
			if e.Type != "migration.lapsed" || e.Attrs[0].Value != migs[done+i] {
				t.Fatalf("block %d event %d: %+v, want %s lapsed", block, i, e, migs[done+i])
			}
		}
		done += len(events)
		replays -= min(MaxExpiriesPerBlock, replays)
		if block == 0 {
			// A proposal past its time waits in the queue, and is refused as lapsed...
			if r := do("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: migs[n-1]}}); r.Code != bbus.ELAPSED {
				t.Fatalf("accepting a lapsed proposal still queued: %s %s", r.Code, r.Message)
			}
			// ... and a new proposal for its VM lapses it.
			r := do("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: fmt.Sprintf("vm-%04d", n-1), To: "b"}})
			if len(r.Events) != 2 || r.Events[0].Type != "migration.lapsed" || r.Events[0].Attrs[0].Value != migs[n-1] {
				t.Fatalf("a new proposal for a VM whose proposal lapsed: %+v", r.Events)
			}
			if m, _ := Migration(st, migs[n-1]); m.Status != bbus.MigrationLapsed {
				t.Fatalf("%s is %s", m.ID, m.Status)
			}
		}
		h = Header{Height: h.Height + 1, Time: h.Time.Add(time.Second)}
	}
	if lapses, _ := ExpiryBacklog(st, h.Time, 1<<20); lapses != 0 {
		t.Errorf("after the queue drained: backlog %d lapses", lapses)
	}
	// The lapse scan starts past what it processed: at or after the last block's time.
	l.BeginBlock(st, h)
	last := st.starts[len(st.starts)-1]
	if string(last) < string(lapseKey(h.Time.Add(-time.Second), 0)) {
		t.Errorf("the lapse scan starts at %x, before the last block's time: it walks over deleted entries", last)
	}
}

// TestTxWriteBound: a transaction that would write more than the bound is
// rejected with too_large and changes nothing; under it, it applies.
func TestTxWriteBound(t *testing.T) {
	g := testGenesis([]string{"a", "b"}, func(string) bbus.Resources { return bbus.Resources{CPU: 64, MemMiB: 1 << 20} }, bbus.DefaultParams())
	l, st := newTestLedger(), kv.NewMem()
	if err := l.InitGenesis(st, testChainID, g, testGenesisTime); err != nil {
		t.Fatal(err)
	}
	h := Header{Height: 1, Time: testGenesisTime.Add(10 * time.Second)}
	reg := func(nonce uint64) []byte {
		return txSpec{chain: testChainID, signer: "a", nonce: nonce, expires: h.Time.Unix() + 60,
			action: bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}}.sign()
	}
	before := dumpStore(st)
	defer func(keep struct{ keys, bytes int }) { txWriteLimit = keep }(txWriteLimit)
	for _, lim := range []struct{ keys, bytes int }{{3, 1 << 20}, {100, 200}} {
		txWriteLimit = lim
		r := l.Apply(st, h, reg(1))
		if r.Code != bbus.ETOOLARGE || !strings.Contains(r.Message, "vm_register would write") {
			t.Fatalf("limit %v: %s %s, want too_large", lim, r.Code, r.Message)
		}
		if after := dumpStore(st); !bytes.Equal(before, after) {
			t.Fatalf("a refused transaction changed the state: %s", firstDiff(before, after))
		}
	}
	txWriteLimit = struct{ keys, bytes int }{MaxTxWriteKeys, MaxTxWriteBytes}
	if r := l.Apply(st, h, reg(2)); !r.OK() {
		t.Fatalf("under the bound: %s %s", r.Code, r.Message)
	}
}

// TestIdleBlockWritesNothing: a block with nothing due leaves the state as it
// was, so its app hash does not change and the engine can stop making blocks,
// however long the chain idles; it reads one key. A transaction queues its id
// until its expiry: the first block after that forgets it (and writes), and
// the blocks after it are idle again.
func TestIdleBlockWritesNothing(t *testing.T) {
	g := testGenesis([]string{"a", "b"}, func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192} }, bbus.DefaultParams())
	l, st := newTestLedger(), kv.NewMem()
	if err := l.InitGenesis(st, testChainID, g, testGenesisTime); err != nil {
		t.Fatal(err)
	}
	h := Header{Height: 1, Time: testGenesisTime.Add(2 * time.Minute)}
	l.BeginBlock(st, h) // the first block looks at every queue and sets the gate
	if st.Get(keyNextDue) == nil {
		t.Fatal("the first block left the gate of the queues unset")
	}
	idle := func(at time.Time) {
		t.Helper()
		before := dumpStore(st)
		cr := &countingReader{Store: st}
		l.BeginBlock(cr, Header{Height: h.Height + 1, Time: at})
		if after := dumpStore(st); !bytes.Equal(before, after) {
			t.Fatalf("an idle block at %v changed the state: %s", at, firstDiff(before, after))
		}
		if cr.reads > 1 {
			t.Errorf("an idle block at %v read %d records, want 1", at, cr.reads)
		}
	}
	for _, d := range []time.Duration{10 * time.Millisecond, time.Second, 61 * time.Second, 24 * time.Hour} {
		idle(h.Time.Add(d))
	}
	h = Header{Height: 2, Time: h.Time.Add(25 * time.Hour)}
	expires := h.Time.Unix() + 60
	tx := txSpec{chain: testChainID, signer: "a", nonce: 1, expires: expires,
		action: bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}}.sign()
	if r := l.Apply(st, h, tx); !r.OK() {
		t.Fatal(r.Code, r.Message)
	}
	idle(time.Unix(expires, 999_999_999)) // its expiry's second: it may still come
	before := dumpStore(st)
	l.BeginBlock(st, Header{Height: 3, Time: time.Unix(expires+1, 0)})
	if bytes.Equal(before, dumpStore(st)) {
		t.Fatal("the block after the transaction's expiry did not forget its id")
	}
	idle(time.Unix(expires+2, 0))
}
