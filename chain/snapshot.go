package chain

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// SnapshotFormat is the format of bbus's state snapshots: the state tree
// exported node by node, leaves with their ledger values (store.Export).
const SnapshotFormat = 1

// DefaultChunkBytes bounds a snapshot chunk (CometBFT carries chunks of up to
// 16 MB).
const DefaultChunkBytes = 4 << 20

// SnapshotConfig is when the application writes state snapshots for nodes
// that join by state sync, and how far back CometBFT keeps blocks.
type SnapshotConfig struct {
	Dir        string // where snapshots are kept, one folder per height
	Interval   int64  // a snapshot every Interval heights; 0: none
	KeepRecent int    // snapshots kept (at least 1)
	ChunkBytes int    // 0: DefaultChunkBytes
	// RetainBlocks, if above 0, is how many of the last blocks CometBFT
	// keeps; never fewer than back to the latest snapshot's height.
	RetainBlocks int64
}

// snapshotMeta is a snapshot's metadata, as ABCI carries it; the snapshot's
// hash is the SHA-256 of its JSON.
type snapshotMeta struct {
	AppHash     []byte    `json:"app_hash"`
	Time        time.Time `json:"time"`
	TreeVersion int64     `json:"tree_version"`
	ChunkHashes [][]byte  `json:"chunk_hashes"`
}

type snapshots struct {
	SnapshotConfig

	mu       sync.Mutex
	list     []*abci.Snapshot // on disk, by height
	writing  bool
	lastErr  error
	done     chan struct{} // closed when the write in progress ends
	restore  *restoreState
	restored int64 // the height a restore completed at (0: none)
	taken    int64 // the height of the last snapshot begun (0: none)
}

type restoreState struct {
	snap    *abci.Snapshot
	meta    snapshotMeta
	appHash []byte
	r       *store.Restore
	next    uint32
}

// SetSnapshots makes the application write and serve snapshots as c says,
// and return retain heights from Commit. Call it before the node starts.
func (a *App) SetSnapshots(c SnapshotConfig) error {
	if c.KeepRecent < 1 {
		c.KeepRecent = 1
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = DefaultChunkBytes
	}
	s := &snapshots{SnapshotConfig: c}
	if c.Dir != "" {
		if err := os.MkdirAll(c.Dir, 0o700); err != nil {
			return fmt.Errorf("snapshots: %w", err)
		}
		list, err := loadSnapshots(c.Dir)
		if err != nil {
			return err
		}
		s.list = list
		if len(list) > 0 {
			s.taken = int64(list[len(list)-1].Height)
		}
	}
	a.snaps = s
	return nil
}

func loadSnapshots(dir string) ([]*abci.Snapshot, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	var list []*abci.Snapshot
	for _, e := range ents {
		h, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			// Left by a write that did not finish.
			os.RemoveAll(filepath.Join(dir, e.Name()))
			continue
		}
		meta, err := os.ReadFile(filepath.Join(dir, e.Name(), "metadata"))
		if err != nil {
			os.RemoveAll(filepath.Join(dir, e.Name()))
			continue
		}
		var m snapshotMeta
		if err := json.Unmarshal(meta, &m); err != nil {
			return nil, fmt.Errorf("snapshots: %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(meta)
		list = append(list, &abci.Snapshot{Height: uint64(h), Format: SnapshotFormat, Chunks: uint32(len(m.ChunkHashes)), Hash: sum[:], Metadata: meta})
	}
	slices.SortFunc(list, func(a, b *abci.Snapshot) int { return cmp.Compare(a.Height, b.Height) })
	return list, nil
}

// snapshotCommitted, called by Commit after the block of height is
// committed, starts writing a snapshot of it when one is due: at the first
// height from each multiple of the interval on whose state the state tree
// saved (under load it saves every few blocks, store/tree.go). The read view
// is taken here; the writing runs in the background.
func (a *App) snapshotCommitted(height int64) {
	s := a.snaps
	if s == nil || s.Interval <= 0 || s.Dir == "" || height <= 0 || height/s.Interval <= s.taken/s.Interval {
		return
	}
	if !a.store.Saved() {
		return
	}
	s.taken = height
	s.mu.Lock()
	if s.writing {
		s.mu.Unlock()
		a.logger.Error("a state snapshot is still being written: no snapshot at this height", "height", height)
		return
	}
	ex, err := a.store.Export()
	if err != nil {
		s.mu.Unlock()
		a.logger.Error("state snapshot", "height", height, "err", err)
		return
	}
	s.writing = true
	s.done = make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer ex.Release()
		snap, err := s.write(ex)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.writing, s.lastErr = false, err
		close(s.done)
		if err != nil {
			a.logger.Error("state snapshot failed", "height", height, "err", err)
			return
		}
		s.list = append(s.list, snap)
		for len(s.list) > s.KeepRecent {
			os.RemoveAll(filepath.Join(s.Dir, strconv.FormatUint(s.list[0].Height, 10)))
			s.list = s.list[1:]
		}
		a.logger.Info("state snapshot written", "height", height, "chunks", snap.Chunks)
	}()
}

