package ledger

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// A property test: random sequences of blocks and transactions, valid and not,
// go both to the ledger and to a small reference model of the federation written
// from the rules alone (plain maps, no kv store, no JSON). The model predicts
// whether each transaction is applied and, when it is rejected, which codes the
// rules it breaks allow; the ledger must agree. After every block the ledger's
// state, read through its queries, must match the model's and satisfy the
// invariants of checkInvariants.

var (
	modelSeeds = flag.Int("model.seeds", 200, "number of random sequences TestModel runs")
	modelSteps = flag.Int("model.steps", 200, "steps (transactions and blocks) per sequence")
)

// model is the reference implementation.
type model struct {
	params    bbus.Params
	clouds    map[string]*mCloud
	vms       map[string]*mVM
	migs      map[string]*mMig
	nMigs     int
	now       time.Time
	committed map[string]int64 // id of each applied transaction -> its expiry
	valUps    map[string]int64 // validator updates of this block: power by the id testValKey made the key from
	invites   map[string]*mInvite
}

// mInvite is a live invitation; keys are named by the id testPub or testValKey
// made them from.
type mInvite struct {
	pubOf, valKey, inviter string
	expires                time.Time
}

type mCloud struct {
	status              string
	capacity, allocated bbus.Resources
	hosted              int64
	power               int64
	valKey              string // the cloud whose testValKey it named as its validator key; "" for none
	approvals, removals map[string]bool
	joined              time.Time
}

type mVM struct {
	owner, host string
	res         bbus.Resources
	running     bool
	mig         string // open migration
}

type mMig struct {
	vm, from, to string
	res          bbus.Resources
	status       string
	lapsesAt     time.Time
}

func newModel(founders []string, capacity bbus.Resources, p bbus.Params) *model {
	m := &model{params: p, clouds: map[string]*mCloud{}, vms: map[string]*mVM{}, migs: map[string]*mMig{},
		now: testGenesisTime, committed: map[string]int64{}, valUps: map[string]int64{}, invites: map[string]*mInvite{}}
	for _, id := range founders {
		m.clouds[id] = &mCloud{status: bbus.CloudActive, capacity: capacity, power: 10, valKey: id,
			approvals: map[string]bool{}, removals: map[string]bool{}}
	}
	return m
}

// mtx is one generated transaction: what is signed, and by whose key.
type mtx struct {
	spec  txSpec
	keyOf string // the cloud whose key signs; differs from spec.signer for a bad signature
	desc  string
}

func (m *model) beginBlock(t time.Time) {
	m.now = t
	for id, exp := range m.committed {
		if exp < t.Unix() {
			delete(m.committed, id) // its expiry alone rejects it now
		}
	}
	for id, inv := range m.invites {
		if !t.Before(inv.expires) {
			delete(m.invites, id)
		}
	}
	for id, c := range m.clouds {
		if c.status == bbus.CloudPending && !t.Before(c.joined.Add(time.Duration(m.params.ApplicationTTLSeconds)*time.Second)) {
			delete(m.clouds, id) // the application lapsed; the id is free again
		}
	}
	for _, mg := range m.migs {
		if mg.status == bbus.MigrationProposed && !t.Before(mg.lapsesAt) {
			mg.status = bbus.MigrationLapsed
			m.vms[mg.vm].mig = ""
		}
	}
}

// admit makes the pending cloud t a member.
func (m *model) admit(t *mCloud) {
	t.status = bbus.CloudActive
	if t.valKey != "" && m.params.JoinPower > 0 {
		t.power = m.params.JoinPower
		m.valUps[t.valKey] = t.power
	}
}

func (m *model) endBlock() map[string]int64 {
	ups := m.valUps
	m.valUps = map[string]int64{}
	return ups
}

