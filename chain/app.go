// Package chain is the CometBFT application that hosts the bbus ledger: it
// decodes what consensus hands it, runs the ledger, computes the app hash and
// commits each block's state in one atomic step. Invalid transactions become
// result codes (see codes.go); a storage failure panics, because a validator that
// cannot persist must stop rather than diverge.
package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// AppVersion is the version of the state machine's rules. 2: invitations, value ranges, removal
// ending what the removed cloud touched, agreement proposal expiry and decline. 3: the app hash is
// the root of the state tree (store), no longer a hash chain over write sets; store.Open refuses
// a state of version 2 or older (store.ErrHashChainHome). 4: a VM's transaction digest chains each
// transaction's height and block time besides its id (ledger.RulesVersion, which the
// state records; a node refuses a state of other rules, ledger.CheckRules).
const AppVersion = ledger.RulesVersion

// Outcome is one transaction of a committed block.
type Outcome struct {
	Hash   [32]byte // SHA-256 of the transaction's bytes, as CometBFT hashes it
	Height int64
	Index  int
	Result ledger.Result
}

// Block is what a committed block did.
type Block struct {
	Height  int64
	Time    time.Time
	AppHash []byte
	Txs     []Outcome
	Begin   []ledger.Event // what the ledger did by itself (lapses)
	// ValidatorUpdates are the changes of voting power the block's end made.
	ValidatorUpdates []ledger.ValidatorUpdate
}

// App is the ABCI application. It is safe for concurrent use by CometBFT's
// connections: CheckTx reads only committed state.
type App struct {
	abci.BaseApplication

	ledger *ledger.Ledger
	store  *store.Store

	// The block being finalized; touched only by the consensus connection.
	block Block

	decode ledger.DecodeFunc // for ProcessProposal (SetDecoder)

	logger         cmtlog.Logger
	internalErrors prometheus.Counter
	clock          func() time.Time // the node's clock, for admission (SetClock)

	snaps *snapshots // state sync snapshots and block retention (snapshot.go)

	waiters  Waiters[Outcome]
	mu       sync.Mutex
	watchers []func(*Block)
}

// New returns the application over st.
func New(l *ledger.Ledger, st *store.Store) *App {
	// The tree commits to the records; the indexes the ledger derives from
	// them stay out of it (ledger.Derived).
	st.LeaveOut(ledger.Derived)
	return &App{ledger: l, store: st, decode: bbus.DecodeTx,
		logger: cmtlog.NewNopLogger(), clock: time.Now,
		internalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bbus_ledger_internal_errors_total",
			Help: "Transactions the ledger rejected with code internal because one of its rules failed (a bug): each is logged at error level.",
		}),
	}
}

// SetLogger makes the application log to l (it logs nothing otherwise). Call
// it before the node starts.
func (a *App) SetLogger(l cmtlog.Logger) { a.logger = l }

// Collectors returns the application's Prometheus series, for the node's
// registry: bbus_ledger_internal_errors_total.
func (a *App) Collectors() []prometheus.Collector { return []prometheus.Collector{a.internalErrors} }

// SetDecoder makes ProcessProposal decode with dec (a TxDecoder's Decode)
// instead of bbus.DecodeTx. Call it before the node starts.
func (a *App) SetDecoder(dec ledger.DecodeFunc) { a.decode = dec }

// Info reports the last committed height and app hash (the state tree's root),
// so that CometBFT replays exactly the blocks the state has not seen.
func (a *App) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	h, hash, _ := a.store.Last()
	return &abci.InfoResponse{
		Data:             "bbus",
		Version:          "1",
		AppVersion:       AppVersion,
		LastBlockHeight:  h,
		LastBlockAppHash: hash,
	}, nil
}

// InitChain writes the genesis state from the genesis document's app_state and
// commits it as height 0. Called again on a state that already holds this
// chain (a crash before the first block), it returns the same hash.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	if h, hash, _ := a.store.Last(); h == 0 && hash != nil {
		if got := ledger.ChainID(a.store.Committed()); got != req.ChainId {
			return nil, fmt.Errorf("state holds chain %q, genesis is for %q", got, req.ChainId)
		}
		return &abci.InitChainResponse{AppHash: hash}, nil
	}
	var g bbus.Genesis
	dec := json.NewDecoder(bytes.NewReader(req.AppStateBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("genesis app_state: %w", err)
	}
	if err := checkValidators(&g, req.Validators); err != nil {
		return nil, err
	}
	a.store.Discard()
	if err := a.ledger.InitGenesis(a.store.Working(), req.ChainId, &g, req.Time); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	hash, err := a.store.Commit(0, req.Time)
	if err != nil {
		panic(err)
	}
	return &abci.InitChainResponse{AppHash: hash}, nil
}

