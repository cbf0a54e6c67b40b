package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// commitBlocks runs blocks from..to through app, one VM registered in each.
func commitBlocks(t *testing.T, app *App, from, to int64) {
	t.Helper()
	ctx := context.Background()
	for h := from; h <= to; h++ {
		txs := [][]byte{sign("bbus-chain", "a", uint64(2*h), bbus.Action{VMRegister: &bbus.VMRegister{VM: fmt.Sprintf("vm-%d", h), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})}
		if h > 1 {
			txs = append(txs, sign("bbus-chain", "a", uint64(2*h+1), bbus.Action{VMTerminate: &bbus.VMRef{VM: fmt.Sprintf("vm-%d", h-1)}}))
		}
		// A migration lifecycle a block a step, so that the state holds
		// migrations at every step and the indexes the tree leaves out.
		n := uint64(1000 + 10*h)
		txs = append(txs,
			sign("bbus-chain", "a", n, bbus.Action{VMRegister: &bbus.VMRegister{VM: fmt.Sprintf("w-%d", h), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}),
			sign("bbus-chain", "a", n+1, bbus.Action{MigrationPropose: &bbus.Propose{VM: fmt.Sprintf("w-%d", h), To: "b"}}))
		if h > 1 {
			txs = append(txs, sign("bbus-chain", "b", n+2, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: fmt.Sprintf("mig-%d", h-1)}}))
		}
		if h > 2 {
			txs = append(txs, sign("bbus-chain", "b", n+3, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: fmt.Sprintf("mig-%d", h-2)}}))
		}
		if h > 3 {
			txs = append(txs, sign("bbus-chain", "a", n+4, bbus.Action{VMTerminate: &bbus.VMRef{VM: fmt.Sprintf("w-%d", h-3)}}))
		}
		fin, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: h, Time: genesisTime.Add(time.Duration(h) * time.Second), Txs: txs})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range fin.TxResults {
			if r.Code != 0 {
				t.Fatalf("height %d tx %d: %s", h, i, r.Log)
			}
		}
		res, err := app.Commit(ctx, &abci.CommitRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if want := app.retainHeight(h); res.RetainHeight != want {
			t.Fatalf("height %d: retain %d, want %d", h, res.RetainHeight, want)
		}
	}
}

// ledgerKeys renders every key and value of the ledger's committed state
// (not the store's own keys).
func ledgerKeys(a *App) string {
	var b strings.Builder
	a.store.Committed().Iterate(nil, nil, func(k, v []byte) bool {
		if k[0] != 0 {
			fmt.Fprintf(&b, "%q = %q\n", k, v)
		}
		return true
	})
	return b.String()
}

func restoreInto(t *testing.T, dst *App, snap *abci.Snapshot, appHash []byte, chunk func(i uint32) []byte) (abci.OfferSnapshotResult, abci.ApplySnapshotChunkResult) {
	t.Helper()
	ctx := context.Background()
	offer, err := dst.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: snap, AppHash: appHash})
	if err != nil || offer.Result != abci.OFFER_SNAPSHOT_RESULT_ACCEPT {
		return offer.GetResult(), 0
	}
	var last abci.ApplySnapshotChunkResult
	for i := uint32(0); i < snap.Chunks; i++ {
		res, err := dst.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: i, Chunk: chunk(i), Sender: "peer"})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Result
		if last != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
			break
		}
	}
	return offer.Result, last
}

