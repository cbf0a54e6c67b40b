package ledger

import (
	"bytes"
	"encoding/binary"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

func (c *ctx) cloudJoin(a *bbus.CloudJoin) error {
	id := c.tx.Signer
	if idTaken(c.st, id) {
		return bbus.Errorf(bbus.EEXISTS, "cloud id %s is taken", id)
	}
	if a.ValidatorKey != nil {
		if owner := validatorKeyOwner(c.st, a.ValidatorKey); owner != "" && owner != id {
			return bbus.Errorf(bbus.EEXISTS, "validator_pub_key is already the validator key of %s", owner)
		}
		c.st.Set(validatorOwnerKey(a.ValidatorKey), []byte(id))
	}
	nodeID := a.NodeID
	if inv := c.invitation; inv.NodeID != "" {
		if nodeID != "" && nodeID != inv.NodeID {
			return bbus.Errorf(bbus.ENOTINVITED, "the invitation of cloud %s names node %s, this application node %s", id, inv.NodeID, nodeID)
		}
		nodeID = inv.NodeID
	}
	if err := claimNode(c.st, nodeID, ownerCloud+id, ownerInvite+id); err != nil {
		return err
	}
	c.id = id
	t := &bbus.Cloud{
		ID: id, Name: a.Name, PubKey: a.PubKey, ValidatorKey: a.ValidatorKey, API: a.API, NodeID: nodeID, P2PAddress: a.P2PAddress,
		Status: bbus.CloudPending, Capacity: a.Resources, Joined: c.stamp, ReputationBP: bbus.Reputation(0, 0),
		Approvals: c.consumeInvitation(id),
	}
	c.emit("cloud.applied", "cloud", id)
	if c.passes(t.Approvals, "") {
		c.admitCloud(t)
	}
	putJSON(c.st, cloudKey(id), t)
	return nil
}

// target loads the cloud a vote is about.
func (c *ctx) target(id string) (*bbus.Cloud, error) {
	t := new(bbus.Cloud)
	if !getJSON(c.st, cloudKey(id), t) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no cloud %s", id)
	}
	return t, nil
}

// passes reports whether the votes of members still active reach the threshold
// among the electorate (active members, less exclude).
func (c *ctx) passes(votes []string, exclude string) bool {
	p := Params(c.st)
	var electorate, yes int64
	for _, m := range activeMembers(c.st) {
		if m == exclude {
			continue
		}
		electorate++
		for _, v := range votes {
			if v == m {
				yes++
			}
		}
	}
	return yes*p.ApprovalDen > p.ApprovalNum*electorate
}

// vote records the signer's vote for a motion ("approve cloud3") in votes and
// reports whether the motion now passes among the active members other than
// exclude.
func (c *ctx) vote(votes *[]string, motion, exclude, event, kind, id string) (bool, error) {
	var added bool
	if *votes, added = insertSorted(*votes, c.tx.Signer); !added {
		return false, bbus.Errorf(bbus.ESTATE, "cloud %s already voted to %s", c.tx.Signer, motion)
	}
	c.emit(event, kind, id, "voter", c.tx.Signer)
	return c.passes(*votes, exclude), nil
}

func (c *ctx) cloudApprove(a *bbus.CloudApprove) error {
	id := a.Cloud
	if err := a.Validate(); err != nil {
		return err
	}
	t, err := c.target(id)
	if err != nil {
		return err
	}
	return c.approve(approval{kind: "cloud", id: id, status: t.Status, key: t.PubKey, voted: a.PubKey, votes: &t.Approvals,
		motion: "approve " + id, admit: func() { c.admitCloud(t) }, store: func() { putJSON(c.st, cloudKey(id), t) }})
}

// admitCloud makes the pending cloud t an active member (the caller stores t).
func (c *ctx) admitCloud(t *bbus.Cloud) {
	t.Status = bbus.CloudActive
	stamp := c.stamp
	t.Admitted = &stamp
	if p := Params(c.st).JoinPower; t.ValidatorKey != nil && p > 0 {
		t.Power = p
		c.validatorUpdate(t)
	}
	c.admitted(t.ID, t.Joined.At)
	c.emit("cloud.admitted", "cloud", t.ID)
}

// removeStep is the most open migrations and proposals one cloud_remove
// transaction ends (tests lower it): a cloud that touched more is removed at
// once and what it touched is ended in several transactions.
var removeStep = 100

// removalState is how far ending what a removed cloud touched has come: the
// next keys of its open-migration and open-proposal indexes.
type removalState struct {
	Mig     []byte `json:"mig,omitempty"`
	MigDone bool   `json:"mig_done,omitempty"`
	Prop    []byte `json:"prop,omitempty"`
}

func removalKey(id string) []byte { return []byte("rm/" + id) }

