// Package oracle is a bbus oracle that measures: it probes the VMs it is
// assigned, per window of a configured period, and submits one signed report
// per VM and window to the ledger. It survives restarts of its node and of
// itself without reporting a window twice: every window's transaction is
// signed once, written to its state file before it is first submitted, and
// only ever resubmitted byte for byte, so the ledger's replay rule and its
// transaction index tell whether it was committed. docs/ORACLES.md explains
// the behaviour.
package oracle

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Runner is one oracle at work. Run measures and reports until its context
// ends; the state file records what it did.
type Runner struct {
	cfg    Config
	id     string
	key    ed25519.PrivateKey
	c      *client.Client
	path   string
	log    *slog.Logger
	prober *prober
	m      *metrics
	wake   chan struct{}

	mu       sync.Mutex
	st       *State
	assigned map[string]bool  // Assigned mode: VM -> latency objective; nil until the ledger was read
	asked    map[string]int64 // VM -> when (Unix seconds) its registration was last asked for
	warned   map[string]bool  // VMs whose registration could not be read, already logged
}

// New returns a runner that signs as oracle id with key, talks to the node
// through c and keeps its state at statePath (StatePath). It fails if the
// state file belongs to another oracle.
func New(cfg Config, id string, key ed25519.PrivateKey, c *client.Client, statePath string, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, bbus.Errorf(bbus.EINVALID, "oracle: %s has no ed25519 private key", id)
	}
	st, err := LoadState(statePath)
	if err != nil {
		return nil, err
	}
	if st.Oracle != "" && st.Oracle != id {
		return nil, bbus.Errorf(bbus.EINVALID, "oracle: state file %s is oracle %s's, not %s's", statePath, st.Oracle, id)
	}
	st.Oracle = id
	if log == nil {
		log = slog.Default()
	}
	r := &Runner{cfg: cfg, id: id, key: key, c: c, path: statePath, log: log.With("oracle", id),
		prober: newProber(time.Duration(cfg.Timeout)), m: newMetrics(), wake: make(chan struct{}, 1), st: st,
		asked: map[string]int64{}, warned: map[string]bool{}}
	for _, v := range cfg.VMs {
		for _, c := range []interface {
			WithLabelValues(...string) prometheus.Counter
		}{r.m.reports, r.m.probes, r.m.probeFailures, r.m.submitErrors, r.m.lost, r.m.conflicts} {
			c.WithLabelValues(v.VM)
		}
	}
	for vm, s := range st.VMs {
		r.m.lastEnd.WithLabelValues(vm).Set(float64(s.LastEnd))
		r.m.pending.WithLabelValues(vm).Set(float64(len(s.Queue)))
	}
	return r, nil
}

// MetricsHandler serves the oracle's bbus_oracle_* series for Prometheus.
func (r *Runner) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(r.m.reg, promhttp.HandlerOpts{})
}

// Run probes and reports until ctx ends, then returns nil. It returns an error
// only if it cannot write its state file.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	r.poke() // windows a previous run left queued go first
	wg.Add(1)
	go func() { defer wg.Done(); r.submitLoop(ctx) }()
	if r.cfg.Assigned {
		wg.Add(1)
		go func() { defer wg.Done(); r.assignLoop(ctx) }()
	}
	defer wg.Wait()
	defer cancel() // before the wait: stop the other loops
	r.log.Info("oracle running", "vms", len(r.cfg.VMs), "period", time.Duration(r.cfg.Period).String(),
		"probe_interval", time.Duration(r.cfg.ProbeInterval).String(), "state", r.path)
	interval := time.Duration(r.cfg.ProbeInterval)
	for {
		if err := r.round(ctx, time.Now()); err != nil {
			return err
		}
		// The next round starts on the next multiple of the interval, so
		// probes spread evenly over every window.
		wait := interval - time.Duration(time.Now().UnixNano())%interval
		select {
		case <-ctx.Done():
			r.log.Info("oracle stopped")
			return nil
		case <-time.After(wait):
		}
	}
}

