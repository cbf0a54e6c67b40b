package bbus

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// MaxTxBytes is the largest transaction the ledger takes.
const MaxTxBytes = 16 << 10

// Tx is a signed transaction as it travels: the canonical JSON of its Body and the
// signer's ed25519 signature over exactly those bytes. docs/TRANSACTIONS.md
// specifies the format for other implementations.
type Tx struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

// Body is what a signer signs.
type Body struct {
	ChainID string `json:"chain_id"`
	Signer  string `json:"signer"`
	// Nonce makes two otherwise equal bodies distinct; any value will do.
	Nonce uint64 `json:"nonce"`
	// Expires is a Unix time in seconds. The transaction is only valid in a block
	// whose time is at most Expires, and Expires may lie at most the federation's
	// tx_max_ttl_seconds past the block time. Until then the ledger remembers the
	// transaction's id and rejects it if it comes again: a signer can have any
	// number of transactions in flight at once.
	Expires int64  `json:"expires"`
	Action  Action `json:"action"`
}

// Action is one change to the ledger. Exactly one field is set; its JSON name is
// the action's type.
type Action struct {
	CloudJoin         *CloudJoin        `json:"cloud_join,omitempty"`
	CloudApprove      *CloudApprove     `json:"cloud_approve,omitempty"`
	CloudRemove       *CloudRef         `json:"cloud_remove,omitempty"`
	VMRegister        *VMRegister       `json:"vm_register,omitempty"`
	VMTerminate       *VMRef            `json:"vm_terminate,omitempty"`
	MigrationPropose  *Propose          `json:"migration_propose,omitempty"`
	MigrationAccept   *MigrationRef     `json:"migration_accept,omitempty"`
	MigrationComplete *MigrationRef     `json:"migration_complete,omitempty"`
	MigrationReject   *MigrationRef     `json:"migration_reject,omitempty"`
	MigrationCancel   *MigrationRef     `json:"migration_cancel,omitempty"`
	OfferPublish      *OfferPublish     `json:"offer_publish,omitempty"`
	AgreementPropose  *AgreementPropose `json:"agreement_propose,omitempty"`
	AgreementSign     *AgreementRef     `json:"agreement_sign,omitempty"`
	OracleJoin        *OracleJoin       `json:"oracle_join,omitempty"`
	OracleApprove     *OracleApprove    `json:"oracle_approve,omitempty"`
	Report            *ReportAction     `json:"report,omitempty"`
	InvoiceClose      *InvoiceClose     `json:"invoice_close,omitempty"`
	InvoiceAccept     *InvoiceRef       `json:"invoice_accept,omitempty"`
	InvoiceDispute    *InvoiceDispute   `json:"invoice_dispute,omitempty"`
	CloudInvite       *CloudInvite      `json:"cloud_invite,omitempty"`
	OracleInvite      *OracleInvite     `json:"oracle_invite,omitempty"`
	AgreementDecline  *AgreementDecline `json:"agreement_decline,omitempty"`
	CloudUpdate       *CloudUpdate      `json:"cloud_update,omitempty"`
	ObserverInvite    *ObserverInvite   `json:"observer_invite,omitempty"`
	ObserverApprove   *ObserverApprove  `json:"observer_approve,omitempty"`
	ObserverRemove    *ObserverRef      `json:"observer_remove,omitempty"`
	OracleRemove      *OracleRef        `json:"oracle_remove,omitempty"`
	InvoiceCorrect    *InvoiceCorrect   `json:"invoice_correct,omitempty"`
}

// OfferPublish publishes (or replaces) the signer's offer: the capacity it
// offers, its prices in micro-credits per hour, and its tags (sorted by key,
// keys unique).
type OfferPublish struct {
	Resources
	PriceVCPUHour int64 `json:"price_vcpu_hour_micro"`
	PriceGiBHour  int64 `json:"price_gib_hour_micro,omitempty"`
	Tags          []Tag `json:"tags,omitempty"`
}

