package chain

import (
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
