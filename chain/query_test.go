package chain

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// TestPeerFilterQuery checks the answers CometBFT's peer filter gets: a
// member's node passes, a stranger's does not, and a chain whose genesis
// publishes no node id lets every node in.
func TestPeerFilterQuery(t *testing.T) {
	member, stranger := strings.Repeat("ab", 20), strings.Repeat("cd", 20)
	query := func(app *App, path string) uint32 {
		res, err := app.Query(context.Background(), &abci.QueryRequest{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		return res.Code
	}
	app := newAppWithNode(t, member)
	if c := query(app, "/p2p/filter/id/"+member); c != 0 {
		t.Errorf("a member's node: code %d", c)
	}
	if c := query(app, "/p2p/filter/id/"+stranger); c == 0 {
		t.Error("a stranger's node passed the filter")
	}
	if c := query(app, "/p2p/filter/addr/10.0.0.9:26656"); c != 0 {
		t.Errorf("an address: code %d", c)
	}
	if c := query(app, "/store/x"); c == 0 {
		t.Error("an unknown path answered with code 0")
	}
	if c := query(newApp(t), "/p2p/filter/id/"+stranger); c != 0 {
		t.Errorf("a chain without node ids refused a node: code %d", c)
	}
}

func newAppWithNode(t *testing.T, nodeID string) *App {
	t.Helper()
	val := key("validator").Public().(ed25519.PublicKey)
	g := bbus.Genesis{Params: bbus.DefaultParams(), Clouds: []bbus.GenesisCloud{{ID: "a", Name: "a",
		PubKey: key("a").Public().(ed25519.PublicKey), ValidatorKey: val, Power: 10, NodeID: nodeID, P2PAddress: "a.example:26656",
		Capacity: bbus.Resources{CPU: 8, MemMiB: 8192}}}}
	state, _ := json.Marshal(&g)
	app := New(ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), store.OpenMem())
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: "bbus-chain", Time: genesisTime,
		AppStateBytes: state, Validators: []abci.ValidatorUpdate{{Power: 10, PubKeyType: "ed25519", PubKeyBytes: val}}}); err != nil {
		t.Fatal(err)
	}
	return app
}
