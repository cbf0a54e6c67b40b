package evidence

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/internal/ledgertest"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// applied is a transaction the ledger committed: its bytes, its block and
// place there, and its result.
type applied struct {
	raw    []byte
	height int64
	time   time.Time
	index  int
	res    ledger.Result
}

// randomHistory drives a real ledger with random VM and migration
// transactions, many of which the ledger refuses.
type randomHistory struct {
	t      *testing.T
	r      *rand.Rand
	c      *ledgertest.Chain
	clouds []string
	vms    []string
	byID   map[string]*applied
	log    []string
	// removeAt is the step at which the members remove a cloud (0: none).
	removeAt, steps int
	removed         string
}

func (h *randomHistory) cloud() string { return h.clouds[h.r.IntN(len(h.clouds))] }

// pick returns right with probability 17/20, else any cloud.
func (h *randomHistory) pick(right string) string {
	if h.r.IntN(20) < 17 {
		return right
	}
	return h.cloud()
}

func (h *randomHistory) history(vm string) *bbus.History {
	var hist *bbus.History
	h.c.View(func(r kv.Reader) error {
		var err error
		hist, err = ledger.VMHistory(r, vm)
		return err
	})
	return hist
}

// next returns a random transaction: its signer and action.
func (h *randomHistory) next() (string, bbus.Action) {
	if len(h.vms) == 0 || len(h.vms) < 3 && h.r.IntN(12) == 0 {
		h.vms = append(h.vms, fmt.Sprint("vm-", len(h.vms)))
	}
	vm := h.vms[h.r.IntN(len(h.vms))]
	hist := h.history(vm)
	if hist == nil || h.r.IntN(50) == 0 { // not registered yet, or again
		return h.cloud(), bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 2, MemMiB: 1024}}}
	}
	var open *bbus.Migration
	if n := len(hist.Migrations); n > 0 {
		open = &hist.Migrations[h.r.IntN(n)]
		if h.r.IntN(3) > 0 {
			open = &hist.Migrations[n-1] // mostly the latest
		}
	}
	k, ends := h.r.IntN(100), 4
	if hist.VM.Owner == h.removed {
		ends = 15
	}
	switch {
	case k < ends:
		by := hist.VM.Owner // or its host, which may when the owner was removed
		if h.r.IntN(3) == 0 || by == h.removed {
			by = hist.VM.Host
		}
		return h.pick(by), bbus.Action{VMTerminate: &bbus.VMRef{VM: vm}}
	case k < 30 || open == nil:
		return h.pick(hist.VM.Host), bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: h.cloud()}}
	case k < 55:
		return h.pick(open.To), bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: open.ID}}
	case k < 80:
		return h.pick(open.To), bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: open.ID}}
	case k < 90:
		return h.pick(open.To), bbus.Action{MigrationReject: &bbus.MigrationRef{Migration: open.ID}}
	default:
		return h.pick(open.From), bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: open.ID}}
	}
}

// step commits a block of one or two random transactions, or lets time pass
// (past a proposal's lapse, sometimes).
func (h *randomHistory) step() {
	if h.r.IntN(10) == 0 {
		d := time.Duration(h.r.IntN(2*int(bbus.DefaultParams().MigrationLapseSeconds))) * time.Second
		h.c.Advance(d)
		h.log = append(h.log, fmt.Sprintf("advance %s", d))
	}
	h.steps++
	n := 1 + h.r.IntN(2)
	signers, actions := make([]string, n), make([]bbus.Action, n)
	for i := range n {
		signers[i], actions[i] = h.next()
	}
	if h.steps == h.removeAt {
		// The other members vote the removal of one cloud, which ends the
		// migrations it takes part in and leaves its VMs without an owner.
		target := h.cloud()
		h.removed = target
		signers, actions = nil, nil
		for _, voter := range h.clouds {
			if voter != target {
				signers = append(signers, voter)
				actions = append(actions, bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: target}})
			}
		}
		n = len(signers)
	}
	raws := make([][]byte, n)
	what := make([]string, n)
	for i := range raws {
		signer, a := signers[i], actions[i]
		raws[i] = h.c.Sign(signer, a)
		b, _ := json.Marshal(&a)
		what[i] = signer + " " + string(b)
	}
	results := h.c.Block(raws...)
	last := h.c.Last()
	for i, res := range results {
		outcome := "ok " + res.ID
		if res.Code != "" {
			outcome = res.Code
		} else {
			h.byID[res.TxID] = &applied{raw: raws[i], height: last.Height, time: last.Time, index: i, res: res}
		}
		h.log = append(h.log, fmt.Sprintf("h%d[%d] %s: %s", last.Height, i, what[i], outcome))
	}
}

