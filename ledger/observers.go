package ledger

import (
	"strconv"
	"strings"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// Nodes and observers. Each node id the ledger knows has one owner in the
// index nd/<node id>: a cloud (its record's node_id), an observer, or a live
// invitation that names the applicant's node. A node accepts a peer only if
// NodeAllowed says so.
var (
	prefixNodeOwner = []byte("nd/") // nd/<node id> -> "cloud:<id>", "observer:<id>" or "invite:<id>"
	prefixObserver  = []byte("ob/") // ob/<observer> -> Observer
)

// Owners of node ids in the nd/ index.
const (
	ownerCloud    = "cloud:"
	ownerObserver = "observer:"
	ownerInvite   = "invite:"
)

func nodeOwnerKey(nodeID string) []byte { return []byte("nd/" + nodeID) }
func observerKey(id string) []byte      { return []byte("ob/" + id) }

// nodeOwner returns the owner of nodeID in the index ("cloud:c1", ...), or "".
func nodeOwner(r kv.Reader, nodeID string) string { return string(r.Get(nodeOwnerKey(nodeID))) }

// claimNode makes owner the holder of nodeID, which must be free or already
// held by one of may.
func claimNode(st kv.Store, nodeID, owner string, may ...string) error {
	if nodeID == "" {
		return nil
	}
	if cur := nodeOwner(st, nodeID); cur != "" && cur != owner {
		ok := false
		for _, m := range may {
			ok = ok || cur == m
		}
		if !ok {
			kind, id, _ := strings.Cut(cur, ":")
			if kind+":" == ownerInvite {
				kind = "the invitation of cloud"
			}
			return bbus.Errorf(bbus.EEXISTS, "node id %s is already the node of %s %s", nodeID, kind, id)
		}
	}
	st.Set(nodeOwnerKey(nodeID), []byte(owner))
	return nil
}

// releaseNode forgets nodeID if owner holds it.
func releaseNode(st kv.Store, nodeID, owner string) {
	if nodeID != "" && nodeOwner(st, nodeID) == owner {
		st.Delete(nodeOwnerKey(nodeID))
	}
}

// NodeAllowed reports whether the node nodeID may connect to the federation's
// nodes, and whose node it is ("cloud c1", "observer audit", "invited cloud
// c5"): the nodes of active and pending members (an applicant's node syncs
// while it waits for the vote), of active observers, and those named by a live
// invitation. A ledger where no cloud has published a node id (a chain from
// before node ids) allows every node. It is one or two lookups.
func NodeAllowed(r kv.Reader, nodeID string, height int64) (bool, string) {
	owner := nodeOwner(r, nodeID)
	if owner == "" {
		any := false
		r.Iterate(prefixNodeOwner, nil, func(_, _ []byte) bool {
			any = true
			return false
		})
		if !any {
			return true, "any node: no member has published a node id"
		}
		return false, "unknown node " + nodeID
	}
	switch kind, id, _ := strings.Cut(owner, ":"); kind + ":" {
	case ownerCloud:
		c := new(bbus.Cloud)
		if getJSON(r, cloudKey(id), c) && (c.Status == bbus.CloudActive || c.Status == bbus.CloudPending) {
			return true, "cloud " + id
		}
		// A removed cloud's validator signs until its removal takes effect in
		// consensus, two blocks after the removal's: cut off sooner, a chain
		// where it held a third or more of the power would stop.
		if c.Status == bbus.CloudRemoved && c.Removed != nil && c.ValidatorKey != nil && height <= c.Removed.Height+ValidatorUpdateDelay {
			return true, "removed cloud " + id + ", whose validator leaves the set after height " + strconv.FormatInt(c.Removed.Height+ValidatorUpdateDelay, 10)
		}
		return false, "node of " + c.Status + " cloud " + id
	case ownerObserver:
		o := new(bbus.Observer)
		if getJSON(r, observerKey(id), o) && o.Status == bbus.CloudActive {
			return true, "observer " + id
		}
		return false, "node of " + o.Status + " observer " + id
	case ownerInvite:
		return true, "invited cloud " + id
	}
	return false, "unknown node " + nodeID
}

// ValidatorUpdateDelay is how many blocks after the one that made it a change
// of validators takes effect in consensus (CometBFT applies a block's updates
// from the block after next), and so how long a removed validator's node must
// stay connected.
const ValidatorUpdateDelay = 2

// Observer returns the observer with the given id.
func Observer(r kv.Reader, id string) (*bbus.Observer, error) {
	o := new(bbus.Observer)
	if bbus.ValidateID("observer", id) != nil || !getJSON(r, observerKey(id), o) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no observer %q", clipID(id))
	}
	return o, nil
}

