package evidence

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
)

// The path proofs of a bundle reach the same roots as CometBFT's own proofs,
// for every leaf of trees of 1 to 70 leaves, and a path of another leaf fails.
func TestPathProofsMatchCometBFT(t *testing.T) {
	for n := 1; n <= 70; n++ {
		txs := make(types.Txs, n)
		results := make([]*abci.ExecTxResult, n)
		for i := range txs {
			txs[i] = []byte(fmt.Sprintf("tx %d of %d", i, n))
			results[i] = &abci.ExecTxResult{Code: uint32(i % 3), Data: []byte(fmt.Sprint("id-", i))}
		}
		dataHash, resultsHash := txs.Hash(), types.NewResults(results).Hash()
		paths := map[string]bool{}
		for i := range txs {
			txp := txs.Proof(i).Proof
			resp := types.NewResults(results).ProveResult(i)
			p := proofOf(int64(i), int64(n), &txp, &resp)
			if paths[p.Path] {
				t.Fatalf("n=%d: two leaves have path %q", n, p.Path)
			}
			paths[p.Path] = true
			root, err := rootOf(txLeaf(txs[i]), p.Path, p.TxAunts)
			if err != nil || !bytes.Equal(root, dataHash) {
				t.Fatalf("n=%d i=%d: tx root %X, want %X (%v)", n, i, root, dataHash, err)
			}
			r := Result{Code: results[i].Code, ID: string(results[i].Data)}
			root, err = rootOf(resultLeaf(r), p.Path, p.ResultAunts)
			if err != nil || !bytes.Equal(root, resultsHash) {
				t.Fatalf("n=%d i=%d: results root %X, want %X (%v)", n, i, root, resultsHash, err)
			}
			if i > 0 {
				other := pathOf(int64(i-1), int64(n))
				if root, _ := rootOf(txLeaf(txs[i]), other, p.TxAunts); bytes.Equal(root, dataHash) {
					t.Fatalf("n=%d: leaf %d verifies on the path of leaf %d", n, i, i-1)
				}
			}
			// Reading paths from the root orders leaves as the block does.
			if i > 0 && !positionOf(1, pathOf(int64(i-1), int64(n))).before(positionOf(1, p.Path)) {
				t.Fatalf("n=%d: leaf %d does not come after leaf %d", n, i, i-1)
			}
		}
	}
}

func TestQuickIDIsTheTransactionID(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	raw, id, err := bbus.SignTx(&bbus.Body{ChainID: "c", Signer: "cloud0", Nonce: 7, Expires: 1,
		Action: bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := quickID(raw); got != id {
		t.Fatalf("quickID %q, want %q", got, id)
	}
	for _, bad := range [][]byte{nil, []byte("{}"), raw[1:], raw[:len(raw)-1]} {
		if got := quickID(bad); got != "" {
			t.Fatalf("quickID(%q) = %q", bad, got)
		}
	}
}