// TestStoryAgreesWithLedger runs random VM histories through the real ledger,
// replays each VM's transactions (those its bundle holds, as Build selects
// them) through the verifier's story, and compares what the verifier
// concludes with what the ledger records: the hosting intervals (host,
// migration, start and end), the host at every interval's edges, the VM's
// host and state at the end, and each migration's end and parties. The
// verifier replays the migration rules apart from the ledger; this is what
// keeps the two copies the same.
func TestStoryAgreesWithLedger(t *testing.T) {
	const histories, steps = 300, 40
	seen := map[string]int{}
	for n := range histories {
		h := &randomHistory{t: t, r: rand.New(rand.NewPCG(uint64(n), 17)),
			c: ledgertest.New(ledgertest.Founders("c0", "c1", "c2", "c3")...), clouds: []string{"c0", "c1", "c2", "c3"},
			byID: map[string]*applied{}}
		if h.r.IntN(2) == 0 {
			h.removeAt = 1 + h.r.IntN(steps/2)
		}
		for range steps {
			h.step()
		}
		for _, vm := range h.vms {
			hist := h.history(vm)
			if hist == nil {
				continue
			}
			if err := compareStory(h, hist); err != nil {
				t.Fatalf("history %d (seed %d), VM %s: %v\n%s", n, n, vm, err, strings.Join(h.log, "\n"))
			}
			for _, m := range hist.Migrations {
				seen[m.Status]++
			}
			seen[hist.VM.State]++
			if hist.VM.Terminated != nil && h.byID[hist.VM.Terminated.Tx].res.Signer != hist.VM.Owner {
				seen["terminated by its host"]++
			}
			for _, m := range hist.Migrations {
				if m.Ended != nil && h.byID[m.Ended.Tx] != nil && h.byID[m.Ended.Tx].res.Type == "cloud_remove" {
					seen["ended by a removal"]++
				}
			}
		}
	}
	t.Logf("migrations and VMs by final state: %v", seen)
	for _, s := range []string{bbus.MigrationProposed, bbus.MigrationAccepted, bbus.MigrationCompleted, bbus.MigrationRejected,
		bbus.MigrationCancelled, bbus.MigrationLapsed, bbus.VMRunning, bbus.VMTerminated, "terminated by its host", "ended by a removal"} {
		if seen[s] == 0 {
			t.Errorf("no history ends with a migration or VM %s: the histories do not exercise it", s)
		}
	}
}

