package client

import (
	"context"
	"encoding/json"
	"net/url"
)

// Evidence returns the evidence bundle of a VM, as the node sent it: the JSON
// document that proves the VM's history to someone who runs no node
// (evidence.Decode reads it, evidence.Verify checks it). It comes back as
// bytes so that this package needs no CometBFT types: a bundle holds CometBFT's
// signed headers and commits, which only a verifier needs to decode. The node
// may wait a moment for the block that proves the VM's last transaction.
func (c *Client) Evidence(ctx context.Context, vm string) (json.RawMessage, error) {
	var b json.RawMessage
	if err := c.get(ctx, "/v1/evidence", url.Values{"vm": {vm}}, &b); err != nil {
		return nil, err
	}
	return b, nil
}
