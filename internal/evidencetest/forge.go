// Package evidencetest forges evidence bundles for tests: what someone who
// holds the private keys of a validator set and of a cloud can sign without
// the rest of the federation, to check that bbus evidence verify refuses it.
package evidencetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/ledger"
)

// ValidatorKey reads the consensus private key of a node's home.
func ValidatorKey(home string) crypto.PrivKey {
	pv := privval.LoadFilePVEmptyState(filepath.Join(home, "config", "priv_validator_key.json"), filepath.Join(home, "data", "priv_validator_state.json"))
	return pv.Key.PrivKey
}

// Header adds to b a fabricated header at height, signed by the validator
// priv alone: it names as validators the bundle's validator set that has
// priv alone, and as next validators next, when next is not nil (a forged
// change of validators), or the same set. Everything else is copied from the
// bundle's first header. State then gives it a forged app hash.
func Header(b *evidence.Bundle, height int64, priv crypto.PrivKey, next []byte) error {
	set := -1
	for i, s := range b.ValidatorSets {
		if len(s.Validators) == 1 && bytes.Equal(s.Validators[0].PubKey, priv.PubKey().Bytes()) {
			set = i
		}
	}
	if set < 0 {
		return fmt.Errorf("the bundle has no validator set of %X alone", priv.PubKey().Address())
	}
	vals := types.NewValidatorSet([]*types.Validator{types.NewValidator(priv.PubKey(), b.ValidatorSets[set].Validators[0].Power)})
	tmpl := *b.Headers[0].Header
	parts := types.PartSetHeader{Total: 1, Hash: sum("parts")}
	h := tmpl
	h.Height = height
	h.Time = tmpl.Time.Add(time.Duration(height-tmpl.Height) * time.Second)
	h.LastBlockID = types.BlockID{Hash: sum("parent"), PartSetHeader: parts}
	h.DataHash = types.Txs{}.Hash()
	h.ValidatorsHash, h.NextValidatorsHash = vals.Hash(), vals.Hash()
	if next != nil {
		h.NextValidatorsHash = next
	}
	h.ProposerAddress = priv.PubKey().Address()
	commit := &types.Commit{Height: h.Height, BlockID: types.BlockID{Hash: h.Hash(), PartSetHeader: parts},
		Signatures: []types.CommitSig{{BlockIDFlag: types.BlockIDFlagCommit, ValidatorAddress: priv.PubKey().Address(), Timestamp: h.Time.Add(time.Second)}}}
	var err error
	if commit.Signatures[0].Signature, err = priv.Sign(commit.VoteSignBytes(h.ChainID, 0)); err != nil {
		return err
	}
	if err := types.VerifyCommit(h.ChainID, vals, commit.BlockID, h.Height, commit); err != nil {
		return fmt.Errorf("the forged commit does not verify: %v", err)
	}
	b.Headers = append(b.Headers, evidence.Header{Header: &h, Commit: commit, ValidatorSet: &set})
	sort.SliceStable(b.Headers, func(i, j int) bool { return b.Headers[i].Header.Height < b.Headers[j].Header.Height })
	return nil
}

// Tx adds to b the signed transaction raw, at height, a second after the
// time of the bundle's first header, in chain order.
func Tx(b *evidence.Bundle, height int64, raw []byte) {
	tmpl := b.Headers[0].Header
	b.Txs = append(b.Txs, evidence.Tx{Height: height, Time: tmpl.Time.Add(time.Duration(height-tmpl.Height) * time.Second).UTC(), Raw: string(raw)})
	sort.SliceStable(b.Txs, func(i, j int) bool { return b.Txs[i].Height < b.Txs[j].Height })
}

