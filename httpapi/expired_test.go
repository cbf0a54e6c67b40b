package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
)

// localSigner signs transactions as the node's own cloud "local" with the
// given expiry, and distinct nonces.
func (l *liveNode) localSigner(t *testing.T) func(a bbus.Action, expires int64) []byte {
	t.Helper()
	k, err := keys.Load(l.home, "local")
	if err != nil {
		t.Fatal(err)
	}
	var nonce uint64
	return func(a bbus.Action, expires int64) []byte {
		nonce++
		raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-local", Signer: "local", Nonce: nonce, Expires: expires, Action: a}, k.PrivKey)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
}

// TestResubmittedExpiredTx: a transaction committed, then resubmitted once
// its expiry has passed, is refused at once with 400 expired, whether the
// caller waits for the commit or not (it used to answer 202, or wait the
// whole submit timeout and answer 503: the mempool's cache still held the
// bytes, and only a replay was taken from the check made then).
func TestResubmittedExpiredTx(t *testing.T) {
	l := startNode(t, nil)
	sign := l.localSigner(t)
	expires := time.Now().Add(2 * time.Second).Unix()
	raw := sign(register("vm-exp", 1), expires)
	wantResult(t, "first submission", call(t, "POST", l.base+"/v1/txs", raw, "Content-Type: application/json"), 200)
	// Commit blocks until the chain's time is past the expiry.
	for i := 0; ; i++ {
		st, err := l.n.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.BlockTime.Unix() > expires {
			break
		}
		if i > 100 {
			t.Fatalf("block time %s never passed %d", st.BlockTime, expires)
		}
		time.Sleep(200 * time.Millisecond)
		wantResult(t, "a later block", call(t, "POST", l.base+"/v1/txs", sign(register(fmt.Sprintf("vm-later-%d", i), 1), time.Now().Add(time.Minute).Unix()), "Content-Type: application/json"), 200)
	}
	for _, q := range []string{"?wait=false", "", "?wait=true"} {
		start := time.Now()
		wantError(t, "resubmitted expired "+q, call(t, "POST", l.base+"/v1/txs"+q, raw, "Content-Type: application/json"), 400, bbus.EEXPIRED)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the refusal %s took %s", q, d)
		}
	}
}
