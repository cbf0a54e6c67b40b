package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
)

// What the tests of this package share: deterministic keys, a genesis builder,
// transaction signing, a byte-exact dump of a store, and the invariants every
// state of the ledger must satisfy.

const testChainID = "bbus-test"

// testGenesisTime is when every test chain starts.
var testGenesisTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testKey returns the signing key of the cloud id, the same in every run.
func testKey(id string) ed25519.PrivateKey {
	keyCache.Lock()
	defer keyCache.Unlock()
	if k, ok := keyCache.m[id]; ok {
		return k
	}
	seed := sha256.Sum256([]byte("bbus test signing key/" + id))
	k := ed25519.NewKeyFromSeed(seed[:])
	keyCache.m[id] = k
	return k
}

var keyCache = struct {
	sync.Mutex
	m map[string]ed25519.PrivateKey
}{m: map[string]ed25519.PrivateKey{}}

// testPub returns the public key of testKey(id).
func testPub(id string) ed25519.PublicKey { return testKey(id).Public().(ed25519.PublicKey) }

// testValKey returns the consensus (validator) public key of the cloud id.
func testValKey(id string) ed25519.PublicKey {
	seed := sha256.Sum256([]byte("bbus test validator key/" + id))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

// testGenesis returns a genesis whose founding clouds are ids, each a validator
// of power 10 with capacity capOf(id).
func testGenesis(ids []string, capOf func(id string) bbus.Resources, p bbus.Params) *bbus.Genesis {
	g := &bbus.Genesis{Params: p}
	for _, id := range ids {
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{
			ID: id, Name: "cloud " + id, PubKey: testPub(id), ValidatorKey: testValKey(id),
			Power: 10, Capacity: capOf(id),
		})
	}
	return g
}

// newTestLedger returns the ledger with the signature and key rules the chain
// uses, decoding each transaction once as a node does (its cache hands the
// same decoded transaction to CheckTx and to the block) and watching that no
// rule changes one (checkInvariants).
func newTestLedger() *Ledger {
	return New(keys.Verify).WithKeyCheck(keys.CheckPublicKey).WithDecoder(handedOut.decode)
}

// handedOut is every transaction newTestLedger's ledgers decoded since the
// last checkInvariants, which fails if any of them is no longer what its
// bytes decode to.
var handedOut txWatch

type txWatch struct {
	sync.Mutex
	txs map[string]*bbus.SignedTx
}

func (w *txWatch) decode(raw []byte) (*bbus.SignedTx, error) {
	w.Lock()
	defer w.Unlock()
	if tx, ok := w.txs[string(raw)]; ok {
		return tx, nil
	}
	tx, err := bbus.DecodeTx(raw)
	if err != nil {
		return nil, err
	}
	if w.txs == nil {
		w.txs = map[string]*bbus.SignedTx{}
	}
	w.txs[string(raw)] = tx
	return tx, nil
}

// changed returns a line for each transaction handed out that a rule changed,
// and forgets them all.
func (w *txWatch) changed() []string {
	w.Lock()
	defer w.Unlock()
	var bad []string
	for raw, tx := range w.txs {
		if fresh, err := bbus.DecodeTx([]byte(raw)); err != nil || !reflect.DeepEqual(fresh, tx) {
			bad = append(bad, fmt.Sprintf("transaction %s (%s) was changed by the ledger after it was decoded", tx.ID, tx.Action.Type()))
		}
	}
	slices.Sort(bad)
	w.txs = nil
	return bad
}

// txSpec is everything that goes into one signed transaction.
type txSpec struct {
	chain   string
	signer  string
	nonce   uint64
	expires int64
	action  bbus.Action
	key     ed25519.PrivateKey // signs the body; nil: the signer's own key
}

// sign encodes and signs s, returning the raw transaction.
func (s txSpec) sign() []byte {
	key := s.key
	if key == nil {
		key = testKey(s.signer)
	}
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: s.chain, Signer: s.signer, Nonce: s.nonce, Expires: s.expires, Action: s.action}, key)
	if err != nil {
		panic(fmt.Sprintf("sign %+v: %v", s, err))
	}
	return raw
}

