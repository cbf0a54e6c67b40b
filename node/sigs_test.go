package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bbusdev/bbus/keys"
)

// TestSigBatcherChecksEverySubmission: many submitters at once, some with bad
// signatures; each returns once its own was checked, the good ones are then
// answered from the cache, and the bad ones still do not verify.
func TestSigBatcherChecksEverySubmission(t *testing.T) {
	cache := keys.NewVerifyCache(1000)
	b := newSigBatcher(cache, func(v any) { t.Errorf("a batch failed: %v", v) })
	var seenMu sync.Mutex
	seen := map[string]int{} // message -> batches that held it
	b.verify = func(items []keys.Signed) {
		seenMu.Lock()
		for _, it := range items {
			seen[string(it.Msg)]++
		}
		seenMu.Unlock()
		cache.Prime(items)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := 0; i < 400; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := []byte(fmt.Sprintf("tx %d", i))
			sig := ed25519.Sign(priv, msg)
			if i%7 == 0 {
				sig[0] ^= 1
			}
			b.check(keys.Signed{Pub: pub, Msg: msg, Sig: sig})
			seenMu.Lock()
			n := seen[string(msg)]
			seenMu.Unlock()
			if n != 1 {
				errs <- fmt.Errorf("tx %d: check returned after %d batches held it, want 1", i, n)
			}
			if got := cache.Verify(pub, msg, sig); got != (i%7 != 0) {
				errs <- fmt.Errorf("tx %d: verifies %v after the batch", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(b.queue) != 0 || b.leaders != 0 {
		t.Fatalf("after every check returned: %d queued, %d leaders", len(b.queue), b.leaders)
	}
}

// TestSigBatcherSurvivesAFailedBatch: a batch whose check panics releases its
// submitters, is reported, and the batcher goes on with the next ones.
func TestSigBatcherSurvivesAFailedBatch(t *testing.T) {
	var mu sync.Mutex
	failed, checked := 0, 0
	b := newSigBatcher(keys.NewVerifyCache(10), func(any) { mu.Lock(); failed++; mu.Unlock() })
	b.verify = func(items []keys.Signed) {
		mu.Lock()
		defer mu.Unlock()
		checked += len(items)
		for _, it := range items {
			if string(it.Msg) == "boom" {
				panic("verifier failed")
			}
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := "ok"
			if i%10 == 0 {
				msg = "boom"
			}
			b.check(keys.Signed{Msg: []byte(msg)})
		}()
	}
	wg.Wait()
	if checked != 100 || failed == 0 || b.leaders != 0 || len(b.queue) != 0 {
		t.Fatalf("%d checked, %d batches failed, %d leaders and %d queued after all returned", checked, failed, b.leaders, len(b.queue))
	}
}

// TestSigBatcherGathersUnderLoad: right after a batch, a leader that finds
// fewer than gatherTarget queued waits for more and checks them as one batch;
// after a quiet spell a lone submitter is checked at once, alone.
func TestSigBatcherGathersUnderLoad(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	b := newSigBatcher(keys.NewVerifyCache(100), func(v any) { t.Errorf("a batch failed: %v", v) })
	b.verify = func(items []keys.Signed) {
		mu.Lock()
		batches = append(batches, len(items))
		mu.Unlock()
	}
	b.wait = time.Minute                   // the test, not the clock, brings the others
	b.lastDone = time.Now().Add(time.Hour) // a batch "just ended", however slowly the goroutines start
	var wg sync.WaitGroup
	for i := range gatherTarget {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.check(keys.Signed{Msg: []byte(fmt.Sprint(i))})
		}()
	}
	wg.Wait()
	if len(batches) != 1 || batches[0] != gatherTarget {
		t.Fatalf("under load: batches of %v, want one of %d", batches, gatherTarget)
	}
	batches = nil
	b.lastDone = time.Now().Add(-time.Second)
	b.check(keys.Signed{Msg: []byte("alone")}) // with b.wait a minute, this would hang if it gathered
	if len(batches) != 1 || batches[0] != 1 {
		t.Fatalf("after a quiet spell: batches of %v, want one of 1", batches)
	}
}
