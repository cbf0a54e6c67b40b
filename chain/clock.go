package chain

import (
	"time"

	"github.com/bbusdev/bbus/ledger"
)

// SetClock makes admission (CheckTx, CheckHeader) read the time from now
// instead of the node's clock. Call it before the node starts.
func (a *App) SetClock(now func() time.Time) { a.clock = now }

// CheckHeader returns the header admission judges a transaction by: the last
// committed height, and the time the next block will carry as well as this
// node can tell (NextBlockTime). With proposer-based timestamps that is the
// proposer's clock when it proposes, so a transaction signed with a correct
// clock is not refused as expired because the chain was idle or halted and the
// last block is old.
func (a *App) CheckHeader() ledger.Header {
	h, _, t := a.store.Last()
	return ledger.Header{Height: h, Time: NextBlockTime(t, a.clock())}
}

// NextBlockTime returns the earliest time the block after one of time last can
// carry, judged at now by this node's clock: now, but never before last (block
// times only increase). A node whose clock is wrong judges wrongly, and only
// for its own mempool: every block is judged again by its own time.
func NextBlockTime(last, now time.Time) time.Time {
	now = now.UTC()
	if now.Before(last) {
		return last.UTC()
	}
	return now
}
