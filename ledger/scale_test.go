package ledger_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
	"golang.org/x/sys/unix"
)

// The scale harness builds large states on the real goleveldb store (in
// memory) fast: the transactions that build a state carry no signature and are
// applied by a ledger that takes any; the transactions measured are signed and
// applied by the ledger a node runs. docs/BENCHMARKS.md, "Cost against size".

const (
	provider = "cloud1" // hosts the consumer's VMs under their agreement
	consumer = "cloud0" // owns the VMs
)

type scaleFed struct {
	tb    testing.TB
	real  *ledger.Ledger // checks signatures: what is measured
	fast  *ledger.Ledger // takes any signature: what builds the state
	st    *store.Store
	h     ledger.Header
	key   map[string]ed25519.PrivateKey
	nonce uint64
	inBlk int
	vms   int
	agr   string
}

var scaleT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newScaleFed(tb testing.TB) *scaleFed {
	tb.Helper()
	st, err := store.Open(tb.TempDir()) // the store a node runs, with its caches, on disk
	if err != nil {
		tb.Fatal(err)
	}
	st.LeaveOut(ledger.Derived) // as chain.New has it
	f := &scaleFed{tb: tb, real: ledger.New(keys.Verify), fast: ledger.New(func(_, _, _ []byte) bool { return true }),
		st: st, key: map[string]ed25519.PrivateKey{}}
	tb.Cleanup(func() { f.st.Close() })
	g := &bbus.Genesis{Params: bbus.DefaultParams()}
	max := bbus.Resources{CPU: bbus.MaxResource, MemMiB: bbus.MaxResource, DiskIOPS: bbus.MaxResource, NetMbps: bbus.MaxResource}
	for _, id := range []string{consumer, provider} {
		f.key[id] = ed25519.NewKeyFromSeed(seed(id))
		val := ed25519.NewKeyFromSeed(seed("val-" + id)).Public().(ed25519.PublicKey)
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{ID: id, Name: id, PubKey: f.key[id].Public().(ed25519.PublicKey), ValidatorKey: val, Power: 10, Capacity: max})
	}
	if err := f.fast.InitGenesis(f.st.Working(), "bbus-scale", g, scaleT0); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.st.Commit(0, scaleT0); err != nil {
		tb.Fatal(err)
	}
	f.h = ledger.Header{Height: 1, Time: scaleT0.Add(time.Second)}
	f.fast.BeginBlock(f.st.Working(), f.h)
	return f
}

func seed(id string) []byte {
	s := make([]byte, ed25519.SeedSize)
	copy(s, id)
	return s
}

func (f *scaleFed) body(signer string, a bbus.Action) *bbus.Body {
	f.nonce++
	return &bbus.Body{ChainID: "bbus-scale", Signer: signer, Nonce: f.nonce, Expires: f.h.Time.Add(10 * time.Minute).Unix(), Action: a}
}

// do applies a into the current block without a signature; it must succeed.
func (f *scaleFed) do(signer string, a bbus.Action) ledger.Result {
	body, err := bbus.EncodeBody(f.body(signer, a))
	if err != nil {
		f.tb.Fatal(err)
	}
	raw, _ := json.Marshal(&bbus.Tx{Body: body, Sig: make([]byte, ed25519.SignatureSize)})
	r := f.fast.Apply(f.st.Working(), f.h, raw)
	if !r.OK() {
		f.tb.Fatalf("%s %s: %s: %s", signer, a.Type(), r.Code, r.Message)
	}
	if f.inBlk++; f.inBlk == 2000 {
		f.next(time.Second)
	}
	return r
}

// next commits the block and starts the next one d later.
func (f *scaleFed) next(d time.Duration) {
	if _, err := f.st.Commit(f.h.Height, f.h.Time); err != nil {
		f.tb.Fatal(err)
	}
	f.inBlk = 0
	f.h = ledger.Header{Height: f.h.Height + 1, Time: f.h.Time.Add(d)}
	f.fast.BeginBlock(f.st.Working(), f.h)
}

