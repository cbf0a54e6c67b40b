package node

import (
	"fmt"
	"os"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/privval"
)

// checkPVFiles reads the validator key and its last-signed state the way
// CometBFT's loader will, so that a missing or damaged file becomes an error
// naming it instead of the loader exiting the process.
func checkPVFiles(cfg *cmtcfg.Config) error {
	var key privval.FilePVKey
	var state privval.FilePVLastSignState
	for _, f := range []struct {
		path string
		into any
		what string
	}{
		{cfg.PrivValidatorKeyFile(), &key, "validator key"},
		{cfg.PrivValidatorStateFile(), &state, "validator sign state"},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.what, err)
		}
		if err := cmtjson.Unmarshal(b, f.into); err != nil {
			return fmt.Errorf("%s %s is damaged (%v): restore it from your backup", f.what, f.path, err)
		}
	}
	if key.PrivKey == nil {
		return fmt.Errorf("validator key %s holds no private key: restore it from your backup", cfg.PrivValidatorKeyFile())
	}
	return nil
}
