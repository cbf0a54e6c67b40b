package client

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/bbusdev/bbus"
)

// The writes the node signs as its own cloud, for a client with a write token
// (WithToken). Each waits for the commit unless wait is false, and returns
// like Submit: a transaction the ledger rejected in its block returns both its
// result and a *bbus.Error.

// RegisterVM records a new VM that the node's cloud owns and hosts.
func (c *Client) RegisterVM(ctx context.Context, vm bbus.VMRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/vms", &vm, wait)
}

// TerminateVM records that a VM of the node's cloud stopped for good.
func (c *Client) TerminateVM(ctx context.Context, vm string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/vms/"+url.PathEscape(vm)+"/terminate", nil, wait)
}

// ProposeMigration proposes to send a VM the node's cloud hosts to another
// cloud; the result's ID is the migration's.
func (c *Client) ProposeMigration(ctx context.Context, m bbus.MigrationRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/migrations", &m, wait)
}

// MigrationStep takes a step of a migration as the node's cloud: step is
// accept, complete, reject (as its destination) or cancel (as its source).
func (c *Client) MigrationStep(ctx context.Context, migration, step string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/migrations/"+url.PathEscape(migration)+"/"+url.PathEscape(step), nil, wait)
}

// VoteCloud casts the node's cloud's vote on another: vote is approve (an
// applicant) or remove (a member).
func (c *Client) VoteCloud(ctx context.Context, cloud, vote string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/clouds/"+url.PathEscape(cloud)+"/"+url.PathEscape(vote), nil, wait)
}

// InviteCloud invites, as the node's cloud, an applicant: only the key
// inv.PubKey (and inv.ValidatorKey, if set) may then apply as cloud.
func (c *Client) InviteCloud(ctx context.Context, cloud string, inv bbus.InviteRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/clouds/"+url.PathEscape(cloud)+"/invite", &inv, wait)
}

// InviteOracle invites, as the node's cloud, an oracle: only the key pub may
// then apply as oracle.
func (c *Client) InviteOracle(ctx context.Context, oracle string, pub []byte, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/oracles/"+url.PathEscape(oracle)+"/invite", &bbus.InviteRequest{PubKey: pub}, wait)
}

func (c *Client) write(ctx context.Context, path string, body any, wait bool) (*bbus.TxResult, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, bbus.Errorf(bbus.EINVALID, "encoding the request: %v", err)
		}
	}
	return c.post(ctx, path, b, wait)
}

// PublishOffer publishes (or replaces) the node's cloud's offer.
func (c *Client) PublishOffer(ctx context.Context, o bbus.OfferRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/offers", &o, wait)
}

// ProposeAgreement proposes an agreement the node's cloud is a party to; the
// result's ID is the agreement's.
func (c *Client) ProposeAgreement(ctx context.Context, a bbus.AgreementRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/agreements", &a, wait)
}

// SignAgreement signs, as the node's cloud, an agreement the other party proposed.
func (c *Client) SignAgreement(ctx context.Context, agreement string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/agreements/"+url.PathEscape(agreement)+"/sign", nil, wait)
}

// DeclineAgreement declines, as the node's cloud, an agreement the other party
// proposed, with an optional reason: the proposal ends.
func (c *Client) DeclineAgreement(ctx context.Context, agreement, reason string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/agreements/"+url.PathEscape(agreement)+"/decline", &bbus.DeclineRequest{Reason: reason}, wait)
}

// ApproveOracle casts the node's cloud's vote to admit an applicant oracle.
func (c *Client) ApproveOracle(ctx context.Context, oracle string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/oracles/"+url.PathEscape(oracle)+"/approve", nil, wait)
}

// CloseInvoice closes the node's cloud's invoice to a consumer; the result's ID
// is the invoice's.
func (c *Client) CloseInvoice(ctx context.Context, i bbus.InvoiceRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/invoices", &i, wait)
}

// AnswerInvoice accepts (reason empty) or disputes (with a reason) an invoice
// the node's cloud is the consumer of.
func (c *Client) AnswerInvoice(ctx context.Context, invoice string, dispute bool, reason string, wait bool) (*bbus.TxResult, error) {
	if !dispute {
		return c.write(ctx, "/v1/invoices/"+url.PathEscape(invoice)+"/accept", nil, wait)
	}
	return c.write(ctx, "/v1/invoices/"+url.PathEscape(invoice)+"/dispute", &bbus.DisputeRequest{Reason: reason}, wait)
}

// CorrectInvoice answers a disputed invoice the node's cloud is the provider
// of with a corrected invoice for the same period; the result's ID is the
// correction's.
func (c *Client) CorrectInvoice(ctx context.Context, invoice string, q bbus.CorrectRequest, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/invoices/"+url.PathEscape(invoice)+"/correct", &q, wait)
}