// advance moves time on by d, draining BeginBlock's queues block by block.
func (f *scaleFed) advance(d time.Duration) {
	f.next(d)
	for {
		l, r := ledger.ExpiryBacklog(f.st.Working(), f.h.Time, 1)
		if l+r == 0 {
			return
		}
		f.next(time.Second)
	}
}

// measure signs a, applies it with the node's ledger and returns how long
// Apply took; its result must have code want ("" = applied).
func (f *scaleFed) measure(signer string, a bbus.Action, want string) (time.Duration, ledger.Result) {
	raw, _, err := bbus.SignTx(f.body(signer, a), f.key[signer])
	if err != nil {
		f.tb.Fatal(err)
	}
	t0 := time.Now()
	r := f.real.Apply(f.st.Working(), f.h, raw)
	d := time.Since(t0)
	if r.Code != want {
		f.tb.Fatalf("%s %s: %q %s, want %q", signer, a.Type(), r.Code, r.Message, want)
	}
	return d, r
}

// measureOn is measure over st.
func (f *scaleFed) measureOn(st kv.Store, signer string, a bbus.Action, want string) (time.Duration, ledger.Result) {
	raw, _, err := bbus.SignTx(f.body(signer, a), f.key[signer])
	if err != nil {
		f.tb.Fatal(err)
	}
	t0 := time.Now()
	r := f.real.Apply(st, f.h, raw)
	d := time.Since(t0)
	if r.Code != want {
		f.tb.Fatalf("%s %s: %q %s, want %q", signer, a.Type(), r.Code, r.Message, want)
	}
	return d, r
}

func (f *scaleFed) agreement() string {
	if f.agr == "" {
		f.agr = f.do(consumer, bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: provider, Consumer: consumer,
			PriceVCPUHour: 36000, PriceGiBHour: 3600, Availability: 99000, PenaltyPct: 10000}}).ID
		f.do(provider, bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: f.agr}})
	}
	return f.agr
}

var scaleVM = bbus.Resources{CPU: 2, MemMiB: 4096, DiskIOPS: 100, NetMbps: 100}

// hosted registers n of the consumer's VMs and moves them to the provider
// under the agreement; it returns their ids.
func (f *scaleFed) hosted(n int) []string {
	agr := f.agreement()
	ids := make([]string, n)
	for i := range ids {
		f.vms++
		ids[i] = fmt.Sprintf("vm-%d", f.vms)
		f.do(consumer, bbus.Action{VMRegister: &bbus.VMRegister{VM: ids[i], Resources: scaleVM}})
		mig := f.do(consumer, bbus.Action{MigrationPropose: &bbus.Propose{VM: ids[i], To: provider, Agreement: agr}}).ID
		f.do(provider, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})
		f.do(provider, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})
	}
	return ids
}

func (f *scaleFed) terminate(ids []string) {
	for _, id := range ids {
		f.do(consumer, bbus.Action{VMTerminate: &bbus.VMRef{VM: id}})
	}
}

// invoice closes the provider's invoice up to now, measured.
func (f *scaleFed) invoice(want string) (time.Duration, ledger.Result) {
	return f.measure(provider, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: f.h.Time.Unix()}}, want)
}

// countingStore counts the records read through it.
type countingStore struct {
	kv.Store
	reads int
}

func (c *countingStore) Get(k []byte) []byte {
	c.reads++
	return c.Store.Get(k)
}

func (c *countingStore) Iterate(prefix, start []byte, fn func(k, v []byte) bool) {
	c.Store.Iterate(prefix, start, func(k, v []byte) bool { c.reads++; return fn(k, v) })
}

// readsOf applies a signed a over a counting store and returns the records it read.
func (f *scaleFed) readsOf(signer string, a bbus.Action) (int, ledger.Result) {
	raw, _, err := bbus.SignTx(f.body(signer, a), f.key[signer])
	if err != nil {
		f.tb.Fatal(err)
	}
	cs := &countingStore{Store: f.st.Working()}
	return cs.reads, f.real.Apply(cs, f.h, raw)
}