func TestSnapshotsEveryIntervalServeAndRestore(t *testing.T) {
	src := newApp(t)
	if err := src.SetSnapshots(SnapshotConfig{Dir: t.TempDir(), Interval: 5, KeepRecent: 2, ChunkBytes: 512, RetainBlocks: 3}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for h := int64(1); h <= 17; h++ {
		commitBlocks(t, src, h, h)
		if _, err := src.WaitSnapshot(ctx); err != nil {
			t.Fatal(err)
		}
	}
	heights, _ := src.WaitSnapshot(ctx)
	if fmt.Sprint(heights) != "[10 15]" {
		t.Fatalf("snapshots kept %v, want the last two of every 5 heights", heights)
	}
	// Block retention: three blocks back, but never past the latest snapshot.
	if r := src.retainHeight(17); r != 15 {
		t.Fatalf("retain at 17: %d, want 15 (the latest snapshot)", r)
	}
	if r := src.retainHeight(30); r != 15 {
		t.Fatalf("retain at 30: %d", r)
	}
	list, _ := src.ListSnapshots(ctx, &abci.ListSnapshotsRequest{})
	snap := list.Snapshots[1]
	if snap.Height != 15 || snap.Chunks < 2 {
		t.Fatalf("snapshot %d of %d chunks", snap.Height, snap.Chunks)
	}
	load := func(i uint32) []byte {
		r, _ := src.LoadSnapshotChunk(ctx, &abci.LoadSnapshotChunkRequest{Height: snap.Height, Format: snap.Format, Chunk: i})
		return r.Chunk
	}
	// The app hash of height 15, as a verified header would carry it: the
	// source's state is at 17 now, so take it from the snapshot's tree.
	var want []byte
	{
		ref := newApp(t)
		commitBlocks(t, ref, 1, 15)
		_, want, _ = ref.store.Last()
	}
	newEmpty := func() *App {
		a := New(ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), store.OpenMem())
		return a
	}

	// A wrong format, a metadata that does not match its hash, an app hash
	// other than the header's: refused at the offer.
	dst := newEmpty()
	bad := *snap
	bad.Format = 7
	if r, _ := restoreInto(t, dst, &bad, want, load); r != abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT {
		t.Fatalf("format 7: %v", r)
	}
	bad = *snap
	bad.Metadata = bytes.Replace(bytes.Clone(snap.Metadata), []byte(`"tree_version":`), []byte(`"tree_version":1`), 1)
	if r, _ := restoreInto(t, dst, &bad, want, load); r != abci.OFFER_SNAPSHOT_RESULT_REJECT {
		t.Fatalf("altered metadata: %v", r)
	}
	wrong := bytes.Clone(want)
	wrong[3] ^= 1
	if r, _ := restoreInto(t, dst, snap, wrong, load); r != abci.OFFER_SNAPSHOT_RESULT_REJECT {
		t.Fatalf("other app hash: %v", r)
	}
	// A chunk that does not match its hash is fetched again from elsewhere.
	if _, err := dst.OfferSnapshot(ctx, &abci.OfferSnapshotRequest{Snapshot: snap, AppHash: want}); err != nil {
		t.Fatal(err)
	}
	c0 := bytes.Clone(load(0))
	c0[len(c0)-1] ^= 1
	res, _ := dst.ApplySnapshotChunk(ctx, &abci.ApplySnapshotChunkRequest{Index: 0, Chunk: c0, Sender: "liar"})
	if res.Result != abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY || fmt.Sprint(res.RefetchChunks) != "[0]" || fmt.Sprint(res.RejectSenders) != "[liar]" {
		t.Fatalf("tampered chunk: %+v", res)
	}
	// The good chunks restore the state of height 15, with its app hash.
	if o, a := restoreInto(t, dst, snap, want, load); o != abci.OFFER_SNAPSHOT_RESULT_ACCEPT || a != abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT {
		t.Fatalf("restore: %v %v", o, a)
	}
	info, _ := dst.Info(ctx, &abci.InfoRequest{})
	if info.LastBlockHeight != 15 || !bytes.Equal(info.LastBlockAppHash, want) || dst.RestoredHeight() != 15 {
		t.Fatalf("info after restore: %d %X, want 15 %X", info.LastBlockHeight, info.LastBlockAppHash, want)
	}
	if _, err := ledger.VM(dst.store.Committed(), "vm-15"); err != nil {
		t.Fatal(err)
	}
	// It goes on with the next blocks to the source's app hash.
	dst.SetClock(func() time.Time { return genesisTime })
	commitBlocks(t, dst, 16, 17)
	_, a, _ := dst.store.Last()
	_, b, _ := src.store.Last()
	if !bytes.Equal(a, b) {
		t.Fatalf("after blocks 16-17: restored %X, source %X", a, b)
	}
	// And so to the same state, the indexes the snapshot did not carry
	// included.
	if got, want := ledgerKeys(dst), ledgerKeys(src); got != want {
		t.Fatalf("after blocks 16-17, the restored state differs from the source's:\n%s\nsource:\n%s", got, want)
	}
	if !strings.Contains(ledgerKeys(src), `"l/`) || !strings.Contains(ledgerKeys(src), `"mo/`) {
		t.Fatal("the source's state holds no open migration: the test does not reach the derived indexes")
	}
	// A node that holds a state refuses to restore over it.
	if r, _ := restoreInto(t, dst, snap, want, load); r != abci.OFFER_SNAPSHOT_RESULT_ABORT {
		t.Fatalf("restore over a state: %v", r)
	}
}

// TestSnapshotRejectsChunkThatDoesNotRebuildTheRoot: chunks whose hashes
// match the metadata (a snapshot made up by a peer) but hold a changed key
// are refused with REJECT_SNAPSHOT, and the state stays empty. The byte
// changed here is an inner node's key, which IAVL leaves out of the node's
// hash: the root comes out right, and only the key-order check catches it.
func TestSnapshotRejectsChunkThatDoesNotRebuildTheRoot(t *testing.T) {
	src := newApp(t)
	commitBlocks(t, src, 1, 3)
	ex, err := src.store.Export()
	if err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	ex.Chunks(1<<20, func(c []byte) error { chunks = append(chunks, c); return nil })
	ex.Release()
	trusted := ex.AppHash
	i := bytes.LastIndex(chunks[0], []byte("vm-3"))
	if i < 0 {
		t.Fatal("no vm-3 in the snapshot")
	}
	chunks[0][i+3] = '9' // a value changed, and the metadata made to match it
	snap := handMade(t, ex.Height, snapshotMeta{AppHash: trusted, Time: ex.Time, TreeVersion: ex.TreeVersion}, chunks)
	dst := New(ledger.New(keys.Verify), store.OpenMem())
	o, a := restoreInto(t, dst, snap, trusted, func(i uint32) []byte { return chunks[i] })
	if o != abci.OFFER_SNAPSHOT_RESULT_ACCEPT || a != abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT {
		t.Fatalf("made-up snapshot: %v %v", o, a)
	}
	if h, hash, _ := dst.store.Last(); h != 0 || hash != nil {
		t.Fatalf("state after a refused snapshot: %d %X", h, hash)
	}
}

// handMade returns the snapshot of height made of chunks, its metadata
// carrying their hashes.
func handMade(t *testing.T, height int64, m snapshotMeta, chunks [][]byte) *abci.Snapshot {
	t.Helper()
	for _, c := range chunks {
		sum := sha256.Sum256(c)
		m.ChunkHashes = append(m.ChunkHashes, sum[:])
	}
	meta, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(meta)
	return &abci.Snapshot{Height: uint64(height), Format: SnapshotFormat, Chunks: uint32(len(chunks)), Hash: sum[:], Metadata: meta}
}