func (m *model) activeMembers() []string {
	var ids []string
	for id, c := range m.clouds {
		if c.status == bbus.CloudActive {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// passes reports whether votes are more than approval_num/approval_den of the
// active members other than exclude.
func (m *model) passes(votes map[string]bool, exclude string) bool {
	var electorate, yes int64
	for _, id := range m.activeMembers() {
		if id == exclude {
			continue
		}
		electorate++
		if votes[id] {
			yes++
		}
	}
	return yes*m.params.ApprovalDen > m.params.ApprovalNum*electorate
}

// apply predicts the outcome of x: the codes of every rule it breaks (empty: it
// is applied, and the model changes accordingly). id is the transaction's id.
func (m *model) apply(x *mtx, id string) map[string]bool {
	s := &x.spec
	a := &s.action
	codes := map[string]bool{}
	bad := func(code string) { codes[code] = true }

	// Authentication comes before any rule of the action.
	if s.chain != testChainID {
		bad(bbus.EWRONGCHAIN)
	}
	if now := m.now.Unix(); s.expires < now || s.expires > now+m.params.TxMaxTTLSeconds {
		bad(bbus.EEXPIRED)
	}
	if _, ok := m.committed[id]; ok {
		bad(bbus.EREPLAY)
	}
	signer := m.clouds[s.signer]
	if a.CloudJoin == nil {
		switch {
		case signer == nil:
			bad(bbus.EUNKNOWNSIGNER)
		case x.keyOf != s.signer:
			bad(bbus.EBADSIG)
		case signer.status != bbus.CloudActive:
			bad(bbus.ENOTMEMBER)
		}
	} else {
		if inv := m.invites[s.signer]; inv == nil || inv.pubOf != s.signer || inv.valKey != "" && !bytes.Equal(testValKey(inv.valKey), a.CloudJoin.ValidatorKey) {
			bad(bbus.ENOTINVITED)
		}
		if x.keyOf != s.signer {
			bad(bbus.EBADSIG)
		}
	}
	if len(codes) > 0 {
		return codes
	}

	switch {
	case a.CloudJoin != nil:
		valKey := ""
		for _, id := range append(append([]string{"zz"}, modelFounders...), modelJoiners...) {
			if a.CloudJoin.ValidatorKey != nil && bytes.Equal(a.CloudJoin.ValidatorKey, testValKey(id)) {
				valKey = id
			}
		}
		if m.clouds[s.signer] != nil {
			bad(bbus.EEXISTS)
		}
		for _, c := range m.clouds {
			if valKey != "" && c.valKey == valKey {
				bad(bbus.EEXISTS) // one consensus key, one cloud
			}
		}
		for iid, inv := range m.invites {
			if valKey != "" && inv.valKey == valKey && iid != s.signer {
				bad(bbus.EEXISTS) // held by another's invitation
			}
		}
		if len(codes) > 0 {
			break
		}
		t := &mCloud{status: bbus.CloudPending, capacity: a.CloudJoin.Resources, joined: m.now,
			valKey: valKey, approvals: map[string]bool{m.invites[s.signer].inviter: true}, removals: map[string]bool{}}
		delete(m.invites, s.signer)
		m.clouds[s.signer] = t
		if m.passes(t.approvals, "") {
			m.admit(t)
		}

	case a.CloudInvite != nil:
		tid := a.CloudInvite.Cloud
		valKey := ""
		for _, id := range append(append([]string{"zz"}, modelFounders...), modelJoiners...) {
			if a.CloudInvite.ValidatorKey != nil && bytes.Equal(a.CloudInvite.ValidatorKey, testValKey(id)) {
				valKey = id
			}
		}
		if m.clouds[tid] != nil || m.invites[tid] != nil {
			bad(bbus.EEXISTS)
		}
		for _, c := range m.clouds {
			if valKey != "" && c.valKey == valKey {
				bad(bbus.EEXISTS)
			}
		}
		for _, inv := range m.invites {
			if valKey != "" && inv.valKey == valKey {
				bad(bbus.EEXISTS)
			}
		}
		if len(codes) > 0 {
			break
		}
		pubOf := ""
		for _, id := range append(append([]string{"zz"}, modelFounders...), modelJoiners...) {
			if bytes.Equal(a.CloudInvite.PubKey, testPub(id)) {
				pubOf = id
			}
		}
		m.invites[tid] = &mInvite{pubOf: pubOf, valKey: valKey, inviter: s.signer,
			expires: m.now.Add(time.Duration(m.params.InvitationTTLSeconds) * time.Second)}

	case a.CloudApprove != nil:
		t := m.clouds[a.CloudApprove.Cloud]
		switch {
		case t == nil:
			bad(bbus.ENOTFOUND)
		case t.status != bbus.CloudPending || t.approvals[s.signer] || !bytes.Equal(a.CloudApprove.PubKey, testPub(a.CloudApprove.Cloud)):
			bad(bbus.ESTATE)
		default:
			t.approvals[s.signer] = true
			if m.passes(t.approvals, "") {
				m.admit(t)
			}
		}

	case a.CloudRemove != nil:
		tid := a.CloudRemove.Cloud
		t := m.clouds[tid]
		switch {
		case t == nil:
			bad(bbus.ENOTFOUND)
		case t.status != bbus.CloudActive || t.removals[s.signer]:
			bad(bbus.ESTATE)
		default:
			votes := map[string]bool{s.signer: true}
			for v := range t.removals {
				votes[v] = true
			}
			if !m.passes(votes, tid) {
				t.removals = votes
				break
			}
			var total int64
			for _, c := range m.clouds {
				total += c.power
			}
			if len(m.activeMembers()) == 1 || t.power > 0 && total == t.power {
				bad(bbus.ESTATE)
				break
			}
			t.removals = votes
			t.status = bbus.CloudRemoved
			if t.power > 0 {
				t.power = 0
				m.valUps[t.valKey] = 0
			}
			// Nothing waits for the removed cloud: its open migrations,
			// from it or to it, are cancelled in the same transaction.
			for _, mg := range m.migs {
				if (mg.from == tid || mg.to == tid) && (mg.status == bbus.MigrationProposed || mg.status == bbus.MigrationAccepted) {
					m.end(mg, bbus.MigrationCancelled)
				}
			}
		}

	case a.VMRegister != nil:
		r := a.VMRegister.Resources
		if r.CPU <= 0 || r.MemMiB <= 0 {
			bad(bbus.EINVALID)
		}
		if m.vms[a.VMRegister.VM] != nil {
			bad(bbus.EEXISTS)
		}
		if !r.Fits(signer.capacity.Sub(signer.allocated)) {
			bad(bbus.ECAPACITY)
		}
		if len(codes) > 0 {
			break
		}
		signer.allocated = signer.allocated.Add(r)
		signer.hosted++
		m.vms[a.VMRegister.VM] = &mVM{owner: s.signer, host: s.signer, res: r, running: true}

	case a.VMTerminate != nil:
		vm := m.vms[a.VMTerminate.VM]
		if vm == nil {
			bad(bbus.ENOTFOUND)
			break
		}
		if vm.owner != s.signer && (m.clouds[vm.owner].status != bbus.CloudRemoved || vm.host != s.signer) {
			bad(bbus.EUNAUTHORIZED) // the owner, or the host of a VM whose owner was removed
		}
		if !vm.running {
			bad(bbus.ESTATE)
		}
		if len(codes) > 0 {
			break
		}
		if vm.mig != "" {
			m.end(m.migs[vm.mig], bbus.MigrationCancelled)
		}
		host := m.clouds[vm.host]
		host.allocated = host.allocated.Sub(vm.res)
		host.hosted--
		vm.running = false

	case a.MigrationPropose != nil:
		p := a.MigrationPropose
		vm := m.vms[p.VM]
		if vm == nil {
			bad(bbus.ENOTFOUND)
			break
		}
		if !vm.running {
			bad(bbus.ESTATE)
		}
		if vm.host != s.signer {
			bad(bbus.EUNAUTHORIZED)
		}
		if vm.mig != "" {
			bad(bbus.EOPEN)
		}
		if p.To == vm.host {
			bad(bbus.EINVALID)
		} else if to := m.clouds[p.To]; to == nil {
			bad(bbus.ENOTFOUND)
		} else if to.status != bbus.CloudActive {
			bad(bbus.ENOTMEMBER)
		}
		if len(codes) > 0 {
			break
		}
		m.nMigs++
		mid := MigrationID(uint64(m.nMigs))
		m.migs[mid] = &mMig{vm: p.VM, from: vm.host, to: p.To, res: vm.res, status: bbus.MigrationProposed,
			lapsesAt: m.now.Add(time.Duration(m.params.MigrationLapseSeconds) * time.Second)}
		vm.mig = mid

	case a.MigrationAccept != nil:
		mg := m.migs[a.MigrationAccept.Migration]
		if mg == nil {
			bad(bbus.ENOTFOUND)
			break
		}
		if mg.to != s.signer {
			bad(bbus.EUNAUTHORIZED)
		}
		switch mg.status {
		case bbus.MigrationProposed:
		case bbus.MigrationLapsed:
			bad(bbus.ELAPSED)
		default:
			bad(bbus.ESTATE)
		}
		to := m.clouds[mg.to]
		if !mg.res.Fits(to.capacity.Sub(to.allocated)) {
			bad(bbus.ECAPACITY)
		}
		if len(codes) > 0 {
			break
		}
		to.allocated = to.allocated.Add(mg.res)
		mg.status = bbus.MigrationAccepted

	case a.MigrationComplete != nil:
		mg := m.migs[a.MigrationComplete.Migration]
		if mg == nil {
			bad(bbus.ENOTFOUND)
			break
		}
		if mg.to != s.signer {
			bad(bbus.EUNAUTHORIZED)
		}
		switch mg.status {
		case bbus.MigrationAccepted:
		case bbus.MigrationLapsed:
			bad(bbus.ELAPSED)
		default:
			bad(bbus.ESTATE)
		}
		if len(codes) > 0 {
			break
		}
		from, to := m.clouds[mg.from], m.clouds[mg.to]
		from.allocated = from.allocated.Sub(mg.res)
		from.hosted--
		to.hosted++
		vm := m.vms[mg.vm]
		vm.host, vm.mig = mg.to, ""
		mg.status = bbus.MigrationCompleted

	case a.MigrationReject != nil || a.MigrationCancel != nil:
		ref, status := a.MigrationReject, bbus.MigrationRejected
		if ref == nil {
			ref, status = a.MigrationCancel, bbus.MigrationCancelled
		}
		mg := m.migs[ref.Migration]
		if mg == nil {
			bad(bbus.ENOTFOUND)
			break
		}
		if who := map[string]string{bbus.MigrationRejected: mg.to, bbus.MigrationCancelled: mg.from}[status]; who != s.signer {
			bad(bbus.EUNAUTHORIZED)
		}
		switch mg.status {
		case bbus.MigrationProposed, bbus.MigrationAccepted:
		case bbus.MigrationLapsed:
			bad(bbus.ELAPSED)
		default:
			bad(bbus.ESTATE)
		}
		if len(codes) > 0 {
			break
		}
		m.end(mg, status)

	default:
		panic("model: no action")
	}
	if len(codes) == 0 {
		m.committed[id] = s.expires
	}
	return codes
}

// end closes an open migration, releasing what accepting it reserved.
func (m *model) end(mg *mMig, status string) {
	if mg.status == bbus.MigrationAccepted {
		to := m.clouds[mg.to]
		to.allocated = to.allocated.Sub(mg.res)
	}
	mg.status = status
	m.vms[mg.vm].mig = ""
}

// compare reports every difference between the ledger's state and the model's.
func (m *model) compare(r kv.Reader) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	clouds := allClouds(r)
	if len(clouds) != len(m.clouds) {
		fail("ledger has %d clouds, model %d", len(clouds), len(m.clouds))
	}
	for _, c := range clouds {
		mc := m.clouds[c.ID]
		if mc == nil {
			fail("ledger has cloud %s, model does not", c.ID)
			continue
		}
		if c.Status != mc.status || c.Allocated != mc.allocated || c.Capacity != mc.capacity || c.HostedVMs != mc.hosted || c.Power != mc.power {
			fail("cloud %s: ledger %s power=%d hosted=%d allocated %s capacity %s; model %s power=%d hosted=%d allocated %s capacity %s",
				c.ID, c.Status, c.Power, c.HostedVMs, c.Allocated, c.Capacity, mc.status, mc.power, mc.hosted, mc.allocated, mc.capacity)
		}
	}
	vms := allVMs(r)
	if len(vms) != len(m.vms) {
		fail("ledger has %d VMs, model %d", len(vms), len(m.vms))
	}
	for _, vm := range vms {
		mv := m.vms[vm.ID]
		if mv == nil {
			fail("ledger has VM %s, model does not", vm.ID)
			continue
		}
		if vm.Owner != mv.owner || vm.Host != mv.host || vm.Resources != mv.res || (vm.State == bbus.VMRunning) != mv.running || vm.Migration != mv.mig {
			fail("VM %s: ledger owner=%s host=%s %s migration=%q; model owner=%s host=%s running=%v migration=%q",
				vm.ID, vm.Owner, vm.Host, vm.State, vm.Migration, mv.owner, mv.host, mv.running, mv.mig)
		}
	}
	migs := allMigrations(r, bbus.MigrationFilter{})
	if len(migs) != len(m.migs) {
		fail("ledger has %d migrations, model %d", len(migs), len(m.migs))
	}
	for _, mg := range migs {
		mm := m.migs[mg.ID]
		if mm == nil {
			fail("ledger has migration %s, model does not", mg.ID)
			continue
		}
		if mg.VM != mm.vm || mg.From != mm.from || mg.To != mm.to || mg.Status != mm.status || mg.Resources != mm.res || !mg.LapsesAt.Equal(mm.lapsesAt) {
			fail("migration %s: ledger %s %s->%s %s; model %s %s->%s %s", mg.ID, mg.VM, mg.From, mg.To, mg.Status, mm.vm, mm.from, mm.to, mm.status)
		}
	}
	return bad
}

// The generator.

var (
	modelFounders = []string{"a", "b", "c"}
	modelJoiners  = []string{"j1", "j2", "j3"}
	modelVMs      = []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"}
	modelCapacity = bbus.Resources{CPU: 8, MemMiB: 8192, DiskIOPS: 100, NetMbps: 100}
)

// modelParams returns the federation's parameters for the sequence of seed.
func modelParams(seed int64) bbus.Params {
	p := bbus.DefaultParams()
	p.MigrationLapseSeconds = 600
	p.TxMaxTTLSeconds = 900
	p.InvitationTTLSeconds = 1200 // block times jump up to 1200 s: invitations and applications lapse
	p.ApplicationTTLSeconds = 1800
	if seed%5 == 0 {
		p.JoinPower = 0 // admitted clouds never become validators
	}
	return p
}

// gen makes random steps that are valid often enough to reach deep states.
type gen struct {
	rnd  *rand.Rand
	m    *model
	sent []*mtx
	n    int
}

func (g *gen) pick(xs []string) string { return xs[g.rnd.Intn(len(xs))] }

// someCloud returns an active member most of the time, any id otherwise: a
// cloud of the model or not.
func (g *gen) someCloud() string {
	if active := g.m.activeMembers(); len(active) > 0 && g.rnd.Intn(3) > 0 {
		return g.pick(active)
	}
	ids := append(append([]string{"zz"}, modelFounders...), modelJoiners...)
	return g.pick(ids)
}

func (g *gen) someMig() string {
	if g.m.nMigs == 0 || g.rnd.Intn(10) == 0 {
		return "mig-99"
	}
	return MigrationID(uint64(1 + g.rnd.Intn(g.m.nMigs)))
}

func (g *gen) res() bbus.Resources {
	r := bbus.Resources{CPU: int64(1 + g.rnd.Intn(4)), MemMiB: int64(512 << g.rnd.Intn(4)),
		DiskIOPS: int64(g.rnd.Intn(40)), NetMbps: int64(g.rnd.Intn(40))}
	if g.rnd.Intn(40) == 0 {
		r.CPU = 0
	}
	return r
}

// or returns right most of the time, another cloud otherwise.
func (g *gen) or(right string) string {
	if right != "" && g.rnd.Intn(5) > 0 {
		return right
	}
	return g.someCloud()
}

// next returns a new transaction, or a replay of an earlier one.
func (g *gen) next() *mtx {
	if len(g.sent) > 0 && g.rnd.Intn(30) == 0 {
		return g.sent[g.rnd.Intn(len(g.sent))]
	}
	g.n++
	x := &mtx{spec: txSpec{chain: testChainID, nonce: uint64(g.n),
		expires: g.m.now.Unix() + g.rnd.Int63n(g.m.params.TxMaxTTLSeconds+1)}}
	s := &x.spec
	a := &s.action
	switch k := g.rnd.Intn(100); {
	case k < 15:
		vm := g.pick(modelVMs)
		s.signer = g.someCloud()
		a.VMRegister = &bbus.VMRegister{VM: vm, Resources: g.res()}
		x.desc = fmt.Sprintf("%s registers %s %s", s.signer, vm, a.VMRegister.Resources)
	case k < 23:
		vm := g.pick(modelVMs)
		owner := ""
		if v := g.m.vms[vm]; v != nil {
			owner = v.owner
			if g.m.clouds[owner].status == bbus.CloudRemoved && g.rnd.Intn(2) == 0 {
				owner = v.host // the host ends a VM whose owner is gone
			}
		}
		s.signer = g.or(owner)
		a.VMTerminate = &bbus.VMRef{VM: vm}
		x.desc = fmt.Sprintf("%s terminates %s", s.signer, vm)
	case k < 43:
		vm := g.pick(modelVMs)
		host := ""
		if v := g.m.vms[vm]; v != nil {
			host = v.host
		}
		s.signer = g.or(host)
		to := g.someCloud()
		a.MigrationPropose = &bbus.Propose{VM: vm, To: to}
		x.desc = fmt.Sprintf("%s proposes %s -> %s", s.signer, vm, to)
	case k < 58:
		mid := g.someMig()
		to := ""
		if mg := g.m.migs[mid]; mg != nil {
			to = mg.to
		}
		s.signer = g.or(to)
		a.MigrationAccept = &bbus.MigrationRef{Migration: mid}
		x.desc = fmt.Sprintf("%s accepts %s", s.signer, mid)
	case k < 70:
		mid := g.someMig()
		to := ""
		if mg := g.m.migs[mid]; mg != nil {
			to = mg.to
		}
		s.signer = g.or(to)
		a.MigrationComplete = &bbus.MigrationRef{Migration: mid}
		x.desc = fmt.Sprintf("%s completes %s", s.signer, mid)
	case k < 75:
		mid := g.someMig()
		to := ""
		if mg := g.m.migs[mid]; mg != nil {
			to = mg.to
		}
		s.signer = g.or(to)
		a.MigrationReject = &bbus.MigrationRef{Migration: mid}
		x.desc = fmt.Sprintf("%s rejects %s", s.signer, mid)
	case k < 81:
		mid := g.someMig()
		from := ""
		if mg := g.m.migs[mid]; mg != nil {
			from = mg.from
		}
		s.signer = g.or(from)
		a.MigrationCancel = &bbus.MigrationRef{Migration: mid}
		x.desc = fmt.Sprintf("%s cancels %s", s.signer, mid)
	case k < 86:
		s.signer = g.pick(modelJoiners)
		if g.rnd.Intn(8) == 0 {
			s.signer = g.pick(modelFounders)
		}
		a.CloudJoin = &bbus.CloudJoin{Name: "cloud " + s.signer, PubKey: testPub(s.signer), Resources: modelCapacity}
		switch g.rnd.Intn(6) {
		case 0, 1, 2:
			a.CloudJoin.ValidatorKey = testValKey(s.signer)
		case 3:
			a.CloudJoin.ValidatorKey = testValKey(g.someCloud()) // often taken
		}
		x.desc = fmt.Sprintf("%s joins (validator %v)", s.signer, a.CloudJoin.ValidatorKey != nil)
	case k < 92:
		s.signer = g.someCloud()
		t := g.pick(modelJoiners)
		if g.rnd.Intn(6) == 0 {
			t = g.someCloud()
		}
		pubOf := t
		if g.rnd.Intn(6) == 0 {
			pubOf = "zz" // another key than the applicant will sign with
		}
		a.CloudInvite = &bbus.CloudInvite{Cloud: t, PubKey: testPub(pubOf)}
		switch g.rnd.Intn(6) {
		case 0, 1:
			a.CloudInvite.ValidatorKey = testValKey(t)
		case 2:
			a.CloudInvite.ValidatorKey = testValKey(g.someCloud()) // often taken
		}
		x.desc = fmt.Sprintf("%s invites %s with the key of %s (validator %v)", s.signer, t, pubOf, a.CloudInvite.ValidatorKey != nil)
	case k < 98:
		s.signer = g.someCloud()
		t := g.pick(modelJoiners)
		if g.rnd.Intn(5) == 0 {
			t = g.someCloud()
		}
		pubOf := t
		if g.rnd.Intn(8) == 0 {
			pubOf = "zz"
		}
		a.CloudApprove = &bbus.CloudApprove{Cloud: t, PubKey: testPub(pubOf)}
		x.desc = fmt.Sprintf("%s approves %s (key of %s)", s.signer, t, pubOf)
	default:
		s.signer = g.someCloud()
		t := g.someCloud()
		a.CloudRemove = &bbus.CloudRef{Cloud: t}
		x.desc = fmt.Sprintf("%s votes to remove %s", s.signer, t)
	}
	x.keyOf = s.signer
	switch k := g.rnd.Intn(100); {
	case k < 2:
		s.chain = "other-chain"
		x.desc += " on another chain"
	case k < 5:
		x.keyOf = g.pick(modelFounders)
		if x.keyOf == s.signer {
			x.keyOf = "zz"
		}
		x.desc += " signed by " + x.keyOf
	case k < 7:
		s.expires = g.m.now.Unix() - 1 - g.rnd.Int63n(100)
		x.desc += " expired"
	case k < 9:
		s.expires = g.m.now.Unix() + g.m.params.TxMaxTTLSeconds + 1 + g.rnd.Int63n(100)
		x.desc += " expiring too late"
	}
	if x.keyOf != s.signer {
		s.key = testKey(x.keyOf)
	}
	g.sent = append(g.sent, x)
	return x
}

// jump returns how far the next block's time lies: mostly seconds, sometimes
// past the lapse of every open proposal and the expiry of every transaction.
func (g *gen) jump() time.Duration {
	if g.rnd.Intn(6) == 0 {
		// Exactly at, or a second before, the lapse of an open proposal.
		var at []time.Time
		for _, mg := range g.m.migs {
			if mg.status == bbus.MigrationProposed {
				at = append(at, mg.lapsesAt)
			}
		}
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		if len(at) > 0 {
			d := at[g.rnd.Intn(len(at))].Sub(g.m.now) - time.Duration(g.rnd.Intn(2))*time.Second
			if d > 0 {
				return d
			}
		}
	}
	switch k := g.rnd.Intn(10); {
	case k < 6:
		return time.Duration(1+g.rnd.Intn(60)) * time.Second
	case k < 9:
		return time.Duration(100+g.rnd.Intn(500)) * time.Second
	default:
		return time.Duration(600+g.rnd.Intn(600)) * time.Second
	}
}

// traceStep is one input to the ledger: a new block or a raw transaction.
type traceStep struct {
	header *Header // a new block: EndBlock, then BeginBlock with this header
	raw    []byte
	desc   string
}

// runModel runs one random sequence against the ledger and the model and
// returns the inputs it made, for the determinism test to replay.
func runModel(t *testing.T, seed int64, steps int, outcomes map[string]int) (trace []traceStep, final []byte) {
	t.Helper()
	rnd := rand.New(rand.NewSource(seed))
	p := modelParams(seed)
	l := newTestLedger()
	st := kv.NewMem()
	if err := l.InitGenesis(st, testChainID, testGenesis(modelFounders, func(string) bbus.Resources { return modelCapacity }, p), testGenesisTime); err != nil {
		t.Fatal(err)
	}
	cst := &countingStore{Store: st} // a rejected transaction must not write at all
	m := newModel(modelFounders, modelCapacity, p)
	g := &gen{rnd: rnd, m: m}
	h := Header{Time: testGenesisTime}
	var log []string
	failf := func(format string, args ...any) {
		t.Helper()
		tail := log
		if len(tail) > 25 {
			tail = tail[len(tail)-25:]
		}
		t.Fatalf("seed %d, step %d: %s\nlast steps:\n  %s", seed, len(log), fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
	}

	endBlock := func() {
		got := map[string]int64{}
		for _, u := range l.EndBlock(st) {
			who := "?"
			for _, id := range append(append([]string{"zz"}, modelFounders...), modelJoiners...) {
				if bytes.Equal(testValKey(id), u.PubKey) {
					who = id
				}
			}
			got[who] = u.Power
		}
		if want := m.endBlock(); fmt.Sprint(got) != fmt.Sprint(want) {
			failf("validator updates of block %d: ledger %v, model %v", h.Height, got, want)
		}
	}
	checkState := func() {
		if bad := checkInvariants(st, h.Time); len(bad) > 0 {
			failf("invariants broken after block %d:\n  %s", h.Height, strings.Join(bad, "\n  "))
		}
		if bad := m.compare(st); len(bad) > 0 {
			failf("ledger and model differ at block %d:\n  %s", h.Height, strings.Join(bad, "\n  "))
		}
		// The ledger remembers the id of each applied transaction until its
		// expiry, and no longer.
		var ids int
		st.Iterate(prefixReplayByTime, nil, func(_, _ []byte) bool { ids++; return true })
		if ids != len(m.committed) {
			failf("block %d: the ledger remembers %d transaction ids, the model %d", h.Height, ids, len(m.committed))
		}
	}
	newBlock := func(d time.Duration) {
		if h.Height > 0 {
			endBlock()
			checkState()
		}
		h = Header{Height: h.Height + 1, Time: h.Time.Add(d)}
		log = append(log, fmt.Sprintf("block %d at +%s", h.Height, h.Time.Sub(testGenesisTime)))
		hh := h
		trace = append(trace, traceStep{header: &hh, desc: log[len(log)-1]})
		for _, e := range l.BeginBlock(st, h) {
			outcomes[e.Type]++
		}
		m.beginBlock(h.Time)
	}

	newBlock(10 * time.Second)
	for i := 0; i < steps; i++ {
		if rnd.Intn(7) == 0 {
			newBlock(g.jump())
			continue
		}
		x := g.next()
		raw := x.spec.sign()
		id := bbus.TxID(mustBody(raw))
		want := m.apply(x, id)
		writes := cst.writes
		res := l.Apply(cst, h, raw)
		trace = append(trace, traceStep{raw: raw, desc: x.desc})
		outcome := "ok"
		if !res.OK() {
			outcome = res.Code + ": " + res.Message
		}
		log = append(log, fmt.Sprintf("%s -> %s", x.desc, outcome))
		switch {
		case len(want) == 0 && !res.OK():
			failf("ledger rejected what the model applies: %s", outcome)
		case len(want) > 0 && res.OK():
			failf("ledger applied what the model rejects with %v", keysOf(want))
		case len(want) > 0 && !want[res.Code]:
			failf("ledger rejected with %s, the model expects one of %v", res.Code, keysOf(want))
		}
		if !res.OK() {
			if cst.writes != writes {
				failf("rejected transaction wrote to the store %d times", cst.writes-writes)
			}
			outcomes[res.Type+" "+res.Code]++
		} else {
			outcomes[res.Type+" ok"]++
			for _, e := range res.Events {
				for _, at := range e.Attrs {
					if at.Key == "removed_cloud" {
						outcomes[e.Type+" by removal"]++
					}
				}
			}
		}
	}
	endBlock()
	checkState()
	return trace, dumpStore(st)
}

// countingStore counts the writes that reach a store.
type countingStore struct {
	kv.Store
	writes int
}

func (c *countingStore) Set(k, v []byte) { c.writes++; c.Store.Set(k, v) }
func (c *countingStore) Delete(k []byte) { c.writes++; c.Store.Delete(k) }

func mustBody(raw []byte) []byte {
	var tx bbus.Tx
	if err := json.Unmarshal(raw, &tx); err != nil {
		panic(err)
	}
	return tx.Body
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestModel(t *testing.T) {
	var mu sync.Mutex
	outcomes := map[string]int{}
	const groups = 4
	t.Run("seeds", func(t *testing.T) {
		for g := int64(1); g <= groups; g++ {
			t.Run(fmt.Sprint(g), func(t *testing.T) {
				t.Parallel()
				local := map[string]int{}
				for seed := g; seed <= int64(*modelSeeds); seed += groups {
					runModel(t, seed, *modelSteps, local)
				}
				mu.Lock()
				defer mu.Unlock()
				for k, n := range local {
					outcomes[k] += n
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	// The generator must reach the states the rules are about, not only
	// bounce off the first check.
	for _, o := range []string{
		"vm_register ok", "vm_register insufficient_capacity", "vm_register already_exists", "vm_register invalid",
		"vm_terminate ok", "vm_terminate unauthorized", "vm_terminate invalid_state",
		"migration_propose ok", "migration_propose unauthorized", "migration_propose migration_open",
		"migration_propose not_member", "migration_propose not_found", "migration_propose invalid",
		"migration_accept ok", "migration_accept unauthorized", "migration_accept insufficient_capacity",
		"migration_accept lapsed", "migration_accept invalid_state",
		"migration_complete ok", "migration_complete invalid_state", "migration_complete lapsed",
		"migration_reject ok", "migration_cancel ok", "migration_cancel lapsed", "migration.lapsed",
		"cloud_join ok", "cloud_join already_exists", "cloud_approve ok", "cloud_approve invalid_state",
		"cloud_remove ok", "vm_register replay", "vm_register wrong_chain", "vm_register bad_signature",
		"migration_propose expired", "vm_register unknown_signer", "vm_register not_member",
		"migration.cancelled by removal",
	} {
		if outcomes[o] == 0 {
			t.Errorf("no sequence reached %q", o)
		}
	}
	if testing.Verbose() {
		var keys []string
		for k := range outcomes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Logf("%-45s %d", k, outcomes[k])
		}
	}
}