// period is the window length in seconds.
func (r *Runner) period() int64 { return int64(time.Duration(r.cfg.Period) / time.Second) }

// round closes the windows that have ended, probes every VM measured now and
// records the probes in their windows.
func (r *Runner) round(ctx context.Context, now time.Time) error {
	r.mu.Lock()
	closed := r.closeWindows(now.Unix())
	if closed {
		if err := r.st.Save(r.path); err != nil {
			r.mu.Unlock()
			return err
		}
		r.poke()
	}
	targets := r.targets()
	var unknown []string
	for _, t := range targets {
		s := r.st.VMs[t.VM]
		if (s == nil || (lastEnd(s) == 0 && s.Since == 0)) && now.Unix()-r.asked[t.VM] >= r.period() {
			r.asked[t.VM] = now.Unix()
			unknown = append(unknown, t.VM)
		}
	}
	r.mu.Unlock()
	since := r.registrations(ctx, unknown)

	results := make([]probeResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = r.prober.probe(ctx, t.Probe) }()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil // probes cut short are no measurement
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.period()
	ws := now.Unix() / p * p
	for i, t := range targets {
		s := r.vmState(t.VM)
		if at, ok := since[t.VM]; ok && s.Since == 0 {
			if at == unread {
				at = ws // measure from this window, as if registered before it
			}
			s.Since = at
		}
		res := results[i]
		if !r.record(s, t, ws, now, res) {
			continue
		}
		r.m.probes.WithLabelValues(t.VM).Inc()
		if !res.ok {
			r.m.probeFailures.WithLabelValues(t.VM).Inc()
			r.log.Debug("probe failed", "vm", t.VM, "probe", t.Probe, "error", res.err)
		}
	}
	return r.st.Save(r.path)
}

// unread marks a VM whose registration the node did not tell.
const unread = -1

// registrations reads from the ledger when each of vms was registered, and
// returns for each one found the first second a window of it may start at.
// A VM the node did not answer for is unread: it is measured from the
// current window on, so an oracle started while its node is down still
// measures (its first window is refused if the VM was registered after that
// window began). A VM not on the ledger is left out: it is not measured
// until it is registered, and is asked for again once a period.
func (r *Runner) registrations(ctx context.Context, vms []string) map[string]int64 {
	out := map[string]int64{}
	for _, id := range vms {
		vm, err := r.c.VM(ctx, id)
		if err != nil && ctx.Err() != nil {
			return out
		}
		warn := err != nil && !r.warnedOnce(id)
		switch {
		case err == nil:
			at := vm.Registered.At
			sec := at.Unix()
			if at.Nanosecond() != 0 {
				sec++
			}
			out[id] = sec
			r.log.Info("VM found on the ledger", "vm", id, "registered", at.UTC().Format(time.RFC3339Nano), "first_window_from", unixTime(sec))
		case !warn:
		case bbus.ErrorCode(err) == bbus.ENOTFOUND:
			r.log.Warn("VM not on the ledger: not measured until it is registered", "vm", id)
		default:
			r.log.Warn("reading the VM's registration: measuring it from now", "vm", id, "error", err)
		}
		if err != nil && bbus.ErrorCode(err) != bbus.ENOTFOUND {
			out[id] = unread
		}
	}
	return out
}

// warnedOnce reports whether vm's registration was already logged as not
// read, and marks it so.
func (r *Runner) warnedOnce(vm string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.warned[vm]
	r.warned[vm] = true
	return w
}

// target is a VM to probe this round.
type target struct {
	VMConfig
}

// targets returns the VMs to probe now: every configured one, or in Assigned
// mode those the ledger has under an agreement with objectives.
func (r *Runner) targets() []target {
	var out []target
	for _, v := range r.cfg.VMs {
		if r.cfg.Assigned {
			lat, ok := r.assigned[v.VM]
			if !ok {
				continue
			}
			v.Latency = v.Latency || lat
		}
		out = append(out, target{v})
	}
	return out
}

