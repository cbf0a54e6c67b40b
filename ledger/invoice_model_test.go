package ledger

import (
	"flag"
	"fmt"
	"math/big"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// A property test of charging: random histories of agreements (random prices,
// objectives, penalties and validity), VMs, migrations with and without
// agreements, oracle reports, block time jumps (with fractions of a second) and
// invoices closed at random times for random pairs. The test keeps its own
// record of where each VM ran, under which agreement, from when to when, and
// from it alone (docs/CHARGING.md, bbus.Charge's doc comment) it works out
//
//   - with three oracles and a random oracle_quorum (1 to 3), which reports
//     decide a window (the first quorum of one exact window), its combined
//     value (the lower median availability, the upper median latency), the
//     windows that decide nothing (too few reports, or overlapping a decided
//     window), and every oracle's agreeing and disagreeing counts;
//   - every violation a decided window must record: its host, part, charge and
//     penalty, and every cloud's report counts and reputation;
//   - every hosting line an invoice must hold, each part's charge rounded down
//     on its own, and that the penalties of an invoice are exactly the
//     violations of its pair recorded since the pair's last invoice.
//
// The ledger must agree, and: the lines of an invoice sum to its total, hosting
// minus penalties is the total, no second of a VM is billed twice, the hosting
// amounts of a pair summed over its invoices equal the sum over the hosting
// intervals of the rounded-down charges of their parts in each invoiced
// period, and every violation is in exactly one invoice once one of its pair
// is closed after it.

var (
	invoiceSeeds = flag.Int("invoice.seeds", 40, "number of random histories TestInvoiceModel runs")
	invoiceSteps = flag.Int("invoice.steps", 400, "steps (transactions and blocks) per history")
)

var (
	marketClouds   = []string{"a", "b", "c", "d"}
	marketCapacity = bbus.Resources{CPU: 1 << 20, MemMiB: 1 << 30, DiskIOPS: 1 << 20, NetMbps: 1 << 20}
)

// marketProposalTTL is how long a proposal waits for its signature here:
// short enough that some histories see proposals expire.
const marketProposalTTL = 3 * 3600

func marketGenesis() *bbus.Genesis {
	p := bbus.DefaultParams()
	p.AgreementProposalTTLSeconds = marketProposalTTL
	return testGenesis(marketClouds, func(string) bbus.Resources { return marketCapacity }, p)
}

// marketGenesisFor is the market's genesis for one random history: its
// oracle_quorum, 1 to 3, comes from the seed.
func marketGenesisFor(seed int64) *bbus.Genesis {
	g := marketGenesis()
	g.Params.OracleQuorum = 1 + seed%3
	return g
}

// The test's own record of the market.
type iAgr struct {
	id, provider, consumer, proposer string
	pv, pg, avail, maxLat, pen       int64
	until                            time.Time // zero: open-ended
	signed                           time.Time // zero: not signed
	expires                          time.Time // an unsigned proposal is removed at the first block at or after it
	declined                         bool      // the other party refused it
}

type iIv struct {
	cloud, agr string
	start      time.Time
	end        time.Time // zero: still running there
}

type iVM struct {
	id, owner  string
	res        bbus.Resources
	registered time.Time
	ivs        []iIv
	running    bool
	mig        string // accepted migration not completed yet
}

type iMig struct {
	id, vm, from, to, agr string
}

type iVio struct {
	id, vm, cloud, consumer, agr string
	start, end                   time.Time
	charge, penalty              int64
}

type iInv struct {
	id, provider, consumer string
	from, until            time.Time
	status                 string
	hosting, penalties     int64
	// corrects is, on a correction, the invoice it answers; correctedBy, on
	// that invoice, the correction.
	corrects, correctedBy string
}

type iCount struct{ reports, compliant int64 }

// iWin is one exact window of a VM as the test knows it: its reports in the
// order they came and, once decided, the combined value.
type iWin struct {
	vm             string
	start, end     int64
	reports        []*bbus.ReportAction
	oracles        []string
	status         string
	avail, latency int64
}

type iOracle struct{ reports, agree, disagree int64 }

// modelOracles are the oracles of the invoice model's federation.
var modelOracles = []string{"o1", "o2", "o3"}

type invoiceWorld struct {
	t       *testing.T
	seed    int64
	rnd     *rand.Rand
	l       *Ledger
	st      *countingStore
	h       Header
	nonce   uint64
	trace   []traceStep
	log     []string
	agrs    []*iAgr
	vms     []*iVM
	migs    map[string]*iMig
	nMig    int
	quorum  int
	groups  map[string]*iWin // vm/start/end -> the window's reports
	wins    []*iWin          // the same, in the order they were first reported
	own     map[string][]*bbus.ReportAction
	oracles map[string]*iOracle
	nRep    int
	vios    []*iVio
	counts  map[string]*iCount
	invs    []*iInv
	// per pair "provider/consumer":
	lastUntil map[string]time.Time
	pending   map[string][]*iVio // violations recorded since the pair's last invoice
	inInvoice map[string]string  // violation -> invoice
	billed    map[string][][2]time.Time
	hosting   map[string]int64 // the ledger's hosting amounts summed over the pair's invoices
	outcomes  map[string]int
}

func (w *invoiceWorld) failf(format string, args ...any) {
	w.t.Helper()
	tail := w.log
	if len(tail) > 30 {
		tail = tail[len(tail)-30:]
	}
	w.t.Fatalf("seed %d, block %d: %s\nlast steps:\n  %s", w.seed, w.h.Height, fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

// refCharge is the charge of docs/CHARGING.md, written from the text:
// floor(floor(ns / 1e9) * (pv * cpu * 1024 + pg * mem_mib) / (3600 * 1024)).
func refCharge(d time.Duration, r bbus.Resources, pv, pg int64) int64 {
	secs := big.NewInt(int64(d / time.Second))
	rate := new(big.Int).Mul(big.NewInt(pv*1024), big.NewInt(r.CPU))
	rate.Add(rate, new(big.Int).Mul(big.NewInt(pg), big.NewInt(r.MemMiB)))
	v := new(big.Int).Mul(secs, rate)
	return v.Quo(v, big.NewInt(3600*1024)).Int64()
}

func refPenalty(charge, mpct int64) int64 {
	v := new(big.Int).Mul(big.NewInt(charge), big.NewInt(mpct))
	return v.Quo(v, big.NewInt(100_000)).Int64()
}

func tmax(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func tmin(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// priced returns the part of [start, end) (end zero: unbounded) during which
// agreement ag is in force, and whether it is not empty.
func (ag *iAgr) priced(start, end time.Time) (time.Time, time.Time, bool) {
	if ag == nil || ag.signed.IsZero() {
		return start, end, false
	}
	start = tmax(start, ag.signed)
	if !ag.until.IsZero() {
		if end.IsZero() {
			end = ag.until
		} else {
			end = tmin(end, ag.until)
		}
	}
	return start, end, end.IsZero() || start.Before(end)
}

func (w *invoiceWorld) agr(id string) *iAgr {
	for _, ag := range w.agrs {
		if ag.id == id {
			return ag
		}
	}
	return nil
}

// submit signs and applies an action, checks the outcome against want ("" for
// applied, else the code) and, for a rejection, that nothing was written.
func (w *invoiceWorld) submit(signer string, a bbus.Action, want, desc string) Result {
	w.t.Helper()
	w.nonce++
	raw := txSpec{chain: testChainID, signer: signer, nonce: w.nonce, expires: w.h.Time.Unix() + 600, action: a}.sign()
	writes := w.st.writes
	res := w.l.Apply(w.st, w.h, raw)
	w.trace = append(w.trace, traceStep{raw: raw, desc: desc})
	outcome := "ok " + res.ID
	if !res.OK() {
		outcome = res.Code + ": " + res.Message
	}
	w.log = append(w.log, desc+" -> "+outcome)
	switch {
	case res.Code != want:
		w.failf("%s: ledger %s, want %q", desc, outcome, want)
	case !res.OK() && w.st.writes != writes:
		w.failf("%s: rejected, yet wrote to the store", desc)
	}
	w.outcomes[res.Type+" "+map[bool]string{true: "ok", false: res.Code}[res.OK()]]++
	return res
}

func (w *invoiceWorld) block(d time.Duration) {
	if w.h.Height > 0 {
		w.l.EndBlock(w.st)
	}
	w.h = Header{Height: w.h.Height + 1, Time: w.h.Time.Add(d)}
	hh := w.h
	w.log = append(w.log, fmt.Sprintf("block %d at %s", w.h.Height, rel(w.h.Time)))
	w.trace = append(w.trace, traceStep{header: &hh, desc: w.log[len(w.log)-1]})
	w.l.BeginBlock(w.st, w.h)
}

func (w *invoiceWorld) pick(xs []string) string { return xs[w.rnd.Intn(len(xs))] }

func (w *invoiceWorld) other(than string) string {
	for {
		if c := w.pick(marketClouds); c != than {
			return c
		}
	}
}

func (w *invoiceWorld) running() []*iVM {
	var out []*iVM
	for _, vm := range w.vms {
		if vm.running {
			out = append(out, vm)
		}
	}
	return out
}

func (w *invoiceWorld) price() int64 {
	switch w.rnd.Intn(5) {
	case 0:
		return 0
	case 1:
		return int64(1 + w.rnd.Intn(999)) // below one micro-credit per second: rounding matters
	default:
		return int64(w.rnd.Intn(5_000_000))
	}
}

func (w *invoiceWorld) proposeAgreement() {
	p := w.pick(marketClouds)
	c := w.other(p)
	ag := &iAgr{provider: p, consumer: c, proposer: w.pick([]string{p, c}), pv: w.price(), pg: w.price(),
		avail: int64(90_000 + w.rnd.Intn(10_001)), pen: int64(w.rnd.Intn(100_001))}
	if w.rnd.Intn(2) == 0 {
		ag.maxLat = int64(100 + w.rnd.Intn(300))
	}
	if w.rnd.Intn(3) == 0 {
		ag.until = time.Unix(w.h.Time.Unix()+1+w.rnd.Int63n(7200), 0).UTC()
	}
	var until int64
	if !ag.until.IsZero() {
		until = ag.until.Unix()
	}
	res := w.submit(ag.proposer, bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: p, Consumer: c,
		PriceVCPUHour: ag.pv, PriceGiBHour: ag.pg, Availability: ag.avail, MaxLatencyMS: ag.maxLat, PenaltyPct: ag.pen, Until: until}},
		"", fmt.Sprintf("%s proposes %s->%s pv=%d pg=%d until=%s", ag.proposer, p, c, ag.pv, ag.pg, rel(ag.until)))
	ag.id = res.ID
	// It expires at the first whole second at or after its proposal, plus the TTL.
	ag.expires = time.Unix(w.h.Time.Add(time.Second-1).Unix()+marketProposalTTL, 0).UTC()
	if want := seqID("agr", uint64(len(w.agrs)+1)); ag.id != want {
		w.failf("agreement id %s, want %s", ag.id, want)
	}
	w.agrs = append(w.agrs, ag)
}

func (w *invoiceWorld) signAgreement() {
	var open []*iAgr
	for _, ag := range w.agrs {
		if ag.signed.IsZero() {
			open = append(open, ag)
		}
	}
	if len(open) == 0 {
		return
	}
	ag := open[w.rnd.Intn(len(open))]
	signer := ag.provider
	if ag.proposer == ag.provider {
		signer = ag.consumer
	}
	gone := !w.h.Time.Before(ag.expires) && !ag.declined
	switch {
	case gone:
		// Expired unsigned and removed: signing or declining finds nothing.
		act := bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: ag.id}}
		if w.rnd.Intn(2) == 0 {
			act = bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: ag.id}}
		}
		w.submit(signer, act, bbus.ENOTFOUND, signer+" answers expired "+ag.id)
		return
	case ag.declined:
		w.submit(signer, bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: ag.id}}, bbus.ESTATE, signer+" signs declined "+ag.id)
		return
	case w.rnd.Intn(8) == 0:
		w.submit(signer, bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: ag.id, Reason: "no"}}, "", signer+" declines "+ag.id)
		ag.declined = true
		return
	}
	if w.rnd.Intn(10) == 0 {
		// The proposer or a third party: never.
		bad := w.pick(append([]string{ag.proposer}, w.third(ag.provider, ag.consumer)))
		w.submit(bad, bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: ag.id}}, bbus.EUNAUTHORIZED, bad+" signs "+ag.id)
		return
	}
	want := ""
	if !ag.until.IsZero() && !w.h.Time.Before(ag.until) {
		want = bbus.ESTATE
	}
	w.submit(signer, bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: ag.id}}, want, signer+" signs "+ag.id)
	if want == "" {
		ag.signed = w.h.Time
	}
}