// TestInvoiceCostIndependentOfHistory: the 8th monthly invoice of a pair,
// after 7 months of 100 VMs each ended before their invoice, reads what the
// 2nd does; and accepting it reads and writes its head only.
func TestInvoiceCostIndependentOfHistory(t *testing.T) {
	f := newScaleFed(t)
	var reads []int
	for month := 1; month <= 8; month++ {
		ids := f.hosted(100)
		f.next(time.Hour)
		f.terminate(ids)
		f.advance(30 * 24 * time.Hour)
		n, r := f.readsOf(provider, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: f.h.Time.Unix()}})
		if !r.OK() {
			t.Fatalf("month %d: %s %s", month, r.Code, r.Message)
		}
		inv, err := ledger.Invoice(f.st.Working(), r.ID)
		if err != nil || inv.HostingLines != 100 || len(inv.Lines) != 100 {
			t.Fatalf("month %d: invoice %+v, %v: want 100 lines", month, inv, err)
		}
		reads = append(reads, n)
		if month == 8 {
			n, r := f.readsOf(consumer, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: inv.ID}})
			if !r.OK() || n > 20 {
				t.Errorf("accepting an invoice of 100 lines: %s, %d reads; want at most 20", r.Code, n)
			}
		}
		f.next(time.Second)
	}
	t.Logf("invoice_close reads by month: %v", reads)
	if reads[7] > reads[1]+5 || reads[7] > 60 {
		t.Errorf("invoice_close reads by month: %v; the 8th must read what the 2nd does (at most 60)", reads)
	}
}

// closeAll closes the provider's invoice up to until, continuing it until it
// is issued; it returns the invoice and how many transactions it took.
func (f *scaleFed) closeAll(until time.Time) (*bbus.Invoice, int) {
	for n := 1; ; n++ {
		_, r := f.measure(provider, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: until.Unix()}}, "")
		if r.Events[len(r.Events)-1].Type == "invoice.closed" {
			inv, err := ledger.Invoice(f.st.Working(), r.ID)
			if err != nil {
				f.tb.Fatal(err)
			}
			inv.Lines, err = pageAllLines(f.st.Working(), inv.ID)
			if err != nil {
				f.tb.Fatal(err)
			}
			return inv, n
		}
	}
}

