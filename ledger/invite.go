package ledger

import (
	"bytes"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// Invitations and applications. A member invites an applicant's exact key; only
// that key may then apply under the invited id, before the invitation lapses.
// An application waits for the members' votes until it is admitted or lapses.
// Both lapse from time-ordered indexes that BeginBlock reads from the front.
var (
	prefixInviteExpiry   = []byte("ie/") // ie/<expires ns><id> -> invitation key
	prefixPendingExpiry  = []byte("pe/") // pe/<expires ns><id> -> cloud or oracle key
	prefixValidatorOwner = []byte("vk/") // vk/<validator key> -> id of the cloud (or invitation) that holds it
)

// invitationKey is iv/<id> -> Invitation.
func invitationKey(id string) []byte { return []byte("iv/" + id) }

func inviteExpiryKey(at time.Time, id string) []byte {
	return append(append(bytes.Clone(prefixInviteExpiry), timeKey(at)...), id...)
}

func pendingExpiryKey(at time.Time, id string) []byte {
	return append(append(bytes.Clone(prefixPendingExpiry), timeKey(at)...), id...)
}

func validatorOwnerKey(key []byte) []byte { return append(bytes.Clone(prefixValidatorOwner), key...) }

// validatorKeyOwner returns the id that holds key as its validator key (a
// cloud in any status, or a live invitation), or "".
func validatorKeyOwner(r kv.Reader, key []byte) string { return string(r.Get(validatorOwnerKey(key))) }

// checkKeys is the one place where the keys an invitation (and so the
// applicant) brings into the ledger are checked.
func checkKeys(pub, validator []byte) error {
	if err := bbus.ValidateKey("pub_key", pub); err != nil {
		return err
	}
	if validator != nil {
		return bbus.ValidateKey("validator_pub_key", validator)
	}
	return nil
}

// invitationFor returns the live invitation that lets id apply as kind with
// exactly the key pub (and, for a cloud whose invitation names a validator key,
// exactly validator), or ENOTINVITED.
func invitationFor(r kv.Reader, h Header, id, kind string, pub, validator []byte) (*bbus.Invitation, error) {
	if err := bbus.ValidateID(kind, id); err != nil {
		return nil, err
	}
	inv := new(bbus.Invitation)
	switch {
	case !getJSON(r, invitationKey(id), inv) || !h.Time.Before(inv.Expires):
		return nil, bbus.Errorf(bbus.ENOTINVITED, "no member has invited %s %s (or its invitation lapsed): a member must first invite the applicant's key with %s_invite", kind, id, kind)
	case inv.Kind != kind:
		return nil, bbus.Errorf(bbus.ENOTINVITED, "%s is invited as an %s, not as a %s", id, inv.Kind, kind)
	case !bytes.Equal(inv.PubKey, pub):
		return nil, bbus.Errorf(bbus.ENOTINVITED, "the invitation of %s %s names another pub_key than this application", kind, id)
	case inv.ValidatorKey != nil && !bytes.Equal(inv.ValidatorKey, validator):
		return nil, bbus.Errorf(bbus.ENOTINVITED, "the invitation of cloud %s names another validator_pub_key than this application", id)
	}
	return inv, nil
}

func (c *ctx) cloudInvite(a *bbus.CloudInvite) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if err := checkKeys(a.PubKey, a.ValidatorKey); err != nil {
		return err
	}
	if err := c.inviteFree(a.Cloud); err != nil {
		return err
	}
	if a.ValidatorKey != nil {
		if owner := validatorKeyOwner(c.st, a.ValidatorKey); owner != "" {
			return bbus.Errorf(bbus.EEXISTS, "validator_pub_key is already the validator key of %s", owner)
		}
		c.st.Set(validatorOwnerKey(a.ValidatorKey), []byte(a.Cloud))
	}
	if err := claimNode(c.st, a.NodeID, ownerInvite+a.Cloud); err != nil {
		return err
	}
	c.invite(&bbus.Invitation{ID: a.Cloud, Kind: bbus.InviteCloud, PubKey: a.PubKey, ValidatorKey: a.ValidatorKey, NodeID: a.NodeID})
	return nil
}

func (c *ctx) oracleInvite(a *bbus.OracleInvite) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if err := checkKeys(a.PubKey, nil); err != nil {
		return err
	}
	if err := c.inviteFree(a.Oracle); err != nil {
		return err
	}
	c.invite(&bbus.Invitation{ID: a.Oracle, Kind: bbus.InviteOracle, PubKey: a.PubKey})
	return nil
}

// inviteFree checks that id names no cloud, oracle or live invitation.
func (c *ctx) inviteFree(id string) error {
	if idTaken(c.st, id) {
		return bbus.Errorf(bbus.EEXISTS, "id %s is taken", id)
	}
	inv := new(bbus.Invitation)
	if getJSON(c.st, invitationKey(id), inv) {
		return bbus.Errorf(bbus.EEXISTS, "%s already has a live invitation (by %s, until %s)", id, inv.Inviter, inv.Expires.Format(time.RFC3339))
	}
	return nil
}