func (w *invoiceWorld) third(x, y string) string {
	for {
		if c := w.pick(marketClouds); c != x && c != y {
			return c
		}
	}
}

func (w *invoiceWorld) register() {
	owner := w.pick(marketClouds)
	vm := &iVM{id: fmt.Sprintf("vm%d", len(w.vms)+1), owner: owner, registered: w.h.Time, running: true,
		res: bbus.Resources{CPU: int64(1 + w.rnd.Intn(8)), MemMiB: int64(1 + w.rnd.Intn(65536))}}
	vm.ivs = []iIv{{cloud: owner, start: w.h.Time}}
	w.submit(owner, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm.id, Resources: vm.res}}, "",
		fmt.Sprintf("%s registers %s %s", owner, vm.id, vm.res))
	w.vms = append(w.vms, vm)
}

// migrate proposes and accepts a migration of a running VM, under an
// agreement in force most of the time when one fits.
func (w *invoiceWorld) migrate() {
	var free []*iVM
	for _, vm := range w.running() {
		if vm.mig == "" {
			free = append(free, vm)
		}
	}
	if len(free) == 0 {
		return
	}
	vm := free[w.rnd.Intn(len(free))]
	host := vm.ivs[len(vm.ivs)-1].cloud
	// Mostly under an agreement in force with the VM's owner, when one fits.
	var fits []*iAgr
	for _, ag := range w.agrs {
		if ag.provider != host && ag.consumer == vm.owner && !ag.signed.IsZero() && (ag.until.IsZero() || w.h.Time.Before(ag.until)) {
			fits = append(fits, ag)
		}
	}
	to, agr := w.other(host), ""
	if len(fits) > 0 && w.rnd.Intn(5) > 0 {
		ag := fits[w.rnd.Intn(len(fits))]
		to, agr = ag.provider, ag.id
	}
	w.nMig++
	m := &iMig{id: MigrationID(uint64(w.nMig)), vm: vm.id, from: host, to: to, agr: agr}
	w.submit(host, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm.id, To: to, Agreement: agr}}, "",
		fmt.Sprintf("%s proposes %s -> %s under %q", host, vm.id, to, agr))
	w.submit(to, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m.id}}, "", to+" accepts "+m.id)
	vm.mig = m.id
	w.migs[m.id] = m
}