func (s *snapshots) write(ex *store.Export) (*abci.Snapshot, error) {
	name := strconv.FormatInt(ex.Height, 10)
	tmp := filepath.Join(s.Dir, "tmp-"+name)
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	m := snapshotMeta{AppHash: ex.AppHash, Time: ex.Time, TreeVersion: ex.TreeVersion}
	err := ex.Chunks(s.ChunkBytes, func(c []byte) error {
		sum := sha256.Sum256(c)
		m.ChunkHashes = append(m.ChunkHashes, sum[:])
		return os.WriteFile(filepath.Join(tmp, strconv.Itoa(len(m.ChunkHashes)-1)), c, 0o600)
	})
	if err == nil {
		var meta []byte
		meta, _ = json.Marshal(m)
		if err = os.WriteFile(filepath.Join(tmp, "metadata"), meta, 0o600); err == nil {
			dst := filepath.Join(s.Dir, name)
			os.RemoveAll(dst)
			if err = os.Rename(tmp, dst); err == nil {
				sum := sha256.Sum256(meta)
				return &abci.Snapshot{Height: uint64(ex.Height), Format: SnapshotFormat, Chunks: uint32(len(m.ChunkHashes)), Hash: sum[:], Metadata: meta}, nil
			}
		}
	}
	os.RemoveAll(tmp)
	return nil, err
}

// WaitSnapshot waits until no snapshot is being written and returns the
// heights of the snapshots kept, oldest first, and the error of the last
// write (tests and tools).
func (a *App) WaitSnapshot(ctx context.Context) ([]int64, error) {
	s := a.snaps
	if s == nil {
		return nil, nil
	}
	for {
		s.mu.Lock()
		done, writing := s.done, s.writing
		if !writing {
			hs := make([]int64, len(s.list))
			for i, sn := range s.list {
				hs[i] = int64(sn.Height)
			}
			err := s.lastErr
			s.mu.Unlock()
			return hs, err
		}
		s.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// RestoredHeight is the height of the snapshot this node's state was
// restored from, or 0 if it was not (since it started).
func (a *App) RestoredHeight() int64 {
	if a.snaps == nil {
		return 0
	}
	a.snaps.mu.Lock()
	defer a.snaps.mu.Unlock()
	return a.snaps.restored
}

// retainHeight is what Commit returns at height: the first block CometBFT
// must keep, 0 to keep all.
func (a *App) retainHeight(height int64) int64 {
	s := a.snaps
	if s == nil || s.RetainBlocks <= 0 {
		return 0
	}
	r := height - s.RetainBlocks + 1
	if s.Interval > 0 {
		// A joining node needs the blocks from the snapshot's height on
		// (its light client verifies the headers there and after).
		s.mu.Lock()
		latest := int64(0)
		if len(s.list) > 0 {
			latest = int64(s.list[len(s.list)-1].Height)
		}
		s.mu.Unlock()
		r = min(r, latest)
	}
	if r < 1 {
		return 0
	}
	return r
}

// ListSnapshots lists the snapshots this node serves.
func (a *App) ListSnapshots(context.Context, *abci.ListSnapshotsRequest) (*abci.ListSnapshotsResponse, error) {
	res := &abci.ListSnapshotsResponse{}
	if s := a.snaps; s != nil {
		s.mu.Lock()
		res.Snapshots = slices.Clone(s.list)
		s.mu.Unlock()
	}
	return res, nil
}

// LoadSnapshotChunk returns a chunk of a snapshot this node serves (empty if
// it has no such chunk).
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.LoadSnapshotChunkRequest) (*abci.LoadSnapshotChunkResponse, error) {
	s := a.snaps
	if s == nil || req.Format != SnapshotFormat {
		return &abci.LoadSnapshotChunkResponse{}, nil
	}
	c, err := os.ReadFile(filepath.Join(s.Dir, strconv.FormatUint(req.Height, 10), strconv.FormatUint(uint64(req.Chunk), 10)))
	if err != nil {
		return &abci.LoadSnapshotChunkResponse{}, nil
	}
	return &abci.LoadSnapshotChunkResponse{Chunk: c}, nil
}

// OfferSnapshot accepts a snapshot to restore into this node's empty state
// when its format is bbus's, its metadata is whole and it claims the app
// hash of the header CometBFT's light client verified for its height.
func (a *App) OfferSnapshot(_ context.Context, req *abci.OfferSnapshotRequest) (*abci.OfferSnapshotResponse, error) {
	refuse := func(r abci.OfferSnapshotResult, msg string, args ...any) (*abci.OfferSnapshotResponse, error) {
		a.logger.Error("state sync: snapshot refused: "+fmt.Sprintf(msg, args...), "height", req.GetSnapshot().GetHeight())
		return &abci.OfferSnapshotResponse{Result: r}, nil
	}
	if a.snaps == nil {
		a.snaps = &snapshots{}
	}
	s := a.snaps
	snap := req.Snapshot
	if snap == nil {
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT, "no snapshot")
	}
	if snap.Format != SnapshotFormat {
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT, "format %d, this node restores format %d", snap.Format, SnapshotFormat)
	}
	var m snapshotMeta
	sum := sha256.Sum256(snap.Metadata)
	switch {
	case !bytes.Equal(sum[:], snap.Hash):
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT, "its metadata does not hash to the snapshot's hash")
	case json.Unmarshal(snap.Metadata, &m) != nil:
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT, "its metadata does not decode")
	case snap.Chunks == 0 || int(snap.Chunks) != len(m.ChunkHashes):
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT, "it has %d chunks and %d chunk hashes", snap.Chunks, len(m.ChunkHashes))
	case !bytes.Equal(m.AppHash, req.AppHash):
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT, "it is of app hash %X, the verified header of height %d says %X", m.AppHash, snap.Height, req.AppHash)
	}
	for _, h := range m.ChunkHashes {
		if len(h) != sha256.Size {
			return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT, "a chunk hash is not SHA-256")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restore != nil {
		s.restore.r.Abort()
		s.restore = nil
	}
	r, err := a.store.BeginRestore(int64(snap.Height), m.TreeVersion, m.Time)
	if errors.Is(err, store.ErrNotEmpty) {
		a.logger.Error("state sync: this node already holds a state; state sync restores only into an empty one")
		return &abci.OfferSnapshotResponse{Result: abci.OFFER_SNAPSHOT_RESULT_ABORT}, nil
	}
	if err != nil {
		return refuse(abci.OFFER_SNAPSHOT_RESULT_REJECT, "%v", err)
	}
	s.restore = &restoreState{snap: snap, meta: m, appHash: bytes.Clone(req.AppHash), r: r}
	a.logger.Info("state sync: restoring snapshot", "height", snap.Height, "chunks", snap.Chunks)
	return &abci.OfferSnapshotResponse{Result: abci.OFFER_SNAPSHOT_RESULT_ACCEPT}, nil
}