// AgreementPropose proposes an agreement; the signer is its provider or its
// consumer, and the other party signs it with AgreementSign. Percentages are in
// thousandths of a percent; Until is a Unix time in seconds (0: open-ended).
type AgreementPropose struct {
	Provider      string `json:"provider"`
	Consumer      string `json:"consumer"`
	PriceVCPUHour int64  `json:"price_vcpu_hour_micro"`
	PriceGiBHour  int64  `json:"price_gib_hour_micro,omitempty"`
	Availability  int64  `json:"availability_mpct"`
	MaxLatencyMS  int64  `json:"max_latency_ms,omitempty"`
	PenaltyPct    int64  `json:"penalty_mpct"`
	Until         int64  `json:"until,omitempty"`
}

// AgreementRef names an agreement.
type AgreementRef struct {
	Agreement string `json:"agreement"`
}

// AgreementDecline is the refusal of an agreement proposal by the party that
// did not propose it, with an optional reason. It ends the proposal.
type AgreementDecline struct {
	Agreement string `json:"agreement"`
	Reason    string `json:"reason,omitempty"`
}

// Validate checks what needs no state: an agreement id of the form agr-N and
// a reason that is valid free text.
func (a AgreementDecline) Validate() error {
	if !validSeqID("agr", a.Agreement) {
		return Errorf(EINVALID, "agreement %q is not an agreement id (agr-N)", Clip(a.Agreement))
	}
	return ValidateText("reason", a.Reason, false)
}

// validSeqID reports whether id is "<kind>-<n>" with n a decimal number from 1
// to 2^64-1 without leading zeros, as the ledger numbers its records.
func validSeqID(kind, id string) bool {
	n, ok := strings.CutPrefix(id, kind+"-")
	if !ok || n == "" || n[0] == '0' || len(n) > 20 {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

// OracleJoin applies to be an oracle, signed with the key it names, which a
// live OracleInvite for the signer's id must name.
type OracleJoin struct {
	Name   string `json:"name"`
	PubKey []byte `json:"pub_key"`
}

// OracleRef names an oracle: a member's vote to remove it (oracle_remove).
type OracleRef struct {
	Oracle string `json:"oracle"`
}

// ReportAction is an oracle's measurement of a VM over the window [Start, End)
// (Unix seconds).
type ReportAction struct {
	VM           string `json:"vm"`
	Start        int64  `json:"start"`
	End          int64  `json:"end"`
	Availability int64  `json:"availability_mpct"`
	LatencyMS    int64  `json:"latency_ms,omitempty"`
}

// InvoiceClose closes the provider's invoice to the consumer for everything
// since their last invoice up to Until (Unix seconds).
type InvoiceClose struct {
	Provider string `json:"provider"`
	Consumer string `json:"consumer"`
	Until    int64  `json:"until"`
}

// InvoiceRef names an invoice.
type InvoiceRef struct {
	Invoice string `json:"invoice"`
}

// InvoiceDispute is the consumer's refusal of an invoice, with its reason.
type InvoiceDispute struct {
	Invoice string `json:"invoice"`
	Reason  string `json:"reason,omitempty"`
}

// InvoiceCorrect is the provider's answer to a disputed invoice: a corrected
// invoice (a credit note) for the same period, asking Hosting less Penalties
// (micro-credits), never more than the disputed invoice, for the reason given.
type InvoiceCorrect struct {
	Invoice   string `json:"invoice"`
	Hosting   int64  `json:"hosting_micro"`
	Penalties int64  `json:"penalties_micro"`
	Reason    string `json:"reason"`
}

// CloudJoin applies for membership. It is signed with the key it names, which
// proves the applicant holds it, and a live CloudInvite for the signer's id must
// name that key (and the validator key, if the invitation names one).
type CloudJoin struct {
	Name         string `json:"name"`
	PubKey       []byte `json:"pub_key"`
	ValidatorKey []byte `json:"validator_pub_key,omitempty"`
	API          string `json:"api,omitempty"`
	Resources
	NodeID     string `json:"node_id,omitempty"`     // the applicant's node, which may sync while it waits
	P2PAddress string `json:"p2p_address,omitempty"` // the node's public peer address, HOST:PORT
}

// CloudRef names a cloud: a member's vote to remove it.
type CloudRef struct {
	Cloud string `json:"cloud"`
}

// VMRegister records a new VM hosted by its signer, which also owns it.
type VMRegister struct {
	VM    string `json:"vm"`
	Image string `json:"image,omitempty"`
	Resources
}

// VMRef names a VM.
type VMRef struct {
	VM string `json:"vm"`
}

// Propose is the current host's offer to send a VM to another cloud.
type Propose struct {
	VM        string `json:"vm"`
	To        string `json:"to"`
	Agreement string `json:"agreement,omitempty"`
}

// MigrationRef names a migration.
type MigrationRef struct {
	Migration string `json:"migration"`
}

// Type returns the action's type name ("migration_propose", ...) or "" if not
// exactly one action is set.
func (a *Action) Type() string {
	v := reflect.ValueOf(a).Elem()
	name := ""
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			if name != "" {
				return ""
			}
			tag := v.Type().Field(i).Tag.Get("json")
			name = tag[:bytes.IndexByte([]byte(tag), ',')]
		}
	}
	return name
}

