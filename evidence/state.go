package evidence

import (
	"bytes"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/proof"
)

// StateReport is what the state proofs of a bundle cover.
type StateReport struct {
	Height  int64 `json:"height"`
	Records int   `json:"records"`
}

// proved is the state a bundle proves: each record by its key, with where
// its proof is in the bundle.
type proved struct {
	height int64
	values map[string][]byte
	fields map[string]string
	used   map[string]bool // the records the verifier read
}

// state verifies every state proof against the app hash of the trusted
// header at the state's height (which carries the state after the block
// before it).
func (v *verifier) state() (*proved, error) {
	st := &v.b.State
	if len(st.Proofs) == 0 {
		return nil, fail("state.proofs", "the bundle proves no state record of %s", v.b.subject())
	}
	next := v.headers[st.Height]
	if next == nil {
		return nil, fail("state.height", "the bundle has no trusted header at height %d, whose app hash the state proofs verify against", st.Height)
	}
	p := &proved{height: st.Height, values: map[string][]byte{}, fields: map[string]string{}, used: map[string]bool{}}
	for i, sp := range st.Proofs {
		field := fmt.Sprintf("state.proofs[%d]", i)
		if sp.Value == nil {
			return nil, fail(field+".value", "is missing: the bundle proves records present")
		}
		if i > 0 && bytes.Compare(st.Proofs[i-1].Key, sp.Key) >= 0 {
			return nil, fail(field+".key", "%q is not after the key before it: the proofs are in key order, each key once", sp.Key)
		}
		if err := proof.Verify(next.h.AppHash, &bbus.Proof{Key: sp.Key, Value: sp.Value, Proof: sp.Proof}); err != nil {
			return nil, fail(field, "does not verify against the app hash %s of the header at height %d: %v", next.h.AppHash, st.Height, err)
		}
		p.values[string(sp.Key)] = sp.Value
		p.fields[string(sp.Key)] = field
	}
	return p, nil
}

// record decodes the proved record at key into out, failing with what names
// it if the bundle does not prove it.
func (p *proved) record(key []byte, what string, out any) (string, error) {
	raw, ok := p.values[string(key)]
	if !ok {
		return "", fail("state.proofs", "proves no record of %s (key %q)", what, key)
	}
	field := p.fields[string(key)]
	p.use(key)
	if err := ledger.DecodeRecord(raw, out); err != nil {
		return "", fail(field+".value", "is not the record of %s: %v", what, err)
	}
	return field, nil
}

// use marks the record at key read.
func (p *proved) use(key []byte) {
	if p.used == nil {
		p.used = map[string]bool{}
	}
	p.used[string(key)] = true
}

// allUsed fails for a proved record that the subject's checks did not read:
// a bundle holds nothing it does not need.
func (p *proved) allUsed() error {
	for _, k := range slices.Sorted(maps.Keys(p.fields)) {
		if !p.used[k] {
			return fail(p.fields[k], "proves the record at key %q, which the bundle's subject does not need: it does not belong", k)
		}
	}
	return nil
}

// history is what a VM's transactions say about where it ran: for the report,
// and to compare with what its proved records count.
type history struct {
	intervals []Interval
	opened    []*vtx // the transaction that opened each interval
	proposals []*vtx // migration proposals
}

func (h *history) add(t *vtx) {
	a := &t.stx.Action
	at := Point{Height: t.height, Time: t.time}
	closeLast := func() {
		if n := len(h.intervals); n > 0 && h.intervals[n-1].End == nil {
			h.intervals[n-1].End = &at
		}
	}
	switch {
	case a.VMRegister != nil:
		h.intervals = append(h.intervals, Interval{Cloud: t.stx.Signer, Start: at})
		h.opened = append(h.opened, t)
	case a.MigrationComplete != nil:
		closeLast()
		h.intervals = append(h.intervals, Interval{Cloud: t.stx.Signer, Migration: a.MigrationComplete.Migration, Start: at})
		h.opened = append(h.opened, t)
	case a.VMTerminate != nil:
		closeLast()
	case a.MigrationPropose != nil:
		h.proposals = append(h.proposals, t)
	}
}

