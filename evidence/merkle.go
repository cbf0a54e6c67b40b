package evidence

import (
	"crypto/sha256"
	"fmt"
	"math/bits"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/merkle"
	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	"github.com/cometbft/cometbft/types"
)

// A CometBFT Merkle proof names a leaf by its index and the tree's size, but
// the root commits to neither: for leaf 0, a tree of 3 and a tree of 4 take
// the same aunts to the same root. A bundle therefore carries the path (left
// or right at each level), which the root does commit to, so that no field of
// a proof can change without the proof failing.

// pathOf returns the path of leaf index in a CometBFT Merkle tree of total
// leaves, from the leaf up, in the order of merkle.Proof's aunts.
func pathOf(index, total int64) string {
	if total <= 1 {
		return ""
	}
	k := splitPoint(total)
	if index < k {
		return pathOf(index, k) + "L"
	}
	return pathOf(index-k, total-k) + "R"
}

// splitPoint is the largest power of two below n, as CometBFT splits a tree.
func splitPoint(n int64) int64 {
	k := int64(1) << (bits.Len64(uint64(n)) - 1)
	if k == n {
		k >>= 1
	}
	return k
}

// rootOf folds a leaf hash up a path.
func rootOf(leaf []byte, path string, aunts []cmtbytes.HexBytes) ([]byte, error) {
	if len(aunts) != len(path) {
		return nil, fmt.Errorf("path has %d levels but there are %d aunts", len(path), len(aunts))
	}
	h := leaf
	for i := 0; i < len(path); i++ {
		if len(aunts[i]) != sha256.Size {
			return nil, fmt.Errorf("aunt %d is %d bytes, not %d", i, len(aunts[i]), sha256.Size)
		}
		switch path[i] {
		case 'L':
			h = innerHash(h, aunts[i])
		case 'R':
			h = innerHash(aunts[i], h)
		default:
			return nil, fmt.Errorf("path letter %d is %q, not L or R", i, path[i])
		}
	}
	return h, nil
}

func innerHash(left, right []byte) []byte {
	s := sha256.New()
	s.Write([]byte{1})
	s.Write(left)
	s.Write(right)
	return s.Sum(nil)
}

// txLeaf is the leaf hash of a transaction in its block's data hash.
func txLeaf(raw []byte) []byte { return types.Txs{raw}.Hash() }

// resultLeaf is the leaf hash of a transaction's result in the next header's
// last results hash. Gas is always zero in bbus.
func resultLeaf(r Result) []byte {
	var data []byte
	if r.ID != "" {
		data = []byte(r.ID)
	}
	return types.NewResults([]*abci.ExecTxResult{{Code: r.Code, Data: data}}).Hash()
}

// proofOf returns the proof of leaf index among n leaves whose tx and result
// Merkle proofs are given.
func proofOf(index, total int64, txp, resp *merkle.Proof) Proof {
	p := Proof{Path: pathOf(index, total), TxAunts: []cmtbytes.HexBytes{}, ResultAunts: []cmtbytes.HexBytes{}}
	for _, a := range txp.Aunts {
		p.TxAunts = append(p.TxAunts, a)
	}
	for _, a := range resp.Aunts {
		p.ResultAunts = append(p.ResultAunts, a)
	}
	return p
}
