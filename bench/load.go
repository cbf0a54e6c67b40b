package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/keys"
)

// The load generator: C clients in a closed loop, each with one transaction in
// flight at a time, submitted through POST /v1/txs and waited for until its
// commit. The same generator drives bbus and the baseline; only the
// transactions differ.

// target is the nodes a phase submits to.
type target struct {
	urls    []string
	clients []*client.Client
	alive   func(node int) bool
}

func newTarget(urls []string, alive func(int) bool, conns int) *target {
	tr := &http.Transport{
		MaxIdleConns:        conns + 64,
		MaxIdleConnsPerHost: conns + 64, // keep-alive for every client (Go's default keeps 2)
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	t := &target{urls: urls, alive: alive}
	for _, u := range urls {
		t.clients = append(t.clients, client.New(u, client.WithHTTPClient(hc)))
	}
	if t.alive == nil {
		t.alive = func(int) bool { return true }
	}
	return t
}

// pick returns node if it is alive, else the next live one.
func (t *target) pick(node int) int {
	for k := 0; k < len(t.urls); k++ {
		if n := (node + k) % len(t.urls); t.alive(n) {
			return n
		}
	}
	return node % len(t.urls)
}

// clientRec is what one client saw: the latency of each committed
// transaction and when its answer came (since the phase started).
type clientRec struct {
	lat []time.Duration
	at  []time.Duration
	cs  conns
}

// phaseRun is one phase of load in progress.
type phaseRun struct {
	name     string
	start    time.Time
	end      time.Time // no transaction is sent after it
	t        *target
	recs     []*clientRec
	txs      atomic.Int64 // committed and applied, answered before end
	migs     atomic.Int64 // completed migrations (bbus)
	errCount atomic.Int64
	mu       sync.Mutex
	errs     map[string]int
	firstErr string
}

// errAbort makes a client drop the rest of a sequence.
var errAbort = errors.New("abort")

// submit sends raw to node (or the next live node) and waits for its commit.
// It records the latency of a committed, applied transaction answered before
// the phase's end.
func (p *phaseRun) submit(ctx context.Context, rec *clientRec, node int, raw []byte) (*bbus.TxResult, error) {
	n := p.t.pick(node)
	t0 := time.Now()
	res, err := rec.cs[n].submit(ctx, raw)
	t1 := time.Now()

	if err != nil {
		if ctx.Err() == nil {
			p.fail(err)
		}
		return nil, errAbort
	}
	if t1.Before(p.end) {
		rec.lat = append(rec.lat, t1.Sub(t0))
		rec.at = append(rec.at, t1.Sub(p.start))
		p.txs.Add(1)
	}
	return res, nil
}

func (p *phaseRun) fail(err error) {
	p.errCount.Add(1)
	code := bbus.ErrorCode(err)
	p.mu.Lock()
	p.errs[code]++
	if p.firstErr == "" {
		p.firstErr = err.Error()
	}
	p.mu.Unlock()
}

// workload makes the transactions of a phase's clients.
type workload interface {
	// run is client c's loop: it submits through p until ctx is done or the
	// phase ends.
	run(ctx context.Context, p *phaseRun, c int, rec *clientRec)
}

// runPhase runs clients clients of w against t for d.
func runPhase(ctx context.Context, name string, t *target, w workload, clients int, d time.Duration, progress func(*phaseRun)) *phaseRun {
	p := &phaseRun{name: name, t: t, errs: map[string]int{}}
	p.start = time.Now()
	p.end = p.start.Add(d)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		rec := &clientRec{cs: t.conns()}
		p.recs = append(p.recs, rec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rec.cs.close()
			w.run(cctx, p, c, rec)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			if progress != nil {
				progress(p)
			}
			return p
		case <-tick.C:
			if progress != nil {
				progress(p)
			}
			// Clients finish what they have in flight; past a minute they are stuck.
			if time.Since(p.end) > time.Minute {
				cancel()
			}
		case <-ctx.Done():
			cancel()
		}
	}
}

// more reports whether client loops should send another transaction.
func (p *phaseRun) more(ctx context.Context) bool {
	return ctx.Err() == nil && time.Now().Before(p.end)
}

// kvLoad is the baseline's workload: each transaction writes one new key.
type kvLoad struct {
	run0 string // distinguishes this run's keys
	size int    // bytes per transaction
}

