package chain

import (
	"context"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus/ledger"
)

// ProcessProposal refuses a proposed block that carries bytes no honest node
// would have admitted to its mempool: transactions that do not decode as
// canonical bbus transactions or ticks of earlier heights (tick.go), or that
// name another chain. Everything else is left to FinalizeBlock, which rejects
// rule-breaking transactions one by one, the same way on every validator.
func (a *App) ProcessProposal(_ context.Context, req *abci.ProcessProposalRequest) (*abci.ProcessProposalResponse, error) {
	reject := &abci.ProcessProposalResponse{Status: abci.PROCESS_PROPOSAL_STATUS_REJECT}
	chainID := ""
	for _, raw := range req.Txs {
		if IsTick(raw) {
			if h, _, ok := parseTick(raw); !ok || h >= req.Height {
				return reject, nil
			}
			continue
		}
		tx, err := a.decode(raw)
		if err != nil {
			return reject, nil
		}
		if chainID == "" {
			chainID = ledger.ChainID(a.store.Committed())
		}
		if tx.ChainID != chainID {
			return reject, nil
		}
	}
	return &abci.ProcessProposalResponse{Status: abci.PROCESS_PROPOSAL_STATUS_ACCEPT}, nil
}