func (r *Runner) vmState(vm string) *VMState {
	s := r.st.VMs[vm]
	if s == nil {
		s = &VMState{}
		r.st.VMs[vm] = s
	}
	return s
}

// lastEnd is the end of the last window of s settled, queued or being
// measured: the next window starts at or after it.
func lastEnd(s *VMState) int64 {
	end := s.LastEnd
	if n := len(s.Queue); n > 0 {
		end = max(end, s.Queue[n-1].End)
	}
	if s.Open != nil {
		end = max(end, s.Open.End)
	}
	return end
}

// record adds one probe, started at now in the window starting at ws, to the
// VM's open window, opening that window if needed. It reports whether the
// probe counted. A VM never measured before starts with its first whole
// window; a window that started before the last one known is never reopened.
func (r *Runner) record(s *VMState, t target, ws int64, now time.Time, res probeResult) bool {
	p := r.period()
	if s.Open == nil || s.Open.Start != ws {
		prev := lastEnd(s)
		switch {
		case ws < prev:
			return false // the clock went back: never measure a window twice
		case prev == 0 && (s.Since == 0 || ws < s.Since):
			return false // the VM is not on the ledger yet, or was registered after the window began
		case prev == 0 && now.Sub(time.Unix(ws, 0)) >= time.Duration(r.cfg.ProbeInterval):
			return false // first run, mid-window: start with the next whole one
		case prev != 0 && ws > prev:
			n := (ws - prev) / p
			s.Unmeasured += n
			r.log.Warn("windows not measured: the oracle was not running", "vm", t.VM,
				"from", unixTime(prev), "to", unixTime(ws), "windows", n)
		}
		s.Open = &Tally{Start: ws, End: ws + p, Latency: t.Latency}
	}
	s.Probes++
	s.Open.Probes++
	if !res.ok {
		s.ProbeFailures++
		return true
	}
	s.Open.OK++
	if s.Open.Latency && len(s.Open.Latencies) < maxSamples {
		s.Open.Latencies = append(s.Open.Latencies, int64((res.latency+time.Millisecond-1)/time.Millisecond))
	}
	return true
}

// maxSamples bounds the latencies kept of one window.
const maxSamples = 10000

// closeWindows moves every open window that ended at or before now into its
// VM's queue, and reports whether any did.
func (r *Runner) closeWindows(now int64) bool {
	changed := false
	for _, vm := range r.sortedVMs() {
		s := r.st.VMs[vm]
		o := s.Open
		if o == nil || o.End > now {
			continue
		}
		s.Open = nil
		changed = true
		if o.Probes == 0 {
			s.Unmeasured++
			continue
		}
		w := Window{Start: o.Start, End: o.End, Probes: o.Probes, OK: o.OK, Availability: availability(o.OK, o.Probes),
			Expires: o.End + int64(time.Duration(r.cfg.TxTTL)/time.Second)}
		if o.Latency {
			w.LatencyMS = percentile(o.Latencies, r.cfg.LatencyPercentile)
		}
		s.Queue = append(s.Queue, w)
		r.m.pending.WithLabelValues(vm).Set(float64(len(s.Queue)))
		r.log.Info("window measured", "vm", vm, "start", unixTime(w.Start), "end", unixTime(w.End),
			"probes", w.Probes, "ok", w.OK, "availability_mpct", w.Availability, "latency_ms", w.LatencyMS)
	}
	return changed
}

func (r *Runner) sortedVMs() []string {
	vms := make([]string, 0, len(r.st.VMs))
	for vm := range r.st.VMs {
		vms = append(vms, vm)
	}
	sort.Strings(vms)
	return vms
}

// poke wakes the submitter.
func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Backoff bounds between submissions that failed for a reason that may pass.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// submitLoop settles queued windows, oldest first per VM, retrying with
// backoff while the node is unreachable or refuses for a reason that may pass.
func (r *Runner) submitLoop(ctx context.Context) {
	backoff := minBackoff
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-retry:
		}
		if r.submitAll(ctx) {
			retry = time.After(backoff)
			backoff = min(2*backoff, maxBackoff)
		} else {
			retry, backoff = nil, minBackoff
		}
	}
}

