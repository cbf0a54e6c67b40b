package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/proof"
)

// Chain is what Build reads of a node's block store. Errors it returns for a
// height the node does not hold should be *bbus.Error values.
type Chain interface {
	// Genesis returns the chain's genesis document.
	Genesis(ctx context.Context) (*types.GenesisDoc, error)
	// Height returns the height of the latest block the node holds.
	Height(ctx context.Context) (int64, error)
	// Header returns the header of the block at height.
	Header(ctx context.Context, height int64) (*types.Header, error)
	// Block returns the block at height.
	Block(ctx context.Context, height int64) (*types.Block, error)
	// Commit returns a commit of the block at height by its validators.
	Commit(ctx context.Context, height int64) (*types.Commit, error)
	// Validators returns the validator set that signs the block at height.
	Validators(ctx context.Context, height int64) (*types.ValidatorSet, error)
	// ValidatorChanges returns, in ascending order, every height in
	// (from, to] whose header's validators_hash differs from the previous
	// header's, without reading every header in between.
	ValidatorChanges(ctx context.Context, from, to int64) ([]int64, error)
}

// Prover proves state keys (package proof): the node's view of its state
// commitment.
type Prover interface {
	// ProveKeys returns a proof of each key, in order, all at one height:
	// the last the node committed.
	ProveKeys(ctx context.Context, keys [][]byte) ([]*bbus.Proof, error)
}

// ErrStateMoved is returned by the builders when a block committed while they
// read the state, so that what they proved and what they read differ: the
// caller builds again.
var ErrStateMoved = bbus.Errorf(bbus.EUNAVAILABLE, "the state changed while the bundle was built; try again")

// ErrBelowCheckpoint is returned by the builders when the state they can
// prove is older than the checkpoint the bundle is built for (under load the
// state tree saves every few blocks): the caller builds again after the next
// save. A bundle for a checkpoint proves a state at or after it (Verify).
var ErrBelowCheckpoint = bbus.Errorf(bbus.EUNAVAILABLE, "this node has not yet proved a state at or after the checkpoint; try again shortly")

// NextBlockWait bounds how long Build waits for the block whose header
// carries the app hash of the state it proves, and how long a node builds
// again while it has not proved a state at or after a checkpoint.
const NextBlockWait = 10 * time.Second

// prove proves keys at one height and checks that r, from which the builder
// reads what to include, holds the same values. The proofs verify against
// the app hash of the next header, or of the last header if the last block
// changed nothing (as the block that follows one with transactions does not).
func prove(ctx context.Context, c Chain, p Prover, r kv.Reader, keys [][]byte) (State, error) {
	keys = append([][]byte{}, keys...)
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	proofs, err := p.ProveKeys(ctx, keys)
	if err != nil {
		return State{}, err
	}
	st := State{Proofs: make([]StateProof, len(proofs))}
	for i, pr := range proofs {
		if i == 0 {
			st.Height = pr.Height
		}
		if pr.Height != st.Height || pr.Value == nil || !bytes.Equal(pr.Value, r.Get(keys[i])) {
			return State{}, ErrStateMoved
		}
		st.Proofs[i] = StateProof{Key: pr.Key, Value: pr.Value, Proof: pr.Proof}
	}
	hd, err := c.Header(ctx, st.Height)
	if err != nil {
		return State{}, err
	}
	if proof.Verify(hd.AppHash, proofs[0]) != nil {
		st.Height++ // the next header carries this state's app hash
	}
	return st, nil
}