func (w *invoiceWorld) complete() {
	var ids []string
	for id := range w.migs {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	m := w.migs[w.pick(ids)]
	delete(w.migs, m.id)
	vm := w.vmByID(m.vm)
	vm.mig = ""
	if w.rnd.Intn(6) == 0 {
		w.submit(m.from, bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: m.id}}, "", m.from+" cancels "+m.id)
		return
	}
	w.submit(m.to, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m.id}}, "", m.to+" completes "+m.id)
	vm.ivs[len(vm.ivs)-1].end = w.h.Time
	vm.ivs = append(vm.ivs, iIv{cloud: m.to, agr: m.agr, start: w.h.Time})
}

func (w *invoiceWorld) terminate() {
	vms := w.running()
	if len(vms) == 0 {
		return
	}
	vm := vms[w.rnd.Intn(len(vms))]
	w.submit(vm.owner, bbus.Action{VMTerminate: &bbus.VMRef{VM: vm.id}}, "", vm.owner+" terminates "+vm.id)
	if vm.mig != "" {
		delete(w.migs, vm.mig)
		vm.mig = ""
	}
	vm.running = false
	vm.ivs[len(vm.ivs)-1].end = w.h.Time
}

func (w *invoiceWorld) vmByID(id string) *iVM {
	for _, vm := range w.vms {
		if vm.id == id {
			return vm
		}
	}
	return nil
}

