package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus/kv"
)

// The replay set holds the id of every applied transaction until its expiry.
// Admission looks an id up in rt/<expires><txid>, one key per transaction;
// but that index, like the migration indexes, is derived (Derived): what the
// state tree commits to is rb/<expires><height><chunk>, the ids of a block's
// transactions that expire in one second, replayChunkIDs to a chunk in the
// order the block applied them. A block of a thousand transactions signed a
// second apart from each other then writes about sixteen leaves of the tree
// instead of a thousand (docs/DESIGN.md), a chunk is never larger than
// replayChunkIDs ids, and a snapshot, which carries the chunks, rebuilds the
// index from them (RebuildDerived).

// replayChunkIDs is the most ids one chunk of the replay set holds.
const replayChunkIDs = 64

// keyReplaySeq holds the block height and the number of transactions the
// block remembered so far (8 bytes each, big endian): a transaction's place
// in its block picks its chunk.
var keyReplaySeq = []byte("meta/replay_seq")

func replayChunkKey(expires, height int64, chunk uint64) []byte {
	k := append(bytes.Clone(prefixReplayChunk), uint64be(uint64(expires))...)
	k = append(k, uint64be(uint64(height))...)
	return append(k, uint64be(chunk)...)
}

// nextInBlock returns how many transactions the block of height remembered
// before this one, and counts this one.
func nextInBlock(st kv.Store, height int64) uint64 {
	var n uint64
	if v := st.Get(keyReplaySeq); len(v) == 16 && int64(binary.BigEndian.Uint64(v)) == height {
		n = binary.BigEndian.Uint64(v[8:])
	}
	st.Set(keyReplaySeq, binary.BigEndian.AppendUint64(uint64be(uint64(height)), n+1))
	return n
}

// forgetExpired drops the chunks of ids whose expiry is before block time t,
// and their ids from the index, at most MaxExpiriesPerBlock/replayChunkIDs
// chunks in the order they expire; the rest in the next blocks (an expired
// transaction is refused by its expiry meanwhile).
func forgetExpired(st kv.Store, t time.Time) {
	chunks, ids := dueEntries(st, prefixReplayChunk, keyReplayCursor, replayBound(prefixReplayChunk, t), MaxExpiriesPerBlock/replayChunkIDs, 60)
	for i, k := range chunks {
		st.Delete(k)
		expires := k[len(prefixReplayChunk) : len(prefixReplayChunk)+8]
		for v := ids[i]; len(v) >= 32; v = v[32:] {
			st.Delete(replayIndexKey(expires, v[:32]))
		}
	}
}

func replayIndexKey(expires, id []byte) []byte {
	return append(append(bytes.Clone(prefixReplayByTime), expires...), id...)
}

// eachReplayed calls fn with the index key of every id in the replay set's
// chunks.
func eachReplayed(r kv.Reader, fn func(key []byte)) {
	r.Iterate(prefixReplayChunk, nil, func(k, v []byte) bool {
		expires := k[len(prefixReplayChunk) : len(prefixReplayChunk)+8]
		for ; len(v) >= 32; v = v[32:] {
			fn(replayIndexKey(expires, v[:32]))
		}
		return true
	})
}