// dumpStore returns every key and value of st, in key order, each length
// prefixed, so that two dumps are equal exactly when the stores hold the same bytes.
func dumpStore(st kv.Reader) []byte {
	var b []byte
	st.Iterate(nil, nil, func(k, v []byte) bool {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
		return true
	})
	return b
}

// dumpEntries splits a dump into "key"="value" lines.
func dumpEntries(d []byte) []string {
	var out []string
	next := func() string {
		n := binary.BigEndian.Uint32(d)
		s := string(d[4 : 4+n])
		d = d[4+n:]
		return s
	}
	for len(d) > 0 {
		k := next()
		out = append(out, strconv.Quote(k)+"="+strconv.Quote(next()))
	}
	return out
}

// firstDiff describes the first entry where two dumps differ.
func firstDiff(a, b []byte) string {
	al, bl := dumpEntries(a), dumpEntries(b)
	for i := 0; i < len(al) || i < len(bl); i++ {
		x, y := "(none)", "(none)"
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("entry %d:\n  before: %s\n  after:  %s", i+1, x, y)
		}
	}
	return "no difference"
}

// allClouds, allVMs and allMigrations page through the query API.
func allClouds(r kv.Reader) []bbus.Cloud {
	var out []bbus.Cloud
	for after := ""; ; {
		page, next := Clouds(r, bbus.Page{Limit: 7, After: after})
		out = append(out, page...)
		if next == "" {
			return out
		}
		after = next
	}
}

func allVMs(r kv.Reader) []bbus.VM {
	var out []bbus.VM
	for after := ""; ; {
		page, next := VMs(r, bbus.Page{Limit: 7, After: after})
		out = append(out, page...)
		if next == "" {
			return out
		}
		after = next
	}
}

