package node

import (
	"os"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	sm "github.com/cometbft/cometbft/state"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
)

// errorLines returns the error-level lines of a node's log.
func errorLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.HasPrefix(l, "E[") {
			out = append(out, l)
		}
	}
	return out
}

// TestGenesisInTheFutureIsReported: a node whose clock is behind the genesis
// time says so at error level and in /readyz (503 with the reason) while it
// waits, and still stops at once.
func TestGenesisInTheFutureIsReported(t *testing.T) {
	home := singleHome(t)
	doc, err := cmttypes.GenesisDocFromFile(genesisPath(home))
	if err != nil {
		t.Fatal(err)
	}
	doc.GenesisTime = time.Now().Add(time.Hour).UTC().Round(0)
	if err := doc.SaveAs(genesisPath(home)); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	n, err := Open(home, logs)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- n.Start("127.0.0.1:0") }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Start waited for the genesis time")
	}
	p := getProbe("http://" + n.APIAddr() + "/readyz")
	if p.status != 503 || p.err == nil || p.err.Code != bbus.EUNAVAILABLE || !strings.Contains(p.err.Message, "genesis time") ||
		!strings.Contains(p.err.Message, "clock") {
		t.Errorf("readyz while waiting for the genesis time: %d %+v", p.status, p.err)
	} else {
		t.Logf("readyz: %s", p.err.Message)
	}
	if lines := errorLines(logs.String()); len(lines) == 0 || !strings.Contains(lines[0], "genesis time") {
		t.Errorf("no error-level line says the node waits for the genesis time:\n%s", logs)
	}
	done := make(chan struct{})
	go func() { n.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a node waiting for the genesis time did not stop")
	}
}

// TestUntimelyProposalsAreReported feeds the node's logger what CometBFT v1
// logs when this validator judges a proposal untimely by its own clock: each
// is logged again at error level; a run of them makes /readyz say 503 naming
// the clock, and a timely proposal makes it ready again.
func TestUntimelyProposalsAreReported(t *testing.T) {
	logs := &syncBuffer{}
	live := newLiveness(DefaultHealthConfig())
	var log cmtlog.Logger = failureLogger{Logger: logger("error", logs), onFailure: live.fail, clock: &live.clock}
	log = log.With("module", "consensus").With("height", int64(7), "round", int32(0))
	untimely := func() {
		log.Info(untimelyProposal,
			"timestamp", "2026-12-01T10:00:00.5Z", "receive_time", "2026-12-01T10:00:04Z",
			"timestamp_difference", 3500*time.Millisecond, "lower_bound", -Precision, "upper_bound", MessageDelay+Precision)
	}
	untimely()
	if err := live.stalled(time.Now()); err != nil {
		t.Fatalf("one untimely proposal (maybe its proposer's clock): %v", err)
	}
	if lines := errorLines(logs.String()); len(lines) != 1 || !strings.Contains(lines[0], "untimely") || !strings.Contains(lines[0], "timestamp_difference=3.5s") {
		t.Errorf("the untimely proposal at error level: %q", lines)
	}
	untimely()
	err := live.stalled(time.Now())
	if bbus.ErrorCode(err) != bbus.EUNAVAILABLE || !strings.Contains(err.Error(), "clock") || !strings.Contains(err.Error(), "height 7, round 0, timestamp") ||
		!strings.Contains(err.Error(), "timestamp_difference 3.5s") {
		t.Fatalf("two untimely proposals in a row: %v", err)
	}
	t.Logf("readyz: %v", err)
	log.Debug(timelyProposal, "timestamp", "x")
	if err := live.stalled(time.Now()); err != nil {
		t.Fatalf("after a timely proposal: %v", err)
	}
	// CometBFT v1's consensus failure is still recognised.
	log.Error("CONSENSUS FAILURE!!!", "err", "disk full")
	if err := live.stalled(time.Now()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("after CONSENSUS FAILURE: %v", err)
	}
}

