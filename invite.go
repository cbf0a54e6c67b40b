package bbus

import "time"

// Invitation kinds: what an invited applicant may apply to be.
const (
	InviteCloud  = "cloud"
	InviteOracle = "oracle"
)

// CloudInvite is an active member's invitation of an applicant: only the key
// PubKey may apply (cloud_join) as cloud Cloud, and, when ValidatorKey is set,
// only naming that validator key. It counts as the inviter's vote to admit the
// applicant, and lapses after the federation's invitation_ttl_seconds.
type CloudInvite struct {
	Cloud        string `json:"cloud"`
	PubKey       []byte `json:"pub_key"`
	ValidatorKey []byte `json:"validator_pub_key,omitempty"`
	// NodeID, if set, is the applicant's node id: that node may connect and
	// sync while the invitation and the application are live, and cloud_join
	// must name it.
	NodeID string `json:"node_id,omitempty"`
}

// OracleInvite is an active member's invitation of an oracle: only the key
// PubKey may apply (oracle_join) as oracle Oracle. Like CloudInvite it counts
// as the inviter's vote and lapses after invitation_ttl_seconds.
type OracleInvite struct {
	Oracle string `json:"oracle"`
	PubKey []byte `json:"pub_key"`
}

// CloudApprove is a member's vote to admit the pending cloud Cloud. It counts
// only if Cloud applied with exactly the key PubKey, so a vote cannot be
// replayed for someone else who applies under the same id.
type CloudApprove struct {
	Cloud  string `json:"cloud"`
	PubKey []byte `json:"pub_key"`
}

// OracleApprove is a member's vote to admit the pending oracle Oracle, counted
// only if it applied with exactly the key PubKey.
type OracleApprove struct {
	Oracle string `json:"oracle"`
	PubKey []byte `json:"pub_key"`
}

// Invitation is the ledger's record of a live invitation: the applicant Kind
// (InviteCloud or InviteOracle) ID may apply with PubKey (and ValidatorKey, if
// set) until Expires, a block time. Applying consumes it.
type Invitation struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	PubKey       []byte    `json:"pub_key"`
	ValidatorKey []byte    `json:"validator_pub_key,omitempty"`
	NodeID       string    `json:"node_id,omitempty"`
	Inviter      string    `json:"inviter"`
	Invited      Stamp     `json:"invited"`
	Expires      time.Time `json:"expires"`
}

// Validate checks what a cloud_invite says without looking at the ledger.
func (a CloudInvite) Validate() error {
	if err := ValidateID("cloud", a.Cloud); err != nil {
		return err
	}
	if err := ValidateKey("pub_key", a.PubKey); err != nil {
		return err
	}
	if a.ValidatorKey != nil {
		if err := ValidateKey("validator_pub_key", a.ValidatorKey); err != nil {
			return err
		}
	}
	return ValidateNodeID("cloud_invite.node_id", a.NodeID, false)
}

// PublicKeys returns the keys the invitation lets into the ledger.
func (a CloudInvite) PublicKeys() []PublicKey {
	ks := []PublicKey{{Field: "cloud_invite.pub_key", Key: a.PubKey}}
	if a.ValidatorKey != nil {
		ks = append(ks, PublicKey{Field: "cloud_invite.validator_pub_key", Key: a.ValidatorKey})
	}
	return ks
}

// PublicKeys returns the key the invitation lets into the ledger.
func (a OracleInvite) PublicKeys() []PublicKey {
	return []PublicKey{{Field: "oracle_invite.pub_key", Key: a.PubKey}}
}

// Validate checks what an oracle_invite says without looking at the ledger.
func (a OracleInvite) Validate() error {
	if err := ValidateID("oracle", a.Oracle); err != nil {
		return err
	}
	return ValidateKey("pub_key", a.PubKey)
}

// Validate checks what a cloud_approve says without looking at the ledger.
func (a CloudApprove) Validate() error {
	if err := ValidateID("cloud", a.Cloud); err != nil {
		return err
	}
	return ValidateKey("pub_key", a.PubKey)
}

// Validate checks what an oracle_approve says without looking at the ledger.
func (a OracleApprove) Validate() error {
	if err := ValidateID("oracle", a.Oracle); err != nil {
		return err
	}
	return ValidateKey("pub_key", a.PubKey)
}

// ValidateKey checks that key, named what in the error, is an ed25519 public
// key's 32 bytes.
func ValidateKey(what string, key []byte) error {
	if len(key) != 32 {
		return Errorf(EINVALID, "%s is %d bytes, an ed25519 key is 32", what, len(key))
	}
	return nil
}
