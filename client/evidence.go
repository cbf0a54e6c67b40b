package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/bbusdev/bbus/evidence"
)

// Evidence returns the evidence bundle of a VM: what proves its history to
// someone who runs no node (evidence.Verify checks it). The node may wait a
// moment for the block that proves the VM's last transaction. A checkpoint
// above 0 is the height of a header the auditor trusts, which the bundle
// then holds (evidence.VerifyTrusting).
func (c *Client) Evidence(ctx context.Context, vm string, checkpoint int64) (*evidence.Bundle, error) {
	var b evidence.Bundle
	q := url.Values{"vm": {vm}}
	if checkpoint > 0 {
		q.Set("trust", strconv.FormatInt(checkpoint, 10))
	}
	if err := c.get(ctx, "/v1/evidence", q, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// AgreementEvidence returns the evidence bundle of an agreement: its
// proposal and the other party's signature or refusal, proved as Evidence
// proves a VM's transactions.
func (c *Client) AgreementEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error) {
	var b evidence.Bundle
	q := url.Values{"agreement": {id}}
	if checkpoint > 0 {
		q.Set("trust", strconv.FormatInt(checkpoint, 10))
	}
	if err := c.get(ctx, "/v1/evidence", q, &b); err != nil {
		return nil, err
	}
	return &b, nil
}