func pageAllLines(r kv.Reader, id string) ([]bbus.InvoiceLine, error) {
	var out []bbus.InvoiceLine
	for after := ""; ; {
		page, next, err := ledger.InvoiceLines(r, id, bbus.Page{Limit: 37, After: after})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// invoiceSummary is what must not depend on how many transactions closed an
// invoice: its totals, counts and lines (but their evidence's transaction ids).
func invoiceSummary(inv *bbus.Invoice) string {
	var lines []string
	for _, l := range inv.Lines {
		lines = append(lines, fmt.Sprintf("%s %s %s %s..%s %ds %d", l.Kind, l.VM, l.Violation, l.Start.Format(time.RFC3339Nano),
			l.End.Format(time.RFC3339Nano), l.Seconds, l.Amount))
	}
	sort.Strings(lines)
	return fmt.Sprintf("%s %s..%s hosting=%d (%d lines) penalties=%d (%d) total=%d\n%s", inv.ID, inv.From.Format(time.RFC3339),
		inv.Until.Format(time.RFC3339), inv.Hosting, inv.HostingLines, inv.Penalties, inv.PenaltyLines, inv.Total, strings.Join(lines, "\n"))
}

// TestInvoiceClosedInSteps: an invoice with more to split than one
// transaction may is closed in several, and bills exactly what one
// transaction closing it would, even when intervals end, start and are billed
// while it is being closed; meanwhile it cannot be answered and no other
// invoice of the pair can be closed.
func TestInvoiceClosedInSteps(t *testing.T) {
	var summaries [2][]string
	for w, step := range []int{100_000, 50} {
		restore := ledger.SetInvoiceStep(step)
		f := newScaleFed(t)
		ids := f.hosted(150)
		f.next(time.Hour)
		until := f.h.Time
		f.next(10 * time.Minute)
		f.terminate(ids[100:130]) // their lines end after until: the close cuts them
		f.next(time.Minute)
		// The close begins: 30 lines to cut and 120 running intervals.
		_, r := f.measure(provider, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: until.Unix()}}, "")
		id := r.ID
		if step == 50 {
			if got := r.Events[len(r.Events)-1].Type; got != "invoice.closing" {
				t.Fatalf("the first of several transactions emits %s", got)
			}
			f.measure(consumer, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: id}}, bbus.ESTATE)
			f.measure(provider, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: until.Unix() + 60}}, bbus.ESTATE)
		}
		// While it is being closed (in the first world: after it was closed),
		// a VM it billed ends, one it did not yet bill ends, and new ones run.
		f.terminate([]string{ids[0], ids[98]}) // vm-1 comes first among the open intervals, vm-99 last
		f.hosted(2)
		f.next(time.Minute)
		var first *bbus.Invoice
		if step == 50 {
			var n int
			if first, n = f.closeAll(until); first.ID != id || n < 2 {
				t.Fatalf("invoice %s closed in %d more transactions; want %s in at least 2", first.ID, n, id)
			}
		} else {
			first, _ = ledger.Invoice(f.st.Working(), id)
			first.Lines, _ = pageAllLines(f.st.Working(), id)
		}
		f.advance(time.Hour)
		second, _ := f.closeAll(f.h.Time)
		summaries[w] = []string{invoiceSummary(first), invoiceSummary(second)}
		for _, inv := range []*bbus.Invoice{first, second} {
			if int64(len(inv.Lines)) != inv.HostingLines+inv.PenaltyLines {
				t.Errorf("step %d: invoice %s: %d lines read page by page, its head counts %d", step, inv.ID, len(inv.Lines), inv.HostingLines+inv.PenaltyLines)
			}
		}
		if first.HostingLines != 150 {
			t.Errorf("step %d: the first invoice has %d hosting lines, want 150", step, first.HostingLines)
		}
		restore()
	}
	for i := range summaries[0] {
		if summaries[0][i] != summaries[1][i] {
			t.Errorf("invoice %d closed in one transaction:\n%s\n\nin steps of 50:\n%s", i+1, summaries[0][i], summaries[1][i])
		}
	}
}

