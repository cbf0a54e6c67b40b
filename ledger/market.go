package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// MaxTags is the most tags an offer carries.
const MaxTags = bbus.MaxTags

// The handlers below, like those of the other files, leave to the action's
// Validate (checked in authenticate, so at CheckTx too) what needs no state.

func (c *ctx) offerPublish(a *bbus.OfferPublish) error {
	putJSON(c.st, offerKey(c.tx.Signer), &bbus.Offer{Cloud: c.tx.Signer, Resources: a.Resources,
		PriceVCPUHour: a.PriceVCPUHour, PriceGiBHour: a.PriceGiBHour, Tags: a.Tags, Published: c.stamp})
	c.id = c.tx.Signer
	c.emit("offer.published", "cloud", c.tx.Signer)
	return nil
}

// activeCloud loads a cloud a transaction names, which must be an active member.
func (c *ctx) activeCloud(role, id string) (*bbus.Cloud, error) {
	cl := new(bbus.Cloud)
	if !getJSON(c.st, cloudKey(id), cl) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no cloud %s", id)
	}
	if cl.Status != bbus.CloudActive {
		return nil, bbus.Errorf(bbus.ENOTMEMBER, "%s %s is %s, not an active member", role, id, cl.Status)
	}
	return cl, nil
}

func (c *ctx) agreementPropose(a *bbus.AgreementPropose) error {
	if _, err := c.activeCloud("provider", a.Provider); err != nil {
		return err
	}
	if _, err := c.activeCloud("consumer", a.Consumer); err != nil {
		return err
	}
	switch {
	case c.tx.Signer != a.Provider && c.tx.Signer != a.Consumer:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only the provider %s or the consumer %s may propose their agreement, not %s", a.Provider, a.Consumer, c.tx.Signer)
	case a.Until != 0 && a.Until <= c.h.Time.Unix():
		return bbus.Errorf(bbus.EINVALID, "the agreement would end at %s, not after the block time %s", unixString(a.Until), c.h.Time.Format(time.RFC3339))
	case a.Until > maxUnix:
		return bbus.Errorf(bbus.EINVALID, "the agreement would end at %s, after the last second of the year 9999 (omit until for an open-ended agreement)", unixString(a.Until))
	}
	seq := nextSeq(c.st, keyAgreementSeq)
	ag := &bbus.Agreement{
		ID: seqID("agr", seq), Provider: a.Provider, Consumer: a.Consumer, Proposer: c.tx.Signer,
		PriceVCPUHour: a.PriceVCPUHour, PriceGiBHour: a.PriceGiBHour, Availability: a.Availability,
		MaxLatencyMS: a.MaxLatencyMS, PenaltyPct: a.PenaltyPct, Status: bbus.AgreementProposed, Proposed: c.stamp,
	}
	if a.Until != 0 {
		ag.Until = time.Unix(a.Until, 0).UTC()
	}
	// The proposal expires at the first whole second at least the TTL after
	// the block (the TTL is at most 100 years, so this cannot overflow).
	first := c.h.Time.Unix()
	if c.h.Time.Nanosecond() > 0 {
		first++
	}
	ag.ExpiresAt = time.Unix(first+Params(c.st).AgreementProposalTTL(), 0).UTC()
	putJSON(c.st, seqKey("a/", seq), ag)
	c.st.Set(append([]byte("ac/"+a.Provider+"/"), uint64be(seq)...), []byte{})
	c.st.Set(append([]byte("ac/"+a.Consumer+"/"), uint64be(seq)...), []byte{})
	c.st.Set(append([]byte("ap/"+a.Provider+"/"+a.Consumer+"/"), uint64be(seq)...), []byte{})
	c.st.Set(proposalExpiryKey(ag.ExpiresAt, seq), []byte{})
	noteDue(c.st, dueSecond(uint64(ag.ExpiresAt.Unix()), false))
	c.st.Set(openProposalKey(a.Provider, seq), []byte{})
	c.st.Set(openProposalKey(a.Consumer, seq), []byte{})
	c.id = ag.ID
	c.emit("agreement.proposed", "agreement", ag.ID, "provider", ag.Provider, "consumer", ag.Consumer)
	return nil
}

