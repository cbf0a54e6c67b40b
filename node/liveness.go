package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtlog "github.com/cometbft/cometbft/libs/log"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/httpapi"
)

// HealthConfig is what the node's health endpoints judge by. It is the
// "health" object of HOME/config/bbus.json; docs/API.md explains it.
type HealthConfig struct {
	// StallAfter is how long transactions may wait in the mempool with no
	// block committed before /readyz says the node is not ready. 0 turns the
	// check off (a failed consensus still makes the node not ready).
	StallAfter Duration `json:"stall_after"`
}

// DefaultHealthConfig returns the health settings of a new home: a
// transaction that waited as long as a submission waits for its commit
// (SubmitTimeout) is stalled.
func DefaultHealthConfig() HealthConfig {
	return HealthConfig{StallAfter: Duration(SubmitTimeout)}
}

// Validate checks the settings.
func (c *HealthConfig) Validate() error {
	if c.StallAfter < 0 {
		return bbus.Errorf(bbus.EINVALID, "health.stall_after must not be negative, not %s", time.Duration(c.StallAfter))
	}
	return nil
}

// consensusFailure is what CometBFT (v0.38 and v1) logs, at error level, when its
// consensus routine recovers from a panic (a file it cannot write, a panic of
// the application in FinalizeBlock or Commit, ...). The routine then ends and
// consensus does not resume until the process restarts.
const consensusFailure = "CONSENSUS FAILURE!!!"

// liveness is what the node knows of its consensus making progress.
type liveness struct {
	stallAfter time.Duration
	mempool    func() int // transactions waiting; set once consensus exists

	once     sync.Once
	failed   chan struct{} // closed when consensus has failed
	reason   error         // why; written before failed closes
	stopping atomic.Bool   // Stop was called: consensus ending is not a failure

	// lastCommit is when (wall clock, Unix ns) the node last committed a block
	// or started; waitingSince when a transaction was last admitted to an
	// empty-since-commit mempool, which starts the stall clock afresh after a
	// long idle time.
	lastCommit   atomic.Int64
	waitingSince atomic.Int64

	clock    clockHealth   // this node's clock (clock.go)
	stop     chan struct{} // closed by Stop: a wait for the genesis time ends
	stopOnce sync.Once
	startMu  sync.Mutex // held while consensus starts after the genesis time
}

func newLiveness(c HealthConfig) *liveness {
	l := &liveness{stallAfter: time.Duration(c.StallAfter), failed: make(chan struct{}), stop: make(chan struct{})}
	l.lastCommit.Store(time.Now().UnixNano())
	return l
}

// fail records that consensus has stopped; only the first reason is kept.
func (l *liveness) fail(reason error) {
	l.once.Do(func() {
		l.reason = reason
		close(l.failed)
	})
}

// err returns why consensus failed, or nil.
func (l *liveness) err() error {
	select {
	case <-l.failed:
		return l.reason
	default:
		return nil
	}
}

// committed notes a committed block.
func (l *liveness) committed() { l.lastCommit.Store(time.Now().UnixNano()) }

// admitted notes a transaction that entered the mempool.
func (l *liveness) admitted() {
	now := time.Now().UnixNano()
	for {
		w := l.waitingSince.Load()
		if w > l.lastCommit.Load() || l.waitingSince.CompareAndSwap(w, now) {
			return
		}
	}
}

// stalled returns why the node is not making progress, or nil.
func (l *liveness) stalled(now time.Time) error {
	if err := l.err(); err != nil {
		return bbus.Errorf(bbus.EUNAVAILABLE, "%v", err)
	}
	if err := l.clock.behind(now); err != nil {
		return err
	}
	if err := l.clock.err(now); err != nil {
		return err
	}
	if l.stallAfter <= 0 || l.mempool == nil {
		return nil
	}
	waiting := l.mempool()
	if waiting == 0 {
		return nil
	}
	since := max(l.lastCommit.Load(), l.waitingSince.Load())
	if d := now.Sub(time.Unix(0, since)); d > l.stallAfter {
		return bbus.Errorf(bbus.EUNAVAILABLE, "consensus is not making progress: transactions waiting: %d, no block committed for %s (health.stall_after is %s)",
			waiting, d.Round(time.Millisecond), l.stallAfter)
	}
	return nil
}

// failureLogger passes everything to its Logger and tells onFailure, with the
// reason CometBFT gives, when consensus fails.
type failureLogger struct {
	cmtlog.Logger
	onFailure func(reason error)
	clock     *clockHealth // told how proposals' times compare with this node's clock (clock.go)
	context   []any        // the keyvals of With, for what clock is told
}

func (f failureLogger) Error(msg string, keyvals ...any) {
	f.Logger.Error(msg, keyvals...)
	if msg == consensusFailure {
		reason := "unknown cause"
		for i := 0; i+1 < len(keyvals); i += 2 {
			if keyvals[i] == "err" {
				reason = fmt.Sprint(keyvals[i+1])
			}
		}
		f.onFailure(fmt.Errorf("consensus failed (CometBFT's CONSENSUS FAILURE): %s", reason))
	}
}

func (f failureLogger) With(keyvals ...any) cmtlog.Logger {
	return failureLogger{Logger: f.Logger.With(keyvals...), onFailure: f.onFailure, clock: f.clock,
		context: append(append([]any{}, f.context...), keyvals...)}
}

// progressApp is the application as CometBFT sees it: the node's, noting each
// transaction admitted to the mempool.
type progressApp struct {
	*chain.App
	live *liveness
}

func (a progressApp) CheckTx(ctx context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	res, err := a.App.CheckTx(ctx, req)
	if err == nil && res.Code == abci.CodeTypeOK {
		a.live.admitted()
	}
	return res, err
}

// waiter is CometBFT's consensus state machine, whose Wait returns once its
// routine has ended.
type waiter interface{ Wait() }

// watchConsensus notes a failure when the consensus routine ends while the node
// is not stopping, whatever the cause. (If the node stops before consensus ever
// started, while it was still syncing, the waiting goroutine stays blocked.)
func (n *Node) watchConsensus(cs waiter) {
	go func() {
		cs.Wait()
		if !n.live.stopping.Load() {
			n.live.fail(fmt.Errorf("consensus failed: its routine ended"))
		}
	}()
}

// Failed returns a channel closed once the node's consensus has failed; the
// node then commits nothing until it is restarted. Err says why.
func (n *Node) Failed() <-chan struct{} { return n.live.failed }

// Err returns why consensus failed, or nil while it runs.
func (n *Node) Err() error { return n.live.err() }

// Stalled implements httpapi.Liveness.
func (n *Node) Stalled() error { return n.live.stalled(time.Now()) }

var _ httpapi.Liveness = (*Node)(nil)
