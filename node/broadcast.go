package node

import (
	"context"
	"errors"
	"time"

	"github.com/cometbft/cometbft/rpc/core"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"
)

// broadcast hands raw to the mempool (CheckTx). While the node catches up with
// its peers (block sync, the first moments after a start), CometBFT v1 keeps
// its mempool closed: broadcast waits for it to open, as long as ctx and
// SubmitTimeout allow, so that a submission to a starting node is delayed, not
// refused.
func (n *Node) broadcast(ctx context.Context, raw []byte) (*coretypes.ResultBroadcastTx, error) {
	deadline := time.Now().Add(SubmitTimeout)
	for {
		r, err := n.rpc.BroadcastTxSync(ctx, raw)
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