// median measures op k times and returns the median duration.
func median(k int, op func() time.Duration) time.Duration {
	ds := make([]time.Duration, k)
	for i := range ds {
		ds[i] = op()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[k/2]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// scaleFigure is one figure of BenchmarkScale, as BBUS_SCALE_OUT receives
// them for bbus bench --scale-plot: what was measured (the operation and the
// unit of its size), at what size, in milliseconds.
type scaleFigure struct {
	Series string  `json:"series"`
	Size   float64 `json:"size"`
	MS     float64 `json:"ms"`
}

var scaleFigures []scaleFigure

// metric reports v in unit; a figure in milliseconds is also recorded, its
// series and size taken from the sub-benchmark's name (group/what=size).
func metric(b *testing.B, v float64, unit string) {
	name := strings.TrimPrefix(b.Name(), "BenchmarkScale/")
	group, size, _ := strings.Cut(name, "/")
	what, n, _ := strings.Cut(size, "=")
	n, _, _ = strings.Cut(n, "-") // a -GOMAXPROCS suffix
	x, err := strconv.ParseFloat(n, 64)
	if err != nil {
		b.Fatalf("metric: no size in %q", b.Name())
	}
	metricAt(b, group+" "+strings.TrimSuffix(unit, "-ms")+" ("+what+")", x, v, unit)
}

// metricAt reports v in unit and, in milliseconds, records it in series at size.
func metricAt(b *testing.B, series string, size, v float64, unit string) {
	b.ReportMetric(v, unit)
	if strings.HasSuffix(unit, "-ms") {
		scaleFigures = append(scaleFigures, scaleFigure{series, size, v})
	}
}

// writeScaleFigures writes the figures recorded to the file BBUS_SCALE_OUT
// names, if it does.
func writeScaleFigures(b *testing.B) {
	file := os.Getenv("BBUS_SCALE_OUT")
	if file == "" {
		return
	}
	out, _ := json.MarshalIndent(struct {
		Figures []scaleFigure `json:"figures"`
	}{scaleFigures}, "", "  ")
	if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkScale builds states of growing size and reports what one
// transaction, one query and one BeginBlock cost at each (milliseconds, the
// median of 21 where it can be repeated). Run it once, it is CPU-heavy:
//
//	go test ./ledger -run '^$' -bench Scale -benchtime 1x
//
// BBUS_SCALE_1M=1 adds the lifecycle at 1,000,000 VMs (several minutes);
// BBUS_SCALE_OUT=FILE writes the figures there, for bbus bench --scale-plot.
// docs/BENCHMARKS.md, "Cost against size", records the figures.
func BenchmarkScale(b *testing.B) {
	sizes := []int{1_000, 100_000}
	if os.Getenv("BBUS_SCALE_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("lifecycle/vms=%d", n), func(b *testing.B) { scaleLifecycle(b, n) })
	}
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("invoice/ended=%d", n), func(b *testing.B) { scaleInvoice(b, n) })
	}
	for _, n := range []int{100, 5_000} {
		b.Run(fmt.Sprintf("invoice/running=%d", n), func(b *testing.B) { scaleInvoiceRunning(b, n) })
	}
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("traveller/migrations=%d", n), func(b *testing.B) { scaleTraveller(b, n) })
	}
	b.Run("monthly/months=12", func(b *testing.B) { scaleMonthly(b, 12, 2_000) })
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("lapses/due=%d", n), func(b *testing.B) { scaleLapses(b, n) })
	}
	writeScaleFigures(b)
}

// scaleLifecycle: n VMs hosted at the provider; then one more VM's register,
// propose, accept and complete, a HostAt and an idle BeginBlock.
func scaleLifecycle(b *testing.B, n int) {
	f := newScaleFed(b)
	f.hosted(n)
	f.advance(time.Minute)
	b.ResetTimer()
	var reg, prop, acc, comp []time.Duration
	for i := 0; i < 21; i++ {
		vm := fmt.Sprintf("vm-new-%d", i)
		d, _ := f.measure(consumer, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: scaleVM}}, "")
		reg = append(reg, d)
		d, r := f.measure(consumer, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: provider, Agreement: f.agr}}, "")
		prop = append(prop, d)
		d, _ = f.measure(provider, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: r.ID}}, "")
		acc = append(acc, d)
		d, _ = f.measure(provider, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: r.ID}}, "")
		comp = append(comp, d)
	}
	med := func(ds []time.Duration) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ms(ds[len(ds)/2])
	}
	metric(b, med(reg), "register-ms")
	metric(b, med(prop), "propose-ms")
	metric(b, med(acc), "accept-ms")
	metric(b, med(comp), "complete-ms")
	f.next(time.Second)
	metric(b, ms(median(21, func() time.Duration {
		t0 := time.Now()
		f.real.BeginBlock(f.st.Working(), f.h)
		return time.Since(t0)
	})), "beginblock-ms")
	metric(b, ms(median(21, func() time.Duration {
		t0 := time.Now()
		if _, err := ledger.HostAt(f.st.Working(), fmt.Sprintf("vm-%d", n/2+1), f.h.Time); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	})), "hostat-ms")
}

