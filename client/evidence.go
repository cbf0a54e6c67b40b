package client

import (
	"context"
	"net/url"

	"github.com/bbusdev/bbus/evidence"
)

// Evidence returns the evidence bundle of a VM: what proves its history to
// someone who runs no node (evidence.Verify checks it). The node may wait a
// moment for the block that proves the VM's last transaction.
func (c *Client) Evidence(ctx context.Context, vm string) (*evidence.Bundle, error) {
	var b evidence.Bundle
	if err := c.get(ctx, "/v1/evidence", url.Values{"vm": {vm}}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}
