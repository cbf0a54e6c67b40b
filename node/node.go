package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	mempl "github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// SubmitTimeout bounds how long Submit waits for a commit.
const SubmitTimeout = 30 * time.Second

// Node is a running bbus node.
type Node struct {
	Home   string
	Config Config

	store *store.Store
	app   *chain.App
	cmt   *cmtnode.Node
	rpc   *local.Local
	srv   *http.Server
	ln    net.Listener
	rest  restState // the REST API's key, events and metrics (api.go)
	txs   *chain.TxDecoder
	sigs  *sigBatcher   // checks submitted signatures in batches (sigs.go)
	live  *liveness     // whether consensus makes progress (liveness.go)
	dir   *directory    // connections to the members' nodes, from the ledger (directory.go)
	due   *dueWatch     // asks for a block when the ledger has work due (due.go)
	cs    waiter        // CometBFT's consensus state machine
	log   cmtlog.Logger // the node's structured log
	vals  valScan       // validator changes below the index (evidence.go)

	releaseCollector func() // takes the node's collector settings (gc.go) back
}

func cmted25519PubKey(b []byte) cmted25519.PubKey { return cmted25519.PubKey(b) }

// cometConfig returns the CometBFT configuration of a home with bbus's settings.
func cometConfig(home string, c *Config) *cmtcfg.Config {
	cfg := cometPaths(home)
	cfg.Moniker = moniker(c.Cloud)
	// Only the federation's nodes may connect: chain.App.Query answers the filter.
	cfg.FilterPeers = !c.OpenPeers
	// The homes bbus made on CometBFT v0.38 used goleveldb, and pebble was no
	// faster here (v1's default).
	cfg.DBBackend = "goleveldb"
	cfg.LogLevel = c.LogLevel
	cfg.RPC.ListenAddress = c.RPCListen
	cfg.P2P.ListenAddress = c.P2PListen
	cfg.P2P.ExternalAddress = c.ExternalAddress
	cfg.P2P.PersistentPeers = c.PersistentPeers
	cfg.P2P.FlushThrottleTimeout = time.Duration(c.FlushThrottle)
	if c.Loopback {
		cfg.P2P.AddrBookStrict = false
		cfg.P2P.AllowDuplicateIP = true
	}
	// Federations name their peers; peer exchange would only add strangers.
	cfg.P2P.PexReactor = false
	cfg.Consensus.TimeoutPropose = time.Duration(c.TimeoutPropose)
	cfg.Consensus.TimeoutCommit = time.Duration(c.TimeoutCommit)
	cfg.Consensus.CreateEmptyBlocks = false
	cfg.Consensus.CreateEmptyBlocksInterval = time.Duration(c.CreateEmptyBlocksInterval)
	cfg.Consensus.PeerGossipSleepDuration = time.Duration(c.PeerGossipSleep)
	cfg.Mempool.Size = c.MempoolSize
	cfg.Mempool.CacheSize = 2 * c.MempoolSize
	// The ledger rejects a committed transaction's replay and expired ones by
	// itself; re-checking the whole mempool after every block costs more than it saves.
	cfg.Mempool.Recheck = false
	// bbus indexes what it serves in its own state.
	cfg.TxIndex.Indexer = "null"
	// Kept, for CometBFT's RPC (block_results): evidence bundles no longer
	// read them (since bbus-evidence/3 a VM's record proves its transactions).
	cfg.Storage.DiscardABCIResponses = false
	applyStateSync(cfg, c)
	return cfg
}

func logger(level string, w io.Writer) cmtlog.Logger {
	l := cmtlog.NewTMLogger(cmtlog.NewSyncWriter(w))
	switch level {
	case "debug":
		return cmtlog.NewFilter(l, cmtlog.AllowDebug())
	case "info":
		return cmtlog.NewFilter(l, cmtlog.AllowInfo())
	default:
		return cmtlog.NewFilter(l, cmtlog.AllowError())
	}
}

