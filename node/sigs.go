package node

import (
	"runtime"
	"sync"

	"github.com/bbusdev/bbus/keys"
)

// sigBatcher checks the signatures of submitted transactions in batches,
// before CheckTx sees them: a batch of ed25519 signatures costs about half as
// much per signature as checking them one by one (keys.BenchmarkPrime), and
// it runs on the submitters' goroutines, in parallel, rather than in CheckTx,
// which the engine calls one transaction at a time. What verified goes into
// the ledger's VerifyCache, so CheckTx and FinalizeBlock find it there; the
// ledger still refuses, on its own check, what did not verify.
//
// Submitters queue their signature; up to one per CPU becomes a leader that
// checks what is queued, in batches of at most maxSigBatch, until the queue is
// empty. A lone submitter is its own batch of one: no waiting for others.
type sigBatcher struct {
	cache *keys.VerifyCache

	mu      sync.Mutex
	queue   []*sigReq
	leaders int
}

type sigReq struct {
	s    keys.Signed
	done chan struct{}
}

const maxSigBatch = 128

func newSigBatcher(cache *keys.VerifyCache) *sigBatcher { return &sigBatcher{cache: cache} }

// check returns once s was checked (and, if it verified, remembered).
func (b *sigBatcher) check(s keys.Signed) {
	r := &sigReq{s: s, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	if b.leaders >= runtime.GOMAXPROCS(0) {
		b.mu.Unlock()
		<-r.done
		return
	}
	b.leaders++
	for len(b.queue) > 0 {
		n := min(len(b.queue), maxSigBatch)
		batch := b.queue[:n:n]
		b.queue = append([]*sigReq(nil), b.queue[n:]...)
		b.mu.Unlock()
		items := make([]keys.Signed, len(batch))
		for i, q := range batch {
			items[i] = q.s
		}
		b.cache.Prime(items)
		for _, q := range batch {
			close(q.done)
		}
		b.mu.Lock()
	}
	b.leaders--
	b.mu.Unlock()
	<-r.done
}