// scaleInvoice: n VMs hosted under one agreement, each ended before the
// invoice; its close, a page of its lines, and its acceptance.
func scaleInvoice(b *testing.B, n int) {
	f := newScaleFed(b)
	ids := f.hosted(n)
	f.next(time.Hour)
	f.terminate(ids)
	f.advance(time.Minute)
	b.ResetTimer()
	// The median of 21 closes, each over a copy of the state that is then
	// dropped (one close alone is one sample, taken while goleveldb compacts
	// what the terminations wrote); then the close that stays.
	close := bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: f.h.Time.Unix()}}
	metric(b, ms(median(21, func() time.Duration {
		d, _ := f.measureOn(kv.NewOverlay(f.st.Working()), provider, close, "")
		return d
	})), "close-ms")
	d, r := f.invoice("")
	metric(b, ms(d), "close-once-ms")
	inv, err := ledger.Invoice(f.st.Working(), r.ID)
	if err != nil || inv.HostingLines != int64(n) {
		b.Fatalf("invoice of %d lines: %+v %v", n, inv, err)
	}
	metric(b, ms(median(21, func() time.Duration {
		t0 := time.Now()
		ledger.InvoiceLines(f.st.Working(), r.ID, bbus.Page{Limit: 100, After: inv.LinesNext})
		return time.Since(t0)
	})), "page-ms")
	// The median of 21 acceptances, each applied over a copy of the state
	// that is then dropped (one acceptance alone is one sample, taken while
	// goleveldb compacts what the invoice's VMs wrote).
	metric(b, ms(median(21, func() time.Duration {
		d, _ := f.measureOn(kv.NewOverlay(f.st.Working()), consumer, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: r.ID}}, "")
		return d
	})), "accept-ms")
}

// scaleInvoiceRunning: n VMs still running under one agreement when the
// invoice closes: each is billed up to until, at most invoiceStep items a
// transaction; the slowest transaction and how many it took.
func scaleInvoiceRunning(b *testing.B, n int) {
	f := newScaleFed(b)
	f.hosted(n)
	f.advance(time.Hour)
	b.ResetTimer()
	var steps []time.Duration
	for {
		d, r := f.invoice("")
		steps = append(steps, d)
		if r.Events[len(r.Events)-1].Type == "invoice.closed" {
			break
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	metric(b, ms(steps[len(steps)-1]), "close-max-ms")
	metric(b, ms(steps[len(steps)/2]), "close-median-ms")
	metric(b, float64(len(steps)), "close-txs")
}

// scaleTraveller: one VM that migrated n times, back and forth, under the
// agreement on the way out; then a HostAt in the middle of its history, a page
// of its intervals, a report over its last two intervals, one more
// migration's completion and the pair's invoice.
func scaleTraveller(b *testing.B, n int) {
	f := newScaleFed(b)
	agr := f.agreement()
	key := f.key["o1"]
	if key == nil {
		key = ed25519.NewKeyFromSeed(seed("o1"))
		f.key["o1"] = key
	}
	pub := key.Public().(ed25519.PublicKey)
	f.do(consumer, bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "o1", PubKey: pub}})
	f.do("o1", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: pub}})
	f.do(provider, bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o1", PubKey: pub}})
	vm := "vm-traveller"
	f.do(consumer, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: scaleVM}})
	hosts := []string{consumer, provider}
	var mid time.Time
	move := func(i int) string {
		from, to := hosts[i%2], hosts[(i+1)%2]
		p := &bbus.Propose{VM: vm, To: to}
		if to == provider {
			p.Agreement = agr
		}
		mig := f.do(from, bbus.Action{MigrationPropose: p}).ID
		f.do(to, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})
		return mig
	}
	for i := 0; i < n; i++ {
		mig := move(i)
		f.do(hosts[(i+1)%2], bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})
		f.next(time.Minute)
		if i == n/2 {
			mid = f.h.Time
		}
	}
	mig := move(n)
	f.advance(time.Minute)
	b.ResetTimer()
	metric(b, ms(median(21, func() time.Duration {
		t0 := time.Now()
		if _, err := ledger.HostAt(f.st.Working(), vm, mid); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	})), "hostat-ms")
	metric(b, ms(median(21, func() time.Duration {
		t0 := time.Now()
		ledger.VMIntervals(f.st.Working(), vm, bbus.Page{Limit: 100, After: fmt.Sprint(n / 2)})
		return time.Since(t0)
	})), "intervals-page-ms")
	// The transactions: the median of 21, each over a copy of the state that
	// is then dropped (one alone is one sample, taken while goleveldb
	// compacts what the build wrote).
	onCopies := func(signer string, a bbus.Action) float64 {
		return ms(median(21, func() time.Duration {
			d, _ := f.measureOn(kv.NewOverlay(f.st.Working()), signer, a, "")
			return d
		}))
	}
	end := f.h.Time.Add(-30 * time.Second).Unix()
	metric(b, onCopies("o1", bbus.Action{Report: &bbus.ReportAction{VM: vm, Start: end - 90, End: end, Availability: 50_000}}), "report-ms")
	complete := bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}}
	metric(b, onCopies(hosts[(n+1)%2], complete), "complete-ms")
	f.do(hosts[(n+1)%2], complete)
	f.next(time.Minute)
	metric(b, onCopies(provider, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: provider, Consumer: consumer, Until: f.h.Time.Unix()}}), "invoice-close-ms")
}

