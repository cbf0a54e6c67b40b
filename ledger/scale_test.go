package ledger_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
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
	tb     testing.TB
	real   *ledger.Ledger // checks signatures: what is measured
	fast   *ledger.Ledger // takes any signature: what builds the state
	st     *store.Store
	h      ledger.Header
	key    map[string]ed25519.PrivateKey
	nonce  uint64
	inBlk  int
	vms    int
	agr    string
	oracle bool
}

var scaleT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newScaleFed(tb testing.TB) *scaleFed {
	tb.Helper()
	f := &scaleFed{tb: tb, real: ledger.New(keys.Verify), fast: ledger.New(func(_, _, _ []byte) bool { return true }),
		st: store.OpenMem(), key: map[string]ed25519.PrivateKey{}}
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

// TestInvoiceCloseBounded: a pair with more running intervals than one
// invoice may split is refused with too_large and a clear message, and closes
// once fewer run.
func TestInvoiceCloseBounded(t *testing.T) {
	f := newScaleFed(t)
	ids := f.hosted(5001)
	f.advance(time.Hour)
	_, r := f.invoice(bbus.ETOOLARGE)
	if want := "more than 5000"; !contains(r.Message, want) {
		t.Errorf("refusal %q does not say %q", r.Message, want)
	}
	f.terminate(ids[:1])
	f.next(time.Second)
	_, r = f.invoice("")
	if inv, err := ledger.Invoice(f.st.Working(), r.ID); err != nil || inv.HostingLines != 5001 || inv.LinesNext == "" {
		t.Fatalf("invoice %+v, %v: want 5001 lines, the first page in the head", inv, err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

var _ = sort.Ints
var _ = os.Getenv