// Build assembles the evidence bundle of a VM from the ledger state r (which
// names the transactions that changed it) and the chain c (which holds
// them), with p's proof of the VM's record, last interval and last
// migration, which show that the bundle holds every transaction of the VM,
// and of the records of the clouds not founded in genesis that signed them.
// Besides the header whose app hash the proofs verify against, it holds
// every change of validators from genesis to that header: at each, the
// header whose next validators differ from its own and the one after it,
// both signed. With a checkpoint (a height, or 0 for none) it proves a state
// at or after it (ErrBelowCheckpoint until the node does), holds that header
// and the changes from there on only: an auditor who trusts that header's
// hash (VerifyTrusting) then needs no validator set before it. It verifies
// the bundle before it returns it.
func Build(ctx context.Context, c Chain, p Prover, r kv.Reader, vm string, checkpoint int64) (*Bundle, error) {
	keys, err := ledger.VMEvidenceKeys(r, vm)
	if err != nil {
		return nil, err
	}
	hist, err := ledger.VMHistory(r, vm)
	if err != nil {
		return nil, err
	}
	want := map[string]bbus.Stamp{}
	stamp := func(s *bbus.Stamp) {
		if s != nil && s.Tx != "" {
			want[s.Tx] = *s
		}
	}
	stamp(&hist.VM.Registered)
	stamp(hist.VM.Terminated)
	for i := range hist.Intervals {
		stamp(&hist.Intervals[i].Start)
		stamp(hist.Intervals[i].End)
	}
	for i := range hist.Migrations {
		m := &hist.Migrations[i]
		stamp(&m.Proposed)
		stamp(m.Accepted)
		stamp(m.Completed)
		stamp(m.Ended)
	}
	return buildState(ctx, c, p, r, &Bundle{VM: vm}, keys, want, checkpoint)
}

// BuildAgreement assembles the evidence bundle of an agreement: its record,
// proved, and the transactions it names: its proposal and the other party's
// signature or refusal, as Build does a VM's.
func BuildAgreement(ctx context.Context, c Chain, p Prover, r kv.Reader, id string, checkpoint int64) (*Bundle, error) {
	a, err := ledger.Agreement(r, id)
	if err != nil {
		return nil, err
	}
	key, _ := ledger.RecordKey("agreement", id)
	want := map[string]bbus.Stamp{a.Proposed.Tx: a.Proposed}
	for _, s := range []*bbus.Stamp{a.Signed, a.Declined} {
		if s != nil && s.Tx != "" {
			want[s.Tx] = *s
		}
	}
	return buildState(ctx, c, p, r, &Bundle{Agreement: id}, [][]byte{key}, want, checkpoint)
}

// BuildInvoice assembles the evidence bundle of an invoice: its head, every
// line, the agreements they bill under, each penalty's violation and report
// and the VMs they name, all proved at one height, with the signed header
// that carries that height's app hash.
func BuildInvoice(ctx context.Context, c Chain, p Prover, r kv.Reader, id string, checkpoint int64) (*Bundle, error) {
	keys, err := ledger.InvoiceEvidenceKeys(r, id)
	if err != nil {
		return nil, err
	}
	return buildState(ctx, c, p, r, &Bundle{Invoice: id}, keys, nil, checkpoint)
}

// BuildViolation assembles the evidence bundle of a violation: the
// violation, its report, the agreement it breaks and its VM, proved.
func BuildViolation(ctx context.Context, c Chain, p Prover, r kv.Reader, id string, checkpoint int64) (*Bundle, error) {
	keys, err := ledger.ViolationEvidenceKeys(r, id)
	if err != nil {
		return nil, err
	}
	return buildState(ctx, c, p, r, &Bundle{Violation: id}, keys, nil, checkpoint)
}