// findAgreement reads an agreement a transaction names.
func (c *ctx) findAgreement(id string) (*bbus.Agreement, uint64, error) {
	seq, ok := parseSeqID("agr", id)
	ag := new(bbus.Agreement)
	if !ok || !getJSON(c.st, seqKey("a/", seq), ag) {
		if ok && seq <= lastSeq(c.st, keyAgreementSeq) {
			return nil, 0, bbus.Errorf(bbus.ENOTFOUND, "agreement %s is gone: a proposal the other party does not sign within %d seconds expires and is removed, and so do the proposals of a cloud the members remove",
				id, Params(c.st).AgreementProposalTTL())
		}
		return nil, 0, bbus.Errorf(bbus.ENOTFOUND, "no agreement %q", clipID(id))
	}
	return ag, seq, nil
}

// lastSeq returns the last number the counter at key gave out (0: none).
func lastSeq(r kv.Reader, key []byte) uint64 {
	if v := r.Get(key); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// otherParty returns the party of ag that did not propose it.
func otherParty(ag *bbus.Agreement) string {
	if ag.Proposer == ag.Provider {
		return ag.Consumer
	}
	return ag.Provider
}

// closeProposal removes a proposal from the indexes of open proposals, once
// it is signed or declined.
func closeProposal(st kv.Store, ag *bbus.Agreement, seq uint64) {
	st.Delete(proposalExpiryKey(ag.ExpiresAt, seq))
	st.Delete(openProposalKey(ag.Provider, seq))
	st.Delete(openProposalKey(ag.Consumer, seq))
}

// dropProposal removes an unsigned proposal and every key that names it.
func dropProposal(st kv.Store, ag *bbus.Agreement, seq uint64) {
	closeProposal(st, ag, seq)
	st.Delete(seqKey("a/", seq))
	st.Delete(seqKey("ac/"+ag.Provider+"/", seq))
	st.Delete(seqKey("ac/"+ag.Consumer+"/", seq))
	st.Delete(seqKey("ap/"+ag.Provider+"/"+ag.Consumer+"/", seq))
}

func agreementEvent(typ string, ag *bbus.Agreement, extra ...Attr) Event {
	return Event{Type: typ, Attrs: append([]Attr{{"agreement", ag.ID}, {"provider", ag.Provider}, {"consumer", ag.Consumer}}, extra...)}
}

// expireProposals removes, at the start of a block, the agreement proposals
// whose time to be signed ran out by the block's time. It reads the expiry
// index from the front and stops at the first proposal not yet due.
func expireProposals(st kv.Store, h Header) []Event {
	var due [][]byte
	now := uint64(h.Time.Unix())
	st.Iterate(prefixProposalExpiry, nil, func(k, _ []byte) bool {
		if binary.BigEndian.Uint64(k[len(prefixProposalExpiry):]) > now {
			return false
		}
		due = append(due, bytes.Clone(k))
		return true
	})
	var events []Event
	for _, k := range due {
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		ag := new(bbus.Agreement)
		if !getJSON(st, seqKey("a/", seq), ag) || ag.Status != bbus.AgreementProposed {
			st.Delete(k) // a stale entry (never written so): drop it rather than stop the chain
			continue
		}
		dropProposal(st, ag, seq)
		events = append(events, agreementEvent("agreement.expired", ag))
	}
	return events
}

// agreementDecline is the named party's refusal of a proposal. The record is
// kept, declined, with the refusal's stamp and reason: it is the other party's
// signed answer, as a rejected migration is. It leaves the open indexes, so it
// never expires.
func (c *ctx) agreementDecline(a *bbus.AgreementDecline) error {
	if err := a.Validate(); err != nil {
		return err
	}
	ag, seq, err := c.findAgreement(a.Agreement)
	if err != nil {
		return err
	}
	other := otherParty(ag)
	switch {
	case c.tx.Signer == ag.Proposer:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "%s proposed agreement %s; only the other party %s may decline it", c.tx.Signer, ag.ID, other)
	case c.tx.Signer != other:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only %s may decline agreement %s, not %s", other, ag.ID, c.tx.Signer)
	case ag.Status != bbus.AgreementProposed:
		return bbus.Errorf(bbus.ESTATE, "agreement %s is already %s", ag.ID, ag.Status)
	}
	closeProposal(c.st, ag, seq)
	ag.ExpiresAt = time.Time{}
	ag.Status, ag.Reason = bbus.AgreementDeclined, a.Reason
	stamp := c.stamp
	ag.Declined = &stamp
	putJSON(c.st, seqKey("a/", seq), ag)
	c.id = ag.ID
	c.events = append(c.events, agreementEvent("agreement.declined", ag))
	return nil
}

