package node

import (
	"fmt"
	"os"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	sm "github.com/cometbft/cometbft/state"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
)

// The synchrony bounds of proposer-based timestamps (PBTS) in a new chain's
// genesis (docs/FEDERATION.md, "Clocks"). A validator judges a proposal timely
// when it receives it no earlier than Precision before the proposal's time and
// no later than MessageDelay + Precision after it, by its own clock.
const (
	// Precision bounds how far apart the clocks of two correct validators
	// may be: NTP keeps them within tens of milliseconds across regions.
	Precision = 500 * time.Millisecond
	// MessageDelay bounds how long a proposal takes to reach every validator:
	// ten times a 200 ms WAN round trip, room for a full block's parts.
	MessageDelay = 2 * time.Second
)

// ConsensusParams returns the consensus parameters of a new chain whose
// first height is initialHeight: PBTS from that height with bbus's synchrony
// bounds, and the block limits bbus has run with since CometBFT v0.38 (22 MB,
// no gas limit).
func ConsensusParams(initialHeight int64) *cmttypes.ConsensusParams {
	p := cmttypes.DefaultConsensusParams()
	p.Block.MaxBytes = 22020096
	p.Block.MaxGas = -1
	p.Feature.PbtsEnableHeight = initialHeight
	p.Synchrony = cmttypes.SynchronyParams{Precision: Precision, MessageDelay: MessageDelay}
	return p
}

// checkEngine refuses a home this version of bbus cannot run: one whose chain
// was made for CometBFT v0.38, with BFT time (its genesis does not turn on
// proposer-based timestamps from its first height, or its consensus state
// says they are off).
func checkEngine(cfg *cmtcfg.Config) error {
	b, err := os.ReadFile(cfg.GenesisFile())
	if err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	doc, err := cmttypes.GenesisDocFromJSON(b)
	if err != nil {
		return bbus.Errorf(bbus.EINVALID, "genesis %s: %v", cfg.GenesisFile(), err)
	}
	if err := checkGenesisPBTS(doc); err != nil {
		return bbus.Errorf(bbus.EINVALID, "%s: %v", cfg.GenesisFile(), err)
	}
	db, err := cmtcfg.DefaultDBProvider(&cmtcfg.DBContext{ID: "state", Config: cfg})
	if err != nil {
		return fmt.Errorf("consensus state: %w", err)
	}
	defer db.Close()
	st, err := sm.NewStore(db, sm.StoreOptions{}).Load()
	if err != nil {
		return fmt.Errorf("consensus state: %w", err)
	}
	if !st.IsEmpty() && !st.ConsensusParams.Feature.PbtsEnabled(st.LastBlockHeight+1) {
		return bbus.Errorf(bbus.EINVALID, "the consensus state in %s is of a chain that runs with BFT time (CometBFT v0.38, at height %d): %s",
			cfg.DBDir(), st.LastBlockHeight, upgradeAdvice)
	}
	return nil
}

// checkGenesisPBTS reports a genesis document without proposer-based
// timestamps from its first height.
func checkGenesisPBTS(doc *cmttypes.GenesisDoc) error {
	if doc.ConsensusParams == nil || !doc.ConsensusParams.Feature.PbtsEnabled(doc.InitialHeight) {
		return fmt.Errorf("the genesis of chain %s has no proposer-based timestamps from its first height (consensus_params.feature.pbts_enable_height is not %d): it was made by a bbus on CometBFT v0.38. %s",
			doc.ChainID, doc.InitialHeight, upgradeAdvice)
	}
	return nil
}

// upgradeAdvice says how a federation moves from a bbus on CometBFT v0.38.
const upgradeAdvice = "This bbus runs CometBFT v1 with proposer-based timestamps from genesis and cannot continue such a chain. " +
	"To move, export the evidence you need with the old bbus (bbus evidence export), stop every node, " +
	"and start a new chain: bbus init (or bbus testnet) in a new home, then re-record the live state " +
	"(docs/FEDERATION.md, \"Upgrading from CometBFT v0.38\")"