// name sets what each transaction made or acted on, for a reader: the VM or
// agreement its action names; for a migration's proposal, the migration the
// next transaction about a migration names (a VM has one migration open at a
// time), or "" when none does (a proposal that lapsed, or the last, which
// vmComplete names from the VM's record); for an agreement's proposal, the
// agreement of the bundle.
func (h *history) name(txs []*vtx, agreement string) {
	var open *vtx // a proposal not named yet
	for _, t := range txs {
		a := &t.stx.Action
		ref := a.Migration()
		switch {
		case a.VMRegister != nil:
			t.id = a.VMRegister.VM
		case a.VMTerminate != nil:
			t.id = a.VMTerminate.VM
		case a.MigrationPropose != nil:
			open = t
		case a.AgreementPropose != nil:
			t.id = agreement
		case a.AgreementSign != nil:
			t.id = a.AgreementSign.Agreement
		case a.AgreementDecline != nil:
			t.id = a.AgreementDecline.Agreement
		}
		if ref != "" {
			t.id = ref
			if open != nil {
				open.id, open = ref, nil
			}
		}
	}
}

// describe says what a transaction did, for a reader. It checks nothing:
// what the bundle holds is checked against the proved records.
func describe(t *vtx) string {
	a, signer, id := &t.stx.Action, t.stx.Signer, t.id
	switch {
	case a.VMRegister != nil:
		return fmt.Sprintf("%s registers %s (%s), owned and hosted by %s", signer, a.VMRegister.VM, a.VMRegister.Resources, signer)
	case a.VMTerminate != nil:
		return fmt.Sprintf("%s terminates %s", signer, a.VMTerminate.VM)
	case a.MigrationPropose != nil:
		s := fmt.Sprintf("%s proposes to send %s to %s", signer, a.MigrationPropose.VM, a.MigrationPropose.To)
		if id != "" {
			s += " as " + id
		}
		if a.MigrationPropose.Agreement != "" {
			s += " under agreement " + a.MigrationPropose.Agreement
		}
		return s
	case a.MigrationAccept != nil:
		return fmt.Sprintf("%s accepts %s", signer, a.MigrationAccept.Migration)
	case a.MigrationComplete != nil:
		return fmt.Sprintf("%s completes %s: the VM now runs at %s", signer, a.MigrationComplete.Migration, signer)
	case a.MigrationReject != nil:
		return fmt.Sprintf("%s rejects %s", signer, a.MigrationReject.Migration)
	case a.MigrationCancel != nil:
		return fmt.Sprintf("%s cancels %s", signer, a.MigrationCancel.Migration)
	case a.AgreementPropose != nil:
		p := a.AgreementPropose
		s := fmt.Sprintf("%s proposes %s: provider %s, consumer %s, %d micro-credits per vCPU-hour, availability %d/1000 %%, penalty %d/1000 %%",
			signer, id, p.Provider, p.Consumer, p.PriceVCPUHour, p.Availability, p.PenaltyPct)
		if p.Until != 0 {
			s += fmt.Sprintf(", until %s", time.Unix(p.Until, 0).UTC().Format(time.RFC3339))
		}
		return s
	case a.AgreementSign != nil:
		return fmt.Sprintf("%s signs %s: in force from here", signer, a.AgreementSign.Agreement)
	case a.AgreementDecline != nil:
		return fmt.Sprintf("%s declines %s", signer, a.AgreementDecline.Agreement)
	}
	if id != "" {
		return fmt.Sprintf("%s: %s (%s)", signer, a.Type(), id)
	}
	return fmt.Sprintf("%s: %s", signer, a.Type())
}

func ids(txs []*vtx) string {
	if len(txs) == 0 {
		return "none"
	}
	out := make([]string, len(txs))
	for i, t := range txs {
		out[i] = orNone(t.id)
	}
	return strings.Join(out, ", ")
}

