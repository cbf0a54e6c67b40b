package chain

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/store"
)

// TxLocation is where a committed transaction is and what the ledger made of
// it: what a node's transaction index holds for each bbus transaction id.
type TxLocation struct {
	Height int64  `json:"h"`
	Index  int    `json:"i"`
	Code   string `json:"c,omitempty"`  // the ledger's rejection code; empty when applied
	ID     string `json:"id,omitempty"` // the id the action made or acted on
}

// The index lives beside the state, outside the app hash: it is the node's own
// (store.SetLocal), committed in the same batch as the block it describes.
var prefixTxIndex = append(append([]byte{}, store.LocalPrefix...), "tx/"...)

func txIndexKey(id []byte) []byte { return append(append([]byte{}, prefixTxIndex...), id...) }

// prefixTxHash maps CometBFT's hash of a transaction's bytes to its bbus id.
var prefixTxHash = append(append([]byte{}, store.LocalPrefix...), "txh/"...)

func txHashKey(hash []byte) []byte { return append(append([]byte{}, prefixTxHash...), hash...) }

// TxIDOfHash returns the bbus id of the committed transaction whose bytes
// hash (SHA-256, 64 hex digits: what CometBFT and POST /v1/txs call its hash)
// to hash, from the node's index.
func TxIDOfHash(r kv.Reader, hash string) (string, bool) {
	h, err := hex.DecodeString(hash)
	if err != nil || len(h) != 32 {
		return "", false
	}
	v := r.Get(txHashKey(h))
	if len(v) != 32 {
		return "", false
	}
	return hex.EncodeToString(v), true
}

// index stages the index entries of a finalized block. A transaction rejected
// as a replay keeps pointing at the copy that was applied; any other later
// occurrence of the same id (one rejected, then resubmitted) moves the entry.
func (a *App) index(b *Block) {
	a.indexValidators(b)
	for _, o := range b.Txs {
		r := &o.Result
		if r.TxID == "" || r.Code == bbus.EREPLAY {
			continue
		}
		id, err := hex.DecodeString(r.TxID)
		if err != nil {
			continue
		}
		v, _ := json.Marshal(&TxLocation{Height: o.Height, Index: o.Index, Code: r.Code, ID: r.ID})
		a.store.SetLocal(txIndexKey(id), v)
		a.store.SetLocal(txHashKey(o.Hash[:]), id)
	}
}

// LookupTx returns where the transaction with bbus id txid (64 hex digits) was
// committed, from the index of the node whose committed state r reads. Blocks
// committed before the node had the index are not in it.
func LookupTx(r kv.Reader, txid string) (*TxLocation, bool) {
	id, err := hex.DecodeString(txid)
	if err != nil || len(id) != 32 {
		return nil, false
	}
	v := r.Get(txIndexKey(id))
	if v == nil {
		return nil, false
	}
	var loc TxLocation
	if json.Unmarshal(v, &loc) != nil {
		return nil, false
	}
	return &loc, true
}

// The validator-set change index: one key per height at which the consensus
// validator set may differ from the previous height's (the ledger returned
// validator updates two blocks before), and a key naming the first height the
// index covers. Evidence export walks the validator sets from genesis with it
// instead of reading every header.
var (
	prefixValChange = append(append([]byte{}, store.LocalPrefix...), "valchange/"...)
	keyValFrom      = append(append([]byte{}, store.LocalPrefix...), "valchange-from"...)
)

func valChangeKey(height int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, prefixValChange...), uint64(height))
}

// indexValidators stages the index entry of a finalized block whose ledger
// changed validators: CometBFT applies updates returned at height H from
// height H+2. The first block a node commits with the index names where it
// starts.
func (a *App) indexValidators(b *Block) {
	if a.store.Committed().Get(keyValFrom) == nil {
		a.store.SetLocal(keyValFrom, binary.BigEndian.AppendUint64(nil, uint64(b.Height)))
	}
	if len(b.ValidatorUpdates) > 0 {
		a.store.SetLocal(valChangeKey(b.Height+2), []byte{1})
	}
}

// ValidatorChanges returns, in ascending order, the heights in (from, to] at
// which the validator set may differ from the previous height's (a caller
// compares the headers' validators_hash to be sure), from the node's index.
// indexed is the height of the first block the node committed with the index
// (0 if none yet): the index holds every change at a height above
// indexed+1, and, when indexed is the chain's initial height, every change.
func ValidatorChanges(r kv.Reader, from, to int64) (heights []int64, indexed int64) {
	if v := r.Get(keyValFrom); len(v) == 8 {
		indexed = int64(binary.BigEndian.Uint64(v))
	}
	kv.IterateRange(r, valChangeKey(from+1), valChangeKey(to+1), func(k, _ []byte) bool {
		heights = append(heights, int64(binary.BigEndian.Uint64(k[len(prefixValChange):])))
		return true
	})
	return heights, indexed
}
