// Package evidence builds and verifies evidence bundles: one JSON document
// that proves a VM's history on a bbus chain to someone who runs no node and
// trusts none.
//
// A bundle holds every transaction that touched the VM, each shown decoded
// next to its exact bytes, with a Merkle proof of its inclusion in its block
// and a Merkle proof of its result (applied, and the id it made) in the next
// block's header; the transactions that registered the keys of the clouds
// that signed them; the block headers those proofs hang from, with the
// commits that sign them; and the validator sets that made those commits.
//
// Verify checks a bundle against the chain's genesis document alone: cloud
// signatures, inclusion proofs, and commits signed by more than two thirds of
// the voting power of the validator set in force at their height, followed
// from genesis (or from a checkpoint the auditor trusts) through every change
// of validators (see Verify). Build assembles a bundle from a node's block
// store and ledger state (see Chain).
package evidence

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	"github.com/cometbft/cometbft/types"
)

// Format names the version of the bundle layout. Verify rejects any other.
const Format = "bbus-evidence/2"

// Bundle is the evidence of one VM's history, or of one agreement's. Every
// field is checked by Verify: a bundle holds nothing that is not proved.
type Bundle struct {
	Format  string `json:"format"`
	ChainID string `json:"chain_id"`
	// VM, Agreement, Invoice or Violation names what the bundle proves:
	// exactly one of them is set.
	VM        string `json:"vm,omitempty"`
	Agreement string `json:"agreement,omitempty"`
	Invoice   string `json:"invoice,omitempty"`
	Violation string `json:"violation,omitempty"`
	// State proves the records of the subject at one height: a VM's record
	// with its last interval and migration (which show Txs complete), an
	// agreement's record, or an invoice with its lines, agreements,
	// violations and reports.
	State State `json:"state"`
	// Txs are the transactions that touched the VM (or made the agreement),
	// in chain order (height, then position in the block); none for an
	// invoice or a violation, whose records State proves.
	Txs []Tx `json:"txs"`
	// Keys are the cloud_join transactions that registered the signing keys
	// of the clouds that signed Txs, for the clouds not founded in genesis
	// (whose keys the genesis document holds), in chain order.
	Keys []Tx `json:"keys"`
	// Headers are the block headers the proofs need, in height order. A
	// header with a Commit is trusted when the commit verifies with its
	// validator set; a header without one is trusted through the next
	// block's header, which names its hash.
	Headers []Header `json:"headers"`
	// ValidatorSets are the validator sets that signed the commits, each once.
	ValidatorSets []ValidatorSet `json:"validator_sets"`
	// Checkpoint is the height of the header an auditor trusts that the
	// bundle was built for (Headers holds it), or 0.
	Checkpoint int64 `json:"checkpoint,omitempty"`
}

// subject names what b proves.
func (b *Bundle) subject() string {
	switch {
	case b.Agreement != "":
		return "agreement " + b.Agreement
	case b.Invoice != "":
		return "invoice " + b.Invoice
	case b.Violation != "":
		return "violation " + b.Violation
	}
	return "VM " + b.VM
}

// State is a set of state records proved at one height: each proof is an
// ICS23 commitment proof (package proof) against the app hash that the
// header at Height carries (the state after block Height-1), which the
// bundle holds and verifies.
type State struct {
	Height int64        `json:"height"`
	Proofs []StateProof `json:"proofs"`
}

// StateProof proves that the ledger's state held Value at Key.
type StateProof struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
	// Proof is the ICS23 CommitmentProof in its protobuf encoding.
	Proof []byte `json:"proof"`
}

// Checkpoint is a block an auditor trusts: its height and header hash, as
// "HEIGHT:HASH" (hex) in String and ParseCheckpoint, the form bbus query
// status prints.
type Checkpoint struct {
	Height int64
	Hash   cmtbytes.HexBytes
}

func (c *Checkpoint) String() string { return fmt.Sprintf("%d:%s", c.Height, c.Hash) }

// ParseCheckpoint reads "HEIGHT:HASH", HASH the 64 hex digits of a header
// hash.
func ParseCheckpoint(s string) (*Checkpoint, error) {
	hs, xs, ok := strings.Cut(s, ":")
	h, err := strconv.ParseInt(hs, 10, 64)
	if !ok || err != nil || h < 1 {
		return nil, fmt.Errorf("checkpoint %q is not HEIGHT:HASH with a height from 1", s)
	}
	hash, err := hex.DecodeString(xs)
	if err != nil || len(hash) != 32 {
		return nil, fmt.Errorf("checkpoint %q: the hash is not 64 hex digits", s)
	}
	return &Checkpoint{Height: h, Hash: hash}, nil
}

// Tx is one committed transaction with what proves it.
type Tx struct {
	Height int64 `json:"height"`
	// Decoded is the transaction shown for a reader. Verify derives it again
	// from Raw and rejects the bundle if it differs in anything.
	Decoded Decoded `json:"decoded"`
	// Raw is the transaction exactly as it was committed: the signed body
	// and the signature (docs/TRANSACTIONS.md).
	Raw string `json:"raw"`
	// Result is what the ledger made of it in its block.
	Result Result `json:"result"`
	// Proof places Raw in the block at Height (its header's data_hash) and
	// Result in the results of that block (the next header's last_results_hash).
	Proof Proof `json:"proof"`
}

// Decoded is a transaction as a person reads it.
type Decoded struct {
	TxID    string    `json:"tx_id"` // SHA-256 of the signed body: the id the ledger's records cite
	Type    string    `json:"type"`  // the action: vm_register, migration_propose, ...
	ChainID string    `json:"chain_id"`
	Signer  string    `json:"signer"`
	Nonce   uint64    `json:"nonce"`
	Expires time.Time `json:"expires"`
	// Action is the action's fields, as signed.
	Action json.RawMessage `json:"action"`
}

// Result is a transaction's outcome as the block's results record it. Code 0
// means the ledger applied the transaction; ID is the id the action made or
// acted on (the new migration's id for a proposal).
type Result struct {
	Code uint32 `json:"code"`
	ID   string `json:"id,omitempty"`
}

// Proof is the path from one transaction up to the root of its block's
// transactions, and from its result up to the root of the block's results:
// both trees have one leaf per transaction of the block, so one path serves
// both. Path has one letter per level, from the leaf up: L when the node on
// the path is the left child (its sibling, the aunt, on the right), R when it
// is the right child.
type Proof struct {
	Path        string              `json:"path"`
	TxAunts     []cmtbytes.HexBytes `json:"tx_aunts"`
	ResultAunts []cmtbytes.HexBytes `json:"result_aunts"`
}

// Header is one block header, signed or linked.
type Header struct {
	Header *types.Header `json:"header"`
	// Commit, if present, is the commit of this block by its validators.
	Commit *types.Commit `json:"commit,omitempty"`
	// ValidatorSet is the index in Bundle.ValidatorSets of the set that made
	// Commit; present exactly when Commit is.
	ValidatorSet *int `json:"validator_set,omitempty"`
}

// ValidatorSet is the consensus validator set of some heights, in the order
// CometBFT keeps it (voting power descending, then address).
type ValidatorSet struct {
	Validators []Validator `json:"validators"`
}

// Validator is one member of a validator set.
type Validator struct {
	Address cmtbytes.HexBytes `json:"address"` // derived from the public key
	PubKey  []byte            `json:"pub_key"` // ed25519
	Power   int64             `json:"power"`
}