// ApplySnapshotChunk restores one chunk of the accepted snapshot. A chunk
// whose hash is not the metadata's is fetched again from another peer; a
// chunk that matches its hash but does not decode, or a snapshot whose
// rebuilt root is not the verified app hash, rejects the snapshot.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.ApplySnapshotChunkRequest) (*abci.ApplySnapshotChunkResponse, error) {
	s := a.snaps
	if s == nil {
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.restore
	if rs == nil {
		a.logger.Error("state sync: a chunk arrived with no snapshot being restored", "index", req.Index)
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT}, nil
	}
	height := rs.snap.Height
	if req.Index != rs.next {
		if req.Index < rs.next {
			return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT}, nil
		}
		a.logger.Error("state sync: chunk out of order; restarting the snapshot", "height", height, "index", req.Index, "want", rs.next)
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY_SNAPSHOT}, nil
	}
	if sum := sha256.Sum256(req.Chunk); !bytes.Equal(sum[:], rs.meta.ChunkHashes[req.Index]) {
		a.logger.Error("state sync: chunk refused: its hash is not the one in the snapshot's metadata; fetching it again from another peer",
			"height", height, "index", req.Index, "sender", req.Sender)
		res := &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY, RefetchChunks: []uint32{req.Index}}
		if req.Sender != "" {
			res.RejectSenders = []string{req.Sender}
		}
		return res, nil
	}
	reject := func(err error) (*abci.ApplySnapshotChunkResponse, error) {
		a.logger.Error("state sync: snapshot refused", "height", height, "err", err)
		s.restore = nil
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT}, nil
	}
	if err := rs.r.Add(req.Chunk); err != nil {
		rs.r.Abort()
		return reject(fmt.Errorf("chunk %d: %w", req.Index, err))
	}
	rs.next++
	if rs.next < rs.snap.Chunks {
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT}, nil
	}
	if err := rs.r.Finish(rs.appHash, ledger.RebuildDerived); err != nil {
		return reject(err)
	}
	s.restore = nil
	s.restored = int64(height)
	a.logger.Info("state sync: snapshot restored", "height", height, "app_hash", fmt.Sprintf("%X", rs.appHash))
	return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT}, nil
}
