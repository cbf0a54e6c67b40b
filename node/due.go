package node

import (
	"context"
	"time"

	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/ledger"
)

// dueRetry is how soon a node asks again for a block when the work due is
// still undone (its tick was refused or lost, say while the node caught up).
const dueRetry = time.Second

// dueWatch makes the node ask for a block (a chain.Tick in its mempool) when
// the ledger has work due by time (ledger.NextDue) and no block is coming: with
// empty blocks off, a migration proposal would otherwise show as lapsed only
// at the next block, up to create_empty_blocks_interval late. It wakes at the
// due time and after every committed block.
type dueWatch struct {
	n *Node
	loop
}

func newDueWatch(n *Node) *dueWatch {
	return &dueWatch{n: n, loop: newLoop()}
}

func (d *dueWatch) start() {
	d.run(func() {
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-d.wake:
			case <-t.C:
			}
			t.Stop()
			if wait, ok := d.look(); ok {
				t.Reset(wait)
			}
		}
	})
}

// look asks for a block if work is due and no transaction waits in the
// mempool (a block is coming then), and returns how long to wait before the
// next look, if there is anything to wait for.
func (d *dueWatch) look() (time.Duration, bool) {
	n := d.n
	height, _, _ := n.store.Last()
	if height == 0 {
		// The first block comes by itself; the commit pokes the watch.
		return 0, false
	}
	due, ok := ledger.NextDue(n.store.Committed())
	if !ok {
		return 0, false
	}
	if wait := time.Until(due); wait > 0 {
		return wait, true
	}
	if n.cmt.Mempool().Size() == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), dueRetry)
		_, err := n.rpc.BroadcastTxSync(ctx, chain.Tick(height, due))
		cancel()
		if err != nil {
			n.log.Debug("asking for a block for the work due failed", "due", due, "height", height, "err", err)
		}
	}
	return dueRetry, true
}