// report sends a random oracle's report over a random past window of a
// random VM, or over a window another oracle reported, and works out what it
// must record.
func (w *invoiceWorld) report() {
	if len(w.vms) == 0 {
		return
	}
	oracle := modelOracles[w.rnd.Intn(len(modelOracles))]
	vm := w.vms[w.rnd.Intn(len(w.vms))]
	first := vm.registered.Unix()
	if vm.registered.Nanosecond() > 0 {
		first++
	}
	now := w.h.Time.Unix()
	if first >= now {
		return
	}
	start := first + w.rnd.Int63n(now-first)
	end := start + 1 + w.rnd.Int63n(min(now-start, 1800))
	if len(w.wins) > 0 && w.rnd.Intn(2) == 0 {
		// A window some oracle reported: the quorum's shared windows.
		g := w.wins[w.rnd.Intn(len(w.wins))]
		vm, start, end = w.vmByID(g.vm), g.start, g.end
		if first = vm.registered.Unix(); vm.registered.Nanosecond() > 0 {
			first++
		}
	}
	a := &bbus.ReportAction{VM: vm.id, Start: start, End: end, Availability: int64(85_000 + w.rnd.Intn(15_001))}
	if w.rnd.Intn(2) == 0 {
		a.LatencyMS = int64(w.rnd.Intn(400))
	}
	key := fmt.Sprintf("%s/%d/%d", vm.id, start, end)
	want := ""
	switch k := w.rnd.Intn(20); {
	case k == 0:
		a.End = now + 1 + w.rnd.Int63n(100) // in the future
		want = bbus.EINVALID
	case k == 1:
		a.Start = first - 1 - w.rnd.Int63n(100) // before the VM existed
		want = bbus.EINVALID
	case k == 2:
		w.submit(vm.owner, bbus.Action{Report: a}, bbus.EUNAUTHORIZED, vm.owner+" reports as if an oracle")
		return
	case w.overlapsOwn(oracle, vm.id, start, end):
		want = bbus.EEXISTS // each oracle reports each second of a VM once
	}
	desc := fmt.Sprintf("%s reports %s %s..%s avail=%d latency=%d", oracle, vm.id, rel(time.Unix(a.Start, 0)), rel(time.Unix(a.End, 0)), a.Availability, a.LatencyMS)
	res := w.submit(oracle, bbus.Action{Report: a}, want, desc)
	if want != "" {
		return
	}
	w.own[oracle] = append(w.own[oracle], a)
	w.oracles[oracle].reports++
	w.nRep++
	if res.ID != seqID("rep", uint64(w.nRep)) {
		w.failf("report id %s, want rep-%d", res.ID, w.nRep)
	}
	g := w.groups[key]
	if g == nil {
		g = &iWin{vm: vm.id, start: start, end: end, status: bbus.WindowOpen}
		w.groups[key] = g
		w.wins = append(w.wins, g)
	}
	g.reports = append(g.reports, a)
	g.oracles = append(g.oracles, oracle)
	switch {
	case g.status == bbus.WindowDecided:
		w.outcomes["(late reports)"]++
		w.score(oracle, a, g)
		return
	case g.status != bbus.WindowOpen || len(g.reports) < w.quorum:
		return
	}
	for _, o := range w.wins {
		if o.vm == vm.id && o.status == bbus.WindowDecided && o.start < end && start < o.end {
			g.status = bbus.WindowOverlapped
			w.outcomes["(overlapped windows)"]++
			return
		}
	}
	g.status = bbus.WindowDecided
	w.outcomes["(windows decided)"]++
	var av, lat []int64
	for _, r := range g.reports {
		av = append(av, r.Availability)
		if r.LatencyMS > 0 {
			lat = append(lat, r.LatencyMS)
		}
	}
	sort.Slice(av, func(i, j int) bool { return av[i] < av[j] })
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	g.avail = av[(len(av)-1)/2] // the lower middle value
	if len(lat) > 0 {
		g.latency = lat[len(lat)/2] // the upper middle value
	}
	for i, r := range g.reports {
		w.score(g.oracles[i], r, g)
	}
	ws, we := time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	for _, iv := range vm.ivs {
		s, e := tmax(iv.start, ws), we
		if !iv.end.IsZero() {
			e = tmin(e, iv.end)
		}
		if !s.Before(e) || iv.agr == "" {
			continue
		}
		ag := w.agr(iv.agr)
		s, e, ok := ag.priced(s, e)
		if !ok {
			continue
		}
		cnt := w.counts[iv.cloud]
		cnt.reports++
		if g.avail >= ag.avail && (ag.maxLat == 0 || g.latency <= ag.maxLat) {
			cnt.compliant++
			continue
		}
		charge := refCharge(e.Sub(s), vm.res, ag.pv, ag.pg)
		v := &iVio{id: seqID("vio", uint64(len(w.vios)+1)), vm: vm.id, cloud: iv.cloud, consumer: ag.consumer, agr: ag.id,
			start: s, end: e, charge: charge, penalty: refPenalty(charge, ag.pen)}
		w.vios = append(w.vios, v)
		w.outcomes["(violations)"]++
		pair := v.cloud + "/" + v.consumer
		w.pending[pair] = append(w.pending[pair], v)
	}
}

// score counts an oracle's report against its decided window, by the
// tolerance of docs/CHARGING.md written out: availability within 5000
// thousandths of a percent, latency (where the window has one) within 20 ms
// or 5 % of the combined latency.
func (w *invoiceWorld) score(oracle string, r *bbus.ReportAction, g *iWin) {
	abs := func(x int64) int64 { return max(x, -x) }
	ok := abs(r.Availability-g.avail) <= 5000 &&
		(g.latency == 0 || abs(r.LatencyMS-g.latency) <= 20 || abs(r.LatencyMS-g.latency)*100 <= 5*g.latency)
	if ok {
		w.oracles[oracle].agree++
	} else {
		w.oracles[oracle].disagree++
		w.outcomes["(disagreeing reports)"]++
	}
}

