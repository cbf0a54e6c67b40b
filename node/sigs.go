package node

import (
	"sync"

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
type sigBatcher struct {
	verify  func([]keys.Signed) // checks a batch: the cache's Prime
	onPanic func(v any)         // logs a batch that failed (nil: nothing)

	mu      sync.Mutex
	queue   []*sigReq
	leaders int
}

type sigReq struct {
	s    keys.Signed
	done chan struct{}
}

const (
	maxSigBatch   = 128
	maxSigLeaders = 1
)

func newSigBatcher(cache *keys.VerifyCache, onPanic func(v any)) *sigBatcher {
	return &sigBatcher{verify: cache.Prime, onPanic: onPanic}
}

// check returns once s was checked (and, if it verified, remembered).
func (b *sigBatcher) check(s keys.Signed) {
	r := &sigReq{s: s, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
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
		n := min(len(b.queue), maxSigBatch)
		batch := b.queue[:n:n]
		b.queue = append([]*sigReq(nil), b.queue[n:]...)
		b.mu.Unlock()
		b.prime(batch)
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
	}()
	items := make([]keys.Signed, len(batch))
	for i, q := range batch {
		items[i] = q.s
	}
	b.verify(items)
}