// Observers returns observers in id order, and the cursor of the next page.
func Observers(r kv.Reader, p bbus.Page) ([]bbus.Observer, string) {
	return listByID(r, prefixObserver, p, func(o *bbus.Observer) string { return o.ID })
}

func (c *ctx) cloudUpdate(a *bbus.CloudUpdate) error {
	if err := a.Validate(); err != nil {
		return err
	}
	t, err := c.target(c.tx.Signer)
	if err != nil {
		return err
	}
	c.id = t.ID
	t.P2PAddress = a.P2PAddress
	putJSON(c.st, cloudKey(t.ID), t)
	c.emit("cloud.updated", "cloud", t.ID, "p2p_address", a.P2PAddress)
	return nil
}

func (c *ctx) observerInvite(a *bbus.ObserverInvite) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if c.st.Get(observerKey(a.Observer)) != nil {
		return bbus.Errorf(bbus.EEXISTS, "observer id %s is taken", a.Observer)
	}
	if err := claimNode(c.st, a.NodeID, ownerObserver+a.Observer); err != nil {
		return err
	}
	c.id = a.Observer
	o := &bbus.Observer{ID: a.Observer, NodeID: a.NodeID, Status: bbus.CloudPending, Invited: c.stamp, Inviter: c.tx.Signer}
	passed, err := c.vote(&o.Approvals, "admit observer "+o.ID, "", "observer.invited", "observer", o.ID)
	if err != nil {
		return err
	}
	if passed {
		c.admitObserver(o)
	}
	putJSON(c.st, observerKey(o.ID), o)
	return nil
}

func (c *ctx) observerApprove(a *bbus.ObserverApprove) error {
	if err := a.Validate(); err != nil {
		return err
	}
	o, err := Observer(c.st, a.Observer)
	if err != nil {
		return err
	}
	if o.Status != bbus.CloudPending {
		return bbus.Errorf(bbus.ESTATE, "observer %s is %s, only a pending observer can be approved", o.ID, o.Status)
	}
	if o.NodeID != a.NodeID {
		return bbus.Errorf(bbus.ESTATE, "observer %s was invited with another node_id than this vote names; a vote counts only for the node it names", o.ID)
	}
	c.id = o.ID
	passed, err := c.vote(&o.Approvals, "approve observer "+o.ID, "", "observer.approval", "observer", o.ID)
	if err != nil {
		return err
	}
	if passed {
		c.admitObserver(o)
	}
	putJSON(c.st, observerKey(o.ID), o)
	return nil
}

func (c *ctx) admitObserver(o *bbus.Observer) {
	o.Status = bbus.CloudActive
	stamp := c.stamp
	o.Admitted = &stamp
	c.emit("observer.admitted", "observer", o.ID, "node_id", o.NodeID)
}

func (c *ctx) observerRemove(a *bbus.ObserverRef) error {
	if err := a.Validate(); err != nil {
		return err
	}
	o, err := Observer(c.st, a.Observer)
	if err != nil {
		return err
	}
	if o.Status == bbus.CloudRemoved {
		return bbus.Errorf(bbus.ESTATE, "observer %s is already removed", o.ID)
	}
	c.id = o.ID
	passed, err := c.vote(&o.Removals, "remove observer "+o.ID, "", "observer.removal_vote", "observer", o.ID)
	if err != nil {
		return err
	}
	if passed {
		o.Status = bbus.CloudRemoved
		stamp := c.stamp
		o.Removed = &stamp
		c.emit("observer.removed", "observer", o.ID, "node_id", o.NodeID)
	}
	putJSON(c.st, observerKey(o.ID), o)
	return nil
}
