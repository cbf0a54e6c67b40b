package node

import (
	"context"
	"errors"
	"time"

	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/rpc/core"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"
)

// broadcast hands raw to the mempool (CheckTx). While the node catches up with
// its peers (block sync, the first moments after a start), CometBFT v1 keeps
// its mempool closed: broadcast waits for it to open, as long as ctx and
// SubmitTimeout allow, so that a submission to a starting node is delayed, not
// refused.
//
// On a new chain it also waits for the first block. CometBFT v1 drops the
// transactions a peer gossips to a node still in block sync and never sends
// them again, and it gossips transactions of the first heights to peers
// whatever their state: a transaction admitted in the second before the
// others have started would stay with its node alone, and with empty blocks
// off it would commit only once that node proposes. Two thirds of the
// validators have left block sync once the first block is committed.
func (n *Node) broadcast(ctx context.Context, raw []byte) (*coretypes.ResultBroadcastTx, error) {
	return Broadcast(ctx, n.rpc, func() int64 { h, _, _ := n.store.Last(); return h }, raw)
}

// Broadcast is how a node hands a submission to CometBFT (see broadcast
// above), for an in-process CometBFT whose application's last committed
// height is height(): the benchmark's baseline uses it too.
func Broadcast(ctx context.Context, c *local.Local, height func() int64, raw []byte) (*coretypes.ResultBroadcastTx, error) {
	deadline := time.Now().Add(SubmitTimeout)
	for height() == 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	for {
		r, err := c.BroadcastTxSync(ctx, raw)
		if !errors.Is(err, core.ErrEndpointClosedCatchingUp) || time.Now().After(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