// Open prepares the node of home (its state, the application and CometBFT)
// without starting it. logs receives the node's structured logs.
func Open(home string, logs io.Writer) (*Node, error) {
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	if _, err := keys.Load(home, c.Cloud); err != nil {
		return nil, err
	}
	if err := checkWritable(home); err != nil {
		return nil, err
	}
	if err := c.Health.Validate(); err != nil {
		return nil, err
	}
	st, err := store.Open(statePath(home))
	if err != nil {
		return nil, err
	}
	if err := ledger.CheckRules(st.Committed()); err != nil {
		st.Close()
		return nil, err
	}
	n := &Node{Home: home, Config: *c, store: st, live: newLiveness(c.Health)}
	n.dir = newDirectory(n)
	n.due = newDueWatch(n)
	// Signatures CheckTx verified are not verified again in FinalizeBlock, and
	// a submitted transaction is decoded once for Submit, CheckTx and
	// ProcessProposal.
	n.txs = chain.NewTxDecoder(8192)
	verified := keys.NewVerifyCache(max(c.MempoolSize, 1000))
	n.sigs = newSigBatcher(verified, func(v any) {
		n.log.Error("checking a batch of submitted signatures failed; CheckTx checks each one itself", "err", fmt.Sprint(v))
	})
	n.app = chain.New(ledger.New(verified.Verify).WithKeyCheck(keys.CheckPublicKey).WithDecoder(n.txs.Decode), st)
	n.app.SetDecoder(n.txs.Decode)
	n.app.SetLogger(logger(c.LogLevel, logs).With("module", "ledger"))
	if err := n.app.SetSnapshots(snapshotConfig(home, c)); err != nil {
		st.Close()
		return nil, err
	}
	if err := n.initREST(logs); err != nil {
		st.Close()
		return nil, err
	}
	cfg := cometConfig(home, c)
	if err := checkEngine(cfg); err != nil {
		st.Close()
		return nil, err
	}
	nodeKey, err := p2p.LoadNodeKey(cfg.NodeKeyFile())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("node key: %w", err)
	}
	pv, err := loadPV(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	n.app.Watch(func(b *chain.Block) { n.live.committed(); n.checkBlockTime(b, time.Now()); n.dir.poke(); n.due.poke() })
	n.log = failureLogger{Logger: logger(c.LogLevel, logs), onFailure: n.live.fail, clock: &n.live.clock}
	n.withRegistry(func() {
		n.cmt, err = cmtnode.NewNode(context.Background(), cfg, pv, nodeKey,
			proxy.NewConnSyncLocalClientCreator(progressApp{App: n.app, live: n.live}),
			cmtnode.DefaultGenesisDocProviderFunc(cfg),
			closeSafeDBProvider,
			n.metricsProvider(cfg),
			n.log,
			cmtnode.CustomReactors(n.reactors()))
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("start consensus: %w", err)
	}
	env, err := n.cmt.ConfigureRPC()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("start consensus: %w", err)
	}
	n.cs, _ = env.ConsensusState.(waiter)
	n.live.mempool = n.cmt.Mempool().Size
	n.rpc = local.New(n.cmt)
	var settings string
	settings, n.releaseCollector = collector.use(c)
	n.log.Info("collector", "settings", settings)
	return n, nil
}

// loadPV loads the validator key without the exit-on-error of CometBFT's loader.
func loadPV(cfg *cmtcfg.Config) (pv *privval.FilePV, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validator key %s: %v", cfg.PrivValidatorKeyFile(), r)
		}
	}()
	if err := checkPVFiles(cfg); err != nil {
		return nil, err
	}
	return privval.LoadFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile()), nil
}

// checkWritable fails with a clear message when the home's data folder cannot be written.
func checkWritable(home string) error {
	f, err := os.CreateTemp(home+"/data", ".write-check-*")
	if err != nil {
		return fmt.Errorf("home %s is not writable: %w", home, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Start starts consensus and, if api is not empty, the REST API on it
// (":0" picks a free port; see APIAddr).
func (n *Node) Start(api string) error {
	if err := n.startConsensus(); err != nil {
		n.store.Close()
		n.releaseCollector()
		return portInUse(fmt.Errorf("start consensus: %w", err), "peer-to-peer", n.Config.P2PListen,
			"p2p_listen in config/bbus.json, or bbus init --p2p / bbus start --p2p on an empty home")
	}
	n.dir.start()
	n.due.start()
	if api == "" {
		return nil
	}
	ln, err := n.apiListen(api)
	if err != nil {
		n.Stop()
		return portInUse(fmt.Errorf("REST API: %w", err), "REST API", api, "bbus start --api, or api in config/bbus.json")
	}
	srv, err := n.apiServer()
	if err != nil {
		ln.Close()
		n.Stop()
		return fmt.Errorf("REST API: %w", err)
	}
	n.ln, n.srv = ln, srv
	if srv.TLSConfig != nil {
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	return nil
}

// APIAddr returns the address the REST API listens on, or "".
func (n *Node) APIAddr() string {
	if n.ln == nil {
		return ""
	}
	return n.ln.Addr().String()
}

// Stop stops the API and consensus and closes the state. Every block committed
// before is on disk.
func (n *Node) Stop() {
	n.live.stopping.Store(true)
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.srv.Shutdown(ctx)
		cancel()
	}
	n.live.stopWaiting()
	n.due.close()
	if n.cmt.IsRunning() {
		n.dir.close()
		n.cmt.Stop()
		n.cmt.Wait()
	}
	n.store.Close()
	n.releaseCollector()
}

// App returns the node's ABCI application.
func (n *Node) App() *chain.App { return n.app }

// Status implements httpapi.Backend.
func (n *Node) Status(ctx context.Context) (*bbus.Status, error) {
	st, err := n.rpc.Status(ctx)
	if err != nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "consensus status: %v", err)
	}
	height, hash, t := n.store.Last()
	s := &bbus.Status{
		ChainID: st.NodeInfo.Network, Cloud: n.Config.Cloud, NodeID: string(st.NodeInfo.ID()),
		Height: height, AppHash: strings.ToUpper(hex.EncodeToString(hash)), BlockTime: t,
		CatchingUp: st.SyncInfo.CatchingUp, Validators: []bbus.Validator{}, Version: bbus.Version,
	}
	if st.SyncInfo.LatestBlockHeight > 0 {
		s.Trust = fmt.Sprintf("%d:%s", st.SyncInfo.LatestBlockHeight, st.SyncInfo.LatestBlockHash)
	}
	vals, err := n.rpc.Validators(ctx, nil, nil, nil)
	if err != nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "validators: %v", err)
	}
	owners := map[string]string{}
	n.store.View(func(r kv.Reader) error {
		if height > 0 || hash != nil {
			p := ledger.Params(r)
			s.Params = &p
		}
		clouds, _ := ledger.Clouds(r, bbus.Page{Limit: ledger.MaxLimit})
		for _, c := range clouds {
			owners[string(c.ValidatorKey)] = c.ID
		}
		return nil
	})
	for _, v := range vals.Validators {
		s.Validators = append(s.Validators, bbus.Validator{
			Address: v.Address.String(), PubKey: v.PubKey.Bytes(), Power: v.VotingPower, Cloud: owners[string(v.PubKey.Bytes())],
		})
	}
	return s, nil
}

