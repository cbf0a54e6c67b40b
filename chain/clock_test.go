package chain

import (
	"testing"
	"time"

	"github.com/bbusdev/bbus"
)

// signExpiring signs a registration of vm that expires at exp.
func signExpiring(exp time.Time, n uint64, vm string) []byte {
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-chain", Signer: "a", Nonce: n, Expires: exp.Unix(),
		Action: bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 512}}}}, key("a"))
	if err != nil {
		panic(err)
	}
	return raw
}

// TestAdmissionAfterIdleChain shows admission judging expiry by the time the
// next block will carry (the node's clock), not by the last block's: after two
// idle hours, a transaction signed just now with a client's usual ten-minute
// expiry is admitted (judged by the last block it lies more than
// tx_max_ttl_seconds, an hour, ahead), and one that expired a minute ago by
// every correct clock is refused, though the last block is older still.
func TestAdmissionAfterIdleChain(t *testing.T) {
	d := newDiskApp(t)
	d.block()
	idle := d.time.Add(2 * time.Hour)
	d.app.SetClock(func() time.Time { return idle })

	if code, msg := d.check(signExpiring(idle.Add(10*time.Minute), 1, "vm-fresh")); code != "" {
		t.Errorf("a transaction signed now, after two idle hours, was refused: %s %s", code, msg)
	}
	if code, _ := d.check(signExpiring(idle.Add(-time.Minute), 2, "vm-stale")); code != bbus.EEXPIRED {
		t.Errorf("a transaction that expired a minute ago by the node's clock: code %q, want %s", code, bbus.EEXPIRED)
	}

	// The block still judges by its own time, whatever the node's clock said.
	results, _ := d.block(signExpiring(idle.Add(10*time.Minute), 3, "vm-early"))
	if CodeOf(results[0].Code) != bbus.EEXPIRED {
		t.Errorf("a block two hours older than the transaction's signing: code %q, want %s", CodeOf(results[0].Code), bbus.EEXPIRED)
	}

	// A node whose clock is behind the last block judges by the last block.
	d.app.SetClock(func() time.Time { return genesisTime.Add(-24 * time.Hour) })
	if code, msg := d.check(signExpiring(d.time.Add(10*time.Minute), 4, "vm-slow")); code != "" {
		t.Errorf("a node with a slow clock refused a transaction valid at the last block: %s %s", code, msg)
	}
}

func TestNextBlockTime(t *testing.T) {
	last := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ now, want time.Time }{
		{last.Add(time.Hour), last.Add(time.Hour)},
		{last.Add(-time.Hour), last},
		{last, last},
	} {
		if got := NextBlockTime(last, c.now); !got.Equal(c.want) {
			t.Errorf("NextBlockTime(%s, %s) = %s, want %s", last, c.now, got, c.want)
		}
	}
}