// TestOldHomesRefused: a home made by bbus on CometBFT v0.38 (a genesis
// without proposer-based timestamps) is refused with a message that says how
// to move, by Open and by init --genesis.
func TestOldHomesRefused(t *testing.T) {
	home := singleHome(t)
	b, err := os.ReadFile(genesisPath(home))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cmttypes.GenesisDocFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.ConsensusParams.Feature.PbtsEnabled(1) || doc.ConsensusParams.Synchrony.Precision != Precision ||
		doc.ConsensusParams.Synchrony.MessageDelay != MessageDelay {
		t.Fatalf("a new genesis: feature %+v synchrony %+v", doc.ConsensusParams.Feature, doc.ConsensusParams.Synchrony)
	}
	doc.ConsensusParams.Feature.PbtsEnableHeight = 0 // as v0.38 wrote it: no feature params
	if err := doc.SaveAs(genesisPath(home)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(home, os.Stderr)
	if bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(err.Error(), "pbts_enable_height") || !strings.Contains(err.Error(), "bbus init") {
		t.Fatalf("opening a home with a v0.38 genesis: %v", err)
	}
	t.Logf("open: %v", err)
	_, err = Init(InitOptions{Home: t.TempDir(), Cloud: "joiner", Genesis: genesisPath(home)})
	if bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(err.Error(), "proposer-based timestamps") {
		t.Fatalf("joining a v0.38 chain: %v", err)
	}
}

// TestOldConsensusStateRefused: a home whose CometBFT state runs BFT time (as a
// v0.38 chain's does) is refused even with a genesis that turns PBTS on.
func TestOldConsensusStateRefused(t *testing.T) {
	home := singleHome(t)
	doc, err := cmttypes.GenesisDocFromFile(genesisPath(home))
	if err != nil {
		t.Fatal(err)
	}
	doc.ConsensusParams.Feature.PbtsEnableHeight = 0
	state, err := sm.MakeGenesisState(doc)
	if err != nil {
		t.Fatal(err)
	}
	state.LastBlockHeight, state.LastValidators = 41, state.Validators.Copy()
	cfg := cometPaths(home)
	cfg.DBBackend = "goleveldb"
	db, err := cmtcfg.DefaultDBProvider(&cmtcfg.DBContext{ID: "state", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.NewStore(db, sm.StoreOptions{}).Save(state); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(home, os.Stderr)
	if bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(err.Error(), "BFT time") || !strings.Contains(err.Error(), "height 41") {
		t.Fatalf("opening a home whose consensus state runs BFT time: %v", err)
	}
}

// TestClockBehindBlocksIsReported: a node committing blocks whose times lie
// more than the PBTS precision ahead of its clock (the validators accepted
// them by theirs) says at error level and in /readyz that its clock is slow,
// and is ready again once a block's time is not ahead of it.
func TestClockBehindBlocksIsReported(t *testing.T) {
	logs := &syncBuffer{}
	live := newLiveness(DefaultHealthConfig())
	n := &Node{live: live, log: failureLogger{Logger: logger("error", logs), onFailure: live.fail, clock: &live.clock}}
	now := time.Now()
	n.checkBlockTime(&chain.Block{Height: 5, Time: now.Add(Precision / 2)}, now)
	if err := live.stalled(now); err != nil || len(errorLines(logs.String())) != 0 {
		t.Fatalf("a block within the precision: %v\n%s", err, logs)
	}
	n.checkBlockTime(&chain.Block{Height: 6, Time: now.Add(3 * time.Second)}, now)
	err := live.stalled(now)
	if bbus.ErrorCode(err) != bbus.EUNAVAILABLE || !strings.Contains(err.Error(), "3s behind") || !strings.Contains(err.Error(), "height 6") {
		t.Fatalf("a block 3 s ahead of this clock: %v", err)
	}
	t.Logf("readyz: %v", err)
	if lines := errorLines(logs.String()); len(lines) != 1 || !strings.Contains(lines[0], "behind=3s") {
		t.Errorf("the slow clock at error level: %q", lines)
	}
	n.checkBlockTime(&chain.Block{Height: 7, Time: now.Add(4 * time.Second)}, now.Add(time.Second))
	if lines := errorLines(logs.String()); len(lines) != 1 {
		t.Errorf("logged again within a minute: %q", lines)
	}
	n.checkBlockTime(&chain.Block{Height: 8, Time: now.Add(time.Second)}, now.Add(2*time.Second))
	if err := live.stalled(now.Add(2 * time.Second)); err != nil {
		t.Fatalf("once blocks are no longer ahead: %v", err)
	}
}
