// Package evidence builds and verifies evidence bundles: one JSON document
// that proves a VM's history on a bbus chain to someone who runs no node and
// trusts none.
//
// A bundle proves the records of its subject (a VM, an agreement, an
// invoice or a violation) by state proofs (package proof) against the app
// hash of one signed block header, and holds the transactions those records
// name, each as its signer signed it: a VM's record chains the id, height
// and block time of every transaction that changed it into a digest, and an
// agreement's record stamps its proposal and its answer. It holds the
// records of the clouds that signed them (for those not founded in genesis,
// whose keys the genesis document holds), and, besides that header, every
// header at which the validators changed, with the commits that sign them
// and the validator sets that made those commits.
//
// Verify checks a bundle against the chain's genesis document alone: cloud
// signatures, state proofs, and commits signed by more than two thirds of
// the voting power of the validator set in force at their height, followed
// from genesis (or from a checkpoint the auditor trusts) through every change
// of validators (see Verify). Build assembles a bundle from a node's block
// store and ledger state (see Chain).
package evidence

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	"github.com/cometbft/cometbft/types"
)

// Format names the version of the bundle layout. Verify rejects any other.
const Format = "bbus-evidence/3"

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
	// violations and reports; and the records of the clouds not founded in
	// genesis that signed Txs, which hold their keys.
	State State `json:"state"`
	// Txs are the transactions that changed the VM (or made the agreement),
	// in chain order (height, then position in the block); none for an
	// invoice or a violation, whose records State proves.
	Txs []Tx `json:"txs"`
	// Headers are the block headers the bundle needs, in height order: the
	// one whose app hash the state proofs verify against, those at which
	// the validators change and the block after each, and the checkpoint. A
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

// Tx is one committed transaction, proved by the record that names it: the
// digest of a VM's transactions, or an agreement's stamps, which give its
// id (the SHA-256 of its signed body), its height and its block's time.
type Tx struct {
	Height int64     `json:"height"`
	Time   time.Time `json:"time"` // the time of its block
	// Raw is the transaction exactly as it was committed: the signed body
	// and the signature (docs/TRANSACTIONS.md).
	Raw string `json:"raw"`
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