// SignedTx is a decoded transaction: what was signed, the exact bytes signed,
// and the signature.
type SignedTx struct {
	Body
	BodyBytes []byte
	Sig       []byte
	// ID is the lowercase hex SHA-256 of BodyBytes. It does not cover the
	// signature, so a re-encoded signature cannot make a second id for one body.
	ID string
}

// TxID returns the id of a transaction whose canonical body is body.
func TxID(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// DecodeTx parses raw as a transaction. It rejects, with EMALFORMED or ETOOLARGE,
// anything but the one canonical encoding, the bytes encoding/json writes for
// the body: unknown or duplicate fields, other field orders, white space, an
// escape json.Marshal does not write (\u0041 for A) or a character it escapes
// written bare (<, > and & are written \u003c, \u003e and \u0026, which
// DecodeTx therefore accepts), and not exactly one action. It checks neither
// the signature nor any rule of the ledger: Body.Validate refuses <, > and &
// in every text field (EINVALID).
func DecodeTx(raw []byte) (*SignedTx, error) {
	if len(raw) > MaxTxBytes {
		return nil, Errorf(ETOOLARGE, "transaction is %d bytes, the limit is %d", len(raw), MaxTxBytes)
	}
	if tx := decodeCanonical(raw); tx != nil {
		return tx, nil
	}
	return decodeStrict(raw)
}

// decodeStrict is DecodeTx's thorough path, which names what is wrong.
func decodeStrict(raw []byte) (*SignedTx, error) {
	var tx Tx
	if err := strictUnmarshal(raw, &tx); err != nil {
		return nil, Errorf(EMALFORMED, "transaction: %v", err)
	}
	var body Body
	if err := strictUnmarshal(tx.Body, &body); err != nil {
		return nil, Errorf(EMALFORMED, "transaction body: %v", err)
	}
	if body.Action.Type() == "" {
		return nil, Errorf(EMALFORMED, "transaction body must hold exactly one action")
	}
	canon, err := json.Marshal(&body)
	if err != nil {
		return nil, Errorf(EMALFORMED, "transaction body: %v", err)
	}
	if !bytes.Equal(canon, tx.Body) {
		return nil, Errorf(EMALFORMED, "transaction body is not in canonical form (field order, spacing, escapes or empty values differ from the specified encoding)")
	}
	if again, _ := json.Marshal(&tx); !bytes.Equal(again, raw) {
		return nil, Errorf(EMALFORMED, "transaction is not in canonical form (field order, spacing or signature encoding differ from the specified encoding)")
	}
	if len(tx.Sig) != ed25519.SignatureSize {
		return nil, Errorf(EBADSIG, "signature is %d bytes, want %d", len(tx.Sig), ed25519.SignatureSize)
	}
	return &SignedTx{Body: body, BodyBytes: tx.Body, Sig: tx.Sig, ID: TxID(tx.Body)}, nil
}

// The canonical encoding of a transaction is txPrefix, the canonical body,
// txInfix, the signature's 88 characters of standard base64, and txSuffix.
const (
	txPrefix = `{"body":`
	txInfix  = `,"sig":"`
	txSuffix = `"}`
	sigB64   = 88 // base64.StdEncoding.EncodedLen(ed25519.SignatureSize)
)

// decodeCanonical is DecodeTx's fast path: it returns the transaction if raw
// is in exactly the canonical form, and nil if anything differs, for DecodeTx
// to find what. What it accepts is exactly what the strict path accepts: the
// body must equal the encoding of what it decodes to (which rules out unknown,
// duplicate or differently spelt fields, white space and escapes), and the
// signature must be the base64 encoding of what it decodes to.
func decodeCanonical(raw []byte) *SignedTx {
	n := len(raw)
	if n < len(txPrefix)+2+len(txInfix)+sigB64+len(txSuffix) || string(raw[:len(txPrefix)]) != txPrefix ||
		string(raw[n-len(txSuffix):]) != txSuffix {
		return nil
	}
	sigAt := n - len(txSuffix) - sigB64
	bodyEnd := sigAt - len(txInfix)
	if string(raw[bodyEnd:sigAt]) != txInfix {
		return nil
	}
	sigText := raw[sigAt : n-len(txSuffix)]
	sig := make([]byte, base64.StdEncoding.DecodedLen(sigB64))
	k, err := base64.StdEncoding.Decode(sig, sigText)
	if err != nil || k != ed25519.SignatureSize {
		return nil
	}
	sig = sig[:k:k]
	var again [sigB64]byte
	if base64.StdEncoding.Encode(again[:], sig); !bytes.Equal(again[:], sigText) {
		return nil
	}
	body := bytes.Clone(raw[len(txPrefix):bodyEnd])
	var b Body
	if json.Unmarshal(body, &b) != nil || b.Action.Type() == "" {
		return nil
	}
	if canon, err := json.Marshal(&b); err != nil || !bytes.Equal(canon, body) {
		return nil
	}
	return &SignedTx{Body: b, BodyBytes: body, Sig: sig, ID: TxID(body)}
}

// EncodeBody returns the canonical bytes of b: the bytes that are signed.
func EncodeBody(b *Body) ([]byte, error) {
	if b.Action.Type() == "" {
		return nil, Errorf(EINVALID, "transaction body must hold exactly one action")
	}
	return json.Marshal(b)
}

// SignTx signs b with key and returns the transaction's bytes and its id.
func SignTx(b *Body, key ed25519.PrivateKey) (raw []byte, id string, err error) {
	body, err := EncodeBody(b)
	if err != nil {
		return nil, "", err
	}
	raw, err = json.Marshal(&Tx{Body: body, Sig: ed25519.Sign(key, body)})
	if err != nil {
		return nil, "", err
	}
	return raw, TxID(body), nil
}

// strictUnmarshal decodes exactly one JSON value into v, rejecting unknown fields
// and trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(EMALFORMED, "data after the end of the JSON value")
	}
	return nil
}

// Migration returns the migration the action answers or acts on (an
// acceptance, completion, rejection or cancellation names it), or "".
func (a *Action) Migration() string {
	for _, r := range []*MigrationRef{a.MigrationAccept, a.MigrationComplete, a.MigrationReject, a.MigrationCancel} {
		if r != nil {
			return r.Migration
		}
	}
	return ""
}
