package node

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
)

// What CometBFT v1 logs when a validator judges a proposal's time (PBTS) by its
// own clock: untimely at info level (it then prevotes nil), timely at debug.
const (
	untimelyProposal = "prevote step: Proposal is not timely; prevoting nil"
	timelyProposal   = "prevote step: Proposal is timely"
)

// untimelyReady is how many proposals in a row this node must judge untimely
// before /readyz blames its clock: proposers take turns, so one untimely
// proposal may be its proposer's clock, a run of them is this node's.
const untimelyReady = 2

// clockHealth is what the node knows of its own clock: whether consensus waits
// for the genesis time, and how the last proposals' times compared with it.
type clockHealth struct {
	genesis atomic.Int64 // Unix ns of the genesis time while consensus waits for it, else 0

	mu       sync.Mutex
	untimely int       // proposals judged untimely since the last timely one
	last     string    // the last untimely one, for /readyz
	block    time.Time // the time of the last block committed
	height   int64     // its height
	loggedAt time.Time // when checkBlockTime last logged
}

// err returns why the node's clock keeps it from taking part, or nil.
func (c *clockHealth) err(now time.Time) error {
	if g := c.genesis.Load(); g != 0 {
		gen := time.Unix(0, g).UTC()
		return bbus.Errorf(bbus.EUNAVAILABLE, "this node's clock (%s) is behind the chain's genesis time (%s): consensus waits %s for it; if the genesis time is right, set this clock right (NTP)",
			now.UTC().Format(time.RFC3339), gen.Format(time.RFC3339), gen.Sub(now).Round(time.Second))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.untimely >= untimelyReady {
		return bbus.Errorf(bbus.EUNAVAILABLE, "this node refused the last %d proposals as untimely by its own clock (last: %s): its clock is probably off; check NTP (docs/FEDERATION.md, Clocks)",
			c.untimely, c.last)
	}
	return nil
}

// behind returns an error if the last block committed carries a time more
// than Precision ahead of this node's clock at now: two thirds of the voting
// power judged that time timely by their clocks, so this node's is slow (by
// about the difference).
func (c *clockHealth) behind(now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.block.Sub(now); !c.block.IsZero() && d > Precision {
		return bbus.Errorf(bbus.EUNAVAILABLE, "this node's clock (%s) is %s behind the time of the last block (height %d, %s), which the validators accepted by their clocks: set this clock right (NTP; docs/FEDERATION.md, Clocks)",
			now.UTC().Format(time.RFC3339Nano), d.Round(time.Millisecond), c.height, c.block.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// checkBlockTime notes the time of a committed block, and logs at error level
// (at most once a minute) while blocks carry times more than Precision ahead
// of this node's clock at now.
func (n *Node) checkBlockTime(b *chain.Block, now time.Time) {
	c := &n.live.clock
	c.mu.Lock()
	c.block, c.height = b.Time, b.Height
	log := b.Time.Sub(now) > Precision && now.Sub(c.loggedAt) >= time.Minute
	if log {
		c.loggedAt = now
	}
	c.mu.Unlock()
	if log {
		n.log.Error("this node's clock is behind the time of the block it committed, which the validators accepted by their clocks: set this clock right (NTP)",
			"height", b.Height, "block_time", b.Time.UTC().Format(time.RFC3339Nano), "clock", now.UTC().Format(time.RFC3339Nano),
			"behind", b.Time.Sub(now).Round(time.Millisecond))
	}
}

// judged notes a proposal this node judged timely or not; keyvals are what
// CometBFT logged with an untimely one.
func (c *clockHealth) judged(timely bool, keyvals []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if timely {
		c.untimely, c.last = 0, ""
		return
	}
	c.untimely++
	c.last = describe(keyvals, "height", "round", "timestamp", "receive_time", "timestamp_difference", "lower_bound", "upper_bound")
}

// describe renders the named values of keyvals as "k v, k v".
func describe(keyvals []any, names ...string) string {
	s := ""
	for _, name := range names {
		for i := 0; i+1 < len(keyvals); i += 2 {
			if keyvals[i] == name {
				if s != "" {
					s += ", "
				}
				s += fmt.Sprintf("%s %v", name, keyvals[i+1])
			}
		}
	}
	return s
}

// Info passes msg on, and notes (and logs at error level) a proposal this node
// refused as untimely by its clock.
func (f failureLogger) Info(msg string, keyvals ...any) {
	f.Logger.Info(msg, keyvals...)
	if msg == untimelyProposal && f.clock != nil {
		f.clock.judged(false, append(append([]any{}, f.context...), keyvals...))
		f.Logger.Error("this node refused a proposal as untimely by its clock (PBTS) and prevoted nil: its clock or the proposer's is off; if this repeats for every proposer, set this node's clock right (NTP)",
			keyvals...)
	}
}

// Debug passes msg on, and notes a proposal this node judged timely.
func (f failureLogger) Debug(msg string, keyvals ...any) {
	f.Logger.Debug(msg, keyvals...)
	if msg == timelyProposal && f.clock != nil {
		f.clock.judged(true, nil)
	}
}

// startConsensus starts CometBFT. If this node's clock is behind the genesis
// time, it returns at once and starts it at the genesis time, meanwhile
// logging at error level (now and every minute) and answering /readyz with
// 503, so that a wrong clock is not a silent wait.
func (n *Node) startConsensus() error {
	gen := n.cmt.GenesisDoc().GenesisTime
	if time.Until(gen) <= 0 {
		if err := n.cmt.Start(); err != nil {
			return err
		}
		if n.cs != nil {
			n.watchConsensus(n.cs)
		}
		return nil
	}
	n.live.clock.genesis.Store(gen.UnixNano())
	say := func() {
		now := time.Now()
		n.log.Error("this node's clock is behind the chain's genesis time: consensus waits for it (if the genesis time is right, set this clock right: NTP)",
			"genesis_time", gen.UTC().Format(time.RFC3339), "clock", now.UTC().Format(time.RFC3339), "wait", gen.Sub(now).Round(time.Second))
	}
	say()
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		at := time.NewTimer(time.Until(gen))
		defer at.Stop()
		for waiting := true; waiting; {
			select {
			case <-n.live.stop:
				return
			case <-tick.C:
				say()
			case <-at.C:
				waiting = false
			}
		}
		n.live.startMu.Lock()
		defer n.live.startMu.Unlock()
		if n.live.stopping.Load() {
			return
		}
		n.live.clock.genesis.Store(0)
		if err := n.cmt.Start(); err != nil {
			n.live.fail(fmt.Errorf("start consensus: %w", err))
			return
		}
		if n.cs != nil {
			n.watchConsensus(n.cs)
		}
	}()
	return nil
}

// stopWaiting ends a wait for the genesis time; once it returns, consensus
// is either running or will not start.
func (l *liveness) stopWaiting() {
	l.stopping.Store(true)
	l.stopOnce.Do(func() { close(l.stop) })
	// A barrier: a start already under way holds startMu until consensus runs.
	l.startMu.Lock()
	//lint:ignore SA2001 the empty section waits for a start under way to finish
	l.startMu.Unlock()
}
