package bench

import (
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/store"

	"github.com/bbusdev/bbus/node"
)

// readRounds sets each phase's rounds per height from the block store of a
// stopped node's home: a height decided in round r took r+1 rounds, as its
// commit says.
func readRounds(home string, phases []*Phase) {
	cfg, err := node.CometConfig(home)
	if err != nil {
		return
	}
	db, err := cmtcfg.DefaultDBProvider(&cmtcfg.DBContext{ID: "blockstore", Config: cfg})
	if err != nil {
		return
	}
	defer db.Close()
	bs := store.NewBlockStore(db)
	for _, p := range phases {
		var heights, rounds int64
		for h := p.Heights[0] + 1; h <= p.Heights[1] && h <= bs.Height(); h++ {
			c := bs.LoadBlockCommit(h)
			if c == nil {
				c = bs.LoadSeenCommit(h)
			}
			if c == nil {
				continue
			}
			heights++
			rounds += int64(c.Round) + 1
		}
		if heights > 0 {
			p.Rounds = float64(rounds) / float64(heights)
		}
	}
}