// expectedHosting returns the hosting parts the test expects for provider p,
// consumer c and the period [from, until), with their charges.
func (w *invoiceWorld) expectedHosting(p, c string, from, until time.Time) []bbus.InvoiceLine {
	var out []bbus.InvoiceLine
	for _, vm := range w.vms {
		if vm.owner != c {
			continue
		}
		for _, iv := range vm.ivs {
			if iv.cloud != p || iv.agr == "" {
				continue
			}
			ag := w.agr(iv.agr)
			end := until
			if !iv.end.IsZero() {
				end = tmin(end, iv.end)
			}
			s, e, ok := ag.priced(tmax(iv.start, from), end)
			if !ok {
				continue
			}
			out = append(out, bbus.InvoiceLine{Kind: "hosting", VM: vm.id, Agreement: ag.id, Start: s, End: e,
				Seconds: int64(e.Sub(s) / time.Second), Amount: refCharge(e.Sub(s), vm.res, ag.pv, ag.pg)})
		}
	}
	return out
}

func lineKey(l bbus.InvoiceLine) string {
	return fmt.Sprintf("%s %s %s %s..%s %ds %d", l.Kind, l.VM, l.Agreement, l.Start.UTC().Format(time.RFC3339Nano),
		l.End.UTC().Format(time.RFC3339Nano), l.Seconds, l.Amount)
}

func (w *invoiceWorld) closeInvoice() {
	p := w.pick(marketClouds)
	c := w.other(p)
	if len(w.agrs) > 0 && w.rnd.Intn(4) > 0 {
		ag := w.agrs[w.rnd.Intn(len(w.agrs))] // a pair that may have something to bill
		p, c = ag.provider, ag.consumer
	}
	pair := p + "/" + c
	from := w.lastUntil[pair]
	if from.IsZero() {
		from = testGenesisTime // a pair's first invoice starts at genesis
	}
	now := w.h.Time.Unix()
	lo := int64(0)
	if !from.IsZero() {
		lo = from.Unix()
	}
	if from.IsZero() {
		lo = testGenesisTime.Unix()
	}
	if lo >= now || w.rnd.Intn(15) == 0 {
		// Nothing new to invoice yet, or on purpose: an end not after the last one's.
		if !from.IsZero() {
			until := from.Unix() - w.rnd.Int63n(2)
			w.submit(p, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: p, Consumer: c, Until: until}}, bbus.EINVALID,
				fmt.Sprintf("%s closes %s until %s, not after the last", p, pair, rel(time.Unix(until, 0))))
		}
		return
	}
	var until int64
	switch k := w.rnd.Intn(10); {
	case k < 3:
		until = now
	case k == 3:
		w.submit(p, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: p, Consumer: c, Until: now + 1}}, bbus.EINVALID,
			fmt.Sprintf("%s closes %s in the future", p, pair))
		return
	case k == 4:
		w.submit(c, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: p, Consumer: c, Until: now}}, bbus.EUNAUTHORIZED,
			fmt.Sprintf("%s closes %s's invoice", c, p))
		return
	default:
		until = lo + 1 + w.rnd.Int63n(now-lo)
	}
	u := time.Unix(until, 0).UTC()
	res := w.submit(p, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: p, Consumer: c, Until: until}}, "",
		fmt.Sprintf("%s closes %s until %s", p, pair, rel(u)))
	inv, err := Invoice(w.st, res.ID)
	if err != nil {
		w.failf("invoice %s: %v", res.ID, err)
	}
	if inv.ID != seqID("inv", uint64(len(w.invs)+1)) || inv.Provider != p || inv.Consumer != c || !inv.From.Equal(from) || !inv.Until.Equal(u) {
		w.failf("invoice %s is %s->%s %s..%s; want inv-%d %s %s..%s", inv.ID, inv.Provider, inv.Consumer, inv.From, inv.Until,
			len(w.invs)+1, pair, from, u)
	}
	// Hosting lines: exactly the expected parts, whatever their order.
	want := w.expectedHosting(p, c, from, u)
	var wantKeys, gotKeys []string
	var wantHosting int64
	for _, l := range want {
		wantKeys = append(wantKeys, lineKey(l))
		wantHosting += l.Amount
	}
	var sum, hosting, penalties int64
	var gotVios []string
	for _, l := range inv.Lines {
		sum += l.Amount
		switch l.Kind {
		case "hosting":
			hosting += l.Amount
			k := l
			k.Resources, k.PriceVCPUHour, k.PriceGiBHour, k.Evidence = nil, 0, 0, nil
			gotKeys = append(gotKeys, lineKey(k))
			vm := w.vmByID(l.VM)
			ag := w.agr(l.Agreement)
			if vm == nil || ag == nil || *l.Resources != vm.res || l.PriceVCPUHour != ag.pv || l.PriceGiBHour != ag.pg {
				w.failf("invoice %s: line %s names resources %v and prices %d, %d", inv.ID, lineKey(k), l.Resources, l.PriceVCPUHour, l.PriceGiBHour)
			}
			for _, b := range w.billed[l.VM] {
				if l.Start.Before(b[1]) && b[0].Before(l.End) {
					w.failf("invoice %s bills %s %s..%s again: %s..%s was billed before", inv.ID, l.VM, l.Start, l.End, b[0], b[1])
				}
			}
			w.billed[l.VM] = append(w.billed[l.VM], [2]time.Time{l.Start, l.End})
		case "penalty":
			penalties -= l.Amount
			gotVios = append(gotVios, fmt.Sprintf("%s %d", l.Violation, -l.Amount))
			if prev := w.inInvoice[l.Violation]; prev != "" {
				w.failf("violation %s is in %s and %s", l.Violation, prev, inv.ID)
			}
			w.inInvoice[l.Violation] = inv.ID
		default:
			w.failf("invoice %s: line of kind %q", inv.ID, l.Kind)
		}
	}
	sort.Strings(wantKeys)
	sort.Strings(gotKeys)
	if strings.Join(wantKeys, "\n") != strings.Join(gotKeys, "\n") {
		w.failf("invoice %s (%s, %s..%s) hosting lines:\n    %s\n  want:\n    %s", inv.ID, pair, rel(from), rel(u),
			strings.Join(gotKeys, "\n    "), strings.Join(wantKeys, "\n    "))
	}
	var wantVios []string
	for _, v := range w.pending[pair] {
		wantVios = append(wantVios, fmt.Sprintf("%s %d", v.id, v.penalty))
	}
	if fmt.Sprint(gotVios) != fmt.Sprint(wantVios) {
		w.failf("invoice %s (%s) penalties %v, want the violations recorded since the last invoice %v", inv.ID, pair, gotVios, wantVios)
	}
	if sum != inv.Total || hosting != inv.Hosting || penalties != inv.Penalties || inv.Hosting-inv.Penalties != inv.Total || hosting != wantHosting {
		w.failf("invoice %s: lines sum to %d (hosting %d, want %d; penalties %d); it says hosting %d - penalties %d = total %d",
			inv.ID, sum, hosting, wantHosting, penalties, inv.Hosting, inv.Penalties, inv.Total)
	}
	w.outcomes["(hosting lines)"] += len(gotKeys)
	w.outcomes["(penalty lines)"] += len(gotVios)
	if inv.Total < 0 {
		w.outcomes["(negative invoices)"]++
	}
	for _, l := range want {
		if l.End.Sub(l.Start)%time.Second != 0 {
			w.outcomes["(hosting lines of a fraction of a second)"]++
		}
	}
	w.pending[pair] = nil
	w.lastUntil[pair] = u
	w.hosting[pair] += inv.Hosting
	w.invs = append(w.invs, &iInv{id: inv.ID, provider: p, consumer: c, from: from, until: u, status: bbus.InvoiceIssued,
		hosting: inv.Hosting, penalties: inv.Penalties})
}

