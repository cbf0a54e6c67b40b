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
// empty blocks off, a VM registered after the chain was idle is recorded at a
// wall-clock time between its submission (less a second) and its commit: the
// time of the block that carried it. (With CometBFT v0.38's BFT time the block
// after an idle spell carries the previous commit's time: the record is about
// idleFor early.) How long the commit takes is no part of it: on a loaded
// machine four validators may take more than a second.
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
	var four []string
	var started []*Node
	// The four validators' ports are chosen again while another program
	// takes one before a node binds it.
	onFreePorts(t, 4, func(base int) (err error) {
		if four, err = Testnet(TestnetOptions{Validators: 4, Out: t.TempDir(), P2PPort: base, APIPort: 1}); err != nil {
			t.Fatal(err)
		}
		for _, h := range four {
			noEmptyBlocks(h)
		}
		started, err = startAll(t, four)
		return err
	})
	type chain struct {
		name, cloud, chainID string
		node                 *Node
		sign                 func(bbus.Action) []byte
	}
	var chains []chain
	for _, n := range started {
		defer n.Stop()
	}
	noEmptyBlocks(single)
	one, err := Open(single, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Start(""); err != nil {
		t.Fatal(err)
	}
	defer one.Stop()
	chains = append(chains, chain{"one node", "local", "bbus-local", one, signer(t, single, "local", "bbus-local")})
	chains = append(chains, chain{"four validators", "cloud0", "bbus-testnet", started[0], signer(t, four[0], "cloud0", "bbus-testnet")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	register := func(c chain, vm string) (at, committed time.Time, res *bbus.TxResult) {
		at = time.Now()
		res, err := c.node.Submit(ctx, c.sign(registerVM(vm)), true)
		if err != nil || res.Code != "" {
			t.Fatalf("%s: register %s: %+v %v", c.name, vm, res, err)
		}
		return at, time.Now(), res
	}
	for _, c := range chains {
		register(c, "vm-before")
	}
	time.Sleep(idleFor)
	for _, c := range chains {
		at, committed, res := register(c, "vm-after")
		var vm *bbus.VM
		if err := c.node.View(func(r kv.Reader) error {
			var err error
			vm, err = ledger.VM(r, "vm-after")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		lag := at.Sub(vm.Registered.At)
		t.Logf("%s: submitted at %s after %s idle, recorded at %s (height %d): %s early; committed %s after submission", c.name,
			at.UTC().Format(time.RFC3339Nano), idleFor, vm.Registered.At.Format(time.RFC3339Nano), res.Height, lag, committed.Sub(at))
		if lag > time.Second || vm.Registered.At.After(committed) {
			t.Errorf("%s: registered.at %s is %s before the wall clock at submission (want at most 1s), or after the commit at %s",
				c.name, vm.Registered.At.Format(time.RFC3339Nano), fmt.Sprint(lag), committed.UTC().Format(time.RFC3339Nano))
		}
	}
}
