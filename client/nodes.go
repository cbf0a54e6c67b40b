package client

import (
	"context"
	"net/url"

	"github.com/bbusdev/bbus"
)

// Nodes returns the members' nodes as the node sees them: connected, last
// signed height, version (GET /v1/nodes).
func (c *Client) Nodes(ctx context.Context) ([]bbus.NodeHealth, error) {
	var l bbus.NodeList
	if err := c.get(ctx, "/v1/nodes", nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Observers lists the observers the members voted on.
func (c *Client) Observers(ctx context.Context, p bbus.Page) ([]bbus.Observer, string, error) {
	return list[bbus.Observer](ctx, c, "/v1/observers", pageQuery(p))
}

// Observer fetches one observer.
func (c *Client) Observer(ctx context.Context, id string) (*bbus.Observer, error) {
	var o bbus.Observer
	if err := c.get(ctx, "/v1/observers/"+url.PathEscape(id), nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// UpdateCloud has the node publish its cloud's new peer address (POST /v1/clouds/update).
func (c *Client) UpdateCloud(ctx context.Context, p2pAddress string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/clouds/update", bbus.CloudUpdateRequest{P2PAddress: p2pAddress}, wait)
}

// InviteObserver has the node's cloud propose the observer's node (POST /v1/observers/{id}/invite).
func (c *Client) InviteObserver(ctx context.Context, observer, nodeID string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/observers/"+url.PathEscape(observer)+"/invite", bbus.ObserverInviteRequest{NodeID: nodeID}, wait)
}

// VoteObserver has the node's cloud vote on an observer: vote is "approve" or "remove".
func (c *Client) VoteObserver(ctx context.Context, observer, vote string, wait bool) (*bbus.TxResult, error) {
	return c.write(ctx, "/v1/observers/"+url.PathEscape(observer)+"/"+vote, nil, wait)
}