func (w *kvLoad) tx(c, i int) []byte {
	s := fmt.Sprintf("k/%s/%d/%d=", w.run0, c, i)
	if pad := w.size - len(s); pad > 0 {
		b := make([]byte, (pad+1)/2)
		rand.Read(b)
		s += hex.EncodeToString(b)[:pad]
	}
	return []byte(s)
}

func (w *kvLoad) run(ctx context.Context, p *phaseRun, c int, rec *clientRec) {
	nodes := len(p.t.urls)
	for i := 0; p.more(ctx); i++ {
		p.submit(ctx, rec, (c+i)%nodes, w.tx(c, i))
	}
}

// bbusLoad is bbus's workload: each client runs migration lifecycles. A
// lifecycle registers a new VM on a cloud, which proposes to send it to the
// next cloud; that cloud accepts and completes it. Every transaction is
// signed by the cloud the ledger wants and goes to that cloud's node (to the
// next live node if it is down), as in a federation.
type bbusLoad struct {
	run0      string
	signers   []client.Signer // per cloud
	nodeOf    []int           // the node of each cloud
	vm        bbus.Resources
	perVM     int          // migrations of each VM registered
	terminate bool         // and then its owner terminates it, freeing the host's capacity
	vms       atomic.Int64 // VMs registered so far: their ids are unique over phases
	nonce     atomic.Uint64
	// sizes of the transactions made, to size the baseline's
	bytes, count atomic.Int64
}

func (w *bbusLoad) sign(cloud int, a bbus.Action) []byte {
	s := w.signers[cloud]
	raw, err := fastSign(&bbus.Body{ChainID: s.ChainID, Signer: s.ID, Nonce: w.nonce.Add(1),
		Expires: time.Now().Add(client.TxTTL).Unix(), Action: a}, s.Key)
	if err != nil {
		panic(err) // only a broken key gets here
	}
	w.bytes.Add(int64(len(raw)))
	w.count.Add(1)
	return raw
}

// fastSign is bbus.SignTx with CometBFT's ed25519 (curve25519-voi), which signs
// in half the time of crypto/ed25519 here: Ed25519 signatures are
// deterministic, so the bytes are the same (bench_test.go checks), and the
// load generator takes less of the CPU the nodes share with it.
func fastSign(b *bbus.Body, key ed25519.PrivateKey) ([]byte, error) {
	body, err := bbus.EncodeBody(b)
	if err != nil {
		return nil, err
	}
	sig, err := cmted25519.PrivKey(key).Sign(body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&bbus.Tx{Body: body, Sig: sig})
}

// lifecycle returns the four transactions of a lifecycle; the last two need
// the migration's id, which only the proposal's commit tells.
func (w *bbusLoad) register(src int, vm string) []byte {
	return w.sign(src, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: w.vm}})
}

func (w *bbusLoad) run(ctx context.Context, p *phaseRun, c int, rec *clientRec) {
	n := len(w.signers)
	for p.more(ctx) {
		src, dst := c%n, (c+1)%n
		vm := fmt.Sprintf("vm-%s-%d", w.run0, w.vms.Add(1))
		if _, err := p.submit(ctx, rec, w.nodeOf[src], w.register(src, vm)); err != nil {
			continue
		}
		// The VM migrates to the next cloud and, with perVM > 1, on: back, ...
		owner := src
		for k := 0; k < max(w.perVM, 1) && p.more(ctx); k++ {
			if !w.migrate(ctx, p, rec, vm, src, dst) {
				break
			}
			src, dst = dst, src
		}
		if w.terminate && p.more(ctx) {
			p.submit(ctx, rec, w.nodeOf[owner], w.sign(owner, bbus.Action{VMTerminate: &bbus.VMRef{VM: vm}}))
		}
	}
}

