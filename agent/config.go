package agent

import (
	"bytes"
	"encoding/json"
	"os"

	"github.com/bbusdev/bbus"
)

// FileConfig is the agent's configuration file (bbus agent --config FILE):
// how the layer's hosts map to the federation's clouds, and what the agent
// proposes under. Unknown fields are refused, so a misspelt one is noticed.
type FileConfig struct {
	// Peers maps the addresses of the other clouds' hosts, as the layer
	// names them (libvirt URIs like qemu+tcp://10.0.0.2:16509/system), to
	// their cloud ids.
	Peers map[string]string `json:"peers,omitempty"`
	// Destination is the cloud of a migration whose destination host the
	// agent cannot map.
	Destination string `json:"destination,omitempty"`
	// Agreements names, by destination cloud, the agreement the migrations
	// the agent proposes are under.
	Agreements map[string]string `json:"agreements,omitempty"`
	// CloudEventsToken, if set, is the bearer token senders to the
	// CloudEvents hook must present.
	CloudEventsToken string `json:"cloudevents_token,omitempty"`
	// VCenter and Nova are the settings of those sources, which read them.
	VCenter json.RawMessage `json:"vcenter,omitempty"`
	Nova    json.RawMessage `json:"nova,omitempty"`

	// Cloud is the agent's own cloud (bbus agent --from), not read from the file.
	Cloud string `json:"-"`
}

// LoadConfig reads and checks a configuration file.
func LoadConfig(path string) (*FileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "agent configuration: %v", err)
	}
	var c FileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "agent configuration %s: %v", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "agent configuration %s: %s", path, bbus.ErrorMessage(err))
	}
	return &c, nil
}

// Validate checks that every cloud and agreement the configuration names is
// a well-formed id.
func (c *FileConfig) Validate() error {
	for host, cloud := range c.Peers {
		if host == "" {
			return bbus.Errorf(bbus.EINVALID, "peers: an empty host address")
		}
		if err := bbus.ValidateID("cloud", cloud); err != nil {
			return bbus.Errorf(bbus.EINVALID, "peers[%q]: %s", host, bbus.ErrorMessage(err))
		}
	}
	if c.Destination != "" {
		if err := bbus.ValidateID("cloud", c.Destination); err != nil {
			return bbus.Errorf(bbus.EINVALID, "destination: %s", bbus.ErrorMessage(err))
		}
	}
	for cloud, agr := range c.Agreements {
		if err := bbus.ValidateID("cloud", cloud); err != nil {
			return bbus.Errorf(bbus.EINVALID, "agreements: %s", bbus.ErrorMessage(err))
		}
		if agr == "" {
			return bbus.Errorf(bbus.EINVALID, "agreements[%q]: empty", cloud)
		}
	}
	return nil
}