// vmComplete checks a VM's transactions against its proved record, last
// interval and last migration: the bundle must hold every migration, every
// interval and every transaction the record counts.
func (v *verifier) vmComplete(p *proved, txs []*vtx, h *history) error {
	id := v.b.VM
	var vm bbus.VM
	field, err := p.record(ledger.VMKey(id), "VM "+id, &vm)
	if err != nil {
		return err
	}
	if vm.ID != id {
		return fail(field+".value", "is the record of VM %s, not %s", vm.ID, id)
	}
	if len(txs) == 0 {
		return fail("txs", "the bundle holds no transaction")
	}
	rec := fmt.Sprintf("VM %s's record at height %d", id, p.height-1)
	// Migrations: their number and the last.
	var lastProposal *vtx
	if n := len(h.proposals); n > 0 {
		lastProposal = h.proposals[n-1]
	}
	lastID := ""
	if lastProposal != nil {
		lastID = lastProposal.id
	}
	if int64(len(h.proposals)) != vm.Migrations || lastID != "" && lastID != vm.LastMigration || (lastProposal == nil) != (vm.LastMigration == "") {
		what := "a migration is missing (its proposal, with what answered it)"
		switch {
		case int64(len(h.proposals)) > vm.Migrations:
			what = "the bundle proposes more migrations than the VM had"
		case vm.LastMigration != "" && lastID != vm.LastMigration:
			what = fmt.Sprintf("migration %s, the last, is missing", vm.LastMigration)
		}
		return fail("txs", "%s counts %d migrations, the last %s; the bundle's transactions propose %d (%s): %s",
			rec, vm.Migrations, orNone(vm.LastMigration), len(h.proposals), ids(h.proposals), what)
	}
	if vm.LastMigration != "" {
		key, ok := ledger.RecordKey("migration", vm.LastMigration)
		if !ok {
			return fail(field+".value", "names %q as its last migration, which is no migration id", vm.LastMigration)
		}
		var m bbus.Migration
		mf, err := p.record(key, "migration "+vm.LastMigration, &m)
		if err != nil {
			return err
		}
		if m.ID != vm.LastMigration || m.VM != id || m.Proposed.Tx != lastProposal.stx.ID {
			return fail(mf+".value", "is migration %s of VM %s proposed by transaction %s, but the bundle's last proposal is of %s by %s",
				m.ID, m.VM, m.Proposed.Tx, id, lastProposal.stx.ID)
		}
		lastProposal.id = m.ID
	}
	// Intervals: their number and the last.
	if int64(len(h.intervals)) != vm.Intervals {
		return fail("txs", "%s counts %d hosting intervals, the bundle's transactions open %d: an interval is missing (the registration or the migration completion that opened it)",
			rec, vm.Intervals, len(h.intervals))
	}
	if vm.Intervals > 0 {
		var iv bbus.Interval
		ivf, err := p.record(ledger.IntervalKey(id, vm.Intervals), fmt.Sprintf("interval %d of VM %s", vm.Intervals, id), &iv)
		if err != nil {
			return err
		}
		got, opened := h.intervals[len(h.intervals)-1], h.opened[len(h.opened)-1]
		if iv.VM != id || iv.Seq != vm.Intervals || iv.Cloud != got.Cloud || iv.Start.Tx != opened.stx.ID || (iv.End == nil) != (got.End == nil) {
			return fail(ivf+".value", "is interval %d of VM %s at %s opened by transaction %s (ended: %t), but the bundle's last interval is at %s, opened by %s (ended: %t)",
				iv.Seq, iv.VM, iv.Cloud, iv.Start.Tx, iv.End != nil, got.Cloud, opened.stx.ID, got.End != nil)
		}
	}
	// Every transaction, in order.
	if int64(len(txs)) != vm.Txs {
		what := fmt.Sprintf("%d of them missing", vm.Txs-int64(len(txs)))
		if int64(len(txs)) > vm.Txs {
			what = "the bundle holds transactions that did not change the VM"
		}
		return fail("txs", "%s counts %d transactions that changed it, the bundle holds %d: %s", rec, vm.Txs, len(txs), what)
	}
	digest := ""
	for _, t := range txs {
		digest = bbus.NextTxDigest(digest, bbus.Stamp{Tx: t.stx.ID, Height: t.height, At: t.time})
	}
	if digest != vm.TxDigest {
		return fail("txs", "the bundle's transactions chain to digest %s, %s to %s: a transaction is missing, foreign or out of order, or its height or time is not its block's", digest, rec, vm.TxDigest)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// agreementComplete checks an agreement's transactions against its proved
// record: its proposal, then the signature or refusal the record names.
func (v *verifier) agreementComplete(p *proved, txs []*vtx) ([]bbus.Agreement, error) {
	id := v.b.Agreement
	key, ok := ledger.RecordKey("agreement", id)
	if !ok {
		return nil, fail("agreement", "%q is no agreement id", id)
	}
	var a bbus.Agreement
	field, err := p.record(key, "agreement "+id, &a)
	if err != nil {
		return nil, err
	}
	want := []bbus.Stamp{a.Proposed}
	for _, s := range []*bbus.Stamp{a.Signed, a.Declined} {
		if s != nil && s.Tx != "" {
			want = append(want, *s)
		}
	}
	got := make([]string, len(txs))
	for i, t := range txs {
		got[i] = t.stx.ID
	}
	names := make([]string, len(want))
	for i, s := range want {
		names[i] = s.Tx
	}
	if a.ID != id || strings.Join(got, " ") != strings.Join(names, " ") {
		return nil, fail("txs", "hold transactions %s, but agreement %s's record (%s) names %s", orNone(strings.Join(got, ", ")), id, field, strings.Join(names, ", "))
	}
	for i, t := range txs {
		if t.height != want[i].Height || !t.time.Equal(want[i].At) {
			return nil, fail(t.field, "is at height %d, %s, but agreement %s's record (%s) stamps it at height %d, %s",
				t.height, t.time.Format(time.RFC3339Nano), id, field, want[i].Height, want[i].At.UTC().Format(time.RFC3339Nano))
		}
	}
	return []bbus.Agreement{a}, nil
}

// records is the proved records an invoice or a violation names.
type records struct {
	p          *proved
	agreements map[string]*bbus.Agreement
	vms        map[string]*bbus.VM
	order      []string // agreements in the order first named
}

func (r *records) agreement(id, provider, consumer string) (*bbus.Agreement, error) {
	if a := r.agreements[id]; a != nil {
		return a, nil
	}
	key, ok := ledger.RecordKey("agreement", id)
	if !ok {
		return nil, fail("state.proofs", "names %q, which is no agreement id", id)
	}
	a := new(bbus.Agreement)
	field, err := r.p.record(key, "agreement "+id, a)
	if err != nil {
		return nil, err
	}
	switch {
	case a.ID != id:
		return nil, fail(field+".value", "is agreement %s, not %s", a.ID, id)
	case a.Signed == nil:
		return nil, fail(field+".value.signed", "is missing: agreement %s was never signed by both parties", id)
	case a.Provider != provider || a.Consumer != consumer:
		return nil, fail(field+".value", "is between provider %s and consumer %s, not %s and %s", a.Provider, a.Consumer, provider, consumer)
	}
	r.agreements[id] = a
	r.order = append(r.order, id)
	return a, nil
}

func (r *records) vm(id string) (*bbus.VM, error) {
	if vm := r.vms[id]; vm != nil {
		return vm, nil
	}
	vm := new(bbus.VM)
	field, err := r.p.record(ledger.VMKey(id), "VM "+id, vm)
	if err != nil {
		return nil, err
	}
	if vm.ID != id {
		return nil, fail(field+".value", "is VM %s, not %s", vm.ID, id)
	}
	r.vms[id] = vm
	return vm, nil
}

func (r *records) proved() []bbus.Agreement {
	out := make([]bbus.Agreement, len(r.order))
	for i, id := range r.order {
		out[i] = *r.agreements[id]
	}
	return out
}

// differs fails naming the field and both values.
func differs(field string, got, want int64, from string) error {
	return fail(field, "is %d, but %s gives %d", got, from, want)
}

// checkViolation recomputes a proved violation's charge and penalty from its
// agreement and VM, and checks its report names it.
func (r *records) checkViolation(seq uint64, provider, consumer string) (*bbus.Violation, error) {
	id := fmt.Sprintf("vio-%d", seq)
	key, _ := ledger.RecordKey("violation", id)
	v := new(bbus.Violation)
	field, err := r.p.record(key, "violation "+id, v)
	if err != nil {
		return nil, err
	}
	if v.ID != id || provider != "" && (v.Cloud != provider || v.Consumer != consumer) {
		return nil, fail(field+".value", "is violation %s by %s toward %s, not %s by %s toward %s", v.ID, v.Cloud, v.Consumer, id, provider, consumer)
	}
	a, err := r.agreement(v.Agreement, v.Cloud, v.Consumer)
	if err != nil {
		return nil, err
	}
	vm, err := r.vm(v.VM)
	if err != nil {
		return nil, err
	}
	rkey, ok := ledger.RecordKey("report", v.Report)
	if !ok {
		return nil, fail(field+".value.report", "%q is no report id", v.Report)
	}
	var rep bbus.Report
	rf, err := r.p.record(rkey, "report "+v.Report, &rep)
	if err != nil {
		return nil, err
	}
	named := false
	for _, x := range rep.Violations {
		named = named || x == v.ID
	}
	if rep.ID != v.Report || rep.VM != v.VM || !named {
		return nil, fail(rf+".value", "is report %s of VM %s naming violations %v, not the report of violation %s of VM %s", rep.ID, rep.VM, rep.Violations, v.ID, v.VM)
	}
	from := fmt.Sprintf("agreement %s's prices for VM %s's resources from %s to %s", a.ID, vm.ID, v.Start.Format(time.RFC3339), v.End.Format(time.RFC3339))
	charge, seconds, ok := ledger.LineCharge(v.Start, v.End, vm.Resources, a.PriceVCPUHour, a.PriceGiBHour)
	switch {
	case !ok:
		return nil, fail(field+".value.charge_micro", "%d: the charge %s does not fit in 64 bits", v.Charge, from)
	case v.Seconds != seconds:
		return nil, differs(field+".value.seconds", v.Seconds, seconds, "its window")
	case v.Charge != charge:
		return nil, differs(field+".value.charge_micro", v.Charge, charge, from)
	case v.Penalty != bbus.Share(charge, a.PenaltyPct):
		return nil, differs(field+".value.penalty_micro", v.Penalty, bbus.Share(charge, a.PenaltyPct), fmt.Sprintf("agreement %s's penalty of %d/1000 %% of the charge", a.ID, a.PenaltyPct))
	case v.Objective != a.Availability:
		return nil, differs(field+".value.availability_objective_mpct", v.Objective, a.Availability, "agreement "+a.ID)
	}
	return v, nil
}

// violation checks a violation's bundle.
func (v *verifier) violation(p *proved) ([]bbus.Agreement, []bbus.Violation, error) {
	if len(v.b.Txs) != 0 {
		return nil, nil, fail("txs", "a violation's bundle proves records, not transactions")
	}
	seq, ok := ledger.ViolationSeq(v.b.Violation)
	if !ok {
		return nil, nil, fail("violation", "%q is no violation id", v.b.Violation)
	}
	r := &records{p: p, agreements: map[string]*bbus.Agreement{}, vms: map[string]*bbus.VM{}}
	vio, err := r.checkViolation(seq, "", "")
	if err != nil {
		return nil, nil, err
	}
	return r.proved(), []bbus.Violation{*vio}, nil
}

// invoice checks an invoice's bundle: every line and penalty the head counts
// is proved, and every amount, recomputed, is what the records say.
func (v *verifier) invoice(p *proved) (*bbus.Invoice, []bbus.Agreement, []bbus.Violation, error) {
	if len(v.b.Txs) != 0 {
		return nil, nil, nil, fail("txs", "an invoice's bundle proves records, not transactions")
	}
	id := v.b.Invoice
	key, ok := ledger.RecordKey("invoice", id)
	if !ok {
		return nil, nil, nil, fail("invoice", "%q is no invoice id", id)
	}
	var head ledger.InvoiceHead
	hf, err := p.record(key, "invoice "+id, &head)
	if err != nil {
		return nil, nil, nil, err
	}
	switch head.Status {
	case bbus.InvoiceIssued, bbus.InvoiceAccepted, bbus.InvoiceDisputed:
	default:
		return nil, nil, nil, fail(hf+".value.status", "is %q: the invoice bills nothing", head.Status)
	}
	if head.ID != id {
		return nil, nil, nil, fail(hf+".value.id", "is %s, not %s", head.ID, id)
	}
	P, C := head.Provider, head.Consumer
	r := &records{p: p, agreements: map[string]*bbus.Agreement{}, vms: map[string]*bbus.VM{}}
	inv := head.Invoice
	inv.Lines = []bbus.InvoiceLine{}
	hosting, penalties := new(big.Int), new(big.Int)
	var hostingLines, penaltyLines int64
	var vios []bbus.Violation
	for _, sp := range v.b.State.Proofs {
		k := sp.Key
		field := p.fields[string(k)]
		if seq, ok := ledger.PenaltyKeyOf(k, P, C); ok {
			p.use(k)
			if seq < head.FirstViolation || seq > head.LastViolation {
				return nil, nil, nil, fail(field+".key", "lists violation %d, outside the invoice's violations %d to %d", seq, head.FirstViolation, head.LastViolation)
			}
			vio, err := r.checkViolation(seq, P, C)
			if err != nil {
				return nil, nil, nil, err
			}
			penaltyLines++
			penalties.Add(penalties, big.NewInt(vio.Penalty))
			vios = append(vios, *vio)
			inv.Lines = append(inv.Lines, bbus.InvoiceLine{Kind: "penalty", VM: vio.VM, Agreement: vio.Agreement, Start: vio.Start,
				End: vio.End, Seconds: vio.Seconds, Violation: vio.ID, Amount: -vio.Penalty, Evidence: []bbus.Stamp{vio.Recorded}})
			continue
		}
		var l ledger.Line
		if ledger.DecodeRecord(sp.Value, &l) != nil || l.Kind != "hosting" || !ledger.HostingLineKeyOf(k, P, C, l.End) {
			continue // a record a line or a penalty names, checked through them
		}
		p.use(k)
		if !l.End.After(head.From) || l.End.After(head.Until) {
			return nil, nil, nil, fail(field+".value.end", "is %s, outside the invoice's period (%s, %s]", l.End.Format(time.RFC3339Nano), head.From.Format(time.RFC3339), head.Until.Format(time.RFC3339))
		}
		a, err := r.agreement(l.Agreement, P, C)
		if err != nil {
			return nil, nil, nil, err
		}
		vm, err := r.vm(l.VM)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case l.Overflow:
			return nil, nil, nil, fail(field+".value.overflow", "is set: the line's charge does not fit in 64 bits, which no issued invoice bills")
		case l.Resources == nil || *l.Resources != vm.Resources:
			return nil, nil, nil, fail(field+".value.resources", "are %v, but VM %s's record says %s", l.Resources, vm.ID, vm.Resources)
		case l.PriceVCPUHour != a.PriceVCPUHour:
			return nil, nil, nil, differs(field+".value.price_vcpu_hour_micro", l.PriceVCPUHour, a.PriceVCPUHour, "agreement "+a.ID)
		case l.PriceGiBHour != a.PriceGiBHour:
			return nil, nil, nil, differs(field+".value.price_gib_hour_micro", l.PriceGiBHour, a.PriceGiBHour, "agreement "+a.ID)
		case l.Start.Before(a.Signed.At) || !a.Until.IsZero() && l.End.After(a.Until):
			return nil, nil, nil, fail(field+".value", "bills %s to %s, outside agreement %s's validity", l.Start.Format(time.RFC3339), l.End.Format(time.RFC3339), a.ID)
		}
		amount, seconds, ok := ledger.LineCharge(l.Start, l.End, vm.Resources, a.PriceVCPUHour, a.PriceGiBHour)
		from := fmt.Sprintf("agreement %s's prices for VM %s's resources from %s to %s", a.ID, vm.ID, l.Start.Format(time.RFC3339Nano), l.End.Format(time.RFC3339Nano))
		switch {
		case !ok:
			return nil, nil, nil, fail(field+".value.amount_micro", "%d: the charge %s does not fit in 64 bits", l.Amount, from)
		case l.Seconds != seconds:
			return nil, nil, nil, differs(field+".value.seconds", l.Seconds, seconds, "its start and end")
		case l.Amount != amount:
			return nil, nil, nil, differs(field+".value.amount_micro", l.Amount, amount, from)
		}
		hostingLines++
		hosting.Add(hosting, big.NewInt(amount))
		inv.Lines = append(inv.Lines, l.InvoiceLine)
	}
	// Penalties after hosting lines, as the ledger lists them.
	sortLines(inv.Lines)
	total := new(big.Int).Sub(hosting, penalties)
	for _, c := range []struct {
		name      string
		got, want *big.Int
		from      string
	}{
		{"hosting_lines", big.NewInt(head.HostingLines), big.NewInt(hostingLines), "the hosting lines the bundle proves in its period"},
		{"penalty_lines", big.NewInt(head.PenaltyLines), big.NewInt(penaltyLines), "the penalties the bundle proves"},
		{"hosting_micro", big.NewInt(head.Hosting), hosting, "the sum of its proved hosting lines"},
		{"penalties_micro", big.NewInt(head.Penalties), penalties, "the sum of its proved penalties"},
		{"total_micro", big.NewInt(head.Total), total, "hosting less penalties"},
	} {
		if c.got.Cmp(c.want) != 0 {
			what := ""
			if strings.HasSuffix(c.name, "_lines") && c.got.Cmp(c.want) > 0 {
				what = ": lines are missing from the bundle"
			}
			return nil, nil, nil, fail(hf+".value."+c.name, "is %s, but %s gives %s%s", c.got, c.from, c.want, what)
		}
	}
	return &inv, r.proved(), vios, nil
}

// sortLines puts hosting lines before penalties, keeping each kind's order.
func sortLines(lines []bbus.InvoiceLine) {
	var hosting, pen []bbus.InvoiceLine
	for _, l := range lines {
		if l.Kind == "penalty" {
			pen = append(pen, l)
		} else {
			hosting = append(hosting, l)
		}
	}
	copy(lines, append(hosting, pen...))
}
