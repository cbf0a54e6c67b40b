// Package bbus holds the domain of BlockchainBus: the clouds of a federation, the
// virtual machines they host, the migrations between them, the signed transactions
// that change the ledger, and the error type every layer reports.
//
// The package uses the standard library only. The ledger state machine lives in
// package ledger, its storage in package store, the CometBFT adapter in package chain.
// The shapes of the REST API's bodies and of the ledger's queries are here too
// (wire.go, query.go), so that a client of the API needs this package alone.
package bbus

import (
	"errors"
	"fmt"
)

// Error codes. Each is stable: scripts and other implementations match on them.
const (
	EMALFORMED       = "malformed"             // the bytes are not a canonical bbus transaction or request
	EINVALID         = "invalid"               // a field's value is not acceptable
	EWRONGCHAIN      = "wrong_chain"           // the transaction names another chain
	EBADSIG          = "bad_signature"         // the signature does not verify with the signer's key
	EEXPIRED         = "expired"               // the transaction's expiry is past or too far ahead
	EREPLAY          = "replay"                // the transaction was already committed
	EUNKNOWNSIGNER   = "unknown_signer"        // no cloud or oracle of that id
	EUNAUTHORIZED    = "unauthorized"          // the signer may not perform this action
	ENOTMEMBER       = "not_member"            // a cloud that must be an active member is not
	ENOTFOUND        = "not_found"             // no such cloud, VM, migration, ...
	EEXISTS          = "already_exists"        // the id is taken
	ECAPACITY        = "insufficient_capacity" // the cloud cannot fit the resources
	ESTATE           = "invalid_state"         // the record is not in a state that allows this action
	EOPEN            = "migration_open"        // the VM already has an open migration
	ELAPSED          = "lapsed"                // the migration proposal was not accepted in time
	ETOOLARGE        = "too_large"             // the request or transaction is over the size limit
	EUNAUTHENTICATED = "unauthenticated"       // the API caller has no valid token
	EFORBIDDEN       = "forbidden"             // the API caller's token does not allow this
	ERATELIMITED     = "rate_limited"          // the API caller sent too many requests; retry after the time the server names
	EUNAVAILABLE     = "unavailable"           // the node cannot serve this now (starting, timed out)
	EINTERNAL        = "internal"              // a fault of the node, not of the caller
	ENOTINVITED      = "not_invited"           // no live invitation names this applicant's id and exact keys
)

// Error is the one error type bbus reports to its users: a stable code and a
// message a person can act on.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns "code: message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is or wraps an *Error, EINTERNAL otherwise,
// and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of err if it is or wraps an *Error, and err's
// text otherwise.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return err.Error()
	}
}