func (c *ctx) cloudRemove(id string) error {
	t, err := c.target(id)
	if err != nil {
		return err
	}
	if t.Status == bbus.CloudRemoved && t.Removing {
		// The removal passed; this transaction continues ending what it touched.
		c.id = id
		if !c.endWhatRemovedTouched(id) {
			c.emit("cloud.removing", "cloud", id)
			return nil
		}
		t, _ = c.target(id) // ending its migrations may have released what it reserved
		t.Removing = false
		putJSON(c.st, cloudKey(id), t)
		c.emit("cloud.removal_ended", "cloud", id)
		return nil
	}
	if t.Status != bbus.CloudActive {
		return bbus.Errorf(bbus.ESTATE, "cloud %s is %s, only an active member can be removed", id, t.Status)
	}
	c.id = id
	passed, err := c.vote(&t.Removals, "remove "+id, id, "cloud.removal_vote", "cloud", id)
	if err != nil {
		return err
	}
	if passed {
		if len(activeMembers(c.st)) == 1 {
			return bbus.Errorf(bbus.ESTATE, "cloud %s is the last active member and cannot be removed", id)
		}
		if t.Power > 0 && totalPower(c) == t.Power {
			return bbus.Errorf(bbus.ESTATE, "cloud %s holds all the validator power; removing it would halt the chain", id)
		}
		t.Status = bbus.CloudRemoved
		stamp := c.stamp
		t.Removed = &stamp
		if t.Power > 0 {
			t.Power = 0
			c.validatorUpdate(t)
		}
		c.emit("cloud.removed", "cloud", id)
	}
	putJSON(c.st, cloudKey(id), t)
	if passed && !c.endWhatRemovedTouched(id) {
		t, _ = c.target(id) // ending its migrations may have released what it reserved
		t.Removing = true
		putJSON(c.st, cloudKey(id), t)
		c.emit("cloud.removing", "cloud", id)
	}
	return nil
}

// endWhatRemovedTouched ends, from the transaction that removes cloud id, what
// would otherwise wait forever for its signature: its open migrations, from it
// or to it, are cancelled (releasing what accepting them reserved, clearing
// the VM's open migration), and its unsigned agreement proposals are removed.
// It ends at most removeStep of them, in index order from where the last
// transaction stopped, and reports whether none is left; members continue it
// with cloud_remove. It walks only the indexes of what is open, from a cursor,
// never the federation's history.
func (c *ctx) endWhatRemovedTouched(id string) bool {
	cause := Attr{"removed_cloud", id}
	var rs removalState
	had := getJSON(c.st, removalKey(id), &rs)
	budget := removeStep
	// collect returns up to budget keys of prefix from start, and whether more remain.
	collect := func(prefix string, start []byte) ([][]byte, bool) {
		var ks [][]byte
		more := false
		c.st.Iterate([]byte(prefix), start, func(k, _ []byte) bool {
			if more = len(ks) == budget; more {
				return false
			}
			ks = append(ks, bytes.Clone(k))
			return true
		})
		return ks, more
	}
	if !rs.MigDone {
		migs, more := collect("mo/"+id+"/", rs.Mig)
		for _, k := range migs {
			seq := binary.BigEndian.Uint64(k[len(k)-8:])
			m := c.loadMigration(seq)
			if !m.Open() {
				closeMigration(c.st, m, seq)
				continue
			}
			if err := c.endMigration(m, bbus.MigrationCancelled); err != nil {
				panic("ledger: open migration " + m.ID + " names a VM that is missing")
			}
			e := &c.events[len(c.events)-1]
			e.Attrs = append(e.Attrs, cause)
		}
		budget -= len(migs)
		if len(migs) > 0 {
			rs.Mig = append(migs[len(migs)-1], 0)
		}
		rs.MigDone = !more
	}
	if rs.MigDone && budget > 0 {
		props, more := collect("ao/"+id+"/", rs.Prop)
		for _, k := range props {
			seq := binary.BigEndian.Uint64(k[len(k)-8:])
			ag := new(bbus.Agreement)
			if !getJSON(c.st, seqKey("a/", seq), ag) || ag.Status != bbus.AgreementProposed {
				c.st.Delete(openProposalKey(id, seq))
				continue
			}
			dropProposal(c.st, ag, seq)
			c.events = append(c.events, agreementEvent("agreement.ended", ag, cause))
		}
		if len(props) > 0 {
			rs.Prop = append(props[len(props)-1], 0)
		}
		if !more {
			if had {
				c.st.Delete(removalKey(id))
			}
			return true
		}
	}
	putJSON(c.st, removalKey(id), &rs)
	return false
}

func totalPower(c *ctx) int64 {
	var sum int64
	c.st.Iterate(prefixCloud, nil, func(_, v []byte) bool {
		var cl bbus.Cloud
		mustUnmarshal(v, &cl)
		sum += cl.Power
		return true
	})
	return sum
}

func (c *ctx) validatorUpdate(t *bbus.Cloud) {
	putJSON(c.st, append([]byte("vu/"), t.ValidatorKey...), &ValidatorUpdate{PubKey: t.ValidatorKey, Power: t.Power})
}

// idTaken reports whether a cloud or an oracle already has the id: the two
// share one namespace, so a signer's id names one identity.
func idTaken(r kv.Reader, id string) bool {
	return r.Get(cloudKey(id)) != nil || r.Get(oracleKey(id)) != nil
}
