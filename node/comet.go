package node

import (
	cmtcfg "github.com/cometbft/cometbft/config"
)

// CometConfig returns the CometBFT configuration the node of home runs with:
// CometBFT's defaults with bbus's settings from HOME/config/bbus.json
// (docs/DESIGN.md). The benchmark's baseline runs the bare engine with exactly
// these settings.
func CometConfig(home string) (*cmtcfg.Config, error) {
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	cfg := cometConfig(home, c)
	cfg.Instrumentation.Prometheus = c.REST.Metrics
	cfg.Instrumentation.PrometheusListenAddr = ""
	return cfg, nil
}
