package bench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	mempl "github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/node"
)

// The baseline: the bare consensus engine hosting a trivial key-value
// application. A transaction is "key=value"; CheckTx only checks that shape,
// FinalizeBlock stages the pairs, Commit writes them with the height and app
// hash in one synced goleveldb batch (as bbus's store does) and wakes the
// transactions' waiters. The app hash chains SHA-256 over the block's
// transactions and stays put for a block without any, so the engine can idle.
// Its HTTP front end answers POST /v1/txs exactly like a bbus node's: submit
// through the mempool, wait for the commit, answer a bbus.TxResult.

// kvStateDir is where the baseline keeps its state in a home.
func kvStateDir(home string) string { return filepath.Join(home, "data", "kv-state") }

var (
	kvMetaHeight = []byte("\x00height")
	kvMetaHash   = []byte("\x00hash")
)

type kvOutcome struct {
	height int64
	index  int
	code   uint32
}

type kvApp struct {
	abci.BaseApplication
	db *leveldb.DB

	mu     sync.Mutex // guards height and hash (Info runs beside consensus)
	height int64
	hash   []byte

	// The block being finalized; touched by the consensus connection only.
	batch    *leveldb.Batch
	blockH   int64
	next     []byte
	outcomes map[[32]byte]kvOutcome

	waiters chain.Waiters[kvOutcome]
}

func openKVApp(dir string) (*kvApp, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{WriteBuffer: 16 << 20, BlockCacheCapacity: 32 << 20})
	if err != nil {
		return nil, err
	}
	a := &kvApp{db: db}
	if v, err := db.Get(kvMetaHeight, nil); err == nil {
		a.height = int64(binary.BigEndian.Uint64(v))
		a.hash, _ = db.Get(kvMetaHash, nil)
	}
	return a, nil
}

// kvParse splits a transaction into its key and value.
func kvParse(tx []byte) (key, value []byte, ok bool) {
	i := strings.IndexByte(string(tx), '=')
	if i <= 0 || tx[0] == 0 {
		return nil, nil, false
	}
	return tx[:i], tx[i+1:], true
}

func (a *kvApp) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abci.InfoResponse{Data: "bbus-bench-kv", LastBlockHeight: a.height, LastBlockAppHash: a.hash}, nil
}

func (a *kvApp) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	if _, _, ok := kvParse(req.Tx); !ok {
		return &abci.CheckTxResponse{Code: 1, Log: "not key=value"}, nil
	}
	return &abci.CheckTxResponse{}, nil
}

func (a *kvApp) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.batch, a.blockH = new(leveldb.Batch), req.Height
	a.outcomes = make(map[[32]byte]kvOutcome, len(req.Txs))
	a.mu.Lock()
	prev := a.hash
	a.mu.Unlock()
	h := sha256.New()
	h.Write(prev)
	changed := false
	results := make([]*abci.ExecTxResult, len(req.Txs))
	for i, tx := range req.Txs {
		o := kvOutcome{height: req.Height, index: i}
		if k, v, ok := kvParse(tx); ok {
			a.batch.Put(k, v)
			h.Write(tx)
			changed = true
		} else {
			o.code = 1
		}
		a.outcomes[sha256.Sum256(tx)] = o
		results[i] = &abci.ExecTxResult{Code: o.code}
	}
	a.next = prev
	if changed {
		a.next = h.Sum(nil)
	}
	return &abci.FinalizeBlockResponse{TxResults: results, AppHash: a.next}, nil
}

func (a *kvApp) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	if a.batch == nil {
		return &abci.CommitResponse{}, nil
	}
	height := a.blockH
	a.batch.Put(kvMetaHeight, binary.BigEndian.AppendUint64(nil, uint64(height)))
	a.batch.Put(kvMetaHash, a.next)
	if err := a.db.Write(a.batch, &opt.WriteOptions{Sync: true}); err != nil {
		panic(fmt.Sprintf("kv baseline: commit: %v", err))
	}
	a.mu.Lock()
	a.height, a.hash = height, a.next
	a.mu.Unlock()
	for h, o := range a.outcomes {
		a.waiters.Done(h, o)
	}
	a.batch, a.outcomes = nil, nil
	return &abci.CommitResponse{}, nil
}

// kvNode is the baseline node: CometBFT with bbus's configuration of the home,
// the kv application, and its HTTP front end.
type kvNode struct {
	app *kvApp
	cmt *cmtnode.Node
	rpc *local.Local
	srv *http.Server
}