// migrate sends vm from cloud src to cloud dst: proposal, acceptance,
// completion. It reports whether the migration completed.
func (w *bbusLoad) migrate(ctx context.Context, p *phaseRun, rec *clientRec, vm string, src, dst int) bool {
	res, err := p.submit(ctx, rec, w.nodeOf[src], w.sign(src, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: w.signers[dst].ID}}))
	if err != nil || !p.more(ctx) {
		return false
	}
	mig := res.ID
	if _, err := p.submit(ctx, rec, w.nodeOf[dst], w.sign(dst, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})); err != nil || !p.more(ctx) {
		return false
	}
	t0 := time.Now()
	if _, err := p.submit(ctx, rec, w.nodeOf[dst], w.sign(dst, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})); err != nil {
		return false
	}
	if t0.Before(p.end) && time.Now().Before(p.end) {
		p.migs.Add(1)
	}
	return true
}

// newBBUSLoad prepares the signers of a bbus chain. With one founding cloud
// it first admits a second, "peer", by the founder's vote: a cloud_join
// signed with a new key, then the founder's cloud_approve.
func newBBUSLoad(ctx context.Context, t *target, homes, clouds []string, run0 string) (*bbusLoad, error) {
	w := &bbusLoad{run0: run0, vm: bbus.Resources{CPU: 2, MemMiB: 4096, DiskIOPS: 500, NetMbps: 100}}
	for k, cloud := range clouds {
		key, err := keys.Load(homes[k], cloud)
		if err != nil {
			return nil, err
		}
		w.signers = append(w.signers, client.Signer{ChainID: ChainID, ID: cloud, Key: key.PrivKey})
		w.nodeOf = append(w.nodeOf, k)
	}
	if len(clouds) == 1 {
		w.nodeOf = append(w.nodeOf, 0)
		if err := admitPeer(ctx, t, w, "peer", ChainID); err != nil {
			return nil, err
		}
	}
	// The chain's first blocks (validators connecting) are not load.
	if _, err := t.clients[0].Submit(ctx, w.register(0, "vm-"+run0+"-warm"), true); err != nil {
		return nil, fmt.Errorf("first transaction: %w", err)
	}
	return w, nil
}

// admitPeer adds to w a new cloud id, admitted by the vote of w's first signer:
// a cloud_join signed with a new key, then the member's cloud_approve.
func admitPeer(ctx context.Context, t *target, w *bbusLoad, id, chainID string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	peer := client.Signer{ChainID: chainID, ID: id, Key: priv}
	invite, _, _ := w.signers[0].Sign(bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: id, PubKey: pub}})
	if _, err := t.clients[0].Submit(ctx, invite, true); err != nil {
		return fmt.Errorf("admitting a second cloud: invite: %w", err)
	}
	join, _, _ := peer.Sign(bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "Peer cloud", PubKey: pub, Resources: benchCapacity}})
	if _, err := t.clients[0].Submit(ctx, join, true); err != nil {
		return fmt.Errorf("admitting a second cloud: join: %w", err)
	}
	// The invitation is the inviter's vote; with more members, it votes again.
	if c, err := t.clients[0].Cloud(ctx, id); err != nil {
		return fmt.Errorf("admitting a second cloud: %w", err)
	} else if c.Status == bbus.CloudPending {
		approve, _, _ := w.signers[0].Sign(bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: id, PubKey: pub}})
		if _, err := t.clients[0].Submit(ctx, approve, true); err != nil {
			return fmt.Errorf("admitting a second cloud: approve: %w", err)
		}
	}
	w.signers = append(w.signers, peer)
	return nil
}

// bbusTxBytes returns the mean size of a migration lifecycle's transactions.
func bbusTxBytes() int {
	w := &bbusLoad{run0: runID(), vm: bbus.Resources{CPU: 2, MemMiB: 4096, DiskIOPS: 500, NetMbps: 100}}
	for _, id := range []string{"cloud0", "peer"} {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		w.signers = append(w.signers, client.Signer{ChainID: ChainID, ID: id, Key: priv})
	}
	return meanTxBytes(w)
}

// meanTxBytes signs one lifecycle's transactions (without sending them) and
// returns their mean size, to size the baseline's transactions alike.
func meanTxBytes(w *bbusLoad) int {
	var n int
	vm := "vm-" + strings.Repeat("x", len(w.run0)) + "-99999"
	txs := [][]byte{
		w.register(0, vm),
		w.sign(0, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: w.signers[1].ID}}),
		w.sign(1, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-99999"}}),
		w.sign(1, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-99999"}}),
	}
	for _, tx := range txs {
		n += len(tx)
	}
	w.bytes.Store(0)
	w.count.Store(0)
	return n / len(txs)
}
