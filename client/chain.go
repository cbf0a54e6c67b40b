package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bbusdev/bbus"
)

// Tx returns a committed transaction by its bbus id: where it is, what the
// ledger made of it, and its exact bytes.
func (c *Client) Tx(ctx context.Context, id string) (*bbus.CommittedTx, error) {
	var tx bbus.CommittedTx
	if err := c.get(ctx, "/v1/txs/"+url.PathEscape(id), nil, &tx); err != nil {
		return nil, err
	}
	return &tx, nil
}

// Block returns the committed block at height with each transaction's outcome.
func (c *Client) Block(ctx context.Context, height int64) (*bbus.Block, error) {
	var b bbus.Block
	if err := c.get(ctx, "/v1/blocks/"+strconv.FormatInt(height, 10), nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Health reports whether the node's process serves.
func (c *Client) Health(ctx context.Context) error {
	var h bbus.Health
	return c.get(ctx, "/healthz", nil, &h)
}

// Ready returns the node's height once it has caught up with its chain, and
// an EUNAVAILABLE error while it has not.
func (c *Client) Ready(ctx context.Context) (*bbus.Ready, error) {
	var r bbus.Ready
	if err := c.get(ctx, "/readyz", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// OpenAPI returns the node's OpenAPI 3 document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	req, err := c.request(ctx, http.MethodGet, "/v1/openapi.json", nil, nil)
	if err != nil {
		return nil, err
	}
	if _, err := c.do(req, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// Proof returns the state entry at key (raw bytes, as the ledger lays out its
// state) at the last committed height, or its absence, with the proof that
// proof.Verify checks against the app hash of the block at Height+1.
func (c *Client) Proof(ctx context.Context, key []byte) (*bbus.Proof, error) {
	return c.proof(ctx, url.Values{"key": {hex.EncodeToString(key)}})
}

// RecordProof is Proof for a record by its kind (vm, cloud, oracle, offer)
// and id.
func (c *Client) RecordProof(ctx context.Context, kind, id string) (*bbus.Proof, error) {
	return c.proof(ctx, url.Values{kind: {id}})
}

func (c *Client) proof(ctx context.Context, q url.Values) (*bbus.Proof, error) {
	var p bbus.Proof
	if err := c.get(ctx, "/v1/proofs", q, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
