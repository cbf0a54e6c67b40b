package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/proof"
	"github.com/bbusdev/bbus/store"
)

var genesisTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func key(id string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(id))
	return ed25519.NewKeyFromSeed(seed[:])
}

// newApp returns an application over a fresh in-memory store, initialised with
// a genesis of clouds a and b.
func newApp(t *testing.T) *App {
	t.Helper()
	g := bbus.Genesis{Params: bbus.DefaultParams()}
	for _, id := range []string{"a", "b"} {
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{ID: id, Name: id, PubKey: key(id).Public().(ed25519.PublicKey),
			Capacity: bbus.Resources{CPU: 8, MemMiB: 8192}})
	}
	val := key("validator").Public().(ed25519.PublicKey)
	g.Clouds[0].ValidatorKey, g.Clouds[0].Power = val, 10
	state, _ := json.Marshal(&g)
	app := New(ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), store.OpenMem())
	app.SetClock(func() time.Time { return genesisTime })
	_, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: "bbus-chain", Time: genesisTime,
		AppStateBytes: state, Validators: []abci.ValidatorUpdate{{Power: 10, PubKeyType: "ed25519", PubKeyBytes: val}}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func sign(chain, signer string, n uint64, a bbus.Action) []byte {
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: chain, Signer: signer, Nonce: n, Expires: genesisTime.Unix() + 3600, Action: a}, key(signer))
	if err != nil {
		panic(err)
	}
	return raw
}

// TestFaultyProposerBlock feeds two independent applications a block a faulty
// proposer made: valid, rule-breaking, forged and duplicated transactions. Both
// must reject the same ones with the same codes and reach the same app hash;
// ProcessProposal must refuse blocks with bytes no mempool would admit.
func TestFaultyProposerBlock(t *testing.T) {
	res := bbus.Resources{CPU: 2, MemMiB: 1024}
	good := sign("bbus-chain", "a", 1, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: res}})
	forged := sign("bbus-chain", "b", 2, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm2", Resources: res}})
	forged = bytes.Replace(forged, []byte(`"vm2"`), []byte(`"vm3"`), 1) // body changed after signing
	block := [][]byte{
		good,
		good, // the same transaction twice in one block
		forged,
		sign("bbus-chain", "b", 3, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}}),                                 // no such migration
		sign("bbus-chain", "a", 4, bbus.Action{VMRegister: &bbus.VMRegister{VM: "big", Resources: bbus.Resources{CPU: 100, MemMiB: 1}}}), // over capacity
		sign("bbus-chain", "zed", 5, bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}),                                                   // unknown signer
		sign("bbus-chain", "a", 6, bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: "b"}}),
	}
	want := []string{"", bbus.EREPLAY, bbus.EBADSIG, bbus.ENOTFOUND, bbus.ECAPACITY, bbus.EUNKNOWNSIGNER, ""}
	var hashes [][]byte
	for n := 0; n < 2; n++ {
		app := newApp(t)
		ctx := context.Background()
		pp, _ := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Txs: block, Height: 1, Time: genesisTime.Add(time.Second)})
		if pp.Status != abci.PROCESS_PROPOSAL_STATUS_ACCEPT {
			t.Fatalf("a block of decodable transactions for this chain was refused")
		}
		fb, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: block, Height: 1, Time: genesisTime.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range fb.TxResults {
			if got := CodeOf(r.Code); got != want[i] {
				t.Errorf("app %d tx %d: code %q (%s), want %q", n, i, got, r.Log, want[i])
			}
		}
		app.Commit(ctx, &abci.CommitRequest{})
		info, _ := app.Info(ctx, &abci.InfoRequest{})
		if info.LastBlockHeight != 1 || !bytes.Equal(info.LastBlockAppHash, fb.AppHash) {
			t.Fatalf("info after commit: %d %X, finalize said %X", info.LastBlockHeight, info.LastBlockAppHash, fb.AppHash)
		}
		hashes = append(hashes, fb.AppHash)

		for _, bad := range [][]byte{
			[]byte("garbage"),
			sign("other-chain", "a", 7, bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}),
			append(append([]byte{}, good...), ' '),
		} {
			pp, _ := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Txs: [][]byte{good, bad}, Height: 2})
			if pp.Status != abci.PROCESS_PROPOSAL_STATUS_REJECT {
				t.Errorf("ProcessProposal accepted a block carrying %q", bad)
			}
		}
	}
	if !bytes.Equal(hashes[0], hashes[1]) {
		t.Fatalf("two applications, same block, different app hashes: %X %X", hashes[0], hashes[1])
	}
}

// TestCheckTxRejectsCheaply shows CheckTx refusing what never needs a block.
func TestCheckTxRejectsCheaply(t *testing.T) {
	app := newApp(t)
	for raw, want := range map[string]string{
		"not json": bbus.EMALFORMED,
		string(sign("elsewhere", "a", 1, bbus.Action{VMTerminate: &bbus.VMRef{VM: "x"}})):       bbus.EWRONGCHAIN,
		string(sign("bbus-chain", "nobody", 1, bbus.Action{VMTerminate: &bbus.VMRef{VM: "x"}})): bbus.EUNKNOWNSIGNER,
	} {
		r, _ := app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: []byte(raw)})
		if CodeOf(r.Code) != want || r.Log == "" {
			t.Errorf("CheckTx(%.30q) = %d %q, want %s", raw, r.Code, r.Log, want)
		}
	}
}

// TestIdleBlocksKeepTheAppHash: blocks without transactions change nothing in
// the state while nothing is due, so the app hash stays (the chain can idle:
// CometBFT makes no block for an unchanged hash; the ledger's queues share one
// gate, ledger.TestIdleBlockWritesNothing); Info
// reports the tree's root, and a record written before is proved against it.
func TestIdleBlocksKeepTheAppHash(t *testing.T) {
	app := newApp(t)
	ctx := context.Background()
	block := func(h int64, at time.Duration, txs ...[]byte) []byte {
		fb, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: txs, Height: h, Time: genesisTime.Add(at)})
		if err != nil {
			t.Fatal(err)
		}
		app.Commit(ctx, &abci.CommitRequest{})
		return fb.AppHash
	}
	reg := sign("bbus-chain", "a", 1, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: bbus.Resources{CPU: 1, MemMiB: 512}}})
	h1 := block(1, time.Second, reg)
	height := int64(1)
	idle := func(want []byte, ats ...time.Duration) {
		for _, at := range ats {
			height++
			if got := block(height, at); !bytes.Equal(got, want) {
				t.Fatalf("idle block %d at +%v: app hash %X, want %X", height, at, got, want)
			}
		}
	}
	idle(h1, 2*time.Second, 31*time.Second, 55*time.Second, 100*time.Second, 130*time.Second)
	h2 := h1
	info, _ := app.Info(ctx, &abci.InfoRequest{})
	if info.LastBlockHeight != height || !bytes.Equal(info.LastBlockAppHash, h2) || info.AppVersion != AppVersion {
		t.Fatalf("info: height %d hash %X version %d", info.LastBlockHeight, info.LastBlockAppHash, info.AppVersion)
	}
	v, h, p, err := app.store.Prove([]byte("v/vm1"))
	if err != nil || v == nil {
		t.Fatalf("prove v/vm1: %q %v", v, err)
	}
	if err := proof.Verify(info.LastBlockAppHash, &bbus.Proof{Key: []byte("v/vm1"), Value: v, Height: h, Proof: p}); err != nil {
		t.Fatal(err)
	}
}
