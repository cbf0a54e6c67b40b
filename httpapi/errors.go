package httpapi

import (
	"errors"
	"net/http"

	"github.com/bbusdev/bbus"
)

// Status returns the HTTP status that answers an error with the given bbus code:
// 400 for a malformed or invalid request, 401/403 for a caller without a valid
// or sufficient token, 404 for an unknown id, 409 for a rule of the ledger
// (not_invited too: like not_member, it is about the signer's standing in the
// federation, not the API caller's token, which 403 is for), 413
// for too large, 429 for too many requests, 503 for a node that cannot serve now
// and 500 for a fault of the node (and for any code it does not know).
func Status(code string) int {
	switch code {
	case bbus.EMALFORMED, bbus.EINVALID, bbus.EWRONGCHAIN, bbus.EBADSIG, bbus.EEXPIRED:
		return http.StatusBadRequest
	case bbus.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case bbus.EFORBIDDEN:
		return http.StatusForbidden
	case bbus.ENOTFOUND:
		return http.StatusNotFound
	case bbus.EREPLAY, bbus.EUNKNOWNSIGNER, bbus.EUNAUTHORIZED, bbus.ENOTMEMBER, bbus.EEXISTS,
		bbus.ECAPACITY, bbus.ESTATE, bbus.EOPEN, bbus.ELAPSED, bbus.ENOTINVITED:
		return http.StatusConflict
	case bbus.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case bbus.ERATELIMITED:
		return http.StatusTooManyRequests
	case bbus.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers with err in the error shape and the status of its code,
// as it is: it logs nothing and hides nothing. Handlers with an error that may
// be a fault of the node call fail, which logs it and hides its text.
func writeError(w http.ResponseWriter, err *bbus.Error) {
	writeJSON(w, Status(err.Code), &bbus.ErrorResponse{Error: err})
}

// fail answers with err, logging it first if it is a fault of the node.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *bbus.Error
	if !errors.As(err, &e) {
		a.opts.Logger.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = bbus.Errorf(bbus.EINTERNAL, "internal error; the node's log has the details")
	} else if e.Code == bbus.EINTERNAL {
		a.opts.Logger.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, e)
}
