package node

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// idleFor is how long the chains of TestRecordedTimeAfterIdle stay idle: with
// no empty blocks, BFT time would stamp the next write about that much early.
const idleFor = 10 * time.Second

// TestRecordedTimeAfterIdle: on a single node and on four validators with
// empty blocks off, a VM registered after the chain was idle is recorded at
// the wall-clock time of its submission, within a second. (With CometBFT
// v0.38's BFT time the block after an idle spell carries the previous
// commit's time: the record is about idleFor early.)
func TestRecordedTimeAfterIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("idles two chains")
	}
	noEmptyBlocks := func(home string) {
		c, err := LoadConfig(home)
		if err != nil {
			t.Fatal(err)
		}
		c.CreateEmptyBlocksInterval = 0
		if err := c.Save(home); err != nil {
			t.Fatal(err)
		}
	}
	single := singleHome(t)
	four, err := Testnet(TestnetOptions{Validators: 4, Out: t.TempDir(), P2PPort: freePorts(t, 4), APIPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	type chain struct {
		name, cloud, chainID string
		node                 *Node
		sign                 func(bbus.Action) []byte
	}
	var chains []chain
	for k, h := range append([]string{single}, four...) {
		noEmptyBlocks(h)
		n, err := Open(h, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(""); err != nil {
			t.Fatal(err)
		}
		defer n.Stop()
		switch k {
		case 0:
			chains = append(chains, chain{"one node", "local", "bbus-local", n, signer(t, h, "local", "bbus-local")})
		case 1:
			chains = append(chains, chain{"four validators", "cloud0", "bbus-testnet", n, signer(t, h, "cloud0", "bbus-testnet")})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	register := func(c chain, vm string) (time.Time, *bbus.TxResult) {
		at := time.Now()
		res, err := c.node.Submit(ctx, c.sign(registerVM(vm)), true)
		if err != nil || res.Code != "" {
			t.Fatalf("%s: register %s: %+v %v", c.name, vm, res, err)
		}
		return at, res
	}
	for _, c := range chains {
		register(c, "vm-before")
	}
	time.Sleep(idleFor)
	for _, c := range chains {
		at, res := register(c, "vm-after")
		var vm *bbus.VM
		if err := c.node.View(func(r kv.Reader) error {
			var err error
			vm, err = ledger.VM(r, "vm-after")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		lag := at.Sub(vm.Registered.At)
		t.Logf("%s: submitted at %s after %s idle, recorded at %s (height %d): %s early", c.name,
			at.UTC().Format(time.RFC3339Nano), idleFor, vm.Registered.At.Format(time.RFC3339Nano), res.Height, lag)
		if lag > time.Second || lag < -time.Second {
			t.Errorf("%s: registered.at is %s from the wall clock at submission, want within 1s", c.name, fmt.Sprint(lag))
		}
	}
}
