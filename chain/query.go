package chain

import (
	"context"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus/ledger"
)

// Query answers CometBFT's peer filter (config p2p filter_peers): the path
// "/p2p/filter/id/<node id>" gets code 0 only for a node the ledger lets in
// (ledger.NodeAllowed: the nodes of members, of voted observers and of
// invited applicants), and "/p2p/filter/addr/<host:port>" gets code 0 for
// every address, since a federation's nodes are known by id, not by address.
// Any other path is answered with code 1. It reads committed state only.
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	switch {
	case strings.HasPrefix(req.Path, "/p2p/filter/addr/"):
		return &abci.QueryResponse{Code: 0}, nil
	case strings.HasPrefix(req.Path, "/p2p/filter/id/"):
		id := strings.TrimPrefix(req.Path, "/p2p/filter/id/")
		height, _, _ := a.store.Last()
		ok, who := ledger.NodeAllowed(a.store.Committed(), id, height)
		if !ok {
			return &abci.QueryResponse{Code: 1, Log: "refused: " + who + " is not a member's, an observer's or an invited applicant's node"}, nil
		}
		return &abci.QueryResponse{Code: 0, Log: who}, nil
	}
	return &abci.QueryResponse{Code: 1, Log: "unknown query path " + req.Path}, nil
}