// scaleMonthly: months of churn: each month m new VMs run under the
// agreement and end before the month's invoice; the first and the last
// month's close.
func scaleMonthly(b *testing.B, months, m int) {
	f := newScaleFed(b)
	for month := 1; month <= months; month++ {
		ids := f.hosted(m)
		f.next(time.Hour)
		f.terminate(ids)
		f.advance(30 * 24 * time.Hour)
		d, _ := f.invoice("")
		if month == 1 || month == months {
			metricAt(b, "monthly invoice_close (month)", float64(month), ms(d), fmt.Sprintf("close-month%d-ms", month))
		}
		f.next(time.Second)
	}
}

// scaleLapses: n proposals lapse at the same time; the BeginBlocks that
// process them, at most ledger.MaxExpiriesPerBlock each.
func scaleLapses(b *testing.B, n int) {
	f := newScaleFed(b)
	for i := 0; i < n; i++ {
		vm := fmt.Sprintf("vm-%d", i)
		f.do(consumer, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: scaleVM}})
		f.do(consumer, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: provider}})
	}
	f.advance(time.Minute)
	if _, err := f.st.Commit(f.h.Height, f.h.Time); err != nil {
		b.Fatal(err)
	}
	// An hour later every proposal lapses, and every id of the build is due
	// to be forgotten: each block lapses 100 and forgets 1,000.
	f.h = ledger.Header{Height: f.h.Height + 1, Time: f.h.Time.Add(time.Hour)}
	b.ResetTimer()
	runtime.LockOSThread() // so that the thread's CPU time is BeginBlock's
	defer runtime.UnlockOSThread()
	type block struct{ wall, cpu time.Duration }
	var all []block
	var commit time.Duration
	for {
		lapses, _ := ledger.ExpiryBacklog(f.st.Working(), f.h.Time, 1)
		if lapses == 0 {
			break
		}
		c0, t0 := threadCPU(), time.Now()
		f.real.BeginBlock(f.st.Working(), f.h)
		all = append(all, block{time.Since(t0), threadCPU() - c0})
		t0 = time.Now()
		if _, err := f.st.Commit(f.h.Height, f.h.Time); err != nil {
			b.Fatal(err)
		}
		commit = max(commit, time.Since(t0))
		f.h = ledger.Header{Height: f.h.Height + 1, Time: f.h.Time.Add(time.Second)}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].wall < all[j].wall })
	worst := all[len(all)-1]
	b.Logf("the slowest BeginBlocks (wall, thread CPU): %v", all[max(0, len(all)-5):])
	metric(b, ms(all[len(all)/2].wall), "beginblock-median-ms")
	metric(b, ms(all[len(all)*99/100].wall), "beginblock-p99-ms")
	metric(b, ms(worst.wall), "beginblock-max-ms")
	sort.Slice(all, func(i, j int) bool { return all[i].cpu < all[j].cpu })
	metric(b, ms(all[len(all)/2].cpu), "beginblock-cpu-median-ms")
	metric(b, ms(all[len(all)-1].cpu), "beginblock-cpu-max-ms")
	metric(b, ms(commit), "commit-max-ms")
	metric(b, float64(len(all)), "blocks")
}

// threadCPU is the CPU time the calling thread has used (user and system).
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
