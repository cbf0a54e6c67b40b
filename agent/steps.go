package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/bbusdev/bbus"
)

// submitTimeout bounds one transaction's submission and commit.
const submitTimeout = 30 * time.Second

// view is what the ledger says of a VM: its record (nil if unknown) and its
// open migration (nil if none).
type view struct {
	vm  *bbus.VM
	mig *bbus.Migration
}

// read reads the ledger's view of vm.
func (r *Recorder) read(ctx context.Context, vm string) (view, error) {
	var v view
	rec, err := r.c.VM(ctx, vm)
	if bbus.ErrorCode(err) == bbus.ENOTFOUND {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.vm = rec
	if rec.Migration != "" {
		if v.mig, err = r.c.Migration(ctx, rec.Migration); err != nil {
			return v, err
		}
	}
	return v, nil
}

// attempt decides, from the ledger as it is now, what ev calls for, and takes
// that step. A step the ledger refuses because someone else just acted is
// decided again once, on the ledger as it then is.
func (r *Recorder) attempt(ctx context.Context, ev Event) Entry {
	if err := bbus.ValidateID("vm", ev.VM); err != nil {
		return Entry{Outcome: Difference, Code: bbus.ErrorCode(err), Why: "the layer's VM has no usable bbus id: " + bbus.ErrorMessage(err)}
	}
	var e Entry
	for try := 0; try < 2; try++ {
		v, err := r.read(ctx, ev.VM)
		if err != nil {
			return r.failed(err)
		}
		var steps []bbus.Action
		e, steps = r.decide(ev, v)
		if len(steps) == 0 {
			return e
		}
		why := e.Why
		for i, a := range steps {
			e = r.take(ctx, ev, a, why)
			if e.Outcome != Recorded {
				break
			}
			if i < len(steps)-1 {
				r.note(ev, e) // the next step follows at once
			}
		}
		if e.Outcome != Refused || !raced(e.Code) {
			return e
		}
	}
	return e
}

// raced reports whether a refusal may mean another signer acted first.
func raced(code string) bool {
	return code == bbus.ESTATE || code == bbus.EOPEN || code == bbus.EEXISTS
}

// failed is the entry of a request to the node that failed: a node that cannot
// answer now is waited for; anything else is reported.
func (r *Recorder) failed(err error) Entry {
	code := bbus.ErrorCode(err)
	if code == bbus.EUNAVAILABLE || code == bbus.EINTERNAL || code == bbus.ERATELIMITED {
		r.m.failures.Inc()
		return Entry{Outcome: Waiting, Code: code, Why: "the node cannot answer: " + bbus.ErrorMessage(err)}
	}
	return Entry{Outcome: Difference, Code: code, Why: bbus.ErrorMessage(err)}
}

// decide returns the steps ev calls for on the ledger's view v, or the entry
// that says why there are none.
func (r *Recorder) decide(ev Event, v view) (Entry, []bbus.Action) {
	self := r.cfg.Cloud
	vm, m := v.vm, v.mig
	nothing := func(f string, a ...any) (Entry, []bbus.Action) {
		return Entry{Outcome: Nothing, Why: fmt.Sprintf(f, a...)}, nil
	}
	differ := func(f string, a ...any) (Entry, []bbus.Action) {
		return Entry{Outcome: Difference, Why: fmt.Sprintf(f, a...)}, nil
	}
	wait := func(f string, a ...any) (Entry, []bbus.Action) {
		return Entry{Outcome: Waiting, Why: fmt.Sprintf(f, a...)}, nil
	}
	steps := func(why string, a ...bbus.Action) (Entry, []bbus.Action) {
		e := Entry{Why: why}
		if m != nil {
			e.Migration = m.ID
		}
		return e, a
	}
	ref := func() *bbus.MigrationRef { return &bbus.MigrationRef{Migration: m.ID} }
	// An event that names the clouds of its migration is for the agents of
	// both: each takes its own side.
	switch {
	case ev.Kind == MigrationStarted && ev.Source != "" && ev.Source != self:
		return nothing("the migration of VM %s leaves %s: its agent proposes", ev.VM, ev.Source)
	case (ev.Kind == MigrationArrived || ev.Kind == MigrationSucceeded) && ev.Destination != "" && ev.Destination != self:
		return nothing("the migration of VM %s goes to %s: its agent accepts and completes", ev.VM, ev.Destination)
	case (ev.Kind == VMCreated || ev.Kind == VMDeleted) && ev.Source != "" && ev.Source != self:
		// A VM event's Source, where a sender names one, is the cloud it happened on.
		return nothing("VM %s is on %s, not %s", ev.VM, ev.Source, self)
	}
	switch ev.Kind {
	case MigrationStarted:
		switch {
		case vm == nil:
			return differ("VM %s leaves %s but the ledger does not know it", ev.VM, self)
		case vm.State != bbus.VMRunning:
			return differ("VM %s leaves %s but the ledger has it %s", ev.VM, self, vm.State)
		case vm.Host != self && vm.Host == ev.Destination:
			return nothing("VM %s already runs on %s by the ledger", ev.VM, vm.Host)
		case vm.Host != self:
			return differ("VM %s leaves %s but the ledger places it on %s", ev.VM, self, vm.Host)
		case m != nil && (ev.Destination == "" || m.To == ev.Destination):
			return Entry{Outcome: Nothing, Migration: m.ID, Why: fmt.Sprintf("migration %s of VM %s to %s is already %s", m.ID, ev.VM, m.To, m.Status)}, nil
		case m != nil:
			return differ("VM %s leaves for %s but its open migration %s is to %s", ev.VM, ev.Destination, m.ID, m.To)
		case ev.Destination == "":
			return differ("VM %s leaves %s for a destination no cloud is mapped to; map it in the agent's configuration", ev.VM, self)
		case ev.Destination == self:
			return differ("VM %s migrates within %s: nothing for the ledger", ev.VM, self)
		}
		return steps(fmt.Sprintf("VM %s leaves %s for %s", ev.VM, self, ev.Destination),
			bbus.Action{MigrationPropose: &bbus.Propose{VM: ev.VM, To: ev.Destination, Agreement: r.cfg.Agreements[ev.Destination]}})

	case MigrationArrived, MigrationSucceeded:
		verb := "arrives at"
		if ev.Kind == MigrationSucceeded {
			verb = "runs on"
		}
		switch {
		case vm == nil:
			return differ("VM %s %s %s but the ledger does not know it", ev.VM, verb, self)
		case vm.Host == self:
			return nothing("VM %s already runs on %s by the ledger", ev.VM, self)
		case m == nil:
			return wait("VM %s %s %s: waiting for %s to propose its migration", ev.VM, verb, self, vm.Host)
		case m.To != self:
			return differ("VM %s %s %s but its open migration %s is to %s", ev.VM, verb, self, m.ID, m.To)
		case ev.Kind == MigrationArrived && m.Status == bbus.MigrationAccepted:
			return Entry{Outcome: Nothing, Migration: m.ID, Why: fmt.Sprintf("migration %s is already accepted", m.ID)}, nil
		case ev.Kind == MigrationArrived:
			return steps(fmt.Sprintf("VM %s arrives at %s from %s", ev.VM, self, m.From), bbus.Action{MigrationAccept: ref()})
		case m.Status == bbus.MigrationProposed:
			return steps(fmt.Sprintf("VM %s runs on %s, migrated from %s", ev.VM, self, m.From),
				bbus.Action{MigrationAccept: ref()}, bbus.Action{MigrationComplete: ref()})
		}
		return steps(fmt.Sprintf("VM %s runs on %s, migrated from %s", ev.VM, self, m.From), bbus.Action{MigrationComplete: ref()})

	case MigrationFailed:
		switch {
		case vm == nil || m == nil:
			return nothing("VM %s has no open migration", ev.VM)
		case m.From == self:
			return steps(fmt.Sprintf("the migration of VM %s to %s failed", ev.VM, m.To), bbus.Action{MigrationCancel: ref()})
		case m.To == self:
			return steps(fmt.Sprintf("the migration of VM %s from %s failed", ev.VM, m.From), bbus.Action{MigrationReject: ref()})
		}
		return nothing("the open migration %s of VM %s is between %s and %s", m.ID, ev.VM, m.From, m.To)

	case VMCreated:
		switch {
		case !r.cfg.RegisterNew:
			return nothing("VM %s was created; new VMs are not registered (--register-new is off)", ev.VM)
		case vm != nil:
			return nothing("VM %s is already on the ledger (host %s, %s)", ev.VM, vm.Host, vm.State)
		case ev.Resources.CPU <= 0 || ev.Resources.MemMiB <= 0:
			return differ("VM %s was created but the layer gave no resources to register it with", ev.VM)
		}
		return steps(fmt.Sprintf("VM %s was created on %s", ev.VM, self),
			bbus.Action{VMRegister: &bbus.VMRegister{VM: ev.VM, Resources: ev.Resources}})

	case VMDeleted:
		switch {
		case !r.cfg.TerminateOnDestroy:
			return nothing("VM %s was destroyed; VMs are not terminated (--terminate-on-destroy is off)", ev.VM)
		case vm == nil:
			return nothing("VM %s is not on the ledger", ev.VM)
		case vm.State != bbus.VMRunning:
			return nothing("VM %s is already %s", ev.VM, vm.State)
		case vm.Host != self:
			return nothing("VM %s runs on %s by the ledger, not on %s", ev.VM, vm.Host, self)
		case vm.Owner != self:
			return differ("VM %s was destroyed on %s, but only its owner %s may terminate it on the ledger", ev.VM, self, vm.Owner)
		}
		return steps(fmt.Sprintf("VM %s was destroyed on %s", ev.VM, self), bbus.Action{VMTerminate: &bbus.VMRef{VM: ev.VM}})
	}
	return nothing("event %q means nothing to the agent", ev.Kind)
}

// take signs a, submits it and waits for its commit.
func (r *Recorder) take(ctx context.Context, ev Event, a bbus.Action, why string) Entry {
	e := Entry{Step: a.Type(), Why: why}
	switch {
	case a.MigrationAccept != nil:
		e.Migration = a.MigrationAccept.Migration
	case a.MigrationComplete != nil:
		e.Migration = a.MigrationComplete.Migration
	case a.MigrationReject != nil:
		e.Migration = a.MigrationReject.Migration
	case a.MigrationCancel != nil:
		e.Migration = a.MigrationCancel.Migration
	}
	raw, txid, err := r.signer.Sign(a)
	if err != nil {
		e.Outcome, e.Code, e.Why = Difference, bbus.ErrorCode(err), bbus.ErrorMessage(err)
		return e
	}
	e.Tx = txid
	sctx, cancel := context.WithTimeout(ctx, submitTimeout)
	defer cancel()
	res, err := r.c.Submit(sctx, raw, true)
	if res != nil {
		e.Height = res.Height
		if a.MigrationPropose != nil {
			e.Migration = res.ID
		}
	}
	if err != nil {
		code := bbus.ErrorCode(err)
		if res == nil && (code == bbus.EUNAVAILABLE || code == bbus.EINTERNAL || code == bbus.ERATELIMITED) {
			// Committed or not, the next attempt reads the ledger first.
			f := r.failed(err)
			f.Step, f.Tx = e.Step, e.Tx
			return f
		}
		e.Outcome, e.Code = Refused, code
		e.Why = fmt.Sprintf("%s (%s): the ledger refused %s: %s", why, ev.Kind, e.Step, bbus.ErrorMessage(err))
		return e
	}
	e.Outcome = Recorded
	lat := time.Since(ev.At)
	e.LatencyMS = lat.Milliseconds()
	r.m.steps.WithLabelValues(e.Step).Inc()
	r.m.latency.WithLabelValues(e.Step).Observe(lat.Seconds())
	return e
}

// Reconcile compares what runs on the layer now (the bbus ids of its running
// VMs) with the ledger, as an agent that starts must: a VM running here that
// the ledger places elsewhere, with an open migration to here, has arrived
// (its migration is accepted and completed); one the ledger places elsewhere
// with none, or does not know, is reported as a difference; a migration left
// open from here whose VM still runs here failed (it is cancelled).
func (r *Recorder) Reconcile(ctx context.Context, running []string) {
	if err := r.chain(ctx); err != nil {
		r.note(Event{}, Entry{Outcome: Waiting, Code: bbus.ErrorCode(err), Why: bbus.ErrorMessage(err)})
		return
	}
	self := r.cfg.Cloud
	done := 0
	for _, id := range running {
		if ctx.Err() != nil {
			return
		}
		ev := Event{VM: id, At: time.Now(), Ref: "reconcile"}
		v, err := r.read(ctx, id)
		var e Entry
		switch {
		case bbus.ValidateID("vm", id) != nil:
			e = r.attempt(ctx, ev)
		case err != nil:
			e = r.failed(err)
		case v.vm == nil:
			e = Entry{Outcome: Difference, Why: fmt.Sprintf("VM %s runs on %s but the ledger does not know it", id, self)}
		case v.vm.State != bbus.VMRunning:
			e = Entry{Outcome: Difference, Why: fmt.Sprintf("VM %s runs on %s but the ledger has it %s", id, self, v.vm.State)}
		case v.vm.Host == self && v.mig != nil && v.mig.From == self:
			ev.Kind = MigrationFailed
			e = r.attempt(ctx, ev)
			e.Why = "on start: VM runs here, its migration was left open: " + e.Why
		case v.vm.Host == self:
			done++
			continue
		case v.mig != nil && v.mig.To == self:
			ev.Kind = MigrationSucceeded
			e = r.attempt(ctx, ev)
			e.Why = "on start: " + e.Why
		default:
			e = Entry{Outcome: Difference, Why: fmt.Sprintf("VM %s runs on %s but the ledger places it on %s, with no migration to %s open", id, self, v.vm.Host, self)}
		}
		r.note(ev, e)
	}
	r.note(Event{}, Entry{Outcome: Nothing, Why: fmt.Sprintf("on start: %d VMs run on the layer, %d of them where the ledger already said", len(running), done)})
}
