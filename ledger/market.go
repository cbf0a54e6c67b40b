package ledger

import (
	"time"

	"github.com/bbusdev/bbus"
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
	putJSON(c.st, seqKey("a/", seq), ag)
	c.st.Set(append([]byte("ac/"+a.Provider+"/"), uint64be(seq)...), []byte{})
	c.st.Set(append([]byte("ac/"+a.Consumer+"/"), uint64be(seq)...), []byte{})
	c.st.Set(append([]byte("ap/"+a.Provider+"/"+a.Consumer+"/"), uint64be(seq)...), []byte{})
	c.id = ag.ID
	c.emit("agreement.proposed", "agreement", ag.ID, "provider", ag.Provider, "consumer", ag.Consumer)
	return nil
}

// findAgreement reads an agreement a transaction names.
func (c *ctx) findAgreement(id string) (*bbus.Agreement, uint64, error) {
	seq, ok := parseSeqID("agr", id)
	ag := new(bbus.Agreement)
	if !ok || !getJSON(c.st, seqKey("a/", seq), ag) {
		return nil, 0, bbus.Errorf(bbus.ENOTFOUND, "no agreement %q", clipID(id))
	}
	return ag, seq, nil
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
	}
	return nil
}

func (c *ctx) oracleJoin(a *bbus.OracleJoin) error {
	id := c.tx.Signer
	if idTaken(c.st, id) {
		return bbus.Errorf(bbus.EEXISTS, "oracle id %s is taken", id)
	}
	putJSON(c.st, oracleKey(id), &bbus.Oracle{ID: id, Name: a.Name, PubKey: a.PubKey, Status: bbus.CloudPending, Joined: c.stamp})
	c.id = id
	c.emit("oracle.applied", "oracle", id)
	return nil
}

func (c *ctx) oracleApprove(id string) error {
	o := new(bbus.Oracle)
	if !getJSON(c.st, oracleKey(id), o) {
		return bbus.Errorf(bbus.ENOTFOUND, "no oracle %s", id)
	}
	if o.Status != bbus.CloudPending {
		return bbus.Errorf(bbus.ESTATE, "oracle %s is %s, only a pending applicant can be approved", id, o.Status)
	}
	c.id = id
	passed, err := c.vote(&o.Approvals, "approve oracle "+id, "", "oracle.approval", "oracle", id)
	if err != nil {
		return err
	}
	if passed {
		o.Status = bbus.CloudActive
		stamp := c.stamp
		o.Admitted = &stamp
		c.emit("oracle.admitted", "oracle", id)
	}
	putJSON(c.st, oracleKey(id), o)
	return nil
}
