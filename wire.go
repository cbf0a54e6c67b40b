package bbus

import (
	"bytes"
	"slices"
	"strings"
	"time"
)

// The shapes of the REST API's bodies (package httpapi serves them, package
// client reads them), kept here so that a client of the API needs this
// package and the standard library only. httpapi/openapi.yaml describes each.

// List is one page of a list: its items and, when more follow, the cursor to
// pass as the after parameter for the next page. Next is empty on the last page.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// ErrorResponse is the body of every response whose status is not 2xx. Result
// is set only when a submitted transaction was committed in a block but
// rejected there by the ledger: it says where.
type ErrorResponse struct {
	Error  *Error    `json:"error"`
	Result *TxResult `json:"result,omitempty"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// Ready is the body of GET /readyz when the node is caught up.
type Ready struct {
	Status    string    `json:"status"` // "ready"
	Height    int64     `json:"latest_height"`
	BlockTime time.Time `json:"latest_block_time"`
}

// Block is a committed block as GET /v1/blocks/{height} returns it.
type Block struct {
	Height   int64     `json:"height"`
	Time     time.Time `json:"time"`
	Hash     string    `json:"hash"`            // upper-case hex, as CometBFT prints it
	LastHash string    `json:"last_block_hash"` // the previous block's hash
	AppHash  string    `json:"app_hash"`        // the state's hash after the previous block
	Proposer string    `json:"proposer"`        // the proposing validator's address
	// Txs are the block's transactions in order, with what the ledger made of
	// each: Code is set for one it rejected.
	Txs []TxResult `json:"txs"`
}

// CommittedTx is a committed transaction as GET /v1/txs/{hash} returns it:
// where it is, what the ledger made of it (Code set when it was rejected), and
// its signed bytes.
type CommittedTx struct {
	TxResult
	Time time.Time `json:"time"`           // its block's time
	Body *Body     `json:"body,omitempty"` // what was signed, decoded
	Raw  []byte    `json:"raw"`            // the transaction's exact bytes
}

// NodeList is the body of GET /v1/nodes.
type NodeList struct {
	Items []NodeHealth `json:"items"`
}

// Event is one thing the ledger did, as GET /v1/events streams it: a cloud
// joined, a VM was registered, a migration proposed, accepted, completed ...
type Event struct {
	ID     string            `json:"id"` // its position, "<height>-<n>": the SSE id to resume after
	Height int64             `json:"height"`
	Time   time.Time         `json:"time"`
	Type   string            `json:"type"`
	Tx     string            `json:"tx,omitempty"` // the transaction that caused it; empty for what the ledger did by itself
	Attrs  map[string]string `json:"attrs"`
}

// EventGap is the data of the "gap" event a stream sends when events the
// caller asked to resume from are no longer held: it should re-read what it
// keeps.
type EventGap struct {
	After   string `json:"after"`   // the position the caller asked to resume after
	Message string `json:"message"` // what happened
}

// StreamResumeComment is the comment line with which the node ends an event
// stream that has lasted its rest.max_stream_duration: the client should
// reconnect with Last-Event-ID set to the id of the stream's last event (an
// event with an id and no data comes just before, with the position reached).
const StreamResumeComment = ": resume: this stream has lasted its time; reconnect with Last-Event-ID"

// EventFilter selects events. Zero fields match everything.
type EventFilter struct {
	// Types match an event whose type equals one of them or starts with one
	// of them and a dot: "migration" matches "migration.proposed".
	Types []string
	VM    string // the event's vm attribute
	Cloud string // the event's cloud, from, to or voter attribute
}

// Match reports whether e passes f.
func (f *EventFilter) Match(e *Event) bool {
	if len(f.Types) > 0 && !slices.ContainsFunc(f.Types, func(t string) bool {
		return e.Type == t || strings.HasPrefix(e.Type, t+".")
	}) {
		return false
	}
	if f.VM != "" && e.Attrs["vm"] != f.VM {
		return false
	}
	if f.Cloud != "" && !slices.ContainsFunc([]string{"cloud", "from", "to", "voter", "provider", "consumer"}, func(k string) bool {
		return e.Attrs[k] == f.Cloud
	}) {
		return false
	}
	return true
}

// The bodies of the node-signed writes: the node signs an action as its own
// cloud for a caller with a write token. Each body's field names are the flags
// of the matching bbus tx action in snake_case; ids in the path are its
// positional argument.

// VMRequest is the body of POST /v1/vms (bbus tx vm register).
type VMRequest struct {
	ID string `json:"id"`
	Resources
	Image string `json:"image,omitempty"`
}

// MigrationRequest is the body of POST /v1/migrations (bbus tx migration propose).
type MigrationRequest struct {
	VM        string `json:"vm"`
	To        string `json:"to"`
	Agreement string `json:"agreement,omitempty"`
}

// InviteRequest is the body of POST /v1/clouds/{id}/invite (bbus tx cloud
// invite) and POST /v1/oracles/{id}/invite (bbus tx oracle invite, which takes
// no validator_key): the applicant's keys, base64.
type InviteRequest struct {
	PubKey       []byte `json:"pub_key"`
	ValidatorKey []byte `json:"validator_key,omitempty"`
	NodeID       string `json:"node_id,omitempty"` // the applicant's node, which may then sync (clouds only)
}

// CloudUpdateRequest is the body of POST /v1/clouds/update (bbus tx cloud
// update): the node's cloud's new public peer address.
type CloudUpdateRequest struct {
	P2PAddress string `json:"p2p_address"`
}

// ObserverInviteRequest is the body of POST /v1/observers/{id}/invite (bbus
// tx observer invite): the observer's node id.
type ObserverInviteRequest struct {
	NodeID string `json:"node_id"`
}

// Decimal is an AMOUNT or PCT in a request body, as a JSON string ("0.05") or
// number (0.05); it is parsed exactly, never through floating point. It
// encodes as a string.
type Decimal string

// UnmarshalJSON keeps the literal text of a string or number.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if len(b) > 0 && b[0] != '"' && strings.ContainsAny(s, "eE") {
		return Errorf(EINVALID, "%s: write decimals without an exponent", s)
	}
	*d = Decimal(s)
	return nil
}

// OfferRequest is the body of POST /v1/offers (bbus tx offer publish).
type OfferRequest struct {
	Resources
	PriceVCPUHour Decimal  `json:"price_vcpu_hour"`
	PriceGiBHour  Decimal  `json:"price_gib_hour,omitempty"`
	Tag           []string `json:"tag,omitempty"` // K=V
}

// AgreementRequest is the body of POST /v1/agreements (bbus tx agreement propose).
type AgreementRequest struct {
	Provider      string  `json:"provider"`
	Consumer      string  `json:"consumer"`
	PriceVCPUHour Decimal `json:"price_vcpu_hour"`
	PriceGiBHour  Decimal `json:"price_gib_hour,omitempty"`
	Availability  Decimal `json:"availability"`
	MaxLatencyMS  int64   `json:"max_latency_ms,omitempty"`
	PenaltyPct    Decimal `json:"penalty_pct"`
	Until         string  `json:"until,omitempty"` // RFC 3339
}

// InvoiceRequest is the body of POST /v1/invoices (bbus tx invoice close).
type InvoiceRequest struct {
	Provider string `json:"provider"`
	Consumer string `json:"consumer"`
	Until    string `json:"until"` // RFC 3339
}

// DeclineRequest is the body of POST /v1/agreements/{id}/decline.
type DeclineRequest struct {
	Reason string `json:"reason,omitempty"`
}

// DisputeRequest is the body of POST /v1/invoices/{id}/dispute.
type DisputeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Proof is what a node gives for one state key (GET /v1/proofs): the key, its
// value at Height (nil: absent), and the proof bytes (an ICS23 commitment
// proof in its protobuf encoding). The header at Height+1 carries the app
// hash it verifies against; package proof verifies it.
type Proof struct {
	Key    []byte `json:"key"`
	Value  []byte `json:"value,omitempty"`
	Height int64  `json:"height"`
	Proof  []byte `json:"proof"`
}

// CorrectRequest is the body of POST /v1/invoices/{id}/correct (bbus tx
// invoice correct): the corrected invoice's hosting and penalties as AMOUNTs,
// and the provider's reason.
type CorrectRequest struct {
	Hosting   Decimal `json:"hosting"`
	Penalties Decimal `json:"penalties,omitempty"`
	Reason    string  `json:"reason"`
}
