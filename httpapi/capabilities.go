package httpapi

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bbusdev/bbus"
)

// What a Backend may do beyond Backend itself. The routes that need one answer
// 503 (unavailable) when the backend lacks it; package node implements them all.

// NodeSigner is a backend that holds its cloud's key and can sign for it: the
// node-signed writes (POST /v1/vms, /v1/migrations, ...) need it.
type NodeSigner interface {
	// SignAndSubmit signs action as the node's own cloud and submits it as
	// Backend.Submit does.
	SignAndSubmit(ctx context.Context, action bbus.Action, wait bool) (*bbus.TxResult, error)
}

// ChainReader is a backend that can read committed blocks and find committed
// transactions: GET /v1/blocks/{height} and GET /v1/txs/{id} need it.
type ChainReader interface {
	// Block returns the committed block at height, or ENOTFOUND.
	Block(ctx context.Context, height int64) (*bbus.Block, error)
	// Tx returns the committed transaction with the given bbus id, or ENOTFOUND.
	Tx(ctx context.Context, id string) (*bbus.CommittedTx, error)
}

// EventSource is a backend that keeps the ledger's recent events: GET
// /v1/events needs it.
type EventSource interface {
	// Events returns up to max held events that follow position after, oldest
	// first, and next: the position to ask after the next time. gap reports
	// that events following after are no longer held (they were dropped to
	// bound memory, or precede the node's start); the events returned then
	// start with the oldest held. wake is closed once events beyond next
	// arrive. A nil after asks for none: next is then the current end.
	Events(after *EventPos, max int) (events []bbus.Event, next EventPos, gap bool, wake <-chan struct{})
}

// EventPos is a position in the chain's sequence of events: the N-th event
// (from 0) of the block at Height. N = AllOfHeight stands after every event of
// the height.
type EventPos struct {
	Height int64
	N      int
}

// AllOfHeight is the EventPos.N that follows every event of a height.
const AllOfHeight = math.MaxInt32

// Less reports whether p comes before q.
func (p EventPos) Less(q EventPos) bool {
	return p.Height < q.Height || p.Height == q.Height && p.N < q.N
}

// String renders p as an event id: "<height>-<n>", or "<height>" for AllOfHeight.
func (p EventPos) String() string {
	if p.N >= AllOfHeight {
		return strconv.FormatInt(p.Height, 10)
	}
	return fmt.Sprintf("%d-%d", p.Height, p.N)
}

// ParseEventPos parses an event id: "<height>-<n>" (after that event) or
// "<height>" (after every event of that height; "0" is the beginning).
func ParseEventPos(s string) (EventPos, error) {
	hs, ns, hasN := strings.Cut(s, "-")
	h, err := strconv.ParseInt(hs, 10, 64)
	if err != nil || h < 0 {
		return EventPos{}, bbus.Errorf(bbus.EINVALID, "event id %q is not <height> or <height>-<n>", bbus.Clip(s))
	}
	if !hasN {
		return EventPos{Height: h, N: AllOfHeight}, nil
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 0 || n >= AllOfHeight {
		return EventPos{}, bbus.Errorf(bbus.EINVALID, "event id %q is not <height> or <height>-<n>", bbus.Clip(s))
	}
	return EventPos{Height: h, N: n}, nil
}