// checkValidators makes sure the consensus validator set of the genesis document
// is the one its founding clouds declare.
func checkValidators(g *bbus.Genesis, vals []abci.ValidatorUpdate) error {
	want := map[string]int64{}
	for _, c := range g.Clouds {
		if c.Power > 0 {
			want[string(c.ValidatorKey)] = c.Power
		}
	}
	if len(vals) != len(want) {
		return fmt.Errorf("genesis lists %d validators, its clouds declare %d", len(vals), len(want))
	}
	for _, v := range vals {
		key := v.PubKeyBytes
		if p, ok := want[string(key)]; !ok || p != v.Power || v.PubKeyType != "ed25519" {
			return fmt.Errorf("genesis validator %X (power %d) is not a founding cloud's validator key with that power", key, v.Power)
		}
	}
	return nil
}

// CheckTx admits to the mempool only transactions that decode, name this chain,
// have not expired by the time the next block will carry (CheckHeader), were
// not committed before, and carry a valid signature of a known signer. Rules
// that depend on the block are left to FinalizeBlock, which judges expiry by
// the block's own time.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	if IsTick(req.Tx) {
		if err := a.checkTick(req.Tx); err != nil {
			return &abci.CheckTxResponse{Code: ABCICode(bbus.ErrorCode(err)), Log: bbus.ErrorMessage(err)}, nil
		}
		return &abci.CheckTxResponse{}, nil
	}
	res := a.ledger.Check(a.store.Committed(), a.CheckHeader(), req.Tx)
	return &abci.CheckTxResponse{Code: ABCICode(res.Code), Log: res.Message}, nil
}

// FinalizeBlock runs the block through the ledger. Every transaction is checked
// again: a faulty proposer may include anything, and each validator must reject
// the same ones.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.store.Discard()
	st := a.store.Working()
	h := ledger.Header{Height: req.Height, Time: req.Time.UTC()}
	a.block = Block{Height: req.Height, Time: h.Time, Txs: make([]Outcome, len(req.Txs))}
	a.block.Begin = a.ledger.BeginBlock(st, h)
	results := make([]*abci.ExecTxResult, len(req.Txs))
	for i, tx := range req.Txs {
		if IsTick(tx) {
			// ProcessProposal let only well-formed ticks through; each is a no-op.
			a.block.Txs[i] = Outcome{Hash: sha256.Sum256(tx), Height: req.Height, Index: i, Result: ledger.Result{Type: TickType}}
			results[i] = &abci.ExecTxResult{Log: TickType}
			continue
		}
		r := a.ledger.Apply(st, h, tx)
		if r.Code == bbus.EINTERNAL {
			// A rule of the ledger failed (a bug): the transaction is rejected
			// the same way on every validator and the block goes on.
			a.internalErrors.Inc()
			a.logger.Error("the ledger failed applying a transaction and rejected it", "height", req.Height, "index", i,
				"tx", r.TxID, "type", r.Type, "signer", r.Signer, "fault", r.Fault)
		}
		a.block.Txs[i] = Outcome{Hash: sha256.Sum256(tx), Height: req.Height, Index: i, Result: r}
		results[i] = &abci.ExecTxResult{Code: ABCICode(r.Code), Log: r.Message, Data: []byte(r.ID)}
	}
	a.block.ValidatorUpdates = a.ledger.EndBlock(st)
	updates := make([]abci.ValidatorUpdate, len(a.block.ValidatorUpdates))
	for i, u := range a.block.ValidatorUpdates {
		updates[i] = abci.ValidatorUpdate{Power: u.Power, PubKeyType: "ed25519", PubKeyBytes: u.PubKey}
	}
	return &abci.FinalizeBlockResponse{
		TxResults:        results,
		ValidatorUpdates: updates,
		AppHash:          a.store.WorkingHash(),
	}, nil
}

// Commit persists the finalized block's state, height and app hash in one
// synced write, then tells the block's waiters.
func (a *App) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.index(&a.block)
	hash, err := a.store.Commit(a.block.Height, a.block.Time)
	if err != nil {
		panic(err)
	}
	b := a.block
	b.AppHash = hash
	a.block = Block{}
	a.snapshotCommitted(b.Height)
	// Watchers first: whoever learns that its transaction committed can then
	// count on the watchers (event streams, metrics) having seen its block.
	a.mu.Lock()
	watchers := a.watchers
	a.mu.Unlock()
	for _, w := range watchers {
		w(&b)
	}
	for _, o := range b.Txs {
		a.waiters.Done(o.Hash, o)
	}
	return &abci.CommitResponse{RetainHeight: a.retainHeight(b.Height)}, nil
}

// Wait registers interest in the transaction with the given hash. The returned
// channel receives its outcome once a block holding it is committed; cancel
// withdraws the interest.
func (a *App) Wait(hash [32]byte) (outcome <-chan Outcome, cancel func()) {
	return a.waiters.Wait(hash)
}

// Watch calls fn with every block committed from now on, on the consensus
// goroutine, before the block's waiters (Wait) learn of it: fn must return
// quickly.
func (a *App) Watch(fn func(*Block)) {
	a.mu.Lock()
	a.watchers = append(a.watchers, fn)
	a.mu.Unlock()
}
