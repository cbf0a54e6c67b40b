package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// diskApp is an application over a real store on disk, driven block by block
// as CometBFT drives it.
type diskApp struct {
	t      testing.TB
	app    *App
	height int64
	time   time.Time
}

// newDiskApp returns an application over a fresh store in a temporary
// directory, initialised with the genesis of clouds a, b and c (a validates).
func newDiskApp(t *testing.T) *diskApp {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app := New(ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), st)
	if _, err := app.InitChain(context.Background(), diskGenesis()); err != nil {
		t.Fatal(err)
	}
	d := &diskApp{t: t, app: app, time: genesisTime}
	app.SetClock(func() time.Time { return d.time })
	return d
}

// diskGenesis is the genesis of clouds a, b and c, a the only validator.
func diskGenesis() *abci.InitChainRequest {
	g := bbus.Genesis{Params: bbus.DefaultParams()}
	for _, id := range []string{"a", "b", "c"} {
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{ID: id, Name: id, PubKey: key(id).Public().(ed25519.PublicKey),
			Capacity: bbus.Resources{CPU: 64, MemMiB: 65536, DiskIOPS: 10000, NetMbps: 10000}})
	}
	val := key("validator").Public().(ed25519.PublicKey)
	g.Clouds[0].ValidatorKey, g.Clouds[0].Power = val, 10
	state, _ := json.Marshal(&g)
	return &abci.InitChainRequest{ChainId: "bbus-chain", Time: genesisTime,
		AppStateBytes: state, Validators: []abci.ValidatorUpdate{{Power: 10, PubKeyType: "ed25519", PubKeyBytes: val}}}
}

// check runs CheckTx and returns the bbus code.
func (d *diskApp) check(raw []byte) (string, string) {
	r, err := d.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw})
	if err != nil {
		d.t.Fatal(err)
	}
	return CodeOf(r.Code), r.Log
}

// block runs one block of txs through FinalizeBlock and Commit, one second
// after the last, and returns the results and the app hash.
func (d *diskApp) block(txs ...[]byte) ([]*abci.ExecTxResult, []byte) {
	d.t.Helper()
	ctx := context.Background()
	d.height++
	d.time = d.time.Add(time.Second)
	fb, err := d.app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: txs, Height: d.height, Time: d.time})
	if err != nil {
		d.t.Fatalf("block %d: %v", d.height, err)
	}
	if _, err := d.app.Commit(ctx, &abci.CommitRequest{}); err != nil {
		d.t.Fatalf("commit %d: %v", d.height, err)
	}
	info, _ := d.app.Info(ctx, &abci.InfoRequest{})
	if info.LastBlockHeight != d.height || !bytes.Equal(info.LastBlockAppHash, fb.AppHash) {
		d.t.Fatalf("after block %d the state is at %d %X", d.height, info.LastBlockHeight, info.LastBlockAppHash)
	}
	return fb.TxResults, fb.AppHash
}

// signAt signs a transaction that expires an hour after t.
func signAt(t time.Time, signer string, n uint64, a bbus.Action) []byte {
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-chain", Signer: signer, Nonce: n, Expires: t.Unix() + 3600, Action: a}, key(signer))
	if err != nil {
		panic(err)
	}
	return raw
}