func (w *invoiceWorld) answer() {
	var open []*iInv
	for _, inv := range w.invs {
		if inv.status == bbus.InvoiceIssued {
			open = append(open, inv)
		}
	}
	if w.rnd.Intn(3) == 0 && w.correct() {
		return
	}
	if len(open) == 0 {
		return
	}
	inv := open[w.rnd.Intn(len(open))]
	switch w.rnd.Intn(6) {
	case 0:
		// The provider (or a third cloud) accepting: never.
		who := w.pick([]string{inv.provider, w.third(inv.provider, inv.consumer)})
		w.submit(who, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: inv.id}}, bbus.EUNAUTHORIZED, who+" accepts "+inv.id)
	case 1:
		w.submit(inv.consumer, bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: inv.id, Reason: "too high"}}, "", inv.consumer+" disputes "+inv.id)
		inv.status = bbus.InvoiceDisputed
	default:
		w.submit(inv.consumer, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: inv.id}}, "", inv.consumer+" accepts "+inv.id)
		inv.status = bbus.InvoiceAccepted
	}
}

// correct has the provider of a disputed invoice answer it with a credit
// note, or someone try what the ledger refuses: the consumer correcting, a
// correction that asks more, asks the same, or corrects an invoice that is
// not disputed or already corrected. It reports whether it submitted
// anything.
func (w *invoiceWorld) correct() bool {
	var disputed, other []*iInv
	for _, inv := range w.invs {
		if inv.status == bbus.InvoiceDisputed && inv.correctedBy == "" {
			disputed = append(disputed, inv)
		} else {
			other = append(other, inv)
		}
	}
	if len(disputed) == 0 {
		if len(other) == 0 {
			return false
		}
		inv := other[w.rnd.Intn(len(other))]
		w.submit(inv.provider, bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: inv.id, Hosting: 0, Penalties: inv.penalties + 1, Reason: "late"}},
			bbus.ESTATE, inv.provider+" corrects "+inv.id+", "+inv.status+map[bool]string{true: " and corrected", false: ""}[inv.correctedBy != ""])
		return true
	}
	inv := disputed[w.rnd.Intn(len(disputed))]
	fix := func(hosting, penalties int64) *bbus.Action {
		return &bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: inv.id, Hosting: hosting, Penalties: penalties, Reason: "agreed"}}
	}
	switch w.rnd.Intn(8) {
	case 0:
		w.submit(inv.consumer, *fix(0, inv.penalties), bbus.EUNAUTHORIZED, inv.consumer+", the consumer, corrects "+inv.id)
		return true
	case 1:
		w.submit(inv.provider, *fix(inv.hosting+1, inv.penalties), bbus.EINVALID, inv.provider+" corrects "+inv.id+" asking more hosting")
		return true
	case 2:
		if inv.penalties > 0 {
			w.submit(inv.provider, *fix(inv.hosting, inv.penalties-1), bbus.EINVALID, inv.provider+" corrects "+inv.id+" with fewer penalties")
			return true
		}
	case 3:
		w.submit(inv.provider, *fix(inv.hosting, inv.penalties), bbus.EINVALID, inv.provider+" corrects "+inv.id+" asking the same")
		return true
	}
	hosting := w.rnd.Int63n(inv.hosting + 1)
	penalties := inv.penalties + w.rnd.Int63n(3)*w.rnd.Int63n(1_000_000)
	if hosting == inv.hosting && penalties == inv.penalties {
		penalties++
	}
	res := w.submit(inv.provider, *fix(hosting, penalties), "", fmt.Sprintf("%s corrects %s to hosting %d, penalties %d", inv.provider, inv.id, hosting, penalties))
	if want := seqID("inv", uint64(len(w.invs)+1)); res.ID != want {
		w.failf("the correction of %s is %s, want %s", inv.id, res.ID, want)
	}
	corr, err := Invoice(w.st, res.ID)
	if err != nil {
		w.failf("correction %s: %v", res.ID, err)
	}
	orig, err := Invoice(w.st, inv.id)
	if err != nil {
		w.failf("invoice %s: %v", inv.id, err)
	}
	credit := (inv.hosting - hosting) + (penalties - inv.penalties)
	if corr.Corrects != inv.id || corr.Status != bbus.InvoiceIssued || corr.Provider != inv.provider || corr.Consumer != inv.consumer ||
		!corr.From.Equal(inv.from) || !corr.Until.Equal(inv.until) || corr.Hosting != hosting || corr.Penalties != penalties ||
		corr.Total != hosting-penalties || corr.Credit != credit {
		w.failf("correction %+v of %s (hosting %d, penalties %d); want hosting %d, penalties %d, credit %d", corr, inv.id, inv.hosting, inv.penalties, hosting, penalties, credit)
	}
	if orig.CorrectedBy != corr.ID || orig.Status != bbus.InvoiceDisputed {
		w.failf("invoice %s after its correction: %s, corrected by %q", inv.id, orig.Status, orig.CorrectedBy)
	}
	inv.correctedBy = corr.ID
	w.invs = append(w.invs, &iInv{id: corr.ID, provider: inv.provider, consumer: inv.consumer, from: inv.from, until: inv.until,
		status: bbus.InvoiceIssued, hosting: hosting, penalties: penalties, corrects: inv.id})
	return true
}