// View implements httpapi.Backend.
func (n *Node) View(fn func(r kv.Reader) error) error { return n.store.View(fn) }

// Submit implements httpapi.Backend.
func (n *Node) Submit(ctx context.Context, raw []byte, wait bool) (*bbus.TxResult, error) {
	start := time.Now()
	hash := sha256.Sum256(raw)
	res := &bbus.TxResult{Hash: strings.ToUpper(hex.EncodeToString(hash[:]))}
	if tx, err := n.txs.Decode(raw); err == nil {
		res.TxID, res.Type, res.Signer = tx.ID, tx.Action.Type(), tx.Signer
		if pub := ledger.SignerKey(n.store.Committed(), tx); pub != nil {
			n.sigs.check(keys.Signed{Pub: pub, Msg: tx.BodyBytes, Sig: tx.Sig})
		}
	}
	var outcome <-chan chain.Outcome
	if wait {
		ch, cancel := n.app.Wait(hash)
		defer cancel()
		outcome = ch
	}
	r, err := n.broadcast(ctx, raw)
	var invalid mempl.ErrInvalidTx
	switch {
	case errors.As(err, &invalid):
		return nil, &bbus.Error{Code: chain.CodeOf(invalid.Code), Message: invalid.Log}
	case err != nil && strings.Contains(err.Error(), "already exists in cache"):
		// The same bytes are in the mempool or were seen before: either it is
		// about to commit, or it was committed and is now refused (a replay,
		// or expired since: the expiry is checked first). CometBFT's cache
		// answers without asking CheckTx, so ask the ledger here.
		if c := ledger.New(keys.Verify).Check(n.store.Committed(), n.app.CheckHeader(), raw); c.Code != "" {
			return nil, c.Err()
		}
	case err != nil:
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "mempool: %v", err)
	case r.Code != 0:
		return nil, &bbus.Error{Code: chain.CodeOf(r.Code), Message: r.Log}
	}
	if !wait {
		return res, nil
	}
	timer := time.NewTimer(SubmitTimeout)
	defer timer.Stop()
	select {
	case o := <-outcome:
		n.rest.metrics.latency.Observe(time.Since(start).Seconds())
		res.Height, res.Index, res.ID = o.Height, o.Index, o.Result.ID
		res.Code, res.Message = o.Result.Code, o.Result.Message
		return res, nil
	case <-ctx.Done():
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "stopped waiting for transaction %s to commit: %v (it may still commit)", res.Hash, ctx.Err())
	case <-timer.C:
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "transaction %s was not committed within %s (it may still commit)", res.Hash, SubmitTimeout)
	}
}

// Run starts the node of home with the REST API on api (config's if empty) and
// runs it until ctx is done, or until its consensus fails: then it logs why at
// error level, stops the node and returns an error naming the failure (a
// supervisor should restart the node once the cause, a full disk say, is
// fixed). ready, if not nil, is called once it serves.
func Run(ctx context.Context, home, api string, logs io.Writer, ready func(*Node)) error {
	n, err := Open(home, logs)
	if err != nil {
		return err
	}
	if api == "" {
		api = n.Config.API
	}
	if err := n.Start(api); err != nil {
		return err
	}
	if ready != nil {
		ready(n)
	}
	select {
	case <-ctx.Done():
		n.Stop()
		return nil
	case <-n.Failed():
		err := n.Err()
		n.log.Error("consensus failed; the node stops", "err", err)
		n.Stop()
		return bbus.Errorf(bbus.EINTERNAL, "%v; the node stopped (restart it once the cause is fixed)", err)
	}
}

var _ httpapi.Backend = (*Node)(nil)