// admitOracle makes oracle "o" an active oracle and registers vm1 at a.
func admitOracle(d *diskApp) {
	d.t.Helper()
	res := bbus.Resources{CPU: 2, MemMiB: 2048}
	setup := [][][]byte{
		{signAt(d.time, "a", 6, bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "o", PubKey: key("o").Public().(ed25519.PublicKey)}})},
		{signAt(d.time, "o", 1, bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: key("o").Public().(ed25519.PublicKey)}}),
			signAt(d.time, "a", 2, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: res}})},
		{signAt(d.time, "b", 4, bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o", PubKey: key("o").Public().(ed25519.PublicKey)}}),
			signAt(d.time, "c", 5, bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o", PubKey: key("o").Public().(ed25519.PublicKey)}})},
	}
	for _, txs := range setup {
		results, _ := d.block(txs...)
		for i, r := range results {
			if r.Code != 0 {
				d.t.Fatalf("setup tx %d: %s %s", i, CodeOf(r.Code), r.Log)
			}
		}
	}
}

// TestHaltingTransactionsRefused sends the two transactions that once halted
// every validator for good (a time past year 9999 reached the JSON encoder of a
// record): CheckTx must refuse them, and a block that carries them anyway (a
// faulty proposer's) must reject them with a code, apply the rest and commit,
// with the same app hash on two applications.
func TestHaltingTransactionsRefused(t *testing.T) {
	var hashes [][]byte
	for n := 0; n < 2; n++ {
		d := newDiskApp(t)
		admitOracle(d)
		now := d.time.Add(time.Second) // the next block's time
		bad := [][]byte{
			signAt(d.time, "a", 10, bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b",
				PriceVCPUHour: 1, Availability: 99_000, PenaltyPct: 1_000, Until: 253402300800}}),
			signAt(d.time, "o", 11, bbus.Action{Report: &bbus.ReportAction{VM: "vm1", Start: now.Unix() - 1, End: math.MaxInt64, Availability: 50_000}}),
		}
		for i, raw := range bad {
			if code, msg := d.check(raw); code != bbus.EINVALID {
				t.Errorf("app %d: CheckTx admitted halting transaction %d: %q %s", n, i, code, msg)
			}
		}
		good := signAt(d.time, "b", 12, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm2", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
		results, hash := d.block(bad[0], bad[1], good)
		for i, want := range []string{bbus.EINVALID, bbus.EINVALID, ""} {
			if got := CodeOf(results[i].Code); got != want {
				t.Errorf("app %d tx %d: code %q (%s), want %q", n, i, got, results[i].Log, want)
			}
		}
		for i, field := range []string{"until", "end"} {
			if !bytes.Contains([]byte(results[i].Log), []byte(field)) {
				t.Errorf("app %d tx %d: the message %q does not name the field %s", n, i, results[i].Log, field)
			}
		}
		hashes = append(hashes, hash)
		// The chain goes on.
		if results, _ := d.block(signAt(d.time.Add(time.Second), "a", 13, bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}})); results[0].Code != 0 {
			t.Errorf("app %d: the block after: %s %s", n, CodeOf(results[0].Code), results[0].Log)
		}
	}
	if !bytes.Equal(hashes[0], hashes[1]) {
		t.Fatalf("two applications, same blocks, different app hashes: %X %X", hashes[0], hashes[1])
	}
}

// TestInternalErrorRejectsAndLogs crafts, on two applications, a state in
// which a rule of the ledger panics (a VM record it cannot decode): the block
// that touches it must commit on both with the same app hash, the transaction
// rejected with code internal and the next one applied, the rejection logged
// at error level and counted in bbus_ledger_internal_errors_total.
func TestInternalErrorRejectsAndLogs(t *testing.T) {
	var hashes [][]byte
	for n := 0; n < 2; n++ {
		d := newDiskApp(t)
		var logs bytes.Buffer
		d.app.SetLogger(cmtlog.NewTMLogger(&logs))
		d.app.store.Working().Set([]byte("v/broken"), []byte("{not json"))
		if _, err := d.app.store.Commit(0, genesisTime); err != nil {
			t.Fatal(err)
		}
		results, hash := d.block(
			signAt(d.time, "a", 1, bbus.Action{VMTerminate: &bbus.VMRef{VM: "broken"}}),
			signAt(d.time, "a", 2, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}))
		if got := CodeOf(results[0].Code); got != bbus.EINTERNAL || results[0].Log == "" {
			t.Errorf("app %d: the panicking rule gave %q %q, want internal with a message", n, got, results[0].Log)
		}
		if results[1].Code != 0 {
			t.Errorf("app %d: the next transaction: %s %s", n, CodeOf(results[1].Code), results[1].Log)
		}
		if !bytes.HasPrefix(logs.Bytes(), []byte("E[")) || !bytes.Contains(logs.Bytes(), []byte("corrupt state record")) {
			t.Errorf("app %d: no error-level log naming the fault: %s", n, logs.String())
		}
		var m dto.Metric
		d.app.internalErrors.Write(&m)
		if m.GetCounter().GetValue() != 1 {
			t.Errorf("app %d: bbus_ledger_internal_errors_total is %v, want 1", n, m.GetCounter().GetValue())
		}
		hashes = append(hashes, hash)
	}
	if !bytes.Equal(hashes[0], hashes[1]) {
		t.Fatalf("two applications, same blocks, different app hashes: %X %X", hashes[0], hashes[1])
	}
}