// jump returns how far the next block lies: seconds to an hour, sometimes with
// a fraction of a second.
func (w *invoiceWorld) jump() time.Duration {
	var d time.Duration
	switch k := w.rnd.Intn(10); {
	case k < 5:
		d = time.Duration(1+w.rnd.Intn(30)) * time.Second
	case k < 9:
		d = time.Duration(30+w.rnd.Intn(600)) * time.Second
	default:
		d = time.Duration(600+w.rnd.Intn(3000)) * time.Second
	}
	if w.rnd.Intn(3) == 0 {
		d += time.Duration(w.rnd.Intn(1_000_000_000))
	}
	return d
}

// check compares the ledger's violations and reputations with the test's.
func (w *invoiceWorld) check() {
	vios, err := allViolations(w.st, bbus.ViolationFilter{})
	if err != nil {
		w.failf("violations: %v", err)
	}
	if len(vios) != len(w.vios) {
		w.failf("the ledger holds %d violations, the test expects %d", len(vios), len(w.vios))
	}
	for i, v := range vios {
		x := w.vios[i]
		if v.ID != x.id || v.VM != x.vm || v.Cloud != x.cloud || v.Consumer != x.consumer || v.Agreement != x.agr ||
			!v.Start.Equal(x.start) || !v.End.Equal(x.end) || v.Charge != x.charge || v.Penalty != x.penalty {
			w.failf("violation %+v; the test expects %+v", v, *x)
		}
	}
	for _, id := range modelOracles {
		o, err := Oracle(w.st, id)
		x := w.oracles[id]
		if err != nil || o.Reports != x.reports || o.Agreeing != x.agree || o.Disagreeing != x.disagree ||
			o.ReputationBP != 10000*(x.agree+2)/(x.agree+x.disagree+2) {
			w.failf("oracle %s: %+v (%v); the test expects %d reports, %d agreeing, %d disagreeing", id, o, err, x.reports, x.agree, x.disagree)
		}
	}
	for _, g := range w.wins {
		lw := new(bbus.Window)
		if !getJSON(w.st, windowKey(g.vm, g.start, g.end), lw) || lw.Status != g.status || len(lw.Reports) != len(g.reports) ||
			g.status == bbus.WindowDecided && (lw.Availability != g.avail || lw.LatencyMS != g.latency) {
			w.failf("window %s %d..%d: ledger %s %d reports combined %d/%d; the test expects %s %d reports combined %d/%d",
				g.vm, g.start, g.end, lw.Status, len(lw.Reports), lw.Availability, lw.LatencyMS, g.status, len(g.reports), g.avail, g.latency)
		}
	}
	for _, c := range allClouds(w.st) {
		x := w.counts[c.ID]
		if c.Reports != x.reports || c.Compliant != x.compliant || c.ReputationBP != 10000*(x.compliant+2)/(x.reports+2) {
			w.failf("cloud %s: %d reports, %d compliant, %d bp; the test expects %d, %d", c.ID, c.Reports, c.Compliant, c.ReputationBP, x.reports, x.compliant)
		}
	}
}

