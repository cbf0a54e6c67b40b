package bbus

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// Node ids and peer addresses: each member publishes its node on the ledger
// (Cloud.NodeID, Cloud.P2PAddress), every node keeps connections to the
// members' nodes from what the ledger says, and a node accepts connections
// only from the node ids of members, of voted observers and of invited
// applicants.

// NodeIDLen is the length of a node id: the lowercase hex of 20 bytes (the
// address of the node's p2p key).
const NodeIDLen = 40

// ValidateNodeID checks a node id, named what in the error: 40 lowercase hex
// digits. An empty id is valid only when required is false.
func ValidateNodeID(what, id string, required bool) error {
	if id == "" {
		if required {
			return Errorf(EINVALID, "%s is empty", what)
		}
		return nil
	}
	if _, err := hex.DecodeString(id); len(id) != NodeIDLen || err != nil || strings.ToLower(id) != id {
		return Errorf(EINVALID, "%s %q is not a node id (40 lowercase hex digits, as in the home's config/node_key.json)", what, Clip(id))
	}
	return nil
}

// ValidateP2PAddress checks a node's public peer address, named what in the
// error: HOST:PORT with a host name or an IP address (IPv6 in brackets) and a
// port from 1 to 65535, at most MaxTextLen characters. An empty address is
// valid only when required is false.
func ValidateP2PAddress(what, addr string, required bool) error {
	if addr == "" {
		if required {
			return Errorf(EINVALID, "%s is empty", what)
		}
		return nil
	}
	if err := ValidateText(what, addr, true); err != nil {
		return err
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return Errorf(EINVALID, "%s %q is not HOST:PORT", what, Clip(addr))
	}
	host, port := addr[:i], addr[i+1:]
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return Errorf(EINVALID, "%s %q: port must be a number from 1 to 65535", what, Clip(addr))
	}
	if v6, ok := strings.CutPrefix(host, "["); ok {
		v6, ok = strings.CutSuffix(v6, "]")
		if !ok || !strings.Contains(v6, ":") || strings.Trim(v6, "0123456789abcdefABCDEF:.") != "" {
			return Errorf(EINVALID, "%s %q: %q is not an IPv6 address in brackets", what, Clip(addr), Clip(host))
		}
		return nil
	}
	if strings.Trim(host, "0123456789.") == "" {
		parts := strings.Split(host, ".")
		for _, p := range parts {
			if n, err := strconv.Atoi(p); err != nil || n > 255 || strconv.Itoa(n) != p {
				parts = nil
				break
			}
		}
		if len(parts) != 4 {
			return Errorf(EINVALID, "%s %q: %q is not an IPv4 address", what, Clip(addr), Clip(host))
		}
		return nil
	}
	if host == "" || len(host) > 253 {
		return Errorf(EINVALID, "%s %q: the host is empty or longer than 253 characters", what, Clip(addr))
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return Errorf(EINVALID, "%s %q: %q is not a host name or an IP address", what, Clip(addr), Clip(host))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return Errorf(EINVALID, "%s %q: %q is not a host name or an IP address", what, Clip(addr), Clip(host))
			}
		}
	}
	return nil
}

// CloudUpdate is a member's change of its own record: the public peer address
// of its node, which every other node dials from then on.
type CloudUpdate struct {
	P2PAddress string `json:"p2p_address"`
}

// Validate checks the address: HOST:PORT.
func (a *CloudUpdate) Validate() error {
	return ValidateP2PAddress("cloud_update.p2p_address", a.P2PAddress, true)
}

// Observer statuses are the cloud statuses: pending (invited, waiting for the
// members' votes), active (may connect and sync), removed.

// Observer is a read-only node the members voted in, an auditor's say: it may
// connect to the members' nodes and sync every block, but it signs nothing
// and has no voting power.
type Observer struct {
	ID        string   `json:"id"`
	NodeID    string   `json:"node_id"`
	Status    string   `json:"status"`
	Invited   Stamp    `json:"invited"`
	Inviter   string   `json:"inviter"`
	Admitted  *Stamp   `json:"admitted,omitempty"`
	Removed   *Stamp   `json:"removed,omitempty"`
	Approvals []string `json:"approvals,omitempty"` // members who voted to admit it, sorted
	Removals  []string `json:"removals,omitempty"`  // members who voted to remove it, sorted
}

// ObserverInvite is a member's proposal of an observer: the node NodeID may
// sync once the members approve it. It counts as the inviter's vote.
type ObserverInvite struct {
	Observer string `json:"observer"`
	NodeID   string `json:"node_id"`
}

// Validate checks the observer id and the node id.
func (a *ObserverInvite) Validate() error {
	if err := ValidateID("observer", a.Observer); err != nil {
		return err
	}
	return ValidateNodeID("observer_invite.node_id", a.NodeID, true)
}

// ObserverApprove is a member's vote to admit the pending observer Observer,
// counted only if it was invited with exactly the node id NodeID.
type ObserverApprove struct {
	Observer string `json:"observer"`
	NodeID   string `json:"node_id"`
}

// Validate checks the observer id and the node id.
func (a *ObserverApprove) Validate() error {
	if err := ValidateID("observer", a.Observer); err != nil {
		return err
	}
	return ValidateNodeID("observer_approve.node_id", a.NodeID, true)
}

// ObserverRef names an observer: a member's vote to remove it.
type ObserverRef struct {
	Observer string `json:"observer"`
}

// Validate checks the observer id.
func (a *ObserverRef) Validate() error { return ValidateID("observer", a.Observer) }

// NodeHealth is what a node sees of one member's node: whether it is
// connected to it now, the last block its validator signed (0 if none since
// this node started, or not a validator) and the version it announced.
type NodeHealth struct {
	Cloud            string `json:"cloud"`
	NodeID           string `json:"node_id"`
	P2PAddress       string `json:"p2p_address,omitempty"`
	Self             bool   `json:"self,omitempty"` // the node answering
	Connected        bool   `json:"connected"`
	Validator        bool   `json:"validator"`
	LastSignedHeight int64  `json:"last_signed_height"`
	Version          string `json:"version,omitempty"`
}
