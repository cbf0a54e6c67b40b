package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// Evidence returns the evidence bundle of a VM, as the node sent it: the JSON
// document that proves the VM's history to someone who runs no node
// (evidence.Decode reads it, evidence.VerifyTrusting checks it). It comes back
// as bytes so that this package needs no CometBFT types: a bundle holds
// CometBFT's signed headers and commits, which only a verifier needs to
// decode. The node may wait a moment for the block that proves the VM's last
// transaction. A checkpoint above 0 is the height of a header the auditor
// trusts, which the bundle then holds.
func (c *Client) Evidence(ctx context.Context, vm string, checkpoint int64) (json.RawMessage, error) {
	return c.evidence(ctx, url.Values{"vm": {vm}}, checkpoint)
}

// AgreementEvidence returns the evidence bundle of an agreement: its
// proposal and the other party's signature or refusal, proved as Evidence
// proves a VM's transactions.
func (c *Client) AgreementEvidence(ctx context.Context, id string, checkpoint int64) (json.RawMessage, error) {
	return c.evidence(ctx, url.Values{"agreement": {id}}, checkpoint)
}

// InvoiceEvidence returns the evidence bundle of an invoice: its head, every
// line, the agreements, violations and reports they name, all proved by state
// proofs at one height.
func (c *Client) InvoiceEvidence(ctx context.Context, id string, checkpoint int64) (json.RawMessage, error) {
	return c.evidence(ctx, url.Values{"invoice": {id}}, checkpoint)
}

// ViolationEvidence returns the evidence bundle of a violation: the
// violation, its report, its agreement and its VM, proved.
func (c *Client) ViolationEvidence(ctx context.Context, id string, checkpoint int64) (json.RawMessage, error) {
	return c.evidence(ctx, url.Values{"violation": {id}}, checkpoint)
}

func (c *Client) evidence(ctx context.Context, q url.Values, checkpoint int64) (json.RawMessage, error) {
	if checkpoint > 0 {
		q.Set("trust", strconv.FormatInt(checkpoint, 10))
	}
	var b json.RawMessage
	if err := c.get(ctx, "/v1/evidence", q, &b); err != nil {
		return nil, err
	}
	return b, nil
}