// buildState completes the bundle b with the transactions want names (id ->
// stamp), in chain order, and proves keys with the records of their signers
// not founded in genesis.
func buildState(ctx context.Context, c Chain, p Prover, r kv.Reader, b *Bundle, keys [][]byte, want map[string]bbus.Stamp, checkpoint int64) (*Bundle, error) {
	doc, err := c.Genesis(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkCheckpoint(ctx, c, doc, checkpoint); err != nil {
		return nil, err
	}
	bl := &builder{ctx: ctx, c: c}
	txs, signers, err := bl.find(want)
	if err != nil {
		return nil, err
	}
	keys = append([][]byte{}, keys...)
	for _, id := range signers {
		cl, err := ledger.Cloud(r, id)
		if err != nil {
			return nil, bbus.Errorf(bbus.EINTERNAL, "signer %s of the bundle's transactions: %v", id, err)
		}
		if cl.Joined.Tx != "" { // not founded in genesis
			keys = append(keys, ledger.CloudKey(id))
		}
	}
	st, err := prove(ctx, c, p, r, keys)
	if err != nil {
		return nil, err
	}
	if checkpoint != 0 && st.Height < checkpoint {
		return nil, ErrBelowCheckpoint
	}
	b.State, b.Txs = st, txs
	return build(ctx, c, doc, b, checkpoint)
}

// CheckCheckpoint returns an EINVALID error for a checkpoint height (0: none)
// that is not a block c holds, from the chain's initial height to its latest:
// no bundle can be built for it, however long one waits.
func CheckCheckpoint(ctx context.Context, c Chain, checkpoint int64) error {
	if checkpoint == 0 {
		return nil
	}
	doc, err := c.Genesis(ctx)
	if err != nil {
		return err
	}
	return checkCheckpoint(ctx, c, doc, checkpoint)
}

func checkCheckpoint(ctx context.Context, c Chain, doc *types.GenesisDoc, checkpoint int64) error {
	if checkpoint == 0 {
		return nil
	}
	latest, err := c.Height(ctx)
	if err != nil {
		return err
	}
	if checkpoint < doc.InitialHeight || checkpoint > latest {
		return bbus.Errorf(bbus.EINVALID, "checkpoint height %d is not a block of this node: from %d to %d", checkpoint, doc.InitialHeight, latest)
	}
	return nil
}

// build completes the bundle b, whose state and transactions are in place,
// with its headers.
func build(ctx context.Context, c Chain, doc *types.GenesisDoc, b *Bundle, checkpoint int64) (*Bundle, error) {
	bl := &builder{ctx: ctx, c: c}
	// The header whose app hash the state proofs verify against.
	top := b.State.Height
	signed := map[int64]bool{top: true}
	if err := bl.waitFor(top); err != nil {
		return nil, err
	}
	// The walk through the validator sets: from genesis, or from the
	// checkpoint when the bundle needs nothing below it.
	from := doc.InitialHeight - 1
	var trust *Checkpoint
	if checkpoint != 0 {
		if err := checkCheckpoint(ctx, c, doc, checkpoint); err != nil {
			return nil, err
		}
		hd, err := c.Header(ctx, checkpoint)
		if err != nil {
			return nil, err
		}
		trust = &Checkpoint{Height: checkpoint, Hash: hd.Hash()}
		from = checkpoint // the state is at or after it (buildState)
		signed[checkpoint] = true
		top = max(top, checkpoint)
	}
	changes, err := c.ValidatorChanges(ctx, from, top)
	if err != nil {
		return nil, err
	}
	for _, h := range changes {
		signed[h-1], signed[h] = true, true
	}
	b.Format, b.ChainID, b.Checkpoint = Format, doc.ChainID, checkpoint
	b.Headers, b.ValidatorSets = []Header{}, []ValidatorSet{}
	heights := make([]int64, 0, len(signed))
	for h := range signed {
		heights = append(heights, h)
	}
	sort.Slice(heights, func(i, j int) bool { return heights[i] < heights[j] })
	setIndex := map[string]int{}
	for _, h := range heights {
		hd, err := c.Header(ctx, h)
		if err != nil {
			return nil, err
		}
		e := Header{Header: hd}
		if e.Commit, err = c.Commit(ctx, h); err != nil {
			return nil, err
		}
		vals, err := c.Validators(ctx, h)
		if err != nil {
			return nil, err
		}
		key := string(vals.Hash())
		i, ok := setIndex[key]
		if !ok {
			i = len(b.ValidatorSets)
			setIndex[key] = i
			b.ValidatorSets = append(b.ValidatorSets, validatorSetOf(vals))
		}
		e.ValidatorSet = &i
		b.Headers = append(b.Headers, e)
	}
	// What goes out must verify.
	gen, err := cmtjson.Marshal(doc)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if _, err := VerifyTrusting(raw, gen, trust); err != nil {
		return nil, bbus.Errorf(bbus.EINTERNAL, "the bundle built for %s does not verify: %v", b.subject(), err)
	}
	return b, nil
}

func validatorSetOf(vals *types.ValidatorSet) ValidatorSet {
	s := ValidatorSet{Validators: make([]Validator, len(vals.Validators))}
	for i, v := range vals.Validators {
		s.Validators[i] = Validator{Address: v.Address, PubKey: v.PubKey.Bytes(), Power: v.VotingPower}
	}
	return s
}

type builder struct {
	ctx context.Context
	c   Chain
}

// find reads the transactions want names (id -> stamp) from their blocks and
// returns them in chain order, with the clouds that signed them, sorted.
func (bl *builder) find(want map[string]bbus.Stamp) ([]Tx, []string, error) {
	byHeight := map[int64][]string{}
	for id, s := range want {
		byHeight[s.Height] = append(byHeight[s.Height], id)
	}
	heights := make([]int64, 0, len(byHeight))
	for h := range byHeight {
		heights = append(heights, h)
	}
	sort.Slice(heights, func(i, j int) bool { return heights[i] < heights[j] })
	out := make([]Tx, 0, len(want))
	signers := map[string]bool{}
	for _, h := range heights {
		blk, err := bl.c.Block(bl.ctx, h)
		if err != nil {
			return nil, nil, err
		}
		at := map[string]int{}
		for i, raw := range blk.Txs {
			if id := quickID(raw); id != "" {
				at[id] = i
			}
		}
		ids := byHeight[h]
		for _, id := range ids {
			if _, ok := at[id]; !ok {
				return nil, nil, bbus.Errorf(bbus.EINTERNAL, "transaction %s is not in block %d, where the ledger records it", id, h)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return at[ids[i]] < at[ids[j]] })
		for _, id := range ids {
			raw := blk.Txs[at[id]]
			stx, err := bbus.DecodeTx(raw)
			if err != nil {
				return nil, nil, bbus.Errorf(bbus.EINTERNAL, "transaction %s of block %d: %v", id, h, err)
			}
			signers[stx.Signer] = true
			out = append(out, Tx{Height: h, Time: want[id].At.UTC(), Raw: string(raw)})
		}
	}
	names := make([]string, 0, len(signers))
	for s := range signers {
		names = append(names, s)
	}
	sort.Strings(names)
	return out, names, nil
}

// quickID returns the bbus id of a transaction without decoding it: the
// SHA-256 of the body, which the canonical encoding places between
// {"body": and ,"sig":"<88 characters>"}. It returns "" for anything else.
func quickID(raw []byte) string {
	const head, tail = `{"body":`, 8 + 88 + 2
	if len(raw) < len(head)+tail || !bytes.HasPrefix(raw, []byte(head)) || !bytes.Equal(raw[len(raw)-tail:len(raw)-tail+8], []byte(`,"sig":"`)) {
		return ""
	}
	sum := sha256.Sum256(raw[len(head) : len(raw)-tail])
	return hex.EncodeToString(sum[:])
}

// waitFor waits until the chain holds the block at height h.
func (bl *builder) waitFor(h int64) error {
	deadline := time.Now().Add(NextBlockWait)
	for {
		top, err := bl.c.Height(bl.ctx)
		if err != nil {
			return err
		}
		if top >= h {
			return nil
		}
		if time.Now().After(deadline) {
			return bbus.Errorf(bbus.EUNAVAILABLE, "block %d, whose header proves the results of block %d, is not committed yet; try again shortly", h, h-1)
		}
		select {
		case <-bl.ctx.Done():
			return bbus.Errorf(bbus.EUNAVAILABLE, "waiting for block %d: %v", h, bl.ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
