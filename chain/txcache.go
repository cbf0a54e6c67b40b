package chain

import (
	"sync"

	"github.com/bbusdev/bbus"
)

// TxDecoder decodes transactions as bbus.DecodeTx does and remembers the last
// it decoded: a node decodes each transaction when it is submitted, in
// CheckTx and in ProcessProposal, and the same bytes decode the same way.
// The transactions it returns are shared: callers must not change them. It
// holds at most about 2*size transactions and is safe for concurrent use.
type TxDecoder struct {
	mu        sync.Mutex
	size      int
	cur, prev map[string]*bbus.SignedTx
}

// NewTxDecoder returns a decoder that remembers the last size to 2*size
// transactions it decoded.
func NewTxDecoder(size int) *TxDecoder {
	return &TxDecoder{size: max(size, 1), cur: make(map[string]*bbus.SignedTx)}
}

// Decode is bbus.DecodeTx, answered from memory when it can be.
func (d *TxDecoder) Decode(raw []byte) (*bbus.SignedTx, error) {
	d.mu.Lock()
	tx, ok := d.cur[string(raw)]
	if !ok {
		tx, ok = d.prev[string(raw)]
	}
	d.mu.Unlock()
	if ok {
		return tx, nil
	}
	tx, err := bbus.DecodeTx(raw)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.cur) >= d.size {
		d.prev, d.cur = d.cur, make(map[string]*bbus.SignedTx, d.size)
	}
	d.cur[string(raw)] = tx
	d.mu.Unlock()
	return tx, nil
}