// runKVNode runs the baseline node of home with its API on api until ctx is done.
func runKVNode(ctx context.Context, home, api string, logs io.Writer) error {
	cfg, err := node.CometConfig(home)
	if err != nil {
		return err
	}
	// The collector as a bbus node sets it, so the two differ only in the app.
	c, err := node.LoadConfig(home)
	if err != nil {
		return err
	}
	node.SetCollector(c.GCPercent, c.MemoryLimitMiB)
	app, err := openKVApp(kvStateDir(home))
	if err != nil {
		return err
	}
	defer app.db.Close()
	nodeKey, err := p2p.LoadNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return err
	}
	pv := privval.LoadFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
	logger := cmtlog.NewFilter(cmtlog.NewTMLogger(cmtlog.NewSyncWriter(logs)), cmtlog.AllowError())
	n := &kvNode{app: app}
	n.cmt, err = cmtnode.NewNode(context.Background(), cfg, pv, nodeKey, proxy.NewConnSyncLocalClientCreator(app),
		cmtnode.DefaultGenesisDocProviderFunc(cfg), cmtcfg.DefaultDBProvider,
		cmtnode.DefaultMetricsProvider(cfg.Instrumentation), logger)
	if err != nil {
		return err
	}
	n.rpc = local.New(n.cmt)
	if err := n.cmt.Start(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", api)
	if err != nil {
		n.cmt.Stop()
		n.cmt.Wait()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeKVJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /v1/txs", n.submit)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		app.mu.Lock()
		h := app.height
		app.mu.Unlock()
		writeKVJSON(w, http.StatusOK, &bbus.Status{ChainID: ChainID, Height: h, Validators: []bbus.Validator{}})
	})
	// The same server settings as a bbus node's REST API (node.DefaultRESTConfig).
	rc := node.DefaultRESTConfig()
	n.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: time.Duration(rc.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(rc.ReadTimeout),
		WriteTimeout:      time.Duration(rc.WriteTimeout),
		IdleTimeout:       time.Duration(rc.IdleTimeout),
	}
	go n.srv.Serve(ln)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	n.srv.Shutdown(sctx)
	cancel()
	n.cmt.Stop()
	n.cmt.Wait()
	return nil
}

// submit serves POST /v1/txs as node.Submit does for bbus: register a waiter
// for the transaction's hash, BroadcastTxSync, wait for the commit.
func (n *kvNode) submit(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeKVError(w, http.StatusBadRequest, bbus.Errorf(bbus.EMALFORMED, "reading the request body: %v", err))
		return
	}
	hash := sha256.Sum256(raw)
	res := &bbus.TxResult{Hash: strings.ToUpper(hex.EncodeToString(hash[:]))}
	ch, cancel := n.app.waiters.Wait(hash)
	defer cancel()
	rr, err := node.Broadcast(r.Context(), n.rpc, n.app.lastHeight, raw)
	var invalid mempl.ErrInvalidTx
	switch {
	case errors.As(err, &invalid):
		writeKVError(w, http.StatusBadRequest, bbus.Errorf(bbus.EINVALID, "%s", invalid.Log))
		return
	case err != nil:
		writeKVError(w, http.StatusServiceUnavailable, bbus.Errorf(bbus.EUNAVAILABLE, "mempool: %v", err))
		return
	case rr.Code != 0:
		writeKVError(w, http.StatusBadRequest, bbus.Errorf(bbus.EINVALID, "%s", rr.Log))
		return
	}
	timer := time.NewTimer(node.SubmitTimeout)
	defer timer.Stop()
	select {
	case o := <-ch:
		res.Height, res.Index = o.height, o.index
		if o.code != 0 {
			res.Code, res.Message = bbus.EINVALID, "not key=value"
			writeKVJSON(w, http.StatusBadRequest, map[string]any{"error": &bbus.Error{Code: res.Code, Message: res.Message}, "result": res})
			return
		}
		writeKVJSON(w, http.StatusOK, res)
	case <-r.Context().Done():
		writeKVError(w, http.StatusServiceUnavailable, bbus.Errorf(bbus.EUNAVAILABLE, "stopped waiting: %v", r.Context().Err()))
	case <-timer.C:
		writeKVError(w, http.StatusServiceUnavailable, bbus.Errorf(bbus.EUNAVAILABLE, "not committed within %s", node.SubmitTimeout))
	}
}

func writeKVError(w http.ResponseWriter, status int, e *bbus.Error) {
	writeKVJSON(w, status, map[string]any{"error": e})
}

func writeKVJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// lastHeight returns the last committed height.
func (a *kvApp) lastHeight() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.height
}