func (c *ctx) agreementSign(id string) error {
	ag, seq, err := c.findAgreement(id)
	if err != nil {
		return err
	}
	other := ag.Provider
	if ag.Proposer == ag.Provider {
		other = ag.Consumer
	}
	switch {
	case c.tx.Signer == ag.Proposer:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "%s proposed agreement %s; only the other party %s may sign it", c.tx.Signer, ag.ID, other)
	case c.tx.Signer != other:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only %s may sign agreement %s, not %s", other, ag.ID, c.tx.Signer)
	case ag.Status != bbus.AgreementProposed:
		return bbus.Errorf(bbus.ESTATE, "agreement %s is already %s", ag.ID, ag.Status)
	case !ag.Until.IsZero() && !c.h.Time.Before(ag.Until):
		return bbus.Errorf(bbus.ESTATE, "agreement %s ended at %s before it was signed", ag.ID, ag.Until.Format(time.RFC3339))
	}
	closeProposal(c.st, ag, seq)
	ag.ExpiresAt = time.Time{} // signed: it no longer expires
	ag.Status = bbus.AgreementActive
	stamp := c.stamp
	ag.Signed = &stamp
	putJSON(c.st, seqKey("a/", seq), ag)
	c.id = ag.ID
	c.emit("agreement.signed", "agreement", ag.ID, "provider", ag.Provider, "consumer", ag.Consumer)
	return nil
}

// checkMigrationAgreement checks the agreement a migration of vm to cloud to names.
func (c *ctx) checkMigrationAgreement(id string, vm *bbus.VM, to string) error {
	if id == "" {
		if Params(c.st).RequireAgreement && to != vm.Owner {
			return bbus.Errorf(bbus.EINVALID, "this federation requires an agreement for a migration to a cloud other than the VM's owner %s", vm.Owner)
		}
		return nil
	}
	ag, _, err := c.findAgreement(id)
	if err != nil {
		return err
	}
	switch {
	case ag.Provider != to || ag.Consumer != vm.Owner:
		return bbus.Errorf(bbus.EINVALID, "agreement %s is between provider %s and consumer %s; this migration needs provider %s and consumer %s (the VM's owner)", ag.ID, ag.Provider, ag.Consumer, to, vm.Owner)
	case ag.Status != bbus.AgreementActive:
		return bbus.Errorf(bbus.ESTATE, "agreement %s is not signed by both parties yet", ag.ID)
	case !ag.InForce(c.h.Time):
		return bbus.Errorf(bbus.ESTATE, "agreement %s ended at %s", ag.ID, ag.Until.Format(time.RFC3339))
	case c.loadCloud(ag.Consumer).Status == bbus.CloudRemoved:
		return bbus.Errorf(bbus.ESTATE, "agreement %s ended when its consumer %s was removed", ag.ID, ag.Consumer)
	}
	return nil
}

func (c *ctx) oracleJoin(a *bbus.OracleJoin) error {
	id := c.tx.Signer
	if idTaken(c.st, id) {
		return bbus.Errorf(bbus.EEXISTS, "oracle id %s is taken", id)
	}
	o := &bbus.Oracle{ID: id, Name: a.Name, PubKey: a.PubKey, Status: bbus.CloudPending, Joined: c.stamp, Approvals: c.consumeInvitation(id),
		ReputationBP: bbus.Reputation(0, 0)}
	c.id = id
	c.emit("oracle.applied", "oracle", id)
	if c.passes(o.Approvals, "") {
		c.admitOracle(o)
	}
	putJSON(c.st, oracleKey(id), o)
	return nil
}

func (c *ctx) oracleApprove(a *bbus.OracleApprove) error {
	id := a.Oracle
	o := new(bbus.Oracle)
	if !getJSON(c.st, oracleKey(id), o) {
		return bbus.Errorf(bbus.ENOTFOUND, "no oracle %s", id)
	}
	return c.approve(approval{kind: "oracle", id: id, status: o.Status, key: o.PubKey, voted: a.PubKey, votes: &o.Approvals,
		motion: "approve oracle " + id, admit: func() { c.admitOracle(o) }, store: func() { putJSON(c.st, oracleKey(id), o) }})
}

// admitOracle makes the pending oracle o active (the caller stores o).
func (c *ctx) admitOracle(o *bbus.Oracle) {
	o.Status = bbus.CloudActive
	stamp := c.stamp
	o.Admitted = &stamp
	c.admitted(o.ID, o.Joined.At)
	c.emit("oracle.admitted", "oracle", o.ID)
}