// Drop removes from b the headers at the given heights, and the validator
// sets no header uses any more.
func Drop(b *evidence.Bundle, heights ...int64) {
	gone := map[int64]bool{}
	for _, h := range heights {
		gone[h] = true
	}
	kept := b.Headers[:0]
	for _, h := range b.Headers {
		if !gone[h.Header.Height] {
			kept = append(kept, h)
		}
	}
	b.Headers = kept
	used := make([]bool, len(b.ValidatorSets))
	for _, h := range b.Headers {
		if h.ValidatorSet != nil {
			used[*h.ValidatorSet] = true
		}
	}
	index := make([]int, len(b.ValidatorSets))
	sets := b.ValidatorSets[:0]
	for i, s := range b.ValidatorSets {
		index[i] = len(sets)
		if used[i] {
			sets = append(sets, s)
		}
	}
	b.ValidatorSets = sets
	for k := range b.Headers {
		if p := b.Headers[k].ValidatorSet; p != nil {
			n := index[*p]
			b.Headers[k].ValidatorSet = &n
		}
	}
}

// Changes returns the heights of b's headers whose next validators differ
// from their own: the last block of each validator set the bundle shows.
func Changes(b *evidence.Bundle) []int64 {
	var out []int64
	for _, h := range b.Headers {
		if h.Commit != nil && !bytes.Equal(h.Header.ValidatorsHash, h.Header.NextValidatorsHash) {
			out = append(out, h.Header.Height)
		}
	}
	return out
}

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// State replaces b's state proofs with proofs of values (key -> value) from
// a state tree of the forger's own, whose root becomes the app hash of b's
// header at height, which must carry a commit that priv alone signs (as the
// second header Block makes does): that header then names the forged root
// and priv signs it again. It is what a validator set that holds more than
// two thirds of the power at a height can always sign.
func State(b *evidence.Bundle, height int64, priv crypto.PrivKey, values map[string][]byte) error {
	tree := iavl.NewMutableTree(idb.NewMemDB(), 1000, true, iavl.NewNopLogger())
	keys := make([]string, 0, len(values))
	for k, v := range values {
		d := sha256.Sum256(v)
		if _, err := tree.Set([]byte(k), d[:]); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, _, err := tree.SaveVersion(); err != nil {
		return err
	}
	im, err := tree.GetImmutable(tree.Version())
	if err != nil {
		return err
	}
	st := evidence.State{Height: height}
	for _, k := range keys {
		cp, err := im.GetMembershipProof([]byte(k))
		if err != nil {
			return err
		}
		raw, err := cp.Marshal()
		if err != nil {
			return err
		}
		st.Proofs = append(st.Proofs, evidence.StateProof{Key: []byte(k), Value: values[k], Proof: raw})
	}
	root := im.Hash()
	for i := range b.Headers {
		e := &b.Headers[i]
		if e.Header.Height != height {
			continue
		}
		if e.Commit == nil || len(e.Commit.Signatures) != 1 {
			return fmt.Errorf("the header at height %d has no commit of one signature", height)
		}
		h := *e.Header
		h.AppHash = root
		e.Header = &h
		e.Commit.BlockID.Hash = h.Hash()
		if e.Commit.Signatures[0].Signature, err = priv.Sign(e.Commit.VoteSignBytes(h.ChainID, 0)); err != nil {
			return err
		}
		b.State = st
		return nil
	}
	return fmt.Errorf("the bundle has no header at height %d", height)
}

// VMState forges, with State at the header at height, the records of VM vm
// that b's transactions tell (its record, its last interval and its last
// migration, named the last migration the transactions name, or mig-1), starting
// from the record b proves, and keeps b's proofs of cloud records: a bundle
// whose transactions were forged then shows them complete.
func VMState(b *evidence.Bundle, vm string, height int64, priv crypto.PrivKey) error {
	var rec bbus.VM
	values := map[string][]byte{}
	for _, p := range b.State.Proofs {
		if bytes.Equal(p.Key, ledger.VMKey(vm)) {
			if err := json.Unmarshal(p.Value, &rec); err != nil {
				return err
			}
		}
		if bytes.HasPrefix(p.Key, []byte("c/")) {
			values[string(p.Key)] = p.Value
		}
	}
	rec.Txs, rec.TxDigest, rec.Migrations, rec.LastMigration, rec.Terminated, rec.State = 0, "", 0, "", nil, bbus.VMRunning
	var ivs []bbus.Interval
	put := func(k []byte, v any) {
		raw, _ := json.Marshal(v)
		values[string(k)] = raw
	}
	var proposal *bbus.Migration
	named := ledger.MigrationID(1)
	for _, t := range b.Txs {
		stx, err := bbus.DecodeTx([]byte(t.Raw))
		if err != nil {
			return err
		}
		stamp := bbus.Stamp{At: t.Time, Height: t.Height, Tx: stx.ID}
		rec.Txs++
		rec.TxDigest, rec.LastTx = bbus.NextTxDigest(rec.TxDigest, stamp), stx.ID
		end := func() {
			if n := len(ivs); n > 0 {
				ivs[n-1].End = &stamp
			}
		}
		switch a := stx.Action; {
		case a.VMRegister != nil:
			ivs = append(ivs, bbus.Interval{VM: vm, Seq: int64(len(ivs) + 1), Cloud: stx.Signer, Start: stamp})
		case a.MigrationComplete != nil:
			end()
			named = a.MigrationComplete.Migration
			ivs = append(ivs, bbus.Interval{VM: vm, Seq: int64(len(ivs) + 1), Cloud: stx.Signer, Migration: named, Start: stamp})
		case a.MigrationAccept != nil:
			named = a.MigrationAccept.Migration
		case a.VMTerminate != nil:
			end()
			rec.State, rec.Terminated = bbus.VMTerminated, &stamp
		case a.MigrationPropose != nil:
			rec.Migrations++
			proposal = &bbus.Migration{VM: vm, From: stx.Signer, To: a.MigrationPropose.To, Proposed: stamp}
		}
	}
	if proposal != nil {
		proposal.ID, rec.LastMigration = named, named
		if k, ok := ledger.RecordKey("migration", named); ok {
			put(k, proposal)
		}
	}
	rec.Intervals = int64(len(ivs))
	put(ledger.VMKey(vm), &rec)
	if len(ivs) > 0 {
		put(ledger.IntervalKey(vm, rec.Intervals), &ivs[len(ivs)-1])
	}
	return State(b, height, priv, values)
}

// DropTxs removes from b the transactions with the given types (their
// actions' names) that name migration id, or, for a proposal, whose next
// transaction about a migration names it, with the records of signers left
// with nothing signed: what someone who cuts a bundle short would do so
// that nothing is left over.
func DropTxs(b *evidence.Bundle, id string, types ...string) {
	drop := map[string]bool{}
	for _, t := range types {
		drop[t] = true
	}
	names := make([]string, len(b.Txs)) // the migration each transaction is about
	stxs := make([]*bbus.SignedTx, len(b.Txs))
	open := -1
	for i, t := range b.Txs {
		stx, err := bbus.DecodeTx([]byte(t.Raw))
		if err != nil {
			continue
		}
		stxs[i] = stx
		ref := stx.Action.Migration()
		if stx.Action.MigrationPropose != nil {
			open = i
		}
		if ref != "" {
			names[i] = ref
			if open >= 0 {
				names[open], open = ref, -1
			}
		}
	}
	kept := b.Txs[:0]
	signs := map[string]bool{}
	for i, t := range b.Txs {
		if stxs[i] != nil && names[i] == id && drop[stxs[i].Action.Type()] {
			continue
		}
		kept = append(kept, t)
		if stxs[i] != nil {
			signs[stxs[i].Signer] = true
		}
	}
	b.Txs = kept
	proofs := b.State.Proofs[:0]
	for _, p := range b.State.Proofs {
		if !bytes.HasPrefix(p.Key, []byte("c/")) || signs[string(p.Key[2:])] {
			proofs = append(proofs, p)
		}
	}
	b.State.Proofs = proofs
}