// compareStory replays hist's transactions through a story and compares.
func compareStory(h *randomHistory, hist *bbus.History) error {
	vm := hist.VM.ID
	var txs []*applied
	for id, height := range vmTxs(hist) {
		a := h.byID[id]
		if a == nil || a.height != height {
			return fmt.Errorf("the ledger stamps transaction %s at height %d, which it did not apply there", id, height)
		}
		txs = append(txs, a)
	}
	slices.SortFunc(txs, func(a, b *applied) int {
		if a.height != b.height {
			return int(a.height - b.height)
		}
		return a.index - b.index
	})
	s := &story{vm: vm, migs: map[string]*mig{}, intervals: []Interval{}}
	last := map[string]string{}   // migration -> type of the last transaction that names it
	typeOf := map[string]string{} // transaction id -> type
	for i, a := range txs {
		stx, err := bbus.DecodeTx(a.raw)
		if err != nil {
			return err
		}
		vt := &vtx{stx: stx, t: &Tx{Result: Result{ID: a.res.ID}}, pos: position{a.height, fmt.Sprint(a.index)}, time: a.time, height: a.height}
		e, err := s.apply(fmt.Sprintf("txs[%d]", i), vt)
		if err != nil {
			return fmt.Errorf("the verifier refuses a history the ledger applied: %v", err)
		}
		if e.Type != a.res.Type || e.ID != a.res.ID || e.Signer != a.res.Signer {
			return fmt.Errorf("txs[%d]: the verifier reports %s %s by %s, the ledger %s %s by %s", i, e.Type, e.ID, e.Signer, a.res.Type, a.res.ID, a.res.Signer)
		}
		typeOf[e.TxID] = e.Type
		if strings.HasPrefix(e.Type, "migration_") {
			last[e.ID] = e.Type
		}
	}

	// The hosting intervals.
	if len(s.intervals) != len(hist.Intervals) {
		return fmt.Errorf("the verifier finds %d hosting intervals, the ledger records %d:\n%+v\n%+v", len(s.intervals), len(hist.Intervals), s.intervals, hist.Intervals)
	}
	for i, got := range s.intervals {
		want := hist.Intervals[i]
		switch {
		case got.Cloud != want.Cloud || got.Migration != want.Migration:
			return fmt.Errorf("interval %d: the verifier says %s by migration %q, the ledger %s by %q", i, got.Cloud, got.Migration, want.Cloud, want.Migration)
		case !samePoint(&got.Start, &want.Start):
			return fmt.Errorf("interval %d: the verifier starts it at %+v, the ledger at %+v", i, got.Start, want.Start)
		case (got.End == nil) != (want.End == nil) || got.End != nil && !samePoint(got.End, want.End):
			return fmt.Errorf("interval %d: the verifier ends it at %+v, the ledger at %+v", i, got.End, want.End)
		}
	}

	// The host at each interval's edges, as HostAt answers.
	var err error
	h.c.View(func(r kv.Reader) error {
		for _, iv := range hist.Intervals {
			times := []time.Time{iv.Start.At.Add(-time.Nanosecond), iv.Start.At}
			if iv.End != nil {
				times = append(times, iv.End.At.Add(-time.Nanosecond), iv.End.At)
			}
			for _, at := range times {
				got := hostAt(s.intervals, at)
				want := ""
				if iv, e := ledger.HostAt(r, vm, at); e == nil {
					want = iv.Cloud
				}
				if got != want {
					err = fmt.Errorf("at %s the verifier has the VM at %q, the ledger's HostAt at %q", at, got, want)
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// The VM at the end.
	if s.host != hist.VM.Host || s.owner != hist.VM.Owner || s.ended != (hist.VM.State == bbus.VMTerminated) {
		return fmt.Errorf("the verifier ends with the VM hosted by %s, owned by %s, terminated %v; the ledger: %s, %s, %s",
			s.host, s.owner, s.ended, hist.VM.Host, hist.VM.Owner, hist.VM.State)
	}

	// The migrations: the same ones, the same parties, the same end.
	if len(s.migs) != len(hist.Migrations) {
		return fmt.Errorf("the verifier knows %d migrations, the ledger records %d", len(s.migs), len(hist.Migrations))
	}
	for _, m := range hist.Migrations {
		got := s.migs[m.ID]
		if got == nil || got.from != m.From || got.to != m.To {
			return fmt.Errorf("migration %s: the verifier has %+v, the ledger from %s to %s", m.ID, got, m.From, m.To)
		}
		verb := last[m.ID]
		ok := false
		switch m.Status {
		case bbus.MigrationProposed, bbus.MigrationLapsed: // a lapse is no transaction
			ok = verb == "migration_propose"
		case bbus.MigrationAccepted:
			ok = verb == "migration_accept"
		case bbus.MigrationCompleted:
			ok = verb == "migration_complete"
		case bbus.MigrationRejected:
			ok = verb == "migration_reject"
		case bbus.MigrationCancelled: // by its source, or by the VM's termination or a party's removal
			by := typeOf[m.Ended.Tx]
			ok = verb == "migration_cancel" ||
				(verb == "migration_propose" || verb == "migration_accept") && (by == "vm_terminate" && s.ended || by == "cloud_remove")
		}
		if !ok {
			return fmt.Errorf("migration %s: the ledger says %s, the verifier's last transaction for it is %q", m.ID, m.Status, verb)
		}
	}
	return nil
}

func samePoint(p *Point, s *bbus.Stamp) bool { return p.Height == s.Height && p.Time.Equal(s.At) }

// hostAt is where the verifier's intervals have the VM at t ("" nowhere).
func hostAt(ivs []Interval, t time.Time) string {
	host := ""
	for _, iv := range ivs {
		if !iv.Start.Time.After(t) && (iv.End == nil || t.Before(iv.End.Time)) {
			host = iv.Cloud
		}
	}
	return host
}