// submitAll settles what it can and reports whether some window waits for a
// retry.
func (r *Runner) submitAll(ctx context.Context) bool {
	r.mu.Lock()
	vms := r.sortedVMs()
	r.mu.Unlock()
	again := false
	for _, vm := range vms {
		for ctx.Err() == nil {
			r.mu.Lock()
			s := r.st.VMs[vm]
			if len(s.Queue) == 0 {
				r.mu.Unlock()
				break
			}
			w := s.Queue[0]
			r.mu.Unlock()
			if !r.settle(ctx, vm, w) {
				again = true
				break
			}
		}
	}
	return again
}

// outcome is how a window was settled.
type outcome int

const (
	reported  outcome = iota // the ledger recorded this oracle's report
	resolved                 // found committed: submitted before a crash or a lost answer
	duplicate                // this oracle had already reported it with another transaction
	conflict                 // another oracle had reported it first
	rejected                 // the ledger refused it for good
	lost                     // not committed before its transaction expired
)

// settle submits one window (signing it first if needed) and settles it if
// the ledger's answer is final. It returns false if the window must be retried.
func (r *Runner) settle(ctx context.Context, vm string, w Window) bool {
	log := r.log.With("vm", vm, "start", unixTime(w.Start), "end", unixTime(w.End))
	now := time.Now().Unix()
	if w.Raw == nil {
		if now > w.Expires {
			return r.finish(vm, w, lost, "", "its transaction would have expired before it was submitted", log)
		}
		if err := r.sign(ctx, vm, &w); err != nil {
			return r.retry(vm, err, log)
		}
	} else if w.Attempts > 0 {
		// Submitted before (by this run or one that crashed): ask the ledger.
		// Without an answer, resubmitting the same bytes is as safe: the
		// ledger refuses a committed transaction as a replay.
		tx, err := r.c.Tx(ctx, w.TxID)
		switch {
		case err == nil && tx.Code == "" && tx.Height > 0:
			return r.finish(vm, w, resolved, tx.ID, "", log)
		case bbus.ErrorCode(err) == bbus.ENOTFOUND && now > w.Expires:
			return r.finish(vm, w, lost, "", "not committed before its transaction expired", log)
		}
	}
	if w.Attempts > 0 {
		r.mu.Lock()
		if s := r.st.VMs[vm]; len(s.Queue) > 0 && s.Queue[0].Start == w.Start {
			s.Queue[0].Attempts++
		}
		r.mu.Unlock()
	}
	res, err := r.c.Submit(ctx, w.Raw, true)
	if err == nil {
		return r.finish(vm, w, reported, res.ID, "", log)
	}
	switch code := bbus.ErrorCode(err); code {
	case bbus.EREPLAY:
		id := ""
		if tx, lerr := r.c.Tx(ctx, w.TxID); lerr == nil {
			id = tx.ID
		}
		return r.finish(vm, w, resolved, id, "", log)
	case bbus.EEXISTS:
		return r.overlap(ctx, vm, w, err, log)
	case bbus.EEXPIRED:
		if tx, lerr := r.c.Tx(ctx, w.TxID); lerr == nil && tx.Code == "" && tx.Height > 0 {
			return r.finish(vm, w, resolved, tx.ID, "", log)
		}
		if time.Now().Unix() <= w.Expires {
			// Not expired by this clock: the chain's time lags so far behind
			// that the expiry lies more than tx_max_ttl_seconds ahead of it.
			return r.retry(vm, err, log)
		}
		return r.finish(vm, w, lost, "", bbus.ErrorMessage(err), log)
	case bbus.EINVALID:
		// A window that ends after the block time may be refused while the
		// chain's time catches up: retry while that is the reason.
		if res != nil && res.Height > 0 && r.blockTimeBefore(ctx, res, w.End) {
			log.Debug("the chain's time has not passed the window's end yet: resubmitting")
			return false
		}
		return r.finish(vm, w, rejected, "", bbus.ErrorMessage(err), log)
	case bbus.EUNAVAILABLE, bbus.EINTERNAL, bbus.ERATELIMITED, bbus.EUNKNOWNSIGNER, bbus.ENOTMEMBER:
		// The node is down or restarting, or lags behind the oracle's admission.
		return r.retry(vm, err, log)
	default:
		return r.finish(vm, w, rejected, "", fmt.Sprintf("%s: %s", code, bbus.ErrorMessage(err)), log)
	}
}

