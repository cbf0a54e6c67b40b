package node

import (
	"sync"
	"time"

	"github.com/bbusdev/bbus/keys"
)

// sigBatcher checks the signatures of submitted transactions in batches,
// before CheckTx sees them: a batch of ed25519 signatures costs about half as
// much per signature as checking them one by one (keys.BenchmarkPrime), and
// it runs on a submitter's goroutine rather than in CheckTx, which the engine
// calls one transaction at a time. What verified goes into
// the ledger's VerifyCache, so CheckTx and FinalizeBlock find it there; the
// ledger still refuses, on its own check, what did not verify.
//
// Submitters queue their signature; one of them at a time becomes the leader
// that checks what is queued, in batches of at most maxSigBatch, until the
// queue is empty. A lone submitter is its own batch of one: no waiting for
// others. One leader, not one per CPU: while it checks a batch the next one
// gathers, so batches grow with the load, and the goroutine that applies
// blocks keeps a processor (docs/BENCHMARKS.md, "One signature leader").
//
// Under load a leader lets a short queue gather first: at a few thousand
// submissions a second they arrive one by one, and a leader that took each as
// it came checked most of them alone, at twice a batch's cost a signature.
// When the last batch ended less than busyGap ago and fewer than
// gatherTarget are queued, it waits up to gatherWait for more. A submitter
// that comes after a quiet spell is still checked at once.
type sigBatcher struct {
	verify  func([]keys.Signed) // checks a batch: the cache's Prime
	onPanic func(v any)         // logs a batch that failed (nil: nothing)

	mu       sync.Mutex
	queue    []*sigReq
	leaders  int
	lastDone time.Time     // when the last batch ended
	grown    chan struct{} // closed when the queue reaches gatherTarget while a leader gathers
	wait     time.Duration // gatherWait (tests set it)
}

type sigReq struct {
	s    keys.Signed
	done chan struct{}
}

const (
	maxSigBatch   = 128
	maxSigLeaders = 1
	gatherTarget  = 16
	gatherWait    = 500 * time.Microsecond
	busyGap       = 2 * time.Millisecond
)

func newSigBatcher(cache *keys.VerifyCache, onPanic func(v any)) *sigBatcher {
	return &sigBatcher{verify: cache.Prime, onPanic: onPanic, wait: gatherWait}
}

// check returns once s was checked (and, if it verified, remembered).
func (b *sigBatcher) check(s keys.Signed) {
	r := &sigReq{s: s, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	if b.grown != nil && len(b.queue) >= gatherTarget {
		close(b.grown)
		b.grown = nil
	}
	lead := b.leaders < maxSigLeaders
	if lead {
		b.leaders++
	}
	b.mu.Unlock()
	if lead {
		b.lead()
	}
	<-r.done
}

// lead checks what is queued, a batch at a time, until the queue is empty.
func (b *sigBatcher) lead() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.leaders--
			b.mu.Unlock()
			return
		}
		if len(b.queue) < gatherTarget && time.Since(b.lastDone) < busyGap {
			b.gather()
		}
		n := min(len(b.queue), maxSigBatch)
		batch := b.queue[:n:n]
		b.queue = append([]*sigReq(nil), b.queue[n:]...)
		b.mu.Unlock()
		b.prime(batch)
	}
}

// gather waits, b.mu held, until gatherTarget are queued or b.wait has
// passed.
func (b *sigBatcher) gather() {
	grown := make(chan struct{})
	b.grown = grown
	b.mu.Unlock()
	t := time.NewTimer(b.wait)
	select {
	case <-grown:
	case <-t.C:
	}
	t.Stop()
	b.mu.Lock()
	if b.grown == grown {
		b.grown = nil
	}
}

// prime checks one batch and releases its submitters, whatever happens: a
// batch that fails (a panic in the verifier) is logged and left to the
// ledger's own check of each signature.
func (b *sigBatcher) prime(batch []*sigReq) {
	defer func() {
		if v := recover(); v != nil && b.onPanic != nil {
			b.onPanic(v)
		}
		for _, q := range batch {
			close(q.done)
		}
		b.mu.Lock()
		b.lastDone = time.Now()
		b.mu.Unlock()
	}()
	items := make([]keys.Signed, len(batch))
	for i, q := range batch {
		items[i] = q.s
	}
	b.verify(items)
}