// invite records inv, by the signer, until the invitation TTL from now.
func (c *ctx) invite(inv *bbus.Invitation) {
	inv.Inviter, inv.Invited = c.tx.Signer, c.stamp
	inv.Expires = c.h.Time.Add(time.Duration(Params(c.st).InvitationTTLSeconds) * time.Second).UTC()
	putJSON(c.st, invitationKey(inv.ID), inv)
	c.st.Set(inviteExpiryKey(inv.Expires, inv.ID), invitationKey(inv.ID))
	noteDue(c.st, dueNanos(inv.Expires))
	c.id = inv.ID
	c.emit(inv.Kind+".invited", inv.Kind, inv.ID, "inviter", inv.Inviter)
}

// consumeInvitation removes the invitation the applicant applies with, and
// indexes the application's lapse. It returns the application's first vote:
// its inviter's.
func (c *ctx) consumeInvitation(id string) []string {
	inv := c.invitation
	c.st.Delete(invitationKey(id))
	c.st.Delete(inviteExpiryKey(inv.Expires, id))
	c.st.Set(pendingExpiryKey(c.applicationLapse(c.h.Time), id), []byte(id))
	noteDue(c.st, dueNanos(c.applicationLapse(c.h.Time)))
	return []string{inv.Inviter}
}

// applicationLapse returns when an application made at joined lapses.
func (c *ctx) applicationLapse(joined time.Time) time.Time {
	return joined.Add(time.Duration(Params(c.st).ApplicationTTLSeconds) * time.Second).UTC()
}

// admitted forgets the lapse of an application made at joined by id.
func (c *ctx) admitted(id string, joined time.Time) {
	c.st.Delete(pendingExpiryKey(c.applicationLapse(joined), id))
}

// lapseInvitations removes the invitations whose time is up at block time now,
// releasing the validator keys they held.
func lapseInvitations(st kv.Store, now time.Time) []Event {
	var events []Event
	for _, k := range dueKeys(st, prefixInviteExpiry, now) {
		st.Delete(k)
		id := string(k[len(prefixInviteExpiry)+8:])
		inv := new(bbus.Invitation)
		if !getJSON(st, invitationKey(id), inv) {
			continue
		}
		st.Delete(invitationKey(id))
		releaseNode(st, inv.NodeID, ownerInvite+id)
		if inv.ValidatorKey != nil && validatorKeyOwner(st, inv.ValidatorKey) == id && st.Get(cloudKey(id)) == nil {
			st.Delete(validatorOwnerKey(inv.ValidatorKey))
		}
		events = append(events, Event{Type: "invitation.lapsed", Attrs: []Attr{{inv.Kind, id}, {"inviter", inv.Inviter}}})
	}
	return events
}

// lapseApplications removes the clouds and oracles still pending when their
// time is up at block time now, releasing their ids and validator keys.
func lapseApplications(st kv.Store, now time.Time) []Event {
	var events []Event
	for _, k := range dueKeys(st, prefixPendingExpiry, now) {
		st.Delete(k)
		id := string(k[len(prefixPendingExpiry)+8:])
		if cl := new(bbus.Cloud); getJSON(st, cloudKey(id), cl) {
			if cl.Status != bbus.CloudPending {
				continue
			}
			st.Delete(cloudKey(id))
			releaseNode(st, cl.NodeID, ownerCloud+id)
			if cl.ValidatorKey != nil && validatorKeyOwner(st, cl.ValidatorKey) == id {
				st.Delete(validatorOwnerKey(cl.ValidatorKey))
			}
			events = append(events, Event{Type: "cloud.lapsed", Attrs: []Attr{{"cloud", id}}})
		} else if o := new(bbus.Oracle); getJSON(st, oracleKey(id), o) && o.Status == bbus.CloudPending {
			st.Delete(oracleKey(id))
			events = append(events, Event{Type: "oracle.lapsed", Attrs: []Attr{{"oracle", id}}})
		}
	}
	return events
}

// dueKeys returns the keys under prefix (prefix, 8-byte time, rest) whose time
// is at or before now, in order.
func dueKeys(st kv.Store, prefix []byte, now time.Time) [][]byte {
	bound := timeKey(now)
	var due [][]byte
	st.Iterate(prefix, nil, func(k, _ []byte) bool {
		if len(k) < len(prefix)+8 || bytes.Compare(k[len(prefix):len(prefix)+8], bound) > 0 {
			return false
		}
		due = append(due, bytes.Clone(k))
		return true
	})
	return due
}

// approval is a member's vote to admit a pending applicant: a cloud or an oracle.
type approval struct {
	kind, id, status string    // "cloud" or "oracle", the applicant's id and status
	key, voted       []byte    // the pub_key it applied with, and the one the vote names
	votes            *[]string // the votes it holds
	motion           string    // what the vote is to, for the message of a second vote
	admit, store     func()    // admit it (once the vote passes), write its record
}

// approve counts the signer's vote a and admits the applicant if it passed.
func (c *ctx) approve(a approval) error {
	if a.status != bbus.CloudPending {
		return bbus.Errorf(bbus.ESTATE, "%s %s is %s, only a pending applicant can be approved", a.kind, a.id, a.status)
	}
	if !bytes.Equal(a.key, a.voted) {
		return bbus.Errorf(bbus.ESTATE, "%s %s applied with another pub_key than this vote names; a vote counts only for the key it names", a.kind, a.id)
	}
	c.id = a.id
	passed, err := c.vote(a.votes, a.motion, "", a.kind+".approval", a.kind, a.id)
	if err != nil {
		return err
	}
	if passed {
		a.admit()
	}
	a.store()
	return nil
}