// checkTotals recomputes, for every pair, the hosting of all its invoices at
// once: each interval's priced part split at the invoices' boundaries, each
// piece rounded down on its own.
func (w *invoiceWorld) checkTotals() {
	bounds := map[string][]time.Time{} // pair -> invoice ends, in order
	for _, inv := range w.invs {
		if inv.corrects != "" {
			continue // a credit note bills no period of its own
		}
		pair := inv.provider + "/" + inv.consumer
		bounds[pair] = append(bounds[pair], inv.until)
	}
	for pair, ends := range bounds {
		p, c, _ := strings.Cut(pair, "/")
		var want int64
		for _, vm := range w.vms {
			if vm.owner != c {
				continue
			}
			for _, iv := range vm.ivs {
				if iv.cloud != p || iv.agr == "" {
					continue
				}
				from := time.Time{}
				for _, until := range ends {
					end := until
					if !iv.end.IsZero() {
						end = tmin(end, iv.end)
					}
					if s, e, ok := w.agr(iv.agr).priced(tmax(iv.start, from), end); ok {
						want += refCharge(e.Sub(s), vm.res, w.agr(iv.agr).pv, w.agr(iv.agr).pg)
					}
					from = until
				}
			}
		}
		if w.hosting[pair] != want {
			w.failf("%s: its invoices bill %d of hosting, the intervals' parts come to %d", pair, w.hosting[pair], want)
		}
	}
	// Every violation is in exactly one invoice once its pair has closed one
	// after it was recorded; the others wait.
	for _, v := range w.vios {
		pair := v.cloud + "/" + v.consumer
		waiting := false
		for _, x := range w.pending[pair] {
			waiting = waiting || x == v
		}
		if waiting == (w.inInvoice[v.id] != "") {
			w.failf("violation %s: in invoice %q, waiting for one: %v", v.id, w.inInvoice[v.id], waiting)
		}
	}
}

// runInvoiceModel runs one random history and returns its inputs and final
// state, for the determinism test to replay.
func runInvoiceModel(t *testing.T, seed int64, steps int, outcomes map[string]int) ([]traceStep, []byte) {
	t.Helper()
	st := kv.NewMem()
	l := newTestLedger()
	g := marketGenesisFor(seed)
	if err := l.InitGenesis(st, testChainID, g, testGenesisTime); err != nil {
		t.Fatal(err)
	}
	w := &invoiceWorld{t: t, seed: seed, rnd: rand.New(rand.NewSource(seed)), l: l, st: &countingStore{Store: st},
		h: Header{Time: testGenesisTime}, migs: map[string]*iMig{}, groups: map[string]*iWin{}, own: map[string][]*bbus.ReportAction{},
		oracles: map[string]*iOracle{}, counts: map[string]*iCount{},
		lastUntil: map[string]time.Time{}, pending: map[string][]*iVio{}, inInvoice: map[string]string{},
		billed: map[string][][2]time.Time{}, hosting: map[string]int64{}, outcomes: outcomes}
	for _, c := range marketClouds {
		w.counts[c] = &iCount{}
	}
	w.block(10 * time.Second)
	w.quorum = int(g.Params.OracleQuorum)
	for _, o := range modelOracles {
		w.oracles[o] = &iOracle{}
		w.submit(marketClouds[0], bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: o, PubKey: testPub(o)}}, "", marketClouds[0]+" invites "+o)
		w.submit(o, bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: testPub(o)}}, "", o+" joins")
		for _, c := range marketClouds[1:3] {
			w.submit(c, bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: o, PubKey: testPub(o)}}, "", c+" approves "+o)
		}
	}
	w.submit("o1", bbus.Action{VMRegister: &bbus.VMRegister{VM: "nope", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}},
		bbus.EUNAUTHORIZED, "o1 registers a VM")
	for i := 0; i < steps; i++ {
		switch k := w.rnd.Intn(100); {
		case k < 12:
			w.block(w.jump())
			if w.rnd.Intn(4) == 0 {
				w.check()
			}
		case k < 22:
			w.proposeAgreement()
		case k < 32:
			w.signAgreement()
		case k < 40:
			w.register()
		case k < 55:
			w.migrate()
		case k < 67:
			w.complete()
		case k < 70:
			w.terminate()
		case k < 85:
			w.report()
		case k < 96:
			w.closeInvoice()
		default:
			w.answer()
		}
	}
	w.l.EndBlock(w.st)
	w.check()
	w.checkTotals()
	if bad := checkInvariants(st, w.h.Time); len(bad) > 0 {
		w.failf("invariants broken:\n  %s", strings.Join(bad, "\n  "))
	}
	return w.trace, dumpStore(st)
}

func TestInvoiceModel(t *testing.T) {
	outcomes := map[string]int{}
	for seed := int64(1); seed <= int64(*invoiceSeeds); seed++ {
		runInvoiceModel(t, seed, *invoiceSteps, outcomes)
	}
	if t.Failed() {
		return
	}
	// The histories must reach what the rules are about.
	for _, o := range []string{
		"agreement_propose ok", "agreement_sign ok", "agreement_sign unauthorized", "agreement_sign invalid_state",
		"agreement_sign not_found", "agreement_decline ok", "agreement_decline not_found",
		"migration_complete ok", "migration_cancel ok", "vm_terminate ok",
		"report ok", "report already_exists", "report invalid", "report unauthorized",
		"(windows decided)", "(late reports)", "(overlapped windows)", "(disagreeing reports)",
		"invoice_close ok", "invoice_close invalid", "invoice_close unauthorized",
		"invoice_accept ok", "invoice_accept unauthorized", "invoice_dispute ok",
		"invoice_correct ok", "invoice_correct unauthorized", "invoice_correct invalid", "invoice_correct invalid_state",
		"(violations)", "(hosting lines)", "(penalty lines)", "(negative invoices)", "(hosting lines of a fraction of a second)",
	} {
		if outcomes[o] == 0 {
			t.Errorf("no history reached %q", o)
		}
	}
	if testing.Verbose() {
		var keys []string
		for k := range outcomes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Logf("%-40s %d", k, outcomes[k])
		}
	}
}

// overlapsOwn reports whether [start, end) of vm overlaps a window the
// oracle reported before.
func (w *invoiceWorld) overlapsOwn(oracle, vm string, start, end int64) bool {
	for _, r := range w.own[oracle] {
		if r.VM == vm && r.Start < end && start < r.End {
			return true
		}
	}
	return false
}
