package node

import (
	"errors"
	"io/fs"
	"os"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/privval"

	"github.com/bbusdev/bbus"
)

// ValidatorKey returns the public consensus key of a home's node (from
// HOME/config/priv_validator_key.json): what a cloud_join names as its
// validator_pub_key so that the node becomes a validator once admitted.
func ValidatorKey(home string) ([]byte, error) {
	path := cometPaths(home).PrivValidatorKeyFile()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "%s has no validator key (%s): run bbus init --home %s first", home, path, home)
	}
	if err != nil {
		return nil, err
	}
	var k privval.FilePVKey
	if err := cmtjson.Unmarshal(b, &k); err != nil || k.PubKey == nil || len(k.PubKey.Bytes()) != 32 {
		return nil, bbus.Errorf(bbus.EINVALID, "%s is not an ed25519 validator key file", path)
	}
	return k.PubKey.Bytes(), nil
}
