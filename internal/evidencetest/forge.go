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

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto"
	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
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

// Block adds to b a fabricated block at height holding the one signed
// transaction raw (whose result names id), and the block after it, which
// proves its result: both headers name as validators, current and next, the
// bundle's validator set that has the single validator priv, who alone signs
// the commit of the second; the second names next as the validators after
// it, when next is not nil (a forged change of validators). Everything else
// of the headers is copied from the bundle's first header.
func Block(b *evidence.Bundle, height int64, raw []byte, id string, priv crypto.PrivKey, next []byte) error {
	stx, err := bbus.DecodeTx(raw)
	if err != nil {
		return err
	}
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
	hf := tmpl
	hf.Height = height
	hf.Time = tmpl.Time.Add(time.Duration(height-tmpl.Height) * time.Second)
	hf.LastBlockID = types.BlockID{Hash: sum("parent"), PartSetHeader: parts}
	hf.DataHash = types.Txs{raw}.Hash()
	hf.ValidatorsHash, hf.NextValidatorsHash = vals.Hash(), vals.Hash()
	hf.ProposerAddress = priv.PubKey().Address()
	hn := hf
	hn.Height = height + 1
	hn.Time = hf.Time.Add(time.Second)
	hn.LastBlockID = types.BlockID{Hash: hf.Hash(), PartSetHeader: parts}
	hn.LastResultsHash = types.NewResults([]*abci.ExecTxResult{{Data: []byte(id)}}).Hash()
	hn.DataHash = types.Txs{}.Hash()
	if next != nil {
		hn.NextValidatorsHash = next
	}
	commit := &types.Commit{Height: hn.Height, BlockID: types.BlockID{Hash: hn.Hash(), PartSetHeader: parts},
		Signatures: []types.CommitSig{{BlockIDFlag: types.BlockIDFlagCommit, ValidatorAddress: priv.PubKey().Address(), Timestamp: hn.Time.Add(time.Second)}}}
	if commit.Signatures[0].Signature, err = priv.Sign(commit.VoteSignBytes(hn.ChainID, 0)); err != nil {
		return err
	}
	if err := types.VerifyCommit(hn.ChainID, vals, commit.BlockID, hn.Height, commit); err != nil {
		return fmt.Errorf("the forged commit does not verify: %v", err)
	}
	var actions map[string]json.RawMessage
	a, _ := json.Marshal(&stx.Action)
	json.Unmarshal(a, &actions)
	typ := stx.Action.Type()
	b.Txs = append(b.Txs, evidence.Tx{Height: height, Raw: string(raw), Result: evidence.Result{ID: id},
		Decoded: evidence.Decoded{TxID: stx.ID, Type: typ, ChainID: stx.ChainID, Signer: stx.Signer, Nonce: stx.Nonce,
			Expires: time.Unix(stx.Expires, 0).UTC(), Action: actions[typ]},
		Proof: evidence.Proof{TxAunts: []cmtbytes.HexBytes{}, ResultAunts: []cmtbytes.HexBytes{}}})
	sort.SliceStable(b.Txs, func(i, j int) bool { return b.Txs[i].Height < b.Txs[j].Height })
	b.Headers = append(b.Headers, evidence.Header{Header: &hf}, evidence.Header{Header: &hn, Commit: commit, ValidatorSet: &set})
	sort.SliceStable(b.Headers, func(i, j int) bool { return b.Headers[i].Header.Height < b.Headers[j].Header.Height })
	return nil
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

// DropTxsFrom removes from b the transactions at heights from on, with the
// headers that served only them.
func DropTxsFrom(b *evidence.Bundle, from int64) {
	var gone []int64
	kept := b.Txs[:0]
	for _, t := range b.Txs {
		if t.Height >= from {
			gone = append(gone, t.Height, t.Height+1)
		} else {
			kept = append(kept, t)
		}
	}
	b.Txs = kept
	Drop(b, gone...)
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
// migration), starting from the record b proves: a bundle whose transactions
// were forged then shows them complete.
func VMState(b *evidence.Bundle, vm string, height int64, priv crypto.PrivKey) error {
	var rec bbus.VM
	for _, p := range b.State.Proofs {
		if bytes.Equal(p.Key, ledger.VMKey(vm)) {
			if err := json.Unmarshal(p.Value, &rec); err != nil {
				return err
			}
		}
	}
	rec.Txs, rec.TxDigest, rec.Migrations, rec.LastMigration, rec.Terminated, rec.State = 0, "", 0, "", nil, bbus.VMRunning
	values := map[string][]byte{}
	var ivs []bbus.Interval
	put := func(k []byte, v any) {
		raw, _ := json.Marshal(v)
		values[string(k)] = raw
	}
	for _, t := range b.Txs {
		stx, err := bbus.DecodeTx([]byte(t.Raw))
		if err != nil {
			return err
		}
		rec.Txs++
		rec.TxDigest, rec.LastTx = bbus.NextTxDigest(rec.TxDigest, stx.ID), stx.ID
		stamp := bbus.Stamp{Height: t.Height, Tx: stx.ID}
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
			ivs = append(ivs, bbus.Interval{VM: vm, Seq: int64(len(ivs) + 1), Cloud: stx.Signer, Migration: a.MigrationComplete.Migration, Start: stamp})
		case a.VMTerminate != nil:
			end()
			rec.State, rec.Terminated = bbus.VMTerminated, &stamp
		case a.MigrationPropose != nil:
			rec.Migrations++
			rec.LastMigration = t.Result.ID
			if k, ok := ledger.RecordKey("migration", t.Result.ID); ok {
				put(k, &bbus.Migration{ID: t.Result.ID, VM: vm, From: stx.Signer, To: a.MigrationPropose.To, Proposed: stamp})
			}
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
// actions' names) whose result names id, with the headers that served only
// them and the key registrations of signers left with nothing signed: what
// someone who cuts a bundle short would do so that no header is left over.
func DropTxs(b *evidence.Bundle, id string, types ...string) {
	drop := map[string]bool{}
	for _, t := range types {
		drop[t] = true
	}
	kept := b.Txs[:0]
	signs := map[string]bool{}
	for _, t := range b.Txs {
		if t.Result.ID == id && drop[t.Decoded.Type] {
			continue
		}
		kept = append(kept, t)
		signs[t.Decoded.Signer] = true
	}
	b.Txs = kept
	keys := b.Keys[:0]
	for _, k := range b.Keys {
		if signs[k.Decoded.Signer] {
			keys = append(keys, k)
		}
	}
	b.Keys = keys
	needed := map[int64]bool{b.State.Height: true, b.Checkpoint: true}
	for _, t := range append(append([]evidence.Tx{}, b.Txs...), b.Keys...) {
		needed[t.Height], needed[t.Height+1] = true, true
	}
	for _, c := range Changes(b) {
		needed[c], needed[c+1] = true, true
	}
	var gone []int64
	for _, h := range b.Headers {
		if !needed[h.Header.Height] {
			gone = append(gone, h.Header.Height)
		}
	}
	Drop(b, gone...)
}
