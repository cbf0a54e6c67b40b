package node

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// lapseHome initialises a single-validator home for cloud "local" on a chain
// founded with a second cloud "remote" (no validator) and migration proposals
// that lapse after lapse.
func lapseHome(t *testing.T, lapse time.Duration) string {
	t.Helper()
	home := t.TempDir()
	c := DefaultConfig("local")
	c.P2PListen = "tcp://" + loopback(freePorts(t, 1))
	p := bbus.DefaultParams()
	p.MigrationLapseSeconds = int64(lapse / time.Second)
	id, err := Init(InitOptions{Home: home, Cloud: "local", Config: &c, Params: &p})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := keys.Add(t.TempDir(), "remote")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := NewGenesis("bbus-local", time.Now(), p, []bbus.GenesisCloud{
		{ID: "local", Name: "local", PubKey: id.Cloud.PubKey, ValidatorKey: id.ValidatorKey, Power: DefaultPower,
			Capacity: DefaultCapacity, NodeID: id.NodeID, P2PAddress: PublicP2PAddress(&c)},
		{ID: "remote", Name: "remote", PubKey: remote.PubKey, Capacity: DefaultCapacity},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.SaveAs(genesisPath(home)); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestLapseShowsWhenDue: with no other traffic (and no empty blocks but every
// create_empty_blocks_interval), a migration proposal shows as lapsed within
// two seconds of its lapses_at: the node makes a block when the ledger has
// work due, instead of waiting for the next block, up to the interval later.
func TestLapseShowsWhenDue(t *testing.T) {
	const lapse = 3 * time.Second
	home := lapseHome(t, lapse)
	n, err := Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(""); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sign := signer(t, home, "local", "bbus-local")
	submit := func(a bbus.Action) *bbus.TxResult {
		t.Helper()
		res, err := n.Submit(ctx, sign(a), true)
		if err != nil || res.Code != "" {
			t.Fatalf("%+v: %+v %v", a, res, err)
		}
		return res
	}
	submit(registerVM("vm-1"))
	res := submit(bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "remote"}})
	migration := func() *bbus.Migration {
		var m *bbus.Migration
		if err := n.View(func(r kv.Reader) error {
			var err error
			m, err = ledger.Migration(r, res.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	lapsesAt := migration().LapsesAt
	// Within about 2 s; 5 s leaves a loaded machine room and is still far
	// below the 30 s empty-block interval.
	const within = 5 * time.Second
	for {
		m := migration()
		if m.Status == bbus.MigrationLapsed {
			late := time.Since(lapsesAt)
			t.Logf("lapses_at %s, shown lapsed %s later (block time %s)", lapsesAt.Format(time.RFC3339Nano), late.Round(time.Millisecond),
				m.Ended.At.Format(time.RFC3339Nano))
			if late > within {
				t.Fatalf("the lapse showed %s after lapses_at, want within %s", late, within)
			}
			return
		}
		if time.Since(lapsesAt) > within {
			t.Fatalf("%s after lapses_at the proposal is still %s, want lapsed", time.Since(lapsesAt).Round(time.Millisecond), m.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
