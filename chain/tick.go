package chain

import (
	"bytes"
	"strconv"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// A tick is how a node asks for a block when the ledger has work due by time
// (ledger.NextDue: a migration proposal that lapses, an invitation, an
// application or an agreement proposal that expires) and no block is coming:
// the chain makes no empty blocks, and CometBFT proposes one only for a
// transaction in the mempool (or once create_empty_blocks_interval has
// passed). Its bytes are "bbus/tick HEIGHT DUE": the last committed height and
// the due time (Unix ns). It is not a bbus transaction and changes nothing:
// the block that carries it does, in BeginBlock, what was due by its time.
//
// It cannot be abused. CheckTx admits a tick only if it names the committed
// height and exactly the ledger's next due time, and only once that time has
// come, so that for each committed state one tick alone is valid: every node
// that sees the same work due makes the same bytes, and the mempool's cache
// keeps one copy. FinalizeBlock writes nothing for it, and ProcessProposal
// accepts only well-formed ticks of earlier heights (a proposer could fill a
// block with them as with any decodable transaction).
var tickPrefix = []byte("bbus/tick ")

// Tick returns the tick that asks for the block after height because the work
// at due is due.
func Tick(height int64, due time.Time) []byte {
	b := append(bytes.Clone(tickPrefix), strconv.FormatInt(height, 10)...)
	b = append(b, ' ')
	return strconv.AppendInt(b, due.UnixNano(), 10)
}

// IsTick reports whether raw is a tick's bytes (well-formed or not).
func IsTick(raw []byte) bool { return bytes.HasPrefix(raw, tickPrefix) }

// parseTick returns the height and due time of a well-formed tick: exactly the
// bytes Tick makes.
func parseTick(raw []byte) (height int64, due time.Time, ok bool) {
	rest, found := bytes.CutPrefix(raw, tickPrefix)
	if !found || len(rest) > 40 {
		return 0, time.Time{}, false
	}
	h, d, found := bytes.Cut(rest, []byte{' '})
	if !found {
		return 0, time.Time{}, false
	}
	height, err1 := strconv.ParseInt(string(h), 10, 64)
	ns, err2 := strconv.ParseInt(string(d), 10, 64)
	if err1 != nil || err2 != nil || height < 0 {
		return 0, time.Time{}, false
	}
	due = time.Unix(0, ns).UTC()
	if !bytes.Equal(Tick(height, due), raw) {
		return 0, time.Time{}, false
	}
	return height, due, true
}

// checkTick is CheckTx for a tick.
func (a *App) checkTick(raw []byte) error {
	height, due, ok := parseTick(raw)
	if !ok {
		return bbus.Errorf(bbus.EMALFORMED, "a tick is %q followed by a height and a time in Unix nanoseconds", "bbus/tick ")
	}
	h := a.CheckHeader()
	next, found := ledger.NextDue(a.store.Committed())
	switch {
	case height != h.Height:
		return bbus.Errorf(bbus.EINVALID, "tick for height %d: the last committed block is %d", height, h.Height)
	case !found || !next.Equal(due):
		return bbus.Errorf(bbus.EINVALID, "tick for %s: nothing the ledger does by time is due then", due.Format(time.RFC3339Nano))
	case due.After(h.Time):
		return bbus.Errorf(bbus.EINVALID, "tick for %s: not due yet (the next block's time is %s)", due.Format(time.RFC3339Nano), h.Time.Format(time.RFC3339Nano))
	}
	return nil
}

// TickType is the type a tick has in a block's outcomes and listings.
const TickType = "tick"