func allMigrations(r kv.Reader, f bbus.MigrationFilter) []bbus.Migration {
	var out []bbus.Migration
	for after := ""; ; {
		page, next, err := Migrations(r, f, bbus.Page{Limit: 7, After: after})
		if err != nil {
			panic(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		after = next
	}
}

func sameStamp(a, b bbus.Stamp) bool {
	return a.At.Equal(b.At) && a.Height == b.Height && a.Tx == b.Tx
}

// checkInvariants reads the ledger's state through its queries and returns every
// rule of the domain it breaks. now is the time of the current block.
func checkInvariants(r kv.Reader, now time.Time) []string {
	bad := handedOut.changed()
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	// The indexes the state tree leaves out are what the records decide.
	if err := CheckDerived(r); err != nil {
		fail("%v", err)
	}

	clouds := allClouds(r)
	vms := allVMs(r)
	migs := allMigrations(r, bbus.MigrationFilter{})

	cloudByID := map[string]*bbus.Cloud{}
	for i := range clouds {
		cloudByID[clouds[i].ID] = &clouds[i]
	}
	migByID := map[string]*bbus.Migration{}
	for i := range migs {
		migByID[migs[i].ID] = &migs[i]
	}

	// Each cloud's allocation is what it hosts plus what it reserved for
	// accepted incoming migrations.
	want := map[string]bbus.Resources{}
	hosted := map[string]int64{}
	for _, vm := range vms {
		if vm.State == bbus.VMRunning {
			want[vm.Host] = want[vm.Host].Add(vm.Resources)
			hosted[vm.Host]++
		}
	}
	openByVM := map[string][]string{}
	for _, m := range migs {
		if m.Status == bbus.MigrationAccepted {
			want[m.To] = want[m.To].Add(m.Resources)
		}
		if m.Open() {
			openByVM[m.VM] = append(openByVM[m.VM], m.ID)
		}
		if m.Status == bbus.MigrationProposed && !now.Before(m.LapsesAt) {
			fail("migration %s is still proposed at %s although it lapses at %s", m.ID, now, m.LapsesAt)
		}
		if m.From == m.To {
			fail("migration %s goes from %s to itself", m.ID, m.From)
		}
	}
	bad = append(bad, checkOpenIndexes(r, now, migs, cloudByID)...)
	for _, c := range clouds {
		if c.Allocated != want[c.ID] {
			fail("cloud %s: allocated %s, but its VMs and accepted incoming migrations need %s", c.ID, c.Allocated, want[c.ID])
		}
		if !c.Allocated.Fits(c.Capacity) {
			fail("cloud %s: allocated %s exceeds capacity %s", c.ID, c.Allocated, c.Capacity)
		}
		if !(bbus.Resources{}).Fits(c.Allocated) {
			fail("cloud %s: allocated %s is negative", c.ID, c.Allocated)
		}
		if c.HostedVMs != hosted[c.ID] {
			fail("cloud %s: hosted_vms %d, but %d running VMs name it as host", c.ID, c.HostedVMs, hosted[c.ID])
		}
	}

	for _, vm := range vms {
		if cloudByID[vm.Host] == nil || cloudByID[vm.Owner] == nil {
			fail("VM %s: host %s or owner %s is not a cloud", vm.ID, vm.Host, vm.Owner)
		}
		// At most one open migration, and the VM names it.
		open := openByVM[vm.ID]
		switch {
		case len(open) > 1:
			fail("VM %s has %d open migrations: %v", vm.ID, len(open), open)
		case len(open) == 1 && vm.Migration != open[0]:
			fail("VM %s names open migration %q, the ledger holds %s", vm.ID, vm.Migration, open[0])
		case len(open) == 0 && vm.Migration != "":
			fail("VM %s names open migration %s, but it is not open", vm.ID, vm.Migration)
		}
		if len(open) == 1 {
			m := migByID[open[0]]
			if vm.State != bbus.VMRunning || m.From != vm.Host {
				fail("VM %s (%s on %s) has open migration %s from %s", vm.ID, vm.State, vm.Host, m.ID, m.From)
			}
		}

		h, err := VMHistory(r, vm.ID)
		if err != nil {
			fail("VM %s: history: %v", vm.ID, err)
			continue
		}
		ivs := h.Intervals
		if int64(len(ivs)) != vm.Intervals || len(ivs) == 0 {
			fail("VM %s: %d intervals stored, the VM counts %d", vm.ID, len(ivs), vm.Intervals)
			continue
		}
		if !sameStamp(ivs[0].Start, vm.Registered) || ivs[0].Cloud != vm.Owner || ivs[0].Migration != "" {
			fail("VM %s: first interval %+v does not start at registration %+v on owner %s", vm.ID, ivs[0], vm.Registered, vm.Owner)
		}
		openIntervals := 0
		for i, iv := range ivs {
			if iv.Seq != int64(i+1) || iv.VM != vm.ID {
				fail("VM %s: interval %d has seq %d, vm %s", vm.ID, i+1, iv.Seq, iv.VM)
			}
			if iv.End == nil {
				openIntervals++
				if i != len(ivs)-1 {
					fail("VM %s: interval %d is open but is not the last", vm.ID, iv.Seq)
				}
				continue
			}
			if iv.End.At.Before(iv.Start.At) || iv.End.Height < iv.Start.Height {
				fail("VM %s: interval %d ends (%v) before it starts (%v)", vm.ID, iv.Seq, iv.End, iv.Start)
			}
			if i+1 < len(ivs) {
				next := ivs[i+1]
				if !sameStamp(*iv.End, next.Start) {
					fail("VM %s: interval %d ends at %+v but interval %d starts at %+v", vm.ID, iv.Seq, *iv.End, next.Seq, next.Start)
				}
				m := migByID[next.Migration]
				if m == nil || m.Status != bbus.MigrationCompleted || m.From != iv.Cloud || m.To != next.Cloud ||
					m.Completed == nil || !sameStamp(*m.Completed, next.Start) {
					fail("VM %s: interval %d (%s -> %s) is not opened by a completed migration (%q)", vm.ID, next.Seq, iv.Cloud, next.Cloud, next.Migration)
				}
			}
		}
		last := ivs[len(ivs)-1]
		switch vm.State {
		case bbus.VMRunning:
			if openIntervals != 1 || last.End != nil || last.Cloud != vm.Host || vm.Terminated != nil {
				fail("VM %s runs on %s but has %d open intervals, the last on %s", vm.ID, vm.Host, openIntervals, last.Cloud)
			}
		case bbus.VMTerminated:
			if openIntervals != 0 || vm.Terminated == nil || last.End == nil || !sameStamp(*last.End, *vm.Terminated) {
				fail("VM %s is terminated but its last interval is %+v", vm.ID, last)
			}
		default:
			fail("VM %s has state %q", vm.ID, vm.State)
		}
		// The per-VM index lists exactly that VM's migrations, in order.
		var ids, idx []string
		for _, m := range migs {
			if m.VM == vm.ID {
				ids = append(ids, m.ID)
			}
		}
		for _, m := range h.Migrations {
			idx = append(idx, m.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(idx) {
			fail("VM %s: history lists migrations %v, the ledger holds %v", vm.ID, idx, ids)
		}
	}
	return append(bad, checkMarketInvariants(r, now)...)
}

// checkOpenIndexes checks the indexes of what is open against the records:
// mo/ holds exactly the open migrations under both their clouds, and none
// touches a removed cloud; ao/ and ax/ hold exactly the unsigned proposals,
// none past its expiry and none naming a removed cloud.
func checkOpenIndexes(r kv.Reader, now time.Time, migs []bbus.Migration, clouds map[string]*bbus.Cloud) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	keys := func(prefix string) map[string]bool {
		out := map[string]bool{}
		r.Iterate([]byte(prefix), nil, func(k, _ []byte) bool { out[string(k)] = true; return true })
		return out
	}
	wantMo := map[string]bool{}
	for _, m := range migs {
		if !m.Open() {
			continue
		}
		seq, _ := migrationSeq(m.ID)
		wantMo[string(openMigrationKey(m.From, seq))] = true
		wantMo[string(openMigrationKey(m.To, seq))] = true
		for _, id := range []string{m.From, m.To} {
			if c := clouds[id]; c != nil && c.Status == bbus.CloudRemoved {
				fail("migration %s is %s, but %s was removed", m.ID, m.Status, id)
			}
		}
	}
	if got := keys("mo/"); fmt.Sprint(got) != fmt.Sprint(wantMo) {
		fail("the open-migration index holds %d keys, the open migrations need %d", len(got), len(wantMo))
	}
	wantAo, wantAx := map[string]bool{}, map[string]bool{}
	r.Iterate([]byte("a/"), nil, func(k, v []byte) bool {
		var ag bbus.Agreement
		mustUnmarshal(v, &ag)
		if ag.Status != bbus.AgreementProposed {
			if !ag.ExpiresAt.IsZero() {
				fail("agreement %s is %s but still has an expiry", ag.ID, ag.Status)
			}
			return true
		}
		seq, _ := parseSeqID("agr", ag.ID)
		wantAo[string(openProposalKey(ag.Provider, seq))] = true
		wantAo[string(openProposalKey(ag.Consumer, seq))] = true
		wantAx[string(proposalExpiryKey(ag.ExpiresAt, seq))] = true
		if !now.Before(ag.ExpiresAt) {
			fail("agreement %s is still proposed at %s although it expires at %s", ag.ID, now, ag.ExpiresAt)
		}
		for _, id := range []string{ag.Provider, ag.Consumer} {
			if c := clouds[id]; c != nil && c.Status == bbus.CloudRemoved {
				fail("agreement %s is still proposed, but %s was removed", ag.ID, id)
			}
		}
		return true
	})
	if got := keys("ao/"); fmt.Sprint(got) != fmt.Sprint(wantAo) {
		fail("the open-proposal index holds %d keys, the proposals need %d", len(got), len(wantAo))
	}
	if got := keys("ax/"); fmt.Sprint(got) != fmt.Sprint(wantAx) {
		fail("the proposal expiry index holds %d keys, the proposals need %d", len(got), len(wantAx))
	}
	return bad
}
