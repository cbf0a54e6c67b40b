package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/bbusdev/bbus/keys"
)

// TestSigBatcherChecksEverySubmission: many submitters at once, some with bad
// signatures; each returns once its own was checked, the good ones are then
// answered from the cache, and the bad ones still do not verify.
func TestSigBatcherChecksEverySubmission(t *testing.T) {
	cache := keys.NewVerifyCache(1000)
	b := newSigBatcher(cache)
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