// blockTimeBefore reports whether the block that committed res has a time
// before end: from the node's transaction index, or if it has none, from its
// latest block.
func (r *Runner) blockTimeBefore(ctx context.Context, res *bbus.TxResult, end int64) bool {
	if tx, err := r.c.Tx(ctx, res.TxID); err == nil && tx.Height == res.Height {
		return tx.Time.Unix() < end
	}
	st, err := r.c.Status(ctx)
	return err == nil && st.BlockTime.Unix() < end
}

// sign signs the report of w, records the transaction in the state file
// before anything is submitted, and updates w.
func (r *Runner) sign(ctx context.Context, vm string, w *Window) error {
	r.mu.Lock()
	chainID := r.st.ChainID
	r.mu.Unlock()
	if chainID == "" {
		st, err := r.c.Status(ctx)
		if err != nil {
			return err
		}
		chainID = st.ChainID
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	raw, txid, err := bbus.SignTx(&bbus.Body{ChainID: chainID, Signer: r.id, Nonce: binary.BigEndian.Uint64(nonce[:]) & (1<<53 - 1),
		Expires: w.Expires, Action: bbus.Action{Report: &bbus.ReportAction{VM: vm, Start: w.Start, End: w.End,
			Availability: w.Availability, LatencyMS: w.LatencyMS}}}, r.key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.ChainID = chainID
	s := r.st.VMs[vm]
	if len(s.Queue) == 0 || s.Queue[0].Start != w.Start {
		return bbus.Errorf(bbus.EINTERNAL, "oracle: the window of %s changed while it was signed", vm)
	}
	// Attempts is 1 from here: once the state says so, a restarted oracle
	// asks the ledger before it submits again.
	s.Queue[0].TxID, s.Queue[0].Raw, s.Queue[0].Attempts = txid, raw, 1
	if err := r.st.Save(r.path); err != nil {
		s.Queue[0].TxID, s.Queue[0].Raw, s.Queue[0].Attempts = "", nil, 0
		return err
	}
	w.TxID, w.Raw = txid, raw
	return nil
}

var reportID = regexp.MustCompile(`\brep-[1-9][0-9]*\b`)

// overlap settles a window the ledger refused because a recorded report
// overlaps it: this oracle's own (a duplicate) or another's (a conflict).
func (r *Runner) overlap(ctx context.Context, vm string, w Window, err error, log *slog.Logger) bool {
	msg := bbus.ErrorMessage(err)
	if tx, lerr := r.c.Tx(ctx, w.TxID); lerr == nil && tx.Code == "" && tx.Height > 0 {
		return r.finish(vm, w, resolved, tx.ID, "", log)
	}
	id := reportID.FindString(msg)
	if id == "" {
		return r.finish(vm, w, conflict, "", msg, log)
	}
	rep, rerr := r.c.Report(ctx, id)
	switch {
	case rerr != nil && bbus.ErrorCode(rerr) == bbus.EUNAVAILABLE:
		return r.retry(vm, rerr, log)
	case rerr == nil && rep.Oracle == r.id:
		return r.finish(vm, w, duplicate, id, msg, log)
	case rerr == nil:
		return r.finish(vm, w, conflict, id, fmt.Sprintf("oracle %s reported it first (%s): %s", rep.Oracle, id, msg), log)
	}
	return r.finish(vm, w, conflict, id, msg, log)
}

// retry records a failed submission that will be tried again.
func (r *Runner) retry(vm string, err error, log *slog.Logger) bool {
	r.m.submitErrors.WithLabelValues(vm).Inc()
	r.mu.Lock()
	s := r.st.VMs[vm]
	s.SubmitErrors++
	s.LastError, s.LastErrorAt = fmt.Sprintf("%s: %s", bbus.ErrorCode(err), bbus.ErrorMessage(err)), time.Now().UTC()
	r.mu.Unlock()
	log.Warn("submission failed, will retry", "code", bbus.ErrorCode(err), "error", bbus.ErrorMessage(err))
	return false
}

// finish settles the queue's first window of vm with outcome o, records it
// in the state file and reports true (the next window may go).
func (r *Runner) finish(vm string, w Window, o outcome, report, why string, log *slog.Logger) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st.VMs[vm]
	if len(s.Queue) == 0 || s.Queue[0].Start != w.Start {
		return true
	}
	s.Queue = slices.Delete(s.Queue, 0, 1)
	s.LastEnd = max(s.LastEnd, w.End)
	switch o {
	case reported, resolved:
		s.Reported++
		if report != "" {
			s.LastReport = report
		}
		r.m.reports.WithLabelValues(vm).Inc()
		if o == resolved {
			s.Resolved++
			log.Info("window found already recorded from this oracle's transaction", "report", report, "tx", w.TxID)
		} else {
			log.Info("window reported", "report", report, "availability_mpct", w.Availability, "latency_ms", w.LatencyMS)
		}
	case duplicate:
		s.Duplicates++
		log.Error("window already reported by this oracle with another transaction (was the state file lost?)", "report", report, "error", why)
	case conflict:
		s.Conflicts++
		r.m.conflicts.WithLabelValues(vm).Inc()
		log.Warn("window already reported by another oracle: this measurement is not recorded", "report", report, "error", why)
	case rejected:
		s.Rejected++
		log.Error("window refused by the ledger", "error", why)
	case lost:
		s.Lost++
		r.m.lost.WithLabelValues(vm).Inc()
		log.Error("window lost", "error", why, "expires", unixTime(w.Expires))
	}
	if why != "" && o != reported && o != resolved {
		s.LastError, s.LastErrorAt = why, time.Now().UTC()
	}
	r.m.lastEnd.WithLabelValues(vm).Set(float64(s.LastEnd))
	r.m.pending.WithLabelValues(vm).Set(float64(len(s.Queue)))
	if err := r.st.Save(r.path); err != nil {
		log.Error("saving the state file", "error", err)
	}
	return true
}

// assignLoop reads, once per period, which configured VMs the ledger has
// under an active agreement with objectives.
func (r *Runner) assignLoop(ctx context.Context) {
	for {
		got, err := r.readAssignments(ctx)
		if err != nil {
			r.log.Warn("reading the VMs under agreements", "error", err)
		} else {
			r.mu.Lock()
			r.assigned = got
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(r.cfg.Period)):
		}
	}
}

// readAssignments returns, for every configured VM the ledger has running
// under an active agreement with an availability or latency objective,
// whether the agreement has a latency objective.
func (r *Runner) readAssignments(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	// The ledger's time, not this machine's: the latest block's.
	st, err := r.c.Status(ctx)
	if err != nil {
		return nil, err
	}
	now := st.BlockTime
	for _, v := range r.cfg.VMs {
		vm, err := r.c.VM(ctx, v.VM)
		if bbus.ErrorCode(err) == bbus.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		if vm.Terminated != nil {
			continue
		}
		iv, err := r.c.HostAt(ctx, v.VM, now)
		if err != nil {
			if bbus.ErrorCode(err) == bbus.ENOTFOUND {
				continue
			}
			return nil, err
		}
		if iv.Agreement == "" {
			continue
		}
		ag, err := r.c.Agreement(ctx, iv.Agreement)
		if err != nil {
			return nil, err
		}
		if ag.Status == bbus.AgreementActive && (ag.Availability > 0 || ag.MaxLatencyMS > 0) && (ag.Until.IsZero() || now.Before(ag.Until)) {
			out[v.VM] = ag.MaxLatencyMS > 0
		}
	}
	return out, nil
}

func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }
