package node

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// TestnetOptions says what federation on one machine to lay out.
type TestnetOptions struct {
	Validators int
	Out        string // folder for the homes node0, node1, ...
	ChainID    string // default "bbus-testnet"
	// Ports: node k listens for peers on P2PPort+k and serves the API on APIPort+k.
	P2PPort  int
	APIPort  int
	Capacity bbus.Resources
	Progress io.Writer
}

// Testnet writes the homes of a federation whose founding clouds cloud0, cloud1,
// ... each run one validator on this machine's loopback interface. It returns
// the homes.
func Testnet(o TestnetOptions) ([]string, error) {
	if o.Validators < 1 || o.Validators > 64 {
		return nil, bbus.Errorf(bbus.EINVALID, "validators must be between 1 and 64, got %d", o.Validators)
	}
	if o.ChainID == "" {
		o.ChainID = "bbus-testnet"
	}
	if o.P2PPort == 0 {
		o.P2PPort = 26656
	}
	if o.APIPort == 0 {
		o.APIPort = 8080
	}
	if o.Capacity.IsZero() {
		o.Capacity = DefaultCapacity
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	homes := make([]string, o.Validators)
	ids := make([]*Identity, o.Validators)
	var clouds []bbus.GenesisCloud
	for k := range homes {
		homes[k] = filepath.Join(o.Out, fmt.Sprintf("node%d", k))
		cloud := fmt.Sprintf("cloud%d", k)
		c := DefaultConfig(cloud)
		c.API = fmt.Sprintf("127.0.0.1:%d", o.APIPort+k)
		c.P2PListen = fmt.Sprintf("tcp://127.0.0.1:%d", o.P2PPort+k)
		c.Loopback = true
		id, err := prepareHome(homes[k], cloud, &c)
		if err != nil {
			return nil, err
		}
		ids[k] = id
		clouds = append(clouds, bbus.GenesisCloud{ID: cloud, Name: cloud, PubKey: id.Cloud.PubKey,
			ValidatorKey: id.ValidatorKey, Power: DefaultPower, Capacity: o.Capacity, API: "http://" + c.API,
			NodeID: id.NodeID, P2PAddress: PublicP2PAddress(&c)})
		fmt.Fprintf(o.Progress, "[%d/%d] %s: cloud %s, p2p %s, api %s\n", k+1, o.Validators, homes[k], cloud, c.P2PListen, c.API)
	}
	doc, err := NewGenesis(o.ChainID, time.Now(), bbus.DefaultParams(), clouds)
	if err != nil {
		return nil, err
	}
	for k, home := range homes {
		var peers []string
		for j := range homes {
			if j != k {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j].NodeID, o.P2PPort+j))
			}
		}
		c, err := LoadConfig(home)
		if err != nil {
			return nil, err
		}
		c.PersistentPeers = strings.Join(peers, ",")
		if err := c.Save(home); err != nil {
			return nil, err
		}
		if err := doc.SaveAs(genesisPath(home)); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(o.Progress, "wrote %d homes under %s for chain %s; start each with: bbus start --home %s\n",
		o.Validators, o.Out, o.ChainID, filepath.Join(o.Out, "nodeK"))
	return homes, nil
}
